"""SES's part, played locally: what moto's SES accepted becomes the outbox, and SES's events are made for it.

Moto accepts ``SendEmail`` but keeps neither the tags nor the custom headers of a simple message, so the
local stack wraps moto's SES v2 ``SendEmail`` (in this process: the moto server runs in a thread) to keep
the request, and reads moto's in-process SES backend for every message it accepted (v1 or v2).

For each message the simulator makes the events SES's event publishing would send to the configuration
set's SNS topic, in SES's own shapes (:mod:`automations.ses_records`, the model the feedback service
reads): ``Delivery``, a permanent ``Bounce`` for
``bounce@simulator.amazonses.com`` (and ``suppressionlist@``), ``Delivery`` then ``Complaint`` for
``complaint@simulator.amazonses.com``; ``Open`` and ``Click`` when a link of the outbox is followed. No ``Send``:
the stack's configuration set does not publish it (``MatchingEventTypes`` in ``infra/template.yaml``; the sender
counts ``sent`` when SES accepts the email).
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import html as html_lib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any
from urllib.parse import quote

from automations import ses_records
from automations.ses_records import iso

from automations_local.cfn import ACCOUNT

SIMULATOR_DOMAIN = "simulator.amazonses.com"
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)


def address_of(value: str) -> str:
    return parseaddr(value)[1] or value


def simulator_mailbox(value: str) -> str | None:
    """``bounce`` for ``bounce@simulator.amazonses.com`` (or ``bounce+label@...``); None for a real address."""
    local, _, domain = address_of(value).lower().partition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    return local.split("+", 1)[0]


@dataclass
class SentEmail:
    """One message SES accepted, as the outbox shows it."""

    id: str
    source: str
    to: list[str]
    subject: str
    html: str | None = None
    text: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    operation: str = "SendEmail"
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[str] = field(default_factory=list)

    @property
    def destination(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "from": self.source,
            "reply_to": self.reply_to,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "headers": self.headers,
            "tags": self.tags,
            "configuration_set": self.configuration_set,
            "sent_at": self.sent_at.isoformat(),
            "events": list(self.events),
        }


# --- what was sent --------------------------------------------------------------------------------------------


def _parse_raw(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _part(message: EmailMessage, kind: str) -> str | None:
    body = message.get_body(preferencelist=(kind,))
    if body is None or body.get_content_type() != f"text/{kind}":
        return None
    content = body.get_content()
    return str(content)


def _ses_tags_header(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in (value or "").split(","):
        name, sep, tag = pair.strip().partition("=")
        if sep:
            out[name.strip()] = tag.strip()
    return out


def from_raw(message_id: str, data: bytes, destinations: list[str], sent_at: datetime) -> SentEmail:
    parsed = _parse_raw(data)
    headers = {name: str(value) for name, value in parsed.items()}
    to = [a for _, a in getaddresses(parsed.get_all("To", []))]
    return SentEmail(
        id=message_id,
        source=str(parsed.get("From", "")),
        to=to or destinations,
        cc=[a for _, a in getaddresses(parsed.get_all("Cc", []))],
        reply_to=[a for _, a in getaddresses(parsed.get_all("Reply-To", []))],
        subject=str(parsed.get("Subject", "")),
        html=_part(parsed, "html"),
        text=_part(parsed, "plain"),
        headers=headers,
        tags=_ses_tags_header(parsed.get("X-SES-MESSAGE-TAGS")),
        configuration_set=parsed.get("X-SES-CONFIGURATION-SET"),
        operation="SendRawEmail",
        sent_at=sent_at,
    )


def from_v2_request(message_id: str, params: dict[str, Any], sent_at: datetime) -> SentEmail:
    """A message from the SES v2 ``SendEmail`` request that moto accepted (every field kept)."""
    destination = params.get("Destination", {})
    content = params.get("Content", {})
    tags = {str(t["Name"]): str(t["Value"]) for t in params.get("EmailTags", [])}
    if "Raw" in content:
        sent = from_raw(message_id, base64.b64decode(content["Raw"]["Data"]), [], sent_at)
        sent.tags.update(tags)
        sent.configuration_set = params.get("ConfigurationSetName") or sent.configuration_set
        if params.get("FromEmailAddress") and not sent.source:
            sent.source = str(params["FromEmailAddress"])
        return sent
    simple = content.get("Simple", {})
    body = simple.get("Body", {})
    template = content.get("Template")
    subject = simple.get("Subject", {}).get("Data") or (
        f"(template {template.get('TemplateName')})" if template else ""
    )
    return SentEmail(
        id=message_id,
        source=str(params.get("FromEmailAddress", "")),
        to=list(destination.get("ToAddresses", [])),
        cc=list(destination.get("CcAddresses", [])),
        bcc=list(destination.get("BccAddresses", [])),
        reply_to=list(params.get("ReplyToAddresses", [])),
        subject=str(subject),
        html=body.get("Html", {}).get("Data"),
        text=body.get("Text", {}).get("Data"),
        headers={str(h["Name"]): str(h["Value"]) for h in simple.get("Headers", [])},
        tags=tags,
        configuration_set=params.get("ConfigurationSetName"),
        sent_at=sent_at,
    )


def from_moto_message(message: Any, sent_at: datetime) -> SentEmail:
    """A message from moto's backend alone (an SES v1 call): no tags, one body."""
    if hasattr(message, "raw_data"):
        return from_raw(message.id, str(message.raw_data).encode("utf-8"), list(message.destinations), sent_at)
    destinations = getattr(message, "destinations", {}) or {}
    body = str(getattr(message, "body", ""))
    is_html = "<" in body and ">" in body
    return SentEmail(
        id=str(message.id),
        source=str(message.source),
        to=list(destinations.get("ToAddresses", [])),
        cc=list(destinations.get("CcAddresses", [])),
        bcc=list(destinations.get("BccAddresses", [])),
        subject=str(getattr(message, "subject", "")),
        html=body if is_html else None,
        text=None if is_html else body,
        sent_at=sent_at,
    )


