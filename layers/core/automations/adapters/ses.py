"""SES v2: building the MIME message, sending it, and telling a retryable failure from a final one.

Emails go out as Raw content (``Content.Raw``), an :class:`email.message.EmailMessage` built here: that is
the one form that both SES and moto accept with our own headers (``List-Unsubscribe``,
``List-Unsubscribe-Post``), a display name in ``From`` and a text and an HTML part, while the configuration
set and the message tags still apply.

The client makes exactly one attempt per call: botocore's own retries would repeat a request that SES may
already have accepted (a read timeout), which would break "at most once". Throttling goes back to the queue
instead, with a backoff. Its timeouts bound one call (:data:`CALL_SECONDS`): the sender takes a recipient only
while that much time, and more, is left in its invocation.

The account's own maximum sending rate, which the sender paces itself by when no rate is set, is read with
``GetSendQuota`` (the same quota that SES v2's ``GetAccount`` reports as ``SendQuota.MaxSendRate``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.utils import format_datetime, formataddr
from random import randrange
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from automations import addresses
from automations.engine.email import clean_header, clean_header_name, sanitize_tag
from automations.ports import OutgoingEmail as OutgoingEmail
from automations.ports import SendError, SendOutcomeUnknownError, SendRejectedError, SendTransientError
from automations.settings import Settings

#: Seconds to open a connection to SES, and to wait for its answer: SES answers a send in well under a second.
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
#: The longest one send can take: one attempt, bounded by the two timeouts.
CALL_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT

#: One attempt per call (see the module's note), short timeouts.
CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
)
#: Reading the account's quota may be retried (it changes nothing).
QUOTA_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 3, "mode": "standard"},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=5,
)
#: Refusals that a later attempt can overcome: rate and quota limits, and the stack's own credentials or
#: permissions (an operator can fix those; until then the message waits in the queue, then its DLQ).
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "RequestExpired",
    }
)

#: Header names the sender sets itself; a request's own ``headers`` may not override them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "sender",
        "return-path",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)

# The message is written as the classic (compat32) email API writes it, without its generator (several times
# slower): header values as given, cleaned here, non-ASCII ones as RFC 2047 encoded words, and nothing folded,
# so a long ``List-Unsubscribe`` URL stays one token. Parts are quoted-printable (7-bit, lines of at most 76
# characters), as SES's raw API asks, whatever the language of the text.
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_NEWLINES = re.compile(r"\r\n|\r|\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = QP
_UTF8_QP.body_encoding = QP


#: The sending errors are the EmailSender port's (``code`` is SES's error code or the client's exception name).
SesError = SendError
SesTransientError = SendTransientError
SesRejectedError = SendRejectedError
SesOutcomeUnknownError = SendOutcomeUnknownError


def check_address(address: str) -> str:
    """The address as SES takes it (:func:`automations.addresses.wire_form`), or a final refusal."""
    try:
        return addresses.wire_form(address)
    except addresses.AddressError as exc:
        raise SesRejectedError("InvalidAddress", f"not a usable address {address!r}: {exc.reason}") from None


def _header_value(value: str) -> str:
    """ASCII as is (never folded); anything else as RFC 2047 encoded words, folded between words."""
    return value if value.isascii() else Header(value, _UTF8_QP).encode(maxlinelen=76, linesep="\r\n")


def _boundary(*bodies: str) -> str:
    """A multipart boundary as the email package makes them (``=`` * 15, 19 random digits, ``==``), found in no
    part (quoted-printable bodies spell ``=`` as ``=3D``, so it never is)."""
    while True:
        boundary = f"==============={randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        if not any(boundary in body for body in bodies):
            return boundary


def _part(subtype: str, content: str) -> str:
    """A text part, quoted-printable in UTF-8, its lines ended by CRLF (the last one as the body ends)."""
    body = _UTF8_QP.body_encode(content.encode("utf-8", "surrogateescape")) if content else ""
    lines = _NEWLINES.split(body) if body else [""]
    return (
        f'MIME-Version: 1.0\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + "\r\n".join(lines)
    )


def build_mime(email: OutgoingEmail, now: datetime) -> bytes:
    """The raw message: headers on one line each, a text part and an HTML part (multipart/alternative).

    It is written directly, as the classic (compat32) email generator writes the same message: headers as given
    (non-ASCII ones as RFC 2047 encoded words), CRLF line ends, quoted-printable parts."""
    name = clean_header(email.from_name, 200)
    sender = check_address(email.from_address)
    headers = {
        "from": ("From", formataddr((name, sender)) if name.isascii() else f"{_header_value(name)} <{sender}>"),
        "to": ("To", check_address(email.to)),
    }
    if email.reply_to:
        headers["reply-to"] = ("Reply-To", check_address(email.reply_to))
    headers["subject"] = ("Subject", _header_value(clean_header(email.subject, 998)))
    headers["date"] = ("Date", format_datetime(now))
    for raw_name, raw_value in email.headers.items():
        header = clean_header_name(raw_name)
        value = clean_header(raw_value)
        if header is None or not value or header.lower() in RESERVED_HEADERS:
            continue
        headers.pop(header.lower(), None)  # the last value of a name wins, in its place
        headers[header.lower()] = (header, _header_value(value))
    parts = [_part("plain", email.text), _part("html", email.html)]
    boundary = _boundary(*parts)
    lines = [f'Content-Type: multipart/alternative; boundary="{boundary}"', "MIME-Version: 1.0"]
    lines += [f"{header}: {value}" for header, value in headers.values()]
    head = "\r\n".join(lines)
    delimiter = f"\r\n--{boundary}\r\n"
    raw = f"{head}\r\n\r\n--{boundary}\r\n{delimiter.join(parts)}\r\n--{boundary}--\r\n"
    return raw.encode("ascii", "surrogateescape")


def make_client(settings: Settings) -> Any:
    """An ``sesv2`` client for the stack's region (and the moto server when an endpoint is set)."""
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": CLIENT_CONFIG}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    return boto3.client("sesv2", **kwargs)


