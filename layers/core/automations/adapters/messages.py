"""Messages and suppressions: the records behind "at most once" and "never to a suppressed address".

Every change that a counter depends on is one DynamoDB transaction together with that counter's ``ADD``
(on a random shard, see :mod:`automations.adapters.stats`), so a retry can neither lose nor double a count:
the message's claim, its ``skipped``/``failed``/``unknown`` outcome, each SES event (its digest joins the
message's ``seen`` set under the condition that it was not there, with the suppressions it makes) and each new
unsubscribe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from automations.adapters.stats import add_actions, counter_item
from automations.adapters.store import _conditional_failed, _epoch, connection
from automations.adapters.tables import MessageItem, SuppressionItem
from automations.engine.email import scope_blocks
from automations.ports import SCOPES as SCOPES
from automations.ports import FeedbackUpdate, Suppression
from automations.ports import message_id_for as message_id_for
from automations.ports import normalize_address as normalize_address

MESSAGE_RETENTION = timedelta(days=400)


def message_key(workspace: str, run_id: str, step: str, message_id: str) -> tuple[str, str]:
    return f"{workspace}#run#{run_id}", f"msg#{step}#{message_id}"


def ses_index_key(ses_message_id: str) -> str:
    return f"ses#{ses_message_id}"


def stats_updates(
    tx: TransactWrite,
    workspace: str,
    automation_id: str,
    step: str | None,
    now: datetime,
    counts: Mapping[str, int],
) -> None:
    """Add the counter updates (the automation's and the step's) to a transaction."""
    if not any(counts.values()):
        return
    for target in (None, step) if step else (None,):
        item = counter_item(workspace, automation_id, now, target)
        tx.update(item, actions=add_actions(counts, item))


@dataclass
class MessageStore:
    """One record per email and recipient, keyed by run so that a run's timeline can list its emails."""

    workspace: str

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
    ) -> MessageItem:
        message_id = message_id_for(self.workspace, run_id, step, address)
        return MessageItem(
            *message_key(self.workspace, run_id, step, message_id),
            automation_id=automation_id,
            version=version,
            run_id=run_id,
            step=step,
            message_id=message_id,
            address=address,
            type=type_,
            person=person,
            subject=subject,
            test=test,
            state=state,
            reason=reason,
            attempt=attempt,
            created_at=now,
            updated_at=now,
            expires_at=_epoch(now + MESSAGE_RETENTION),
        )

    def get(self, run_id: str, step: str, message_id: str) -> MessageItem | None:
        try:
            return MessageItem.get(*message_key(self.workspace, run_id, step, message_id), consistent_read=True)
        except DoesNotExist:
            return None

    def of_run(self, run_id: str) -> list[MessageItem]:
        """Every email of a run, in step order."""
        return list(MessageItem.query(f"{self.workspace}#run#{run_id}", MessageItem.sk.startswith("msg#")))

    def by_ses_id(self, ses_message_id: str) -> MessageItem | None:
        for item in MessageItem.by_ses_id.query(ses_index_key(ses_message_id), limit=1):
            return item
        return None

    # --- sending ---------------------------------------------------------------------------------------

    def claim(self, item: MessageItem) -> bool:
        """Write the record in state ``sending`` unless one exists (a released ``retrying`` one is reused)."""
        try:
            item.save(condition=MessageItem.pk.does_not_exist() | (MessageItem.state == "retrying"))
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def record_outcome(self, item: MessageItem, counts: Mapping[str, int], now: datetime) -> bool:
        """Store a final record (``skipped``, ``failed``) with its counters, unless one exists (a released
        ``retrying`` one is replaced); False when it existed."""
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=MessageItem.pk.does_not_exist() | (MessageItem.state == "retrying"))
                stats_updates(tx, self.workspace, item.automation_id, item.step, now, counts)
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def finish(
        self,
        item: MessageItem,
        *,
        state: str,
        now: datetime,
        expected_state: str | None = None,
        attempt: str | None = None,
        reason: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> bool:
        """Move a claimed record on (``failed``, ``unknown``, ``retrying``) if it is still as expected."""
        actions: list[Any] = [MessageItem.state.set(state), MessageItem.updated_at.set(now)]
        if reason is not None:
            actions.append(MessageItem.reason.set(reason[:1000]))
        condition: Any = MessageItem.pk.exists()
        if expected_state is not None:
            condition = condition & (MessageItem.state == expected_state)
        if attempt is not None:
            condition = condition & (MessageItem.attempt == attempt)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(item, actions=actions, condition=condition)
                stats_updates(tx, self.workspace, item.automation_id, item.step, now, counts or {})
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                return False
            raise
        item.state = state
        if reason is not None:
            item.reason = reason[:1000]
        return True

    # --- feedback --------------------------------------------------------------------------------------

    def apply_feedback(self, run_id: str, step: str, message_id: str, update: FeedbackUpdate) -> bool:
        """One transaction: the record (under the conditions of :class:`~automations.ports.FeedbackUpdate`), its
        counters and its suppressions. False when a condition failed or another write got in between."""
        target = MessageItem(*message_key(self.workspace, run_id, step, message_id))
        actions: list[Any] = [MessageItem.seen.add({update.digest}), MessageItem.updated_at.set(update.now)]
        condition: Any = ~MessageItem.seen.contains(update.digest)
        created = update.create
        if created is not None:
            # The provider knows an email with no record here (expired, or written by an older stack).
            actions += [
                MessageItem.automation_id.set(created.automation_id),
                MessageItem.version.set(created.version),
                MessageItem.run_id.set(created.run_id),
                MessageItem.step.set(created.step),
                MessageItem.message_id.set(created.message_id),
                MessageItem.address.set(created.address),
                MessageItem.type.set(created.type),
                MessageItem.state.set(created.state),
                MessageItem.created_at.set(created.created_at),
                MessageItem.test.set(created.test),
            ]
            condition = condition & MessageItem.pk.does_not_exist()
        else:
            condition = condition & MessageItem.pk.exists()
        if update.confirm is not None:
            ses_message_id = update.confirm.ses_message_id
            actions += [
                MessageItem.state.set("sent"),
                MessageItem.reason.set(update.confirm.reason),
                MessageItem.ses_message_id.set(ses_message_id),
                MessageItem.gsi1pk.set(ses_index_key(ses_message_id)),
                MessageItem.gsi1sk.set(target.sk),
            ]
            condition = condition & (MessageItem.state == update.confirm.from_state)
        if update.status is not None:
            actions += [
                MessageItem.status.set(update.status),
                MessageItem.status_rank.set(update.rank or 0),
                MessageItem.status_at.set(update.at),
            ]
            if update.expected_rank is None:
                condition = condition & MessageItem.status_rank.does_not_exist()
            else:
                condition = condition & (MessageItem.status_rank == update.expected_rank)
        if update.first is not None:
            attribute = getattr(MessageItem, update.first)
            actions.append(attribute.set(update.at))
            condition = condition & attribute.does_not_exist()
        if update.total is not None:
            actions.append(getattr(MessageItem, update.total).add(1))
        if update.bounce_type is not None:
            actions.append(MessageItem.bounce_type.set(update.bounce_type))
        suppressions = SuppressionStore(self.workspace)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(target, actions=actions, condition=condition)
                stats_updates(tx, self.workspace, update.automation_id, update.step, update.now, update.counts)
                for suppression in update.suppressions:
                    suppressions.upsert_in(tx, suppressions.item_of(suppression))
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            if any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
                return False
            raise
        return True

    def mark_sent(self, item: MessageItem, ses_message_id: str, attempt: str, now: datetime) -> bool:
        """SES took it: its MessageId on the record (and in the index), unless another attempt owns it."""
        try:
            item.update(
                actions=[
                    MessageItem.state.set("sent"),
                    MessageItem.ses_message_id.set(ses_message_id),
                    MessageItem.sent_at.set(now),
                    MessageItem.updated_at.set(now),
                    MessageItem.reason.remove(),
                    MessageItem.gsi1pk.set(ses_index_key(ses_message_id)),
                    MessageItem.gsi1sk.set(item.sk),
                ],
                condition=MessageItem.attempt == attempt,
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


@dataclass
class SuppressionStore:
    """Addresses that must not get mail: after a hard bounce or a complaint (all types), or an unsubscribe."""

    workspace: str

    def key(self, address: str, kind: str) -> tuple[str, str]:
        return f"{self.workspace}#contact#{normalize_address(address)}", f"suppressed#{kind}"

    def of(self, address: str) -> list[SuppressionItem]:
        pk = f"{self.workspace}#contact#{normalize_address(address)}"
        return list(SuppressionItem.query(pk, SuppressionItem.sk.startswith("suppressed#"), consistent_read=True))

    def blocking(self, address: str, email_type: str) -> SuppressionItem | None:
        """The suppression that keeps an email of ``email_type`` from ``address``, if any."""
        for item in self.of(address):
            if scope_blocks(item.scope, email_type):
                return item
        return None

    def item(
        self, address: str, kind: str, *, reason: str, source: str, automation_id: str | None, now: datetime
    ) -> SuppressionItem:
        return SuppressionItem(
            *self.key(address, kind),
            address=normalize_address(address),
            kind=kind,
            scope=SCOPES[kind],
            reason=reason[:500],
            source=source,
            automation_id=automation_id,
            at=now,
        )

    def item_of(self, suppression: Suppression) -> SuppressionItem:
        """The item of a suppression (already normalized, its scope set)."""
        return SuppressionItem(
            *self.key(suppression.address, suppression.kind),
            address=suppression.address,
            kind=suppression.kind,
            scope=suppression.scope,
            reason=suppression.reason,
            source=suppression.source,
            automation_id=suppression.automation_id,
            at=suppression.at,
        )

    def upsert_in(self, tx: TransactWrite, item: SuppressionItem) -> None:
        """Record (or keep) a suppression inside a transaction, never failing it: the first time stays."""
        tx.update(
            item,
            actions=[
                SuppressionItem.address.set(item.address),
                SuppressionItem.kind.set(item.kind),
                SuppressionItem.scope.set(item.scope),
                SuppressionItem.reason.set(SuppressionItem.reason | item.reason),
                SuppressionItem.source.set(SuppressionItem.source | item.source),
                SuppressionItem.at.set(SuppressionItem.at | item.at),
                *(
                    [SuppressionItem.automation_id.set(SuppressionItem.automation_id | item.automation_id)]
                    if item.automation_id
                    else []
                ),
            ],
        )

    def add_new(
        self, item: SuppressionItem, *, now: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> bool:
        """Record a suppression that did not exist, with its counters; False (nothing counted) if it did."""
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=SuppressionItem.pk.does_not_exist())
                if item.automation_id:
                    stats_updates(tx, self.workspace, item.automation_id, step, now, counts)
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
