"""The counter store: per-person counters and countdowns of an automation, ``nth`` and ``after_silence``, as
items of the state table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.events import event_item
from automations.adapters.dynamodb.tables import EventItem, StateItem, state_key
from automations.adapters.dynamodb.writes import (
    cancellation_codes,
    conditional_failed,
    connection,
    delete_if,
    epoch,
    save_if,
)
from automations.ports import Silence, SkippedError, StoredEvent


def silence_of(item: StateItem) -> Silence:
    return Silence(
        event_id=str(item.run_id),
        due_at=datetime.fromtimestamp(int(item.until or 0), UTC),
        event=dict(item.data or {}),
    )


@dataclass
class DynamoCounterStore:
    """:class:`automations.ports.CounterStore` of one workspace."""

    workspace: str

    def bump(self, automation_id: str, person: str, event_id: str) -> int:
        """Count one more event for the person, atomically, at most once per event id."""
        item = StateItem(*state_key(self.workspace, "nth", automation_id, person))
        try:
            item.update(
                actions=[StateItem.counter.add(1), StateItem.run_id.set(event_id)],
                condition=StateItem.run_id.does_not_exist() | (StateItem.run_id != event_id),
            )
        except UpdateError as exc:
            if not conditional_failed(exc):
                raise
            item.refresh(consistent_read=True)
        return int(item.counter or 0)

    def silence(self, automation_id: str, person: str) -> Silence | None:
        try:
            item = StateItem.get(*state_key(self.workspace, "silence", automation_id, person), consistent_read=True)
        except DoesNotExist:
            return None
        return silence_of(item)

    def set_silence(
        self, automation_id: str, person: str, event: dict[str, Any], due_at: datetime
    ) -> Literal["started", "moved"] | None:
        """Remember the person's latest event; the countdown restarts from it. One conditional put, whose reply
        (the item it replaced, if any) tells a new countdown from a moved one.

        None (and nothing changed) when the countdown already runs from a later event: an older event
        that arrives late never shortens the silence.
        """
        item = StateItem(*state_key(self.workspace, "silence", automation_id, person))
        item.run_id = event["id"]
        item.until = epoch(due_at)
        item.data = event
        item.expires_at = epoch(due_at + timedelta(days=30))
        args, kwargs = item._get_save_args(condition=StateItem.pk.does_not_exist() | (StateItem.until <= epoch(due_at)))
        try:
            reply = StateItem._get_connection().put_item(*args, **{**kwargs, "return_values": ALL_OLD})
        except PutError as exc:
            if conditional_failed(exc):
                return None
            raise
        return "moved" if reply.get("Attributes") else "started"

    def restart_silence(
        self,
        automation_id: str,
        person: str,
        event: dict[str, Any],
        due_at: datetime,
        *,
        stored: StoredEvent,
        current: Silence | None,
    ) -> Literal["started", "moved"] | None:
        """The countdown put as :meth:`set_silence` puts it and the event put only if its id is new, in one
        transaction; ``current`` (as read before) tells a new countdown from a moved one."""
        item = StateItem(*state_key(self.workspace, "silence", automation_id, person))
        item.run_id = event["id"]
        item.until = epoch(due_at)
        item.data = event
        item.expires_at = epoch(due_at + timedelta(days=30))
        later = StateItem.pk.does_not_exist() | (StateItem.until <= epoch(due_at))
        if current is None or current.due_at <= due_at:
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.save(item, condition=later)
                    tx.save(event_item(self.workspace, stored), condition=EventItem.pk.does_not_exist())
                return "moved" if current is not None else "started"
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if len(codes) < 2 or "ConditionalCheckFailed" not in codes:
                    raise
                if codes[1] == "ConditionalCheckFailed":
                    raise SkippedError("stored") from None
        # A countdown due later runs (from a later event): the event is stored alone.
        if not save_if(event_item(self.workspace, stored), EventItem.pk.does_not_exist()):
            raise SkippedError("stored")
        return None

    def clear_silence(self, automation_id: str, person: str, event_id: str) -> bool:
        """Drop the countdown if it is still the one for ``event_id``; False if a newer event replaced it."""
        item = StateItem(*state_key(self.workspace, "silence", automation_id, person))
        return delete_if(item, StateItem.run_id == event_id)