class SesCapture:
    """Keeps the SES v2 ``SendEmail`` requests that moto accepts, and finds the messages sent since last time."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._lock = threading.Lock()
        self._requests: dict[str, dict[str, Any]] = {}
        self._seen = 0
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        from moto.sesv2.responses import SESV2Response

        if self._original is not None:
            return
        original: Callable[..., Any] = SESV2Response.send_email
        capture = self

        def send_email(response: Any) -> Any:
            answer = original(response)
            with contextlib.suppress(ValueError, KeyError, TypeError):
                capture.record(str(json.loads(answer)["MessageId"]), json.loads(response.body))
            return answer

        setattr(SESV2Response, "send_email", send_email)  # noqa: B010 - replacing a method of moto's class
        self._original = original

    def uninstall(self) -> None:
        from moto.sesv2.responses import SESV2Response

        if self._original is not None:
            setattr(SESV2Response, "send_email", self._original)  # noqa: B010
            self._original = None

    def record(self, message_id: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._requests[message_id] = params

    def collect(self, now: datetime) -> list[SentEmail]:
        """The messages moto's SES accepted since the last call, oldest first."""
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT][self.region]
        with self._lock:
            fresh = list(backend.sent_messages[self._seen :])
            self._seen += len(fresh)
            requests = [self._requests.pop(str(m.id), None) for m in fresh]
        out = []
        for message, params in zip(fresh, requests, strict=True):
            if params is not None:
                out.append(from_v2_request(str(message.id), params, now))
            else:
                out.append(from_moto_message(message, now))
        return out


# --- SES's events ----------------------------------------------------------------------------------------------


def mail_object(sent: SentEmail, region: str) -> dict[str, Any]:
    """The ``mail`` object of every SES event of a message."""
    return ses_records.mail_object(
        message_id=sent.id,
        source=sent.source,
        destination=sent.destination,
        sent_at=sent.sent_at,
        tags=sent.tags,
        subject=sent.subject,
        to=sent.to,
        reply_to=sent.reply_to,
        headers=sent.headers,
        configuration_set=sent.configuration_set,
        operation=sent.operation,
        region=region,
        account=ACCOUNT,
    )


def ses_event(kind: str, sent: SentEmail, region: str, detail: dict[str, Any]) -> dict[str, Any]:
    """One SES event-publishing record about the message."""
    return ses_records.record(kind, mail_object(sent, region), detail)


def outcome_events(sent: SentEmail, now: datetime, region: str) -> list[dict[str, Any]]:
    """What SES publishes after accepting a message (the configuration set publishes no ``Send``): Delivery,
    Bounce and Complaint as the mailbox simulator's addresses say."""
    recipients = sent.destination
    bounced = [r for r in recipients if simulator_mailbox(r) in ("bounce", "suppressionlist")]
    delivered = [r for r in recipients if r not in bounced]
    events: list[dict[str, Any]] = []
    if delivered:
        events.append(ses_event("Delivery", sent, region, ses_records.delivery(now, map(address_of, delivered))))
    if bounced:
        suppressed = all(simulator_mailbox(r) == "suppressionlist" for r in bounced)
        bounce = ses_records.bounce(now, map(address_of, bounced), suppressed=suppressed)
        events.append(ses_event("Bounce", sent, region, bounce))
    complained = [r for r in delivered if simulator_mailbox(r) == "complaint"]
    if complained:
        complaint = ses_records.complaint(now, map(address_of, complained))
        events.append(ses_event("Complaint", sent, region, complaint))
    return events


