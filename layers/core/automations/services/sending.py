"""Sending the queued emails through SES, each (run, step, recipient) at most once (DESIGN.md §6.5).

For each recipient of a queued :class:`EmailRequest`:

1. a suppression that covers the email's type (hard bounce or complaint: every type; unsubscribe:
   promotional only) makes it ``skipped``, with the reason, counted as ``suppressed``;
2. the message record is claimed with a conditional write (state ``sending``) *before* SES is called;
3. SES's answer decides: its MessageId makes it ``sent``; throttling, a 5xx or a network failure before
   the request left make it ``retrying`` and send the queue message back (with backoff); a final refusal
   makes it ``failed`` with SES's reason (counted ``send_failed``); a request that may have reached SES
   (read timeout) makes it ``unknown``;
4. a retry that finds a record still ``sending`` knows the previous attempt died between SES and the
   record: it marks it ``unknown`` (counted ``send_unknown``) and never sends it again.

``sent``, ``delivered`` and the rest are counted from SES's own events (:mod:`automations.services.feedback`).
Test emails (``test`` true) are recorded and marked, and kept out of every counter.

The queue's consumer also paces its sends (:func:`pacer`: the stack's rate shared by the sending instances)
and stops before a recipient when less than :data:`RESERVE_SECONDS` are left in its invocation: a recipient
is claimed only when its SES call can finish, so a timeout never leaves one ``sending`` (then ``unknown``).
"""

from __future__ import annotations

import html as html_lib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.adapters import ses
from automations.adapters.failures import is_transient
from automations.adapters.messages import MessageStore, SuppressionStore, message_id_for
from automations.adapters.tables import MessageItem
from automations.addresses import normalize_address
from automations.engine.effects import EmailRequest
from automations.engine.email import EMAIL_TYPES, has_unsubscribe, unsubscribe_headers
from automations.errors import AutomationsError
from automations.language.templates import UNSUBSCRIBE_PLACEHOLDER, html_to_text
from automations.observability import logger
from automations.services.deps import Deps
from automations.services.unsubscribe import unsubscribe_url

REQUIRED_FIELDS = ("workspace", "automation_id", "run_id", "step", "type", "recipients", "subject", "html")

SKIP_REASONS = {
    "bounce": "address suppressed after a hard bounce",
    "complaint": "address suppressed after a complaint",
    "unsubscribe": "recipient unsubscribed from promotional email",
}

#: Visibility backoff of a queue message that will be retried: 30 s, 60 s, 120 s ... at most 15 minutes.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900

#: Time kept free before a recipient is taken: one SES call at its longest, and the writes around it.
RESERVE_SECONDS = ses.CALL_SECONDS + 7
#: How long the account's sending rate is trusted before it is read again (after a failed read: a minute).
RATE_REFRESH_SECONDS = 900.0
RATE_RETRY_SECONDS = 60.0


class InvalidEmailMessageError(AutomationsError):
    """A queue message that no retry can make sendable (not JSON, a field missing or of the wrong kind)."""


class OutOfTimeError(AutomationsError):
    """Too little of the invocation is left to send to one more recipient safely; the message comes back later
    (the recipients handled before keep their records, so the retry goes straight to the ones left)."""

    def __init__(self, seconds_left: float, deliveries: list[Delivery]) -> None:
        super().__init__(f"{seconds_left:.1f} s left in the invocation, {RESERVE_SECONDS} s needed per recipient")
        self.seconds_left = seconds_left
        self.deliveries = deliveries


