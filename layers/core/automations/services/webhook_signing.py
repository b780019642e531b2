"""Standard Webhooks 1.0: the signing secret, the signed headers of a delivery, and its retry schedule.

A workspace signs its webhooks with a secret written ``whsec_<base64>``, the base64 (standard alphabet,
padding optional) of 24 to 64 random bytes; :func:`new_secret` makes one of 32. A delivery carries:

- ``webhook-id``: the message id, the same on every attempt of one delivery (``<run>:<step>``);
- ``webhook-timestamp``: the attempt's time in Unix seconds;
- ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>." + body)>``, where the key is the
  secret's decoded bytes. While a secret is being rotated, the new and the old secret both sign, and the
  header holds both signatures separated by a space, so that a receiver holding either one verifies it;
- ``Idempotency-Key``: the message id again, for receivers that deduplicate on that header;
- ``content-type: application/json``.

Receivers verify these with any Standard Webhooks library. The signed body is the exact bytes sent.

A delivery that fails in a way worth retrying is tried again after :func:`backoff` seconds (30 s, 1 min, 2 min,
doubling up to 1 h between attempts, with no jitter so that the schedule is the same every time), until
:func:`gives_up` says that 24 hours have passed since its first attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_source
from collections.abc import Sequence
from datetime import datetime, timedelta

from automations.errors import AutomationsError

#: What every secret starts with.
SECRET_PREFIX = "whsec_"
#: The fewest and most random bytes a secret may hold (Standard Webhooks: 24 to 64).
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
#: How many random bytes :func:`new_secret` draws.
NEW_SECRET_BYTES = 32
#: The signature scheme's version tag (symmetric HMAC-SHA256).
SIGNATURE_VERSION = "v1"

#: The header names of a signed delivery.
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CONTENT_TYPE_HEADER = "content-type"
CONTENT_TYPE = "application/json"

#: The retry schedule: the wait after the first failed attempt, doubled after each further one up to the cap.
FIRST_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
#: How long after its first attempt a delivery stops being retried.
GIVE_UP_AFTER = timedelta(hours=24)


class WebhookSecretError(AutomationsError, ValueError):
    """A signing secret that is not ``whsec_`` followed by the base64 of 24 to 64 bytes."""


class WebhookSigningError(AutomationsError, ValueError):
    """A delivery that cannot be signed: no secret, an empty or unprintable message id, a negative timestamp."""


def new_secret() -> str:
    """A new random signing secret: ``whsec_`` and the base64 of 32 bytes from the system's secure source."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(NEW_SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: its base64 part decoded. Raises :class:`WebhookSecretError`."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    encoded = secret.removeprefix(SECRET_PREFIX)
    if not encoded or not encoded.isascii():
        raise WebhookSecretError("a webhook secret holds base64 after its prefix")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError("a webhook secret holds base64 after its prefix") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise WebhookSecretError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}"
        )
    return key


def is_secret(secret: str) -> bool:
    """Whether a text is a well-formed signing secret."""
    try:
        secret_key(secret)
    except WebhookSecretError:
        return False
    return True


def _check_message(msg_id: str, timestamp: int) -> None:
    if not isinstance(msg_id, str) or not msg_id:
        raise WebhookSigningError("a webhook message id is a non-empty text")
    if not msg_id.isprintable() or not msg_id.isascii() or any(c.isspace() for c in msg_id):
        raise WebhookSigningError("a webhook message id holds printable ASCII characters without spaces")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise WebhookSigningError("a webhook timestamp is a whole number of seconds since 1970")


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """What a signature covers: ``<id>.<timestamp>.`` then the body's bytes."""
    _check_message(msg_id, timestamp)
    return f"{msg_id}.{timestamp}.".encode("ascii") + bytes(body)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>." + body>`` with the secret's key."""
    digest = hmac.new(secret_key(secret), signed_content(msg_id, timestamp, body), hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret (the new one first during a rotation), in
    order, separated by spaces; a secret given twice signs once."""
    if isinstance(secrets, str):
        raise WebhookSigningError("the signing secrets are a list of secrets, not one text")
    distinct = list(dict.fromkeys(secrets))
    if not distinct:
        raise WebhookSigningError("a webhook is signed with at least one secret")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in distinct)


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign one attempt of a delivery (see the module's description)."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, msg_id, timestamp, body),
        IDEMPOTENCY_HEADER: msg_id,
        CONTENT_TYPE_HEADER: CONTENT_TYPE,
    }


def backoff(attempt: int) -> int:
    """Seconds to wait after the ``attempt``-th failed attempt (1 for the first) before the next one: 30, 60,
    120, 240, … capped at 3600."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError("attempts are counted from 1")
    delay = FIRST_BACKOFF_SECONDS
    for _ in range(attempt - 1):
        delay *= 2
        if delay >= MAX_BACKOFF_SECONDS:
            return MAX_BACKOFF_SECONDS
    return min(delay, MAX_BACKOFF_SECONDS)


def gives_up(first_attempt_at: datetime, now: datetime) -> bool:
    """Whether a delivery first attempted at ``first_attempt_at`` is no longer retried at ``now``: 24 hours or
    more have passed."""
    return now - first_attempt_at >= GIVE_UP_AFTER
