"""Delivering one request to each of its recipients, each (run, step, recipient) at most once (DESIGN.md §6.5),
through the ports: the message store's claim before the provider is called, the suppressions, the sender.

For each recipient:

1. a suppression that covers the email's type makes it ``skipped``, with the reason, counted as ``suppressed``:
   a hard bounce or a complaint covers every type; an unsubscribe covers promotional email, or promotional and
   transactional email when the recipient chose essential email only (business-critical email still goes).
   The recipient's preference level is kept on that suppression, so the address's suppressions alone decide
   (no read of the contact profile); they are checked in the claim's own write (step 3), and read only when one
   blocks;
2. an email the provider could never take (no sender, a sender the stack may not use, an unusable address)
   is ``failed`` before anything is claimed or called, counted ``send_failed`` (``skipped`` when a suppression
   blocks it too);
3. the record is claimed with a conditional write (state ``sending``) *before* the provider is called, in one
   transaction with the check that no suppression blocks it;
4. the provider's answer decides: its message id makes it ``sent``; a failure a later attempt may cure makes it
   ``retrying`` and the request comes back (:class:`TransientSendError`); a final refusal makes it ``failed``
   with the reason (counted ``send_failed``); a request that may have reached the provider (its reply lost)
   makes it ``unknown`` (counted ``send_unknown``), never sent again;
5. a retry that finds a record still ``sending`` knows the previous attempt died between the provider and the
   record: it marks it ``unknown`` (counted ``send_unknown``) and never sends it again.

``sent``, ``delivered`` and the rest are counted from SES's own events (:mod:`automations.services.feedback`).
Test emails (``test`` true) are recorded and marked, and kept out of every counter.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.engine.effects import EmailRequest
from automations.errors import AutomationsError
from automations.observability import logger
from automations.ports import (
    EmailRecord,
    EmailSender,
    MessageStore,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
    Suppression,
)
from automations.services.deps import Deps
from automations.services.sending.compose import outgoing
from automations.services.sending.pacing import Pacer

SKIP_REASONS = {
    "bounce": "address suppressed after a hard bounce",
    "complaint": "address suppressed after a complaint",
    "unsubscribe": "recipient unsubscribed from promotional email",
}
#: Why an email is skipped for an unsubscribe, by its scope (the preference level the recipient chose).
UNSUBSCRIBE_REASONS = {
    "promotional": SKIP_REASONS["unsubscribe"],
    "non_essential": "recipient opted out of all but essential email",
}


def skip_reason(suppression: Suppression) -> str:
    """Why a suppression keeps an email from its address, as the record and the timeline say it."""
    if suppression.kind == "unsubscribe" and suppression.scope in UNSUBSCRIBE_REASONS:
        return UNSUBSCRIBE_REASONS[suppression.scope]
    return SKIP_REASONS.get(suppression.kind, f"address suppressed ({suppression.kind})")


#: Time kept free before a recipient is taken, besides one provider call at its longest: the writes around it.
RESERVE_MARGIN_SECONDS = 7


def reserve_seconds(sender: EmailSender) -> float:
    """The time a recipient needs: one call to the provider at its longest, and the writes around it. A
    recipient is claimed only when that much is left, so a timeout never leaves one ``sending`` (then
    ``unknown``)."""
    return sender.call_seconds + RESERVE_MARGIN_SECONDS


@dataclass(frozen=True)
class Delivery:
    """What happened to one recipient of a request."""

    address: str
    message_id: str
    state: str  # sent | skipped | failed | unknown | retrying | done (handled before)
    reason: str | None = None
    ses_message_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "message_id": self.message_id,
            "state": self.state,
            "reason": self.reason,
            "ses_message_id": self.ses_message_id,
        }


class OutOfTimeError(AutomationsError):
    """Too little of the invocation is left to send to one more recipient safely; the message comes back later
    (the recipients handled before keep their records, so the retry goes straight to the ones left)."""

    def __init__(self, seconds_left: float, needed: float, deliveries: list[Delivery]) -> None:
        super().__init__(f"{seconds_left:.1f} s left in the invocation, {needed:.0f} s needed per recipient")
        self.seconds_left = seconds_left
        self.deliveries = deliveries


class TransientSendError(AutomationsError):
    """The provider could not take an email now; the queue message must come back later (with backoff)."""

    def __init__(self, reason: str, deliveries: list[Delivery]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.deliveries = deliveries


def send_request(
    deps: Deps,
    request: EmailRequest,
    now: datetime,
    *,
    pace: Pacer | None = None,
    time_left: Callable[[], float] | None = None,
) -> list[Delivery]:
    """Send one request to each of its recipients, each at most once.

    ``pace`` spaces the provider's calls; ``time_left`` (seconds left in the invocation) stops before a
    recipient when its send might not finish in time (:class:`OutOfTimeError`). Raises
    :class:`TransientSendError` at the first recipient the provider could not take now. Either way the
    recipients handled before keep their records, so the retry goes straight to the ones left.
    """
    deliveries: list[Delivery] = []
    needed = reserve_seconds(deps.email_sender)
    for address in dict.fromkeys(a.strip() for a in request.recipients):
        if time_left is not None:
            left = time_left()
            if left < needed + (pace.delay() if pace is not None else 0.0):
                raise OutOfTimeError(left, needed, deliveries)
        try:
            deliveries.append(_deliver(deps, request, address, now, pace))
        except SendTransientError as exc:
            raise TransientSendError(str(exc), deliveries) from exc
    return deliveries


def _counts(request: EmailRequest, name: str) -> dict[str, int]:
    return {} if request.test else {name: 1}


def _deliver(deps: Deps, request: EmailRequest, address: str, now: datetime, pace: Pacer | None) -> Delivery:
    messages = deps.messages
    attempt = uuid.uuid4().hex

    def record(state: str, **fields: Any) -> EmailRecord:
        return EmailRecord.new(
            messages.workspace,
            automation_id=request.automation_id,
            version=request.version,
            run_id=request.run_id,
            step=request.step,
            address=address,
            type_=request.type,
            now=now,
            person=request.person,
            subject=request.subject[:500],
            test=request.test,
            state=state,
            **fields,
        )

    log = {"run": request.run_id, "step": request.step, "automation": request.automation_id, "test": request.test}

    def skip(blocked: Suppression) -> Delivery:
        reason = skip_reason(blocked)
        skipped = record("skipped", reason=reason)
        if messages.record_outcome(skipped, _counts(request, "suppressed"), now):
            logger.info("email skipped", extra={**log, "reason": reason, "message_id": skipped.message_id})
            return Delivery(address, skipped.message_id, "skipped", reason)
        return _already(messages, skipped, now)

    claim = record("sending", attempt=attempt)
    try:
        prepared = deps.email_sender.prepare(outgoing(deps, request, address, claim.message_id), now)
    except SendRejectedError as exc:
        # Nothing the provider could ever take (no sender, an unusable address): recorded before any claim or
        # call, unless a suppression keeps the email from the address anyway (then it is skipped, as always).
        blocked = deps.suppressions.blocking(address, request.type)
        if blocked is not None:
            return skip(blocked)
        reason = f"cannot be sent: {exc}"
        failed = record("failed", reason=reason)
        if messages.record_outcome(failed, _counts(request, "send_failed"), now):
            logger.error("email refused", extra={**log, "reason": reason, "message_id": failed.message_id})
            return Delivery(address, failed.message_id, "failed", reason)
        return _already(messages, failed, now)

    if pace is not None:
        pace.wait()  # before the claim: a record is never left "sending" while its send waits its turn
    claimed, blocked = _claim(deps, claim, attempt)
    if blocked is not None:
        return skip(blocked)
    if not claimed:
        return _already(messages, claim, now)

    try:
        ses_message_id = deps.email_sender.submit(prepared)
    except SendTransientError as exc:
        messages.finish(claim, state="retrying", now=now, attempt=attempt, reason=str(exc))
        logger.warning("email will be retried", extra={**log, "reason": str(exc), "message_id": claim.message_id})
        raise
    except SendRejectedError as exc:
        reason = f"refused by SES: {exc}"
        messages.finish(
            claim, state="failed", now=now, attempt=attempt, reason=reason, counts=_counts(request, "send_failed")
        )
        logger.error("email refused", extra={**log, "reason": reason, "message_id": claim.message_id})
        return Delivery(address, claim.message_id, "failed", reason)
    except SendOutcomeUnknownError as exc:
        reason = f"SES may have accepted it ({exc}); not sent again"
        messages.finish(
            claim, state="unknown", now=now, attempt=attempt, reason=reason, counts=_counts(request, "send_unknown")
        )
        logger.error("email outcome unknown", extra={**log, "reason": reason, "message_id": claim.message_id})
        return Delivery(address, claim.message_id, "unknown", reason)
    messages.mark_sent(claim, ses_message_id, attempt, now)
    logger.info("email sent", extra={**log, "message_id": claim.message_id, "ses_message_id": ses_message_id})
    return Delivery(address, claim.message_id, "sent", ses_message_id=ses_message_id)


def _claim(deps: Deps, record: EmailRecord, attempt: str) -> tuple[bool, Suppression | None]:
    """Claim the record before the provider is called, in the same write as the check that no suppression of the
    address blocks it (what blocks it, when one does); a claim whose reply was lost is recognised by its attempt.

    Without that check, the claim written by this very attempt would look like an earlier attempt that died
    after calling the provider, and the email would be marked ``unknown`` without the provider ever being called.
    """
    try:
        return deps.messages.claim_unless_suppressed(record)
    except Exception as exc:
        if not deps.is_transient(exc):
            raise
        found = deps.messages.get(record.run_id, record.step, record.message_id)
        if found is None or found.attempt != attempt:
            raise  # not written (or another attempt's): the queue message comes back and claims it then
        logger.info("claim confirmed after a lost reply", extra={"message_id": record.message_id})
        return True, None


def _already(messages: MessageStore, record: EmailRecord, now: datetime) -> Delivery:
    """A record exists for this (run, step, recipient): a retry. Never send again; settle a dangling claim."""
    found = messages.get(record.run_id, record.step, record.message_id)
    if found is None:  # pragma: no cover - it existed a moment ago; its expiry is months away
        return Delivery(record.address, record.message_id, "done", "record vanished")
    if found.state == "sending":
        reason = "a previous attempt stopped after calling SES; the email is not sent again"
        counts = {} if found.test else {"send_unknown": 1}
        if messages.finish(found, state="unknown", now=now, expected_state="sending", reason=reason, counts=counts):
            logger.error(
                "email outcome unknown",
                extra={"run": found.run_id, "step": found.step, "message_id": found.message_id, "reason": reason},
            )
            return Delivery(found.address, found.message_id, "unknown", reason)
        found = messages.get(record.run_id, record.step, record.message_id) or found
    logger.info("email handled before", extra={"message_id": found.message_id, "state": found.state})
    return Delivery(found.address, found.message_id, "done", f"already {found.state}", found.ses_message_id)