class TransientSendError(AutomationsError):
    """SES could not take an email now; the queue message must come back later (with backoff)."""

    def __init__(self, reason: str, deliveries: list[Delivery]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.deliveries = deliveries


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


# --- the queue message ------------------------------------------------------------------------------------


def request_from_body(body: str | bytes | dict[str, Any]) -> EmailRequest:
    """The :class:`EmailRequest` of a queue message (the JSON of ``EmailRequest.as_message()``)."""
    try:
        data: Any = body if isinstance(body, dict) else json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEmailMessageError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEmailMessageError("not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "", [])]
    if missing:
        raise InvalidEmailMessageError(f"missing fields: {', '.join(missing)}")
    recipients = data["recipients"]
    if not isinstance(recipients, list) or not all(isinstance(r, str) and "@" in r for r in recipients):
        raise InvalidEmailMessageError("recipients must be a list of email addresses")
    if data["type"] not in EMAIL_TYPES:
        raise InvalidEmailMessageError(f"unknown email type {data['type']!r}")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidEmailMessageError("headers must be an object")
    try:
        version = int(data.get("version") or 0)
    except (TypeError, ValueError):
        raise InvalidEmailMessageError("version must be a number") from None
    html = str(data["html"])
    return EmailRequest(
        workspace=str(data["workspace"]),
        automation_id=str(data["automation_id"]),
        version=version,
        run_id=str(data["run_id"]),
        step=str(data["step"]),
        type=str(data["type"]),
        recipients=tuple(recipients),
        subject=str(data["subject"]),
        html=html,
        text=str(data.get("text") or html_to_text(html)),
        from_name=data.get("from_name") or None,
        from_address=data.get("from_address") or None,
        reply_to=data.get("reply_to") or None,
        person=data.get("person") or None,
        headers={str(k): str(v) for k, v in headers.items()},
        unsubscribe=bool(data.get("unsubscribe")),
        test=bool(data.get("test")),
    )


# --- the email itself -------------------------------------------------------------------------------------


def personalize(html: str, text: str, link: str, *, promotional: bool) -> tuple[str, str]:
    """Put the recipient's unsubscribe link in place of the placeholder; promotional mail always shows one.

    When a promotional template has no ``{{ unsubscribe_url }}``, a small footer with the link is added (in
    the HTML before ``</body>`` when there is one, and at the end of the text).
    """
    in_html = UNSUBSCRIBE_PLACEHOLDER in html
    in_text = UNSUBSCRIBE_PLACEHOLDER in text
    html = html.replace(UNSUBSCRIBE_PLACEHOLDER, html_lib.escape(link, quote=True))
    text = text.replace(UNSUBSCRIBE_PLACEHOLDER, link)
    if promotional and not in_html:
        footer = (
            '<p style="font-size:12px;color:#666;margin-top:24px">'
            f'Don\'t want these emails? <a href="{html_lib.escape(link, quote=True)}">Unsubscribe</a>.</p>'
        )
        lower = html.lower()
        at = lower.rfind("</body>")
        html = html[:at] + footer + html[at:] if at >= 0 else html + footer
    if promotional and not in_text:
        text = text.rstrip("\n") + f"\n\n--\nUnsubscribe: {link}\n"
    return html, text


def email_headers(request: EmailRequest, link: str) -> dict[str, str]:
    """The request's own headers, cleaned, plus RFC 8058's pair on the types that carry it (and only there)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        clean_name = ses.clean_header_name(name)
        if clean_name is None or clean_name.lower() in ("list-unsubscribe", "list-unsubscribe-post"):
            continue
        headers[clean_name] = ses.clean_header(value)
    headers.update(unsubscribe_headers(request.type, ses.clean_header(link)))
    return headers


def email_tags(request: EmailRequest, message_id: str) -> dict[str, str]:
    """The EmailTags that let feedback find its message without a lookup (values sanitized by the adapter)."""
    tags = {
        "workspace": request.workspace,
        "automation": request.automation_id,
        "version": str(request.version),
        "run": request.run_id,
        "step": request.step,
        "message": message_id,
        "type": request.type,
    }
    if request.test:
        tags["test"] = "true"
    return tags


def outgoing(deps: Deps, request: EmailRequest, address: str, message_id: str) -> ses.OutgoingEmail:
    """The email for one recipient: personal unsubscribe link, headers, tags, sender and configuration set."""
    sender = request.from_address or deps.settings.sender_address
    if not sender:
        raise ses.SesRejectedError("NoSender", "no sender address: set SENDER_ADDRESS or the email's 'from'")
    problem = sender_problem(deps, sender)
    if problem:
        raise ses.SesRejectedError("SenderNotAllowed", problem)
    link = unsubscribe_url(deps.settings, address, request.automation_id)
    html, text = personalize(request.html, request.text, link, promotional=has_unsubscribe(request.type))
    return ses.OutgoingEmail(
        from_address=sender,
        from_name=request.from_name,
        to=address,
        reply_to=request.reply_to,
        subject=request.subject,
        html=html,
        text=text,
        headers=email_headers(request, link),
        tags=email_tags(request, message_id),
        configuration_set=deps.settings.configuration_set or None,
    )


def sender_problem(deps: Deps, address: str) -> str | None:
    """Why an email may not be sent from this address (None when it may): the stack's SES permission allows
    only the sender address and the allowed senders (``SenderAddress``, ``AllowedSenders``)."""
    settings = deps.settings
    if not settings.sender_address or ses.sender_allowed(address, settings.senders()):
        return None
    return f"{address} is not an allowed sender (the stack's SenderAddress or AllowedSenders)"


_MAKING_CLIENT = threading.Lock()


def ses_client(deps: Deps) -> Any:
    """The process's ``sesv2`` client, made on first use (once, by one thread) and kept with the other clients."""
    client = deps.clients.get("sesv2")
    if client is None:
        with _MAKING_CLIENT:  # boto3's default session is not thread-safe: one client is made at a time
            client = deps.clients.get("sesv2")
            if client is None:
                client = deps.clients["sesv2"] = ses.make_client(deps.settings)
    return client


@dataclass
class _Pacing:
    pacer: ses.Pacer
    read_at: float
    fresh_for: float


def stack_send_rate(deps: Deps) -> tuple[float, bool]:
    """The stack's sending rate (emails per second), and whether it was read from SES.

    The setting when it is positive; otherwise the account's maximum send rate, or the sandbox's rate (one
    per second) when SES cannot tell (logged).
    """
    configured = deps.settings.max_send_rate
    if configured:
        return configured, True
    client = deps.clients.get("ses")
    if client is None:
        client = deps.clients["ses"] = ses.make_quota_client(deps.settings)
    try:
        return ses.account_send_rate(client), True
    except Exception as exc:
        logger.warning(
            "cannot read the account's SES sending rate; sending at the sandbox's rate",
            extra={"error": f"{type(exc).__name__}: {exc}", "rate": ses.FALLBACK_SEND_RATE},
        )
        return ses.FALLBACK_SEND_RATE, False


def pacer(deps: Deps) -> ses.Pacer | None:
    """The process's pacer: the stack's rate shared by ``sending_concurrency`` instances (None: not paced).

    The account's rate is read again every :data:`RATE_REFRESH_SECONDS` (leaving the SES sandbox or a raised
    quota takes effect without a deployment).
    """
    settings = deps.settings
    if settings.max_send_rate is None:
        return None
    with _MAKING_CLIENT:
        found: _Pacing | None = deps.clients.get("ses-pacing")
        if found is not None and time.monotonic() - found.read_at < found.fresh_for:
            return found.pacer
        rate, known = stack_send_rate(deps)
        per_instance = rate / settings.sending_concurrency
        fresh_for = RATE_REFRESH_SECONDS if known else RATE_RETRY_SECONDS
        if found is None:
            found = deps.clients["ses-pacing"] = _Pacing(ses.Pacer(per_instance), time.monotonic(), fresh_for)
            logger.info("sending rate", extra={"stack_rate": rate, "instance_rate": per_instance})
        else:
            found.pacer.rate, found.read_at, found.fresh_for = per_instance, time.monotonic(), fresh_for
        return found.pacer


# --- sending ----------------------------------------------------------------------------------------------


def send_request(
    deps: Deps,
    request: EmailRequest,
    now: datetime,
    *,
    pace: ses.Pacer | None = None,
    time_left: Callable[[], float] | None = None,
) -> list[Delivery]:
    """Send one request to each of its recipients, each at most once.

    ``pace`` spaces the SES calls; ``time_left`` (seconds left in the invocation) stops before a recipient
    when its send might not finish in time (:class:`OutOfTimeError`). Raises :class:`TransientSendError` at
    the first recipient SES could not take now. Either way the recipients handled before keep their records,
    so the retry goes straight to the ones left.
    """
    deliveries: list[Delivery] = []
    for address in dict.fromkeys(a.strip() for a in request.recipients):
        if time_left is not None:
            left = time_left()
            if left < RESERVE_SECONDS + (pace.delay() if pace is not None else 0.0):
                raise OutOfTimeError(left, deliveries)
        try:
            deliveries.append(_deliver(deps, request, address, now, pace))
        except ses.SesTransientError as exc:
            raise TransientSendError(str(exc), deliveries) from exc
    return deliveries


def _counts(request: EmailRequest, name: str) -> dict[str, int]:
    return {} if request.test else {name: 1}


def _deliver(deps: Deps, request: EmailRequest, address: str, now: datetime, pace: ses.Pacer | None) -> Delivery:
    messages = MessageStore(request.workspace)
    suppressions = SuppressionStore(request.workspace)
    common: dict[str, Any] = {
        "automation_id": request.automation_id,
        "version": request.version,
        "run_id": request.run_id,
        "step": request.step,
        "address": address,
        "type_": request.type,
        "now": now,
        "person": request.person,
        "subject": request.subject[:500],
        "test": request.test,
    }
    log = {"run": request.run_id, "step": request.step, "automation": request.automation_id, "test": request.test}

    blocked = suppressions.blocking(address, request.type)
    if blocked is not None:
        reason = SKIP_REASONS.get(blocked.kind, f"address suppressed ({blocked.kind})")
        item = messages.new(state="skipped", reason=reason, **common)
        if messages.record_outcome(item, _counts(request, "suppressed"), now):
            logger.info("email skipped", extra={**log, "reason": reason, "message_id": item.message_id})
            return Delivery(address, item.message_id, "skipped", reason)
        return _already(messages, item, now)

    try:
        prepared = ses.prepare(
            outgoing(deps, request, address, message_id_for(request.workspace, request.run_id, request.step, address)),
            now,
        )
    except ses.SesRejectedError as exc:
        # Nothing SES could ever take (no sender, an unusable address): recorded before any claim or call.
        reason = f"cannot be sent: {exc}"
        item = messages.new(state="failed", reason=reason, **common)
        if messages.record_outcome(item, _counts(request, "send_failed"), now):
            logger.error("email refused", extra={**log, "reason": reason, "message_id": item.message_id})
            return Delivery(address, item.message_id, "failed", reason)
        return _already(messages, item, now)

    if pace is not None:
        pace.wait()  # before the claim: a record is never left "sending" while its send waits its turn
    attempt = uuid.uuid4().hex
    item = messages.new(state="sending", attempt=attempt, **common)
    if not _claim(messages, item, attempt):
        return _already(messages, item, now)

    try:
        ses_message_id = ses.submit(ses_client(deps), prepared)
    except ses.SesTransientError as exc:
        messages.finish(item, state="retrying", now=now, attempt=attempt, reason=str(exc))
        logger.warning("email will be retried", extra={**log, "reason": str(exc), "message_id": item.message_id})
        raise
    except ses.SesRejectedError as exc:
        reason = f"refused by SES: {exc}"
        messages.finish(
            item, state="failed", now=now, attempt=attempt, reason=reason, counts=_counts(request, "send_failed")
        )
        logger.error("email refused", extra={**log, "reason": reason, "message_id": item.message_id})
        return Delivery(address, item.message_id, "failed", reason)
    except ses.SesOutcomeUnknownError as exc:
        reason = f"SES may have accepted it ({exc}); not sent again"
        messages.finish(
            item, state="unknown", now=now, attempt=attempt, reason=reason, counts=_counts(request, "send_unknown")
        )
        logger.error("email outcome unknown", extra={**log, "reason": reason, "message_id": item.message_id})
        return Delivery(address, item.message_id, "unknown", reason)
    messages.mark_sent(item, ses_message_id, attempt, now)
    logger.info("email sent", extra={**log, "message_id": item.message_id, "ses_message_id": ses_message_id})
    return Delivery(address, item.message_id, "sent", ses_message_id=ses_message_id)


def _claim(messages: MessageStore, item: MessageItem, attempt: str) -> bool:
    """Claim the record before SES is called; a claim whose reply was lost is recognised by its attempt.

    Without that check, the claim written by this very attempt would look like an earlier attempt that
    died after calling SES, and the email would be marked ``unknown`` without SES ever being called.
    """
    try:
        return messages.claim(item)
    except Exception as exc:
        if not is_transient(exc):
            raise
        found = messages.get(item.run_id, item.step, item.message_id)
        if found is None or found.attempt != attempt:
            raise  # not written (or another attempt's): the queue message comes back and claims it then
        logger.info("claim confirmed after a lost reply", extra={"message_id": item.message_id})
        return True


def _already(messages: MessageStore, item: MessageItem, now: datetime) -> Delivery:
    """A record exists for this (run, step, recipient): a retry. Never send again; settle a dangling claim."""
    found = messages.get(item.run_id, item.step, item.message_id)
    if found is None:  # pragma: no cover - it existed a moment ago; TTL is months away
        return Delivery(item.address, item.message_id, "done", "record vanished")
    if found.state == "sending":
        reason = "a previous attempt stopped after calling SES; the email is not sent again"
        counts = {} if found.test else {"send_unknown": 1}
        if messages.finish(found, state="unknown", now=now, expected_state="sending", reason=reason, counts=counts):
            logger.error(
                "email outcome unknown",
                extra={"run": found.run_id, "step": found.step, "message_id": found.message_id, "reason": reason},
            )
            return Delivery(found.address, found.message_id, "unknown", reason)
        found = messages.get(item.run_id, item.step, item.message_id) or found
    logger.info("email handled before", extra={"message_id": found.message_id, "state": found.state})
    return Delivery(found.address, found.message_id, "done", f"already {found.state}", found.ses_message_id)


# --- the queue --------------------------------------------------------------------------------------------


def retry_delay(receive_count: int) -> int:
    """Seconds until a queue message comes back: exponential in its receive count, with jitter, capped."""
    exponent = max(0, min(receive_count - 1, 10))
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**exponent)
    return int(delay * random.uniform(0.8, 1.0))


def queue_url_of(deps: Deps, queue_arn: str | None) -> str:
    """The URL of the queue a record came from (the configured email queue unless the ARN says otherwise)."""
    configured = deps.settings.email_queue_url
    if not queue_arn:
        return configured
    name = queue_arn.rsplit(":", 1)[-1]
    if configured and configured.rstrip("/").endswith("/" + name):
        return configured
    parts = queue_arn.split(":")
    account = parts[4] if len(parts) > 5 else None
    kwargs = {"QueueName": name, **({"QueueOwnerAWSAccountId": account} if account else {})}
    return str(deps.clients["sqs"].get_queue_url(**kwargs)["QueueUrl"])


def postpone(deps: Deps, receipt_handle: str, receive_count: int, queue_arn: str | None = None) -> int:
    """Keep a failed queue message invisible for the backoff delay; returns the delay (0 if it failed)."""
    delay = retry_delay(receive_count)
    try:
        deps.clients["sqs"].change_message_visibility(
            QueueUrl=queue_url_of(deps, queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except Exception as exc:  # the message comes back after the queue's own timeout anyway
        logger.warning("could not postpone the email message", extra={"error": str(exc)})
        return 0
    return delay


# --- the run's timeline -----------------------------------------------------------------------------------


def message_view(item: MessageItem) -> dict[str, Any]:
    """One email as a run's timeline shows it."""
    return {
        "message_id": item.message_id,
        "step": item.step,
        "address": item.address,
        "type": item.type,
        "subject": item.subject,
        "test": bool(item.test),
        "state": item.state,
        "reason": item.reason,
        "status": item.status,
        "bounce_type": item.bounce_type,
        "ses_message_id": item.ses_message_id,
        "created_at": item.created_at.isoformat(),
        "sent_at": item.sent_at.isoformat() if item.sent_at else None,
        "delivered_at": item.delivered_at,
        "opened_at": item.opened_at,
        "clicked_at": item.clicked_at,
        "opens": int(item.opens or 0),
        "clicks": int(item.clicks or 0),
    }


def messages_of_run(deps: Deps, run_id: str) -> list[dict[str, Any]]:
    """Every email of a run with its state and SES status, for ``GET /v1/runs/{id}``."""
    return [message_view(item) for item in MessageStore(deps.settings.workspace).of_run(run_id)]


def is_suppressed(deps: Deps, address: str, email_type: str) -> str | None:
    """Why an address gets no email of this type (None when it may get one)."""
    found = SuppressionStore(deps.settings.workspace).blocking(normalize_address(address), email_type)
    return None if found is None else found.reason
