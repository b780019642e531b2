"""The message store: one record per email and recipient, the record behind "at most once", keyed by run so that
a run's timeline can list its emails, and found by SES's message id.

Every change that a counter depends on is one DynamoDB transaction together with that counter's ``ADD`` (on a
random shard, see :mod:`automations.adapters.dynamodb.stats`), so a retry can neither lose nor double a count:
the message's claim, its ``skipped``/``failed``/``unknown`` outcome, its ``sent`` mark once SES took it, and each SES
event (its digest joins the message's ``seen`` set under the condition that it was not there, with the suppressions
it makes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations import ses_records
from automations.adapters.dynamodb.stats import stats_updates
from automations.adapters.dynamodb.suppressions import (
    DynamoSuppressionStore,
    contact_key,
    suppression_item,
    upsert_in,
)
from automations.adapters.dynamodb.tables import MessageItem, SuppressionItem
from automations.adapters.dynamodb.writes import cancellation_codes, conditional_failed, connection, epoch, pause
from automations.engine.email import SCOPE_STOPS, SUPPRESSION_SCOPES, scope_blocks
from automations.ports import SENT_RANK, SENT_STATUS, ConflictError, EmailRecord, FeedbackUpdate, Suppression

MESSAGE_RETENTION = timedelta(days=400)


def message_key(workspace: str, run_id: str, step: str, message_id: str) -> tuple[str, str]:
    return f"{workspace}#run#{run_id}", f"msg#{step}#{message_id}"


def ses_index_key(ses_message_id: str) -> str:
    return f"ses#{ses_message_id}"


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
        expires_at=epoch(record.created_at + MESSAGE_RETENTION),
    )
    if record.ses_message_id:
        item.gsi1pk = ses_index_key(record.ses_message_id)
        item.gsi1sk = item.sk
    return item


@dataclass
class DynamoMessageStore:
    """:class:`automations.ports.MessageStore` of one workspace."""

    workspace: str

    # --- reads -----------------------------------------------------------------------------------------

    def get(self, run_id: str, step: str, message_id: str) -> EmailRecord | None:
        try:
            item = MessageItem.get(*message_key(self.workspace, run_id, step, message_id), consistent_read=True)
        except DoesNotExist:
            return None
        return email_record(item)

    def of_run(self, run_id: str) -> list[EmailRecord]:
        """Every email of a run, in step order."""
        items = MessageItem.query(f"{self.workspace}#run#{run_id}", MessageItem.sk.startswith("msg#"))
        return [email_record(item) for item in items]

    def by_ses_id(self, ses_message_id: str) -> EmailRecord | None:
        for item in MessageItem.by_ses_id.query(ses_index_key(ses_message_id), limit=1):
            return email_record(item)
        return None

    # --- sending ---------------------------------------------------------------------------------------

    def claim(self, record: EmailRecord) -> bool:
        """Write the record in state ``sending`` unless one exists (a released ``retrying`` one is reused)."""
        try:
            message_item(self.workspace, record).save(
                condition=MessageItem.pk.does_not_exist() | (MessageItem.state == "retrying")
            )
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def claim_unless_suppressed(self, record: EmailRecord) -> tuple[bool, Suppression | None]:
        """One transaction: the claim (as :meth:`claim`) and a check of each kind of suppression of the address
        (absent, or of a scope that lets the record's type through). When a suppression failed it, the address's
        suppressions are read for the one that blocks (one read more, on that path only)."""
        item = message_item(self.workspace, record)
        free = MessageItem.pk.does_not_exist() | (MessageItem.state == "retrying")
        passing = [scope for scope in SCOPE_STOPS if not scope_blocks(scope, record.type)]
        kinds = tuple(SUPPRESSION_SCOPES)
        for _ in range(3):
            try:
                with TransactWrite(connection=connection()) as tx:
                    for kind in kinds:
                        allowed: Any = SuppressionItem.pk.does_not_exist()
                        if passing:
                            allowed = allowed | SuppressionItem.scope.is_in(*passing)
                        tx.condition_check(
                            SuppressionItem,
                            contact_key(self.workspace, record.address),
                            f"suppressed#{kind}",
                            condition=allowed,
                        )
                    tx.save(item, condition=free)
            except TransactWriteError as exc:
                # The transaction's items go in this order (condition checks before puts): the checks, the claim.
                codes = cancellation_codes(exc)
                if len(codes) > len(kinds) and codes[len(kinds)] == "ConditionalCheckFailed":
                    return False, None  # the record exists: its state decides, not the suppressions
                if "ConditionalCheckFailed" not in codes[: len(kinds)]:
                    raise
                blocking = DynamoSuppressionStore(self.workspace).blocking(record.address, record.type)
                if blocking is not None:
                    return False, blocking
                continue  # the suppression went away meanwhile: claim again
            return True, None
        raise ConflictError(f"the suppressions of {record.address!r} kept changing: try again")  # pragma: no cover

    def record_outcome(self, record: EmailRecord, counts: Mapping[str, int], now: datetime) -> bool:
        """Store a final record (``skipped``, ``failed``) with its counters, unless one exists (a released
        ``retrying`` one is replaced); False when it existed."""
        item = message_item(self.workspace, record)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=MessageItem.pk.does_not_exist() | (MessageItem.state == "retrying"))
                stats_updates(tx, self.workspace, item.automation_id, item.step, now, counts)
        except TransactWriteError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

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
                tx.update(self._key(record), actions=actions, condition=condition)
                stats_updates(tx, self.workspace, record.automation_id, record.step, now, counts or {})
        except TransactWriteError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def mark_sent(self, record: EmailRecord, ses_message_id: str, attempt: str, now: datetime) -> bool:
        """SES took it: one transaction of its MessageId on the record (and in the index), its status ``sent``
        (unless an event of SES's set one) and the ``sent`` counters, while the attempt still owns the ``sending``
        record: a second mark, or one after SES's own event settled the record (counting it), changes nothing.
        A record a concurrent delivery of the same queue message gave up as ``unknown`` meanwhile (counted so) is
        settled too, its ``send_unknown`` taken back: a second write, on that path only. A transaction that lost
        to another one on the record (SES's event) is tried again: its condition decides."""
        item = self._key(record)
        actions: list[Any] = [
            MessageItem.state.set("sent"),
            MessageItem.ses_message_id.set(ses_message_id),
            MessageItem.sent_at.set(now),
            MessageItem.updated_at.set(now),
            MessageItem.reason.remove(),
            MessageItem.gsi1pk.set(ses_index_key(ses_message_id)),
            MessageItem.gsi1sk.set(item.sk),
            MessageItem.status.set(MessageItem.status | SENT_STATUS),
            MessageItem.status_rank.set(MessageItem.status_rank | SENT_RANK),
            MessageItem.status_at.set(MessageItem.status_at | ses_records.iso(now)),
        ]
        for from_state, counts in (("sending", {"sent": 1}), ("unknown", {"sent": 1, "send_unknown": -1})):
            condition = (MessageItem.attempt == attempt) & (MessageItem.state == from_state)
            if self._transact(record, item, actions, condition, {} if record.test else counts, now):
                return True
        return False

    def _transact(
        self,
        record: EmailRecord,
        item: MessageItem,
        actions: list[Any],
        condition: Any,
        counts: Mapping[str, int],
        now: datetime,
    ) -> bool:
        """One update of the record under ``condition`` with its counters; False when the condition failed."""
        for tried in range(4):
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.update(item, actions=actions, condition=condition)
                    stats_updates(tx, self.workspace, record.automation_id, record.step, now, counts)
            except TransactWriteError as exc:
                if conditional_failed(exc):
                    return False
                if tried < 3 and "TransactionConflict" in cancellation_codes(exc):
                    pause(tried)
                    continue
                raise
            return True
        raise AssertionError("unreachable")  # pragma: no cover

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
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(target, actions=actions, condition=condition)
                stats_updates(tx, self.workspace, update.automation_id, update.step, update.now, update.counts)
                for suppression in update.suppressions:
                    upsert_in(tx, suppression_item(self.workspace, suppression))
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            if any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
                return False
            raise
        return True

    def _key(self, record: EmailRecord) -> MessageItem:
        return MessageItem(*message_key(self.workspace, record.run_id, record.step, record.message_id))
