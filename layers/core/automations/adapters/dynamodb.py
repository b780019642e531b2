"""The storage ports over DynamoDB: the stores of :mod:`~automations.adapters.store`,
:mod:`~automations.adapters.messages` and :mod:`~automations.adapters.stats`, answering domain values.

Each class keeps the conditional writes of the store it wraps (one source for each rule) and only turns the
pynamodb items it reads into the values of :mod:`automations.ports` and back. The run store needs no wrapper:
:class:`~automations.adapters.store.RunStore` takes and returns domain values already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters import stats
from automations.adapters.messages import (
    MESSAGE_RETENTION,
    MessageStore,
    SuppressionStore,
    message_key,
    ses_index_key,
)
from automations.adapters.store import (
    AutomationStore,
    CounterStore,
    EventStore,
    _conditional_failed,
    connection,
)
from automations.adapters.tables import (
    AutomationHead,
    AutomationVersion,
    EventItem,
    MessageItem,
    StateItem,
    SuppressionItem,
)
from automations.ports import (
    AutomationInfo,
    ConflictError,
    EmailRecord,
    FeedbackUpdate,
    RouteInfo,
    Silence,
    StoredEvent,
    Suppression,
    VersionInfo,
)


def automation_info(head: AutomationHead) -> AutomationInfo:
    return AutomationInfo(
        id=head.sk,
        name=head.name,
        status=head.status,
        version=int(head.version),
        trigger_event=head.trigger_event,
        description=head.description,
        created_at=head.created_at,
        updated_at=head.updated_at,
        status_reason=head.status_reason,
    )


def version_info(automation_id: str, item: AutomationVersion) -> VersionInfo:
    return VersionInfo(
        automation_id=automation_id,
        version=int(item.version),
        definition=item.definition,
        created_at=item.created_at,
    )


@dataclass
class DynamoAutomationStore:
    """:class:`automations.ports.AutomationStore` over :class:`~automations.adapters.store.AutomationStore`."""

    store: AutomationStore

    def head(self, automation_id: str) -> AutomationInfo:
        return automation_info(self.store.head(automation_id))

    def heads(self) -> list[AutomationInfo]:
        return [automation_info(head) for head in self.store.heads()]

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        return self.store.version(automation_id, version)

    def versions(self, automation_id: str) -> list[VersionInfo]:
        return [version_info(automation_id, item) for item in self.store.versions(automation_id)]

    def routes_for(self, event_type: str, *, fresh: bool = False) -> list[RouteInfo]:
        return self.store.routes_for(event_type, fresh=fresh)

    def forget_routes(self) -> None:
        self.store.forget_routes()

    def create(self, definition: dict[str, Any], now: datetime) -> AutomationInfo:
        return automation_info(self.store.create(definition, now))

    def replace(self, definition: dict[str, Any], now: datetime, *, expected_version: int | None = None) -> int:
        return self.store.replace(definition, now, expected_version=expected_version)

    def set_status(self, automation_id: str, status: str, now: datetime, reason: str | None = None) -> AutomationInfo:
        return automation_info(self.store.set_status(automation_id, status, now, reason))

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> AutomationInfo:
        return automation_info(self.store.rename(automation_id, name, description, now))

    def delete(self, automation_id: str) -> None:
        try:
            self.store.delete(automation_id)
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise


def stored_event(item: EventItem) -> StoredEvent:
    return StoredEvent(
        id=str(item.body["id"]),
        type=item.type,
        body=item.body,
        received_at=item.received_at,
        status=item.status,
        runs=tuple(str(run) for run in item.runs or ()),
    )


@dataclass
class DynamoEventStore:
    """:class:`automations.ports.EventStore` over :class:`~automations.adapters.store.EventStore`."""

    store: EventStore

    def put_new(self, events: Sequence[StoredEvent]) -> list[bool]:
        return self.store.put_new([self.store.item(event.body, event.received_at, event.status) for event in events])

    def get(self, event_id: str) -> StoredEvent | None:
        item = self.store.get(event_id)
        return None if item is None else stored_event(item)

    def mark_processed(self, done: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.store.mark_processed_many([(event_id, list(runs)) for event_id, runs in done])


def silence_of(item: StateItem) -> Silence:
    return Silence(
        event_id=str(item.run_id),
        due_at=datetime.fromtimestamp(int(item.until or 0), UTC),
        event=dict(item.data or {}),
    )


@dataclass
class DynamoCounterStore:
    """:class:`automations.ports.CounterStore` over :class:`~automations.adapters.store.CounterStore`."""

    store: CounterStore

    def bump(self, automation_id: str, person: str, event_id: str) -> int:
        return self.store.bump(automation_id, person, event_id)

    def silence(self, automation_id: str, person: str) -> Silence | None:
        item = self.store.silence(automation_id, person)
        return None if item is None else silence_of(item)

    def set_silence(self, automation_id: str, person: str, event: dict[str, Any], due_at: datetime) -> bool:
        return self.store.set_silence(automation_id, person, event, due_at)

    def clear_silence(self, automation_id: str, person: str, event_id: str) -> bool:
        return self.store.clear_silence(automation_id, person, event_id)


# --- messages and suppressions -------------------------------------------------------------------------------


def email_record(item: MessageItem) -> EmailRecord:
    return EmailRecord(
        workspace=item.pk.split("#", 1)[0],
        message_id=item.message_id,
        run_id=item.run_id,
        step=item.step,
        automation_id=item.automation_id,
        version=int(item.version or 0),
        address=item.address,
        type=item.type,
        state=item.state,
        created_at=item.created_at,
        updated_at=item.updated_at,
        person=item.person,
        subject=item.subject,
        test=bool(item.test),
        reason=item.reason,
        attempt=item.attempt,
        ses_message_id=item.ses_message_id,
        sent_at=item.sent_at,
        status=item.status,
        status_rank=None if item.status_rank is None else int(item.status_rank),
        status_at=item.status_at,
        delivered_at=item.delivered_at,
        opened_at=item.opened_at,
        clicked_at=item.clicked_at,
        opens=int(item.opens or 0),
        clicks=int(item.clicks or 0),
        bounce_type=item.bounce_type,
        seen=frozenset(item.seen or ()),
    )


def message_item(workspace: str, record: EmailRecord) -> MessageItem:
    """The whole item of a record, as a put writes it (indexed by its SES id when it has one)."""
    item = MessageItem(
        *message_key(workspace, record.run_id, record.step, record.message_id),
        automation_id=record.automation_id,
        version=record.version,
        run_id=record.run_id,
        step=record.step,
        message_id=record.message_id,
        address=record.address,
        type=record.type,
        person=record.person,
        subject=record.subject,
        test=record.test,
        state=record.state,
        reason=record.reason,
        attempt=record.attempt,
        ses_message_id=record.ses_message_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        sent_at=record.sent_at,
        status=record.status,
        status_rank=record.status_rank,
        status_at=record.status_at,
        delivered_at=record.delivered_at,
        opened_at=record.opened_at,
        clicked_at=record.clicked_at,
        opens=record.opens or None,
        clicks=record.clicks or None,
        bounce_type=record.bounce_type,
        seen=set(record.seen) or None,
        expires_at=int((record.created_at + MESSAGE_RETENTION).timestamp()),
    )
    if record.ses_message_id:
        item.gsi1pk = ses_index_key(record.ses_message_id)
        item.gsi1sk = item.sk
    return item


@dataclass
class DynamoMessageStore:
    """:class:`automations.ports.MessageStore` over :class:`~automations.adapters.messages.MessageStore`."""

    store: MessageStore

    def _key(self, record: EmailRecord) -> MessageItem:
        return MessageItem(*message_key(self.store.workspace, record.run_id, record.step, record.message_id))

    def new(
        self,
        *,
        automation_id: str,
        version: int,
        run_id: str,
        step: str,
        address: str,
        type_: str,
        state: str,
        now: datetime,
        person: str | None = None,
        subject: str | None = None,
        test: bool = False,
        reason: str | None = None,
        attempt: str | None = None,
    ) -> EmailRecord:
        return EmailRecord.new(
            self.store.workspace,
            automation_id=automation_id,
            version=version,
            run_id=run_id,
            step=step,
            address=address,
            type_=type_,
            state=state,
            now=now,
            person=person,
            subject=subject,
            test=test,
            reason=reason,
            attempt=attempt,
        )

    def get(self, run_id: str, step: str, message_id: str) -> EmailRecord | None:
        item = self.store.get(run_id, step, message_id)
        return None if item is None else email_record(item)

    def of_run(self, run_id: str) -> list[EmailRecord]:
        return [email_record(item) for item in self.store.of_run(run_id)]

    def by_ses_id(self, ses_message_id: str) -> EmailRecord | None:
        item = self.store.by_ses_id(ses_message_id)
        return None if item is None else email_record(item)

    def claim(self, record: EmailRecord) -> bool:
        return self.store.claim(message_item(self.store.workspace, record))

    def record_outcome(self, record: EmailRecord, counts: Mapping[str, int], now: datetime) -> bool:
        return self.store.record_outcome(message_item(self.store.workspace, record), counts, now)

    def finish(
        self,
        record: EmailRecord,
        *,
        state: str,
        now: datetime,
        expected_state: str | None = None,
        attempt: str | None = None,
        reason: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> bool:
        item = self._key(record)
        item.automation_id = record.automation_id
        item.step = record.step
        return self.store.finish(
            item, state=state, now=now, expected_state=expected_state, attempt=attempt, reason=reason, counts=counts
        )

    def mark_sent(self, record: EmailRecord, ses_message_id: str, attempt: str, now: datetime) -> bool:
        return self.store.mark_sent(self._key(record), ses_message_id, attempt, now)

    def apply_feedback(self, run_id: str, step: str, message_id: str, update: FeedbackUpdate) -> bool:
        return self.store.apply_feedback(run_id, step, message_id, update)


def suppression_of(item: SuppressionItem) -> Suppression:
    return Suppression(
        address=item.address,
        kind=item.kind,
        scope=item.scope,
        reason=item.reason,
        source=item.source,
        automation_id=item.automation_id,
        at=item.at,
    )


@dataclass
class DynamoSuppressionStore:
    """:class:`automations.ports.SuppressionStore` over :class:`~automations.adapters.messages.SuppressionStore`."""

    store: SuppressionStore

    def _item(self, suppression: Suppression) -> SuppressionItem:
        return self.store.item_of(suppression)

    def of(self, address: str) -> list[Suppression]:
        return [suppression_of(item) for item in self.store.of(address)]

    def blocking(self, address: str, email_type: str) -> Suppression | None:
        return next((found for found in self.of(address) if found.blocks(email_type)), None)

    def add_new(
        self, suppression: Suppression, *, now: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> bool:
        return self.store.add_new(self._item(suppression), now=now, counts=counts, step=step)

    def upsert(self, suppression: Suppression) -> None:
        with TransactWrite(connection=connection()) as tx:
            self.store.upsert_in(tx, self._item(suppression))


@dataclass
class DynamoStatsStore:
    """:class:`automations.ports.StatsStore` over :mod:`~automations.adapters.stats` (sharded ``ADD`` counters)."""

    workspace: str

    def increment(
        self, automation_id: str, moment: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> None:
        stats.increment(self.workspace, automation_id, moment, counts, step)

    def read(self, automation_id: str, start: date | None = None, end: date | None = None) -> dict[str, dict[str, int]]:
        return stats.read(self.workspace, automation_id, start, end)
