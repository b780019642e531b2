"""SES event-publishing records: what SES publishes to a configuration set's SNS topic about one message.

One model of them for both sides: the feedback service reads them (:func:`parse`, :func:`event_type`,
:func:`tags_of`, :func:`detail_of`, :func:`recipients_of`), and the local stack's SES and the tests make them
(:func:`mail_object`, :func:`record` and a builder for each event's own object), in the shapes SES
documents::

    {"eventType": "Bounce", "mail": {"messageId": ..., "destination": [...], "tags": {...}, ...},
     "bounce": {"bounceType": "Permanent", "bouncedRecipients": [...], "timestamp": ...}}

Each event type keeps its details in an object of its own name (:data:`DETAIL_KEYS`); ``mail`` is the same
for every event of a message, its ``tags`` given as lists of values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from automations.addresses import normalize_address
from automations.errors import AutomationsError

#: The object holding each event type's details.
DETAIL_KEYS = {
    "Send": "send",
    "Reject": "reject",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}

#: The sending account of records made without one (moto's default account).
ACCOUNT = "123456789012"
#: The reporting MTA and the IP address of records made locally.
REPORTING_MTA = "a8-53.smtp-out.amazonses.com"
LOCAL_IP = "127.0.0.1"


class UnprocessableFeedbackError(AutomationsError):
    """A record that no retry can make sense of (not JSON, no ``mail``, unknown event type...)."""


def iso(moment: datetime) -> str:
    """SES's timestamps: UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- reading ------------------------------------------------------------------------------------------------


