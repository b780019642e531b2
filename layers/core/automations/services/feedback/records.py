"""What one SES event-publishing record does to its message, pure: its :class:`FeedbackEffect` (counters, status,
first times, suppressions), its digest, and the :class:`~automations.ports.FeedbackUpdate` it makes of the message's
record as it was read. Also SES's side for the local stack and the tests: :func:`simulated_record`.

A status only moves up (sent < delayed < soft_bounced < delivered < opened < clicked < rendering_failed <
rejected < suppressed < bounced < complained), so an Open before its Delivery leaves the message "opened"; the
first Open and the first Click also count ``opened_unique`` and ``clicked_unique``. ``sent`` is counted by the
sender when SES accepts an email (:meth:`MessageStore.mark_sent <automations.ports.MessageStore.mark_sent>`), and
here only by the event that settles a send a crash interrupted; SES's ``Send`` event counts nothing. A hard bounce or a
complaint suppresses the address for every type of mail; test emails are tracked on their record, never counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from automations import ses_records
from automations.addresses import normalize_address
from automations.engine.email import sanitize_tag
from automations.ports import (
    SENT_RANK,
    SENT_STATUS,
    Confirmation,
    EmailRecord,
    FeedbackUpdate,
    FirstTime,
    RunningCount,
    Suppression,
)
from automations.ses_records import UnprocessableFeedbackError, detail_of, event_type, recipients_of

#: Status precedence: a status only replaces a lower one.
RANKS = {
    SENT_STATUS: SENT_RANK,  # what the sender's mark sets (MessageStore.mark_sent), SES's Send event too
    "delayed": 20,
    "soft_bounced": 25,
    "delivered": 30,
    "opened": 40,
    "clicked": 50,
    "rendering_failed": 70,
    "rejected": 80,
    "suppressed": 85,
    "bounced": 90,
    "complained": 100,
}

#: Bounce sub-types that mean "SES did not try": the address is on a suppression list, not a new bounce.
SUPPRESSED_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})

#: The state of a record made from the provider's events alone (no record of the send was found).
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class FeedbackEffect:
    """What one SES record does to its message."""

    counts: dict[str, int]
    at: str
    status: str | None = None
    kind: str = ""
    first: FirstTime | None = None  # the message's time set on the first such event
    unique: str | None = None  # the counter counted with that first time (opened_unique...)
    total: RunningCount | None = None  # the message's own running count
    suppress: str | None = None  # bounce | complaint | unsubscribe
    addresses: tuple[str, ...] = ()
    bounce_type: str | None = None
    reputation: bool = False


def effect_of(record: Mapping[str, Any]) -> FeedbackEffect:
    """What a record means for its message; ``UnprocessableFeedbackError`` for an unknown kind."""
    return replace(_effect_of(record), kind=event_type(record))


def _effect_of(record: Mapping[str, Any]) -> FeedbackEffect:
    kind = event_type(record)
    mail = record["mail"]
    fallback_at = str(mail.get("timestamp") or "")
    if kind == "Send":
        # ``sent`` is counted when SES accepts the email (the sender's mark), or when an event settles a send a
        # crash interrupted (:func:`update_for`): the configuration set no longer publishes this event, and one
        # still delivered (a stack being upgraded) only sets the status and settles an interrupted send.
        return FeedbackEffect({}, fallback_at, status=SENT_STATUS)
    if kind == "Delivery":
        detail = detail_of(record)
        at = str(detail.get("timestamp") or fallback_at)
        return FeedbackEffect({"delivered": 1}, at, status="delivered", first="delivered_at")
    if kind == "Open":
        at = str(detail_of(record).get("timestamp") or fallback_at)
        return FeedbackEffect(
            {"opened": 1}, at, status="opened", first="opened_at", unique="opened_unique", total="opens"
        )
    if kind == "Click":
        at = str(detail_of(record).get("timestamp") or fallback_at)
        return FeedbackEffect(
            {"clicked": 1}, at, status="clicked", first="clicked_at", unique="clicked_unique", total="clicks"
        )
    if kind == "Bounce":
        return _bounce(record, fallback_at)
    if kind == "Complaint":
        detail = detail_of(record)
        at = str(detail.get("timestamp") or fallback_at)
        addresses = recipients_of(detail.get("complainedRecipients"))
        return FeedbackEffect(
            {"complained": 1}, at, status="complained", suppress="complaint", addresses=addresses, reputation=True
        )
    if kind == "Reject":
        return FeedbackEffect({"rejected": 1}, fallback_at, status="rejected")
    if kind == "Rendering Failure":
        return FeedbackEffect({"rendering_failed": 1}, fallback_at, status="rendering_failed")
    if kind == "DeliveryDelay":
        detail = detail_of(record)
        return FeedbackEffect({"delayed": 1}, str(detail.get("timestamp") or fallback_at), status="delayed")
    if kind == "Subscription":
        detail = detail_of(record)
        preferences = detail.get("newTopicPreferences") or {}
        statuses = preferences.get("topicSubscriptionStatus") or [] if isinstance(preferences, dict) else []
        opted_out = bool(isinstance(preferences, dict) and preferences.get("unsubscribeAll")) or any(
            isinstance(s, dict) and s.get("subscriptionStatus") == "OptOut" for s in statuses
        )
        at = str(detail.get("timestamp") or fallback_at)
        return FeedbackEffect({}, at, suppress="unsubscribe" if opted_out else None)
    raise UnprocessableFeedbackError(f"unknown event type {kind!r}")


def _bounce(record: Mapping[str, Any], fallback_at: str) -> FeedbackEffect:
    detail = detail_of(record)
    at = str(detail.get("timestamp") or fallback_at)
    bounce_type = str(detail.get("bounceType") or "Undetermined")
    subtype = str(detail.get("bounceSubType") or "")
    described = f"{bounce_type}/{subtype}" if subtype else bounce_type
    if bounce_type != "Permanent":
        return FeedbackEffect({"bounced_soft": 1}, at, status="soft_bounced", bounce_type=described)
    addresses = recipients_of(detail.get("bouncedRecipients"))
    if subtype in SUPPRESSED_SUBTYPES:
        return FeedbackEffect(
            {"suppressed": 1}, at, "suppressed", suppress="bounce", addresses=addresses, bounce_type=described
        )
    return FeedbackEffect(
        {"bounced_hard": 1},
        at,
        status="bounced",
        suppress="bounce",
        addresses=addresses,
        bounce_type=described,
        reputation=True,
    )


def digest_of(record: Mapping[str, Any]) -> str:
    """The identity of a record: the same event delivered twice has the same digest."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# --- what it makes of the record ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The message a record is about, and what the record's tags say of it."""

    workspace: str
    run_id: str
    step: str
    message_id: str
    automation_id: str
    test: bool