def make_quota_client(settings: Settings) -> Any:
    """An ``ses`` client for reading the account's sending quota (``GetSendQuota``)."""
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": QUOTA_CLIENT_CONFIG}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    return boto3.client("ses", **kwargs)


def account_send_rate(client: Any) -> float:
    """The account's maximum send rate (emails per second) in this region."""
    return float(client.get_send_quota()["MaxSendRate"])


def prepare(email: OutgoingEmail, now: datetime) -> dict[str, Any]:
    """The ``SendEmail`` request for one email; ``SesRejectedError`` when it can never be sent (bad address)."""
    request: dict[str, Any] = {
        "FromEmailAddress": check_address(email.from_address),
        "Destination": {"ToAddresses": [check_address(email.to)]},
        "Content": {"Raw": {"Data": build_mime(email, now)}},
        "EmailTags": [{"Name": sanitize_tag(k), "Value": sanitize_tag(v)} for k, v in email.tags.items()],
    }
    if email.configuration_set:
        request["ConfigurationSetName"] = email.configuration_set
    return request


def submit(client: Any, request: Mapping[str, Any]) -> str:
    """Send a prepared request; returns SES's MessageId. Raises one of the three :class:`SesError` kinds."""
    try:
        response = client.send_email(**request)
    except ClientError as exc:
        raise classify(exc) from exc
    except (ConnectTimeoutError, EndpointConnectionError) as exc:
        raise SesTransientError(type(exc).__name__, str(exc)) from exc
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        raise SesOutcomeUnknownError(type(exc).__name__, str(exc)) from exc
    return str(response["MessageId"])


def send(client: Any, email: OutgoingEmail, now: datetime) -> str:
    """Prepare and submit one email."""
    return submit(client, prepare(email, now))


def classify(exc: ClientError) -> SesError:
    """Throttling, 5xx and the stack's own access problems are transient; every other refusal is final."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return SesTransientError(code, message)
    return SesRejectedError(code, message)
