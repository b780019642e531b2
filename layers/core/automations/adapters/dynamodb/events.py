"""The event store: trigger events as received, each id stored once (by condition), kept for 400 days."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.tables import EventItem
from automations.adapters.dynamodb.writes import conditional_failed, connection, epoch, save_if
from automations.ports import StoredEvent

EVENT_RETENTION = timedelta(days=400)


def event_key(workspace: str, event_id: str) -> tuple[str, str]:
    return f"{workspace}#event#{event_id}", "event"


def event_item(workspace: str, event: StoredEvent) -> EventItem:
    """The item of an event as received, to be stored only if its id is new."""
    return EventItem(
        *event_key(workspace, event.id),
        type=event.type,
        body=event.body,
        received_at=event.received_at,
        status=event.status,
        runs=list(event.runs) if event.status == "processed" else None,
        expires_at=epoch(event.received_at + EVENT_RETENTION),
    )


def stored_event(item: EventItem) -> StoredEvent:
    return StoredEvent(
        id=str(item.body["id"]),
        type=item.type,
        body=item.body,
        received_at=item.received_at,
        status=item.status,
        runs=tuple(str(run) for run in item.runs or ()),
    )


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class DynamoEventStore:
    """:class:`automations.ports.EventStore` of one workspace."""

    workspace: str

    def put_new(self, events: Sequence[StoredEvent]) -> list[bool]:
        """Store events that are new; True for each stored, False for each id seen before.

        A batch is one transaction (up to 100 items); when some ids exist already, the new ones are
        stored one by one, each with its own condition.
        """
        items = [event_item(self.workspace, event) for event in events]
        if not items:
            return []
        if len(items) > 1:
            try:
                with TransactWrite(connection=connection()) as tx:
                    for item in items:
                        tx.save(item, condition=EventItem.pk.does_not_exist())
                return [True] * len(items)
            except TransactWriteError as exc:
                if not conditional_failed(exc):
                    raise
        return [save_if(item, EventItem.pk.does_not_exist()) for item in items]

    def get(self, event_id: str) -> StoredEvent | None:
        try:
            item = EventItem.get(*event_key(self.workspace, event_id), consistent_read=True)
        except DoesNotExist:
            return None
        return stored_event(item)

    def mark_processed(self, done: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Mark events processed with their runs: one request for one event, one per hundred otherwise."""
        if len(done) == 1:
            [(event_id, runs)] = done
            item = EventItem(*event_key(self.workspace, event_id))
            item.update(actions=[EventItem.status.set("processed"), EventItem.runs.set(list(runs))])  # type: ignore[arg-type]
            return
        for batch in chunks(done, 100):
            with TransactWrite(connection=connection()) as tx:
                for event_id, runs in batch:
                    item = EventItem(*event_key(self.workspace, event_id))
                    tx.update(
                        item,
                        actions=[EventItem.status.set("processed"), EventItem.runs.set(list(runs))],
                    )