def update_for(
    effect: FeedbackEffect,
    found: EmailRecord | None,
    target: Target,
    mail: Mapping[str, Any],
    digest: str,
    now: datetime,
) -> FeedbackUpdate:
    """The one write that applies a record's effect to the message's record as read (``found``; None when there
    is none): what changes, what must still hold, what is counted and who is suppressed."""
    counts = dict(effect.counts)
    create = None
    confirm = None
    destination = [str(a) for a in mail.get("destination") or []]
    if found is None:
        # SES knows a message we have no record of (expired, or written by an older stack): keep what it says.
        create = EmailRecord(
            workspace=target.workspace,
            message_id=target.message_id,
            run_id=target.run_id,
            step=target.step,
            automation_id=target.automation_id,
            version=0,
            address=normalize_address(destination[0] if destination else ""),
            type="transactional",
            state=UNRECORDED,
            created_at=now,
            updated_at=now,
            test=target.test,
        )
    else:
        ses_message_id = str(mail.get("messageId") or "")
        if found.state in ("sending", "unknown") and ses_message_id:
            # SES's own event settles what a crash left open: the email was accepted, under this id. It is counted
            # ``sent`` now (no mark counted it: the mark needs a ``sending`` record, and this confirmation moves it
            # on), and an email counted as ``send_unknown`` stops being counted so: counters follow the final state.
            counts["sent"] = counts.get("sent", 0) + 1
            if found.state == "unknown":
                counts["send_unknown"] = counts.get("send_unknown", 0) - 1
            reason = f"confirmed by SES's {effect.kind} event after an interrupted send"
            confirm = Confirmation(ses_message_id, found.state, reason)
    status = rank = expected_rank = None
    if effect.status is not None:
        current = None if found is None else found.status_rank
        if current is None or current < RANKS[effect.status]:
            status, rank, expected_rank = effect.status, RANKS[effect.status], current
    first = None
    if effect.first is not None and (found is None or getattr(found, effect.first) is None):
        first = effect.first
        if effect.unique is not None:
            counts[effect.unique] = 1
    suppressions: tuple[Suppression, ...] = ()
    if effect.suppress in ("bounce", "complaint"):
        reason = "hard bounce" if effect.suppress == "bounce" else "complaint"
        if effect.bounce_type:
            reason = f"{reason} ({effect.bounce_type})"
        addresses = effect.addresses or tuple(normalize_address(a) for a in destination)
        suppressions = tuple(
            Suppression.new(
                address, effect.suppress, reason=reason, source="ses", automation_id=target.automation_id, now=now
            )
            for address in addresses
        )
    return FeedbackUpdate(
        digest=digest,
        automation_id=target.automation_id,
        step=target.step,
        now=now,
        at=effect.at,
        counts={} if target.test else counts,
        create=create,
        confirm=confirm,
        status=status,
        rank=rank,
        expected_rank=expected_rank,
        first=first,
        total=effect.total,
        bounce_type=effect.bounce_type,
        suppressions=suppressions,
    )


# --- SES's part, for the local stack and tests --------------------------------------------------------------


def simulated_record(
    message: EmailRecord,
    kind: str,
    now: datetime,
    *,
    sender: str,
    configuration_set: str = "automations",
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The SES event-publishing record of one of our messages (:mod:`automations.ses_records`), with the
    message's tags as the sender sets them. ``detail`` overrides the event's own object (``bounce``...)."""
    tags = {
        "workspace": message.workspace,
        "automation": message.automation_id,
        "version": str(message.version),
        "run": message.run_id,
        "step": message.step,
        "message": message.message_id,
        "type": message.type,
    }
    if message.test:
        tags["test"] = "true"
    mail = ses_records.mail_object(
        message_id=message.ses_message_id or message.message_id,
        source=sender,
        destination=[message.address],
        sent_at=message.sent_at or now,
        tags={name: sanitize_tag(value) for name, value in tags.items()},
        subject=message.subject or "",
        configuration_set=configuration_set,
    )
    return ses_records.record(kind, mail, {**ses_records.detail_for(kind, now, [message.address]), **(detail or {})})