def parse(raw: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """A record from an SNS ``Message`` (a JSON string) or an already parsed one."""
    try:
        record: Any = dict(raw) if isinstance(raw, Mapping) else json.loads(raw)
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise UnprocessableFeedbackError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise UnprocessableFeedbackError("not a JSON object")
    if not isinstance(record.get("mail"), dict):
        raise UnprocessableFeedbackError("no 'mail' object")
    kind = record.get("eventType") or record.get("notificationType")
    if not isinstance(kind, str) or not kind:
        raise UnprocessableFeedbackError("no 'eventType'")
    return record


def event_type(record: Mapping[str, Any]) -> str:
    """The record's type, as event publishing names it (``notificationType`` of older notifications too)."""
    kind = str(record.get("eventType") or record.get("notificationType"))
    return "Rendering Failure" if kind == "RenderingFailure" else kind


def tags_of(mail: Mapping[str, Any]) -> dict[str, str]:
    """The message tags of a record (SES gives each as a list of values)."""
    out: dict[str, str] = {}
    raw = mail.get("tags")
    if isinstance(raw, Mapping):
        for name, values in raw.items():
            if isinstance(values, list) and values:
                out[str(name)] = str(values[0])
            elif isinstance(values, str):
                out[str(name)] = values
    return out


def detail_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The event's own object (``bounce``, ``delivery``...); :class:`UnprocessableFeedbackError` without it."""
    kind = event_type(record)
    key = DETAIL_KEYS.get(kind)
    if key is None:
        raise UnprocessableFeedbackError(f"unknown event type {kind!r}")
    value = record.get(key)
    if not isinstance(value, dict):
        raise UnprocessableFeedbackError(f"{kind} record without its '{key}' object")
    return value


def recipients_of(items: Any) -> tuple[str, ...]:
    """The addresses of a list of recipients (``bouncedRecipients``, ``complainedRecipients``), normalized."""
    if not isinstance(items, list):
        return ()
    found = [i.get("emailAddress") for i in items if isinstance(i, dict)]
    return tuple(normalize_address(a) for a in found if isinstance(a, str) and "@" in a)


# --- making -------------------------------------------------------------------------------------------------


def mail_object(
    *,
    message_id: str,
    source: str,
    destination: Iterable[str],
    sent_at: datetime,
    tags: Mapping[str, str],
    subject: str = "",
    to: Iterable[str] | None = None,
    reply_to: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    configuration_set: str | None = None,
    operation: str = "SendRawEmail",
    region: str = "us-east-1",
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """The ``mail`` object of every event of a message: ``source`` is its From header (a display name may
    come with the address), ``tags`` the message tags (SES adds its own ``ses:`` ones), ``headers`` the
    message's further headers."""
    sender = parseaddr(source)[1] or source
    recipients = list(destination)
    to = recipients if to is None else list(to)
    reply_to = list(reply_to)
    all_tags: dict[str, list[str]] = {
        "ses:operation": [operation],
        "ses:source-ip": [LOCAL_IP],
        "ses:from-domain": [sender.partition("@")[2]],
        "ses:caller-identity": ["local"],
        "ses:outgoing-ip": [LOCAL_IP],
    }
    if configuration_set:
        all_tags["ses:configuration-set"] = [configuration_set]
    all_tags.update({name: [value] for name, value in tags.items()})
    listed = [
        {"name": "From", "value": source},
        {"name": "To", "value": ", ".join(to)},
        *([{"name": "Reply-To", "value": ", ".join(reply_to)}] if reply_to else []),
        {"name": "Subject", "value": subject},
        *[
            {"name": k, "value": v}
            for k, v in (headers or {}).items()
            if k.lower() not in ("from", "to", "reply-to", "subject")
        ],
    ]
    common: dict[str, Any] = {"from": [source], "to": to, "messageId": message_id, "subject": subject}
    if reply_to:
        common["replyTo"] = reply_to
    return {
        "timestamp": iso(sent_at),
        "source": sender,
        "sourceArn": f"arn:aws:ses:{region}:{account}:identity/{sender}",
        "sendingAccountId": account,
        "messageId": message_id,
        "destination": recipients,
        "headersTruncated": False,
        "headers": listed,
        "commonHeaders": common,
        "tags": all_tags,
    }


def record(kind: str, mail: Mapping[str, Any], detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One record: ``{"eventType": kind, "mail": mail, <its key>: detail}``."""
    if kind not in DETAIL_KEYS:
        raise ValueError(f"not an SES event type: {kind!r}")
    return {"eventType": kind, "mail": dict(mail), DETAIL_KEYS[kind]: dict(detail or {})}


def delivery(now: datetime, recipients: Iterable[str]) -> dict[str, Any]:
    return {
        "timestamp": iso(now),
        "processingTimeMillis": 412,
        "recipients": list(recipients),
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": REPORTING_MTA,
    }


def bounce(now: datetime, recipients: Iterable[str], *, suppressed: bool = False) -> dict[str, Any]:
    """A permanent bounce: ``General``, or ``OnAccountSuppressionList`` (SES did not try: ``suppressed``)."""
    return {
        "feedbackId": f"local-{uuid.uuid4()}",
        "bounceType": "Permanent",
        "bounceSubType": "OnAccountSuppressionList" if suppressed else "General",
        "bouncedRecipients": [
            {
                "emailAddress": address,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
            for address in recipients
        ],
        "timestamp": iso(now),
        "reportingMTA": f"dns; {REPORTING_MTA}",
    }


def complaint(now: datetime, recipients: Iterable[str]) -> dict[str, Any]:
    return {
        "feedbackId": f"local-{uuid.uuid4()}",
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": address} for address in recipients],
        "timestamp": iso(now),
        "userAgent": "Amazon SES Mailbox Simulator",
        "complaintFeedbackType": "abuse",
        "arrivalDate": iso(now),
    }


def engagement(kind: str, now: datetime, *, link: str | None = None, user_agent: str = "") -> dict[str, Any]:
    """The object of an ``Open``, or of a ``Click`` (with its ``link``)."""
    detail: dict[str, Any] = {"ipAddress": LOCAL_IP, "timestamp": iso(now), "userAgent": user_agent or "local"}
    if kind == "Click":
        detail.update({"link": link or "", "linkTags": {}})
    return detail


def reject() -> dict[str, Any]:
    return {"reason": "Bad content"}


def delivery_delay(now: datetime, recipients: Iterable[str]) -> dict[str, Any]:
    return {
        "timestamp": iso(now),
        "delayType": "TransientCommunicationFailure",
        "expirationTime": iso(now),
        "delayedRecipients": [{"emailAddress": address, "status": "4.4.1"} for address in recipients],
    }


def detail_for(kind: str, now: datetime, recipients: Iterable[str]) -> dict[str, Any]:
    """The usual object of an event of this type about these recipients (``ValueError`` for a type that is
    not made here: Rendering Failure, Subscription)."""
    if kind == "Send":
        return {}
    if kind == "Delivery":
        return delivery(now, recipients)
    if kind == "Bounce":
        return bounce(now, recipients)
    if kind == "Complaint":
        return complaint(now, recipients)
    if kind in ("Open", "Click"):
        return engagement(kind, now)
    if kind == "Reject":
        return reject()
    if kind == "DeliveryDelay":
        return delivery_delay(now, recipients)
    raise ValueError(f"cannot make an SES {kind!r} record")