def engagement_event(
    kind: str, sent: SentEmail, now: datetime, region: str, *, link: str | None = None, user_agent: str = ""
) -> dict[str, Any]:
    """An ``Open`` or a ``Click`` (with its ``link``) of a recipient of the message."""
    return ses_event(kind, sent, region, ses_records.engagement(kind, now, link=link, user_agent=user_agent))


def sns_record_event(
    message: dict[str, Any], *, topic_arn: str, message_id: str, now: datetime, region: str
) -> dict[str, Any]:
    """The event Lambda gets from an SNS subscription: one record, the message as a JSON string."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": json.dumps(message, separators=(",", ":")),
                    "Timestamp": iso(now),
                    "SignatureVersion": "1",
                    "Signature": base64.b64encode(b"local").decode(),
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
                    "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


# --- the outbox page ---------------------------------------------------------------------------------------------


def open_url(sent: SentEmail) -> str:
    """The tracking pixel's address: loading it is the recipient opening the message (SES's ``Open``)."""
    return f"/_local/open?m={quote(sent.id, safe='')}"


def tracked_html(sent: SentEmail, *, pixel: bool = True) -> str:
    """The message's HTML as open and click tracking makes it: links through ``/_local/click``, and the pixel
    (``pixel=False``: without it, as the outbox shows the message, so that looking is not opening)."""
    body = sent.html or f"<pre>{html_lib.escape(sent.text or '')}</pre>"

    def rewrite(found: re.Match[str]) -> str:
        url = html_lib.unescape(found.group(2)).strip()
        if not url.lower().startswith(("http://", "https://")):
            return found.group(0)
        target = f"/_local/click?m={quote(sent.id, safe='')}&u={quote(url, safe='')}"
        return f'href="{html_lib.escape(target, quote=True)}"'

    tracker = f'<img src="{open_url(sent)}" width="1" height="1" alt="">' if pixel else ""
    return '<base target="_top">' + _HREF.sub(rewrite, body) + tracker


def outbox_page(emails: list[SentEmail]) -> str:
    """Every email, newest first, rendered in a sandboxed frame without its tracking pixel: viewing the outbox
    is not the recipient opening the email. Following a link of it is a click (and an open), as it is for a
    recipient; each email also has a link that opens it as its recipient's mail client would."""
    cards = []
    for sent in emails:
        meta = [
            ("From", sent.source),
            ("To", ", ".join(sent.destination)),
            ("Reply-To", ", ".join(sent.reply_to)),
            ("Sent", sent.sent_at.isoformat()),
            ("SES events", ", ".join(sent.events) or "-"),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sent.tags.items())),
            *[(k, v) for k, v in sent.headers.items() if k.lower().startswith(("list-", "x-"))],
        ]
        rows = "".join(f"<tr><th>{html_lib.escape(k)}</th><td>{html_lib.escape(v)}</td></tr>" for k, v in meta if v)
        frame = html_lib.escape(tracked_html(sent, pixel=False), quote=True)
        opener = html_lib.escape(open_url(sent), quote=True)
        text = f"<details><summary>text</summary><pre>{html_lib.escape(sent.text)}</pre></details>" if sent.text else ""
        cards.append(
            f"<section><h2>{html_lib.escape(sent.subject)}</h2><table>{rows}</table>"
            f'<iframe sandbox="allow-popups allow-top-navigation-by-user-activation" srcdoc="{frame}"></iframe>'
            f"{text}<p class=id>{html_lib.escape(sent.id)} · "
            f'<a href="{opener}" target="_blank" rel="noopener">open it as the recipient</a> '
            "(loads the tracking pixel: counted as opened)</p></section>"
        )
    empty = "<p>No email sent yet. Post an event to <code>/v1/events</code>.</p>"
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Outbox - automations (local)</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em;background:#f4f4f5}"
        "section{background:#fff;border-radius:8px;padding:1em 1.5em;margin:0 0 1.5em;box-shadow:0 1px 3px #0002}"
        "h2{margin:.2em 0 .5em;font-size:1.15em}th{text-align:left;color:#666;padding-right:1em;font-weight:500}"
        "td{word-break:break-all}"
        "iframe{width:100%;height:260px;border:1px solid #ddd;border-radius:4px;margin-top:.8em}"
        ".id{color:#999;font-size:.8em}</style></head><body>"
        f"<h1>Outbox <small>({len(emails)})</small></h1>{''.join(cards) or empty}</body></html>"
    )
