"""Unsubscribing: opaque signed links, the one-click POST (RFC 8058) and the small page behind the link.

A token is ``<nonce>.<sealed>`` in base64url: the workspace, the address and the automation, as compact JSON
padded to a multiple of 32 bytes, sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the stack's
unsubscribe secret, with a fresh random nonce per link. The token reveals neither the address nor the
workspace (nor the address's exact length), and it cannot be forged or altered without the secret: GCM's tag
signs it. Nothing is stored per email and building a link makes no AWS request: the secret is read through the
:class:`~automations.ports.Secrets` port (by the ARN in ``UNSUBSCRIBE_SECRET_ARN``), whose adapter keeps it for
a while. A token never expires (an unsubscribe link must keep working), so the secret is kept when the stack is deleted
or replaced. Unsubscribing suppresses promotional mail to the address in the whole workspace; transactional
and business-critical mail still goes out.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from automations.addresses import normalize_address
from automations.errors import AutomationsError
from automations.observability import logger, metrics
from automations.ports import Secrets, Suppression, SuppressionStore
from automations.services.deps import Deps
from automations.settings import Settings

MAX_TOKEN_LENGTH = 2048
NONCE_BYTES = 12
TAG_BYTES = 16
#: The sealed JSON is padded to a multiple of this, so that a token does not tell an address's exact length.
PAD_TO = 32
_CONTEXT = b"automations/unsubscribe/v2"
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class InvalidTokenError(AutomationsError):
    """An unsubscribe token that is garbled, forged, or from another workspace."""


class UnsubscribeSecretError(AutomationsError):
    """The unsubscribe secret is not configured, or empty."""


@dataclass(frozen=True)
class Claim:
    """What a valid token says: this address, in this workspace, reached through this automation."""

    workspace: str
    address: str
    automation_id: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise InvalidTokenError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("not base64url") from None
    if _b64encode(data) != text:  # one spelling per token: no variant of a link is also valid
        raise InvalidTokenError("not base64url")
    return data


@lru_cache(maxsize=4)
def _cipher(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(secret.encode())
    return AESGCM(key)


def sign_token(secret: str, workspace: str, address: str, automation_id: str) -> str:
    """An opaque token for one address and automation (URL-safe: base64url and a dot)."""
    if not secret:
        raise UnsubscribeSecretError("an unsubscribe secret is required")
    body = json.dumps([workspace, normalize_address(address), automation_id], separators=(",", ":"), ensure_ascii=False)
    data = body.encode()
    data += b" " * (-len(data) % PAD_TO)
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(secret).encrypt(nonce, data, _CONTEXT)
    return f"{_b64encode(nonce)}.{_b64encode(sealed)}"


def verify_token(secret: str, token: str, workspace: str | None = None) -> Claim:
    """The claim of a genuine token; ``InvalidTokenError`` for anything else."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise InvalidTokenError("malformed token")
    nonce_text, sealed_text = token.split(".")
    nonce, sealed = _b64decode(nonce_text), _b64decode(sealed_text)
    if len(nonce) != NONCE_BYTES or len(sealed) <= TAG_BYTES:
        raise InvalidTokenError("malformed token")
    try:
        data = _cipher(secret).decrypt(nonce, sealed, _CONTEXT)
    except InvalidTag:
        raise InvalidTokenError("bad signature") from None
    try:
        values: Any = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise InvalidTokenError("bad payload") from None
    if not (isinstance(values, list) and len(values) == 3 and all(isinstance(v, str) and v for v in values)):
        raise InvalidTokenError("bad payload")
    claim = Claim(workspace=values[0], address=values[1], automation_id=values[2])
    if "@" not in claim.address:
        raise InvalidTokenError("bad payload")
    if workspace is not None and claim.workspace != workspace:
        raise InvalidTokenError("token of another workspace")
    return claim


def signing_secret(settings: Settings, secrets: Secrets) -> str:
    """The stack's unsubscribe secret, read by its ARN (the adapter keeps it for a while)."""
    if not settings.unsubscribe_secret_arn:
        raise UnsubscribeSecretError("no unsubscribe secret is configured (UNSUBSCRIBE_SECRET_ARN)")
    value = secrets.get(settings.unsubscribe_secret_arn)
    if not value:
        raise UnsubscribeSecretError("the unsubscribe secret (UNSUBSCRIBE_SECRET_ARN) is empty")
    return value


def read_token(settings: Settings, secrets: Secrets, token: str) -> Claim:
    """The claim of a token of any workspace of the stack, checked with the stack's secret (its workspace is
    the one whose suppressions the claim changes)."""
    return verify_token(signing_secret(settings, secrets), token)


def unsubscribe_url(settings: Settings, secrets: Secrets, address: str, automation_id: str) -> str:
    """The https link of one recipient, for the visible link and the ``List-Unsubscribe`` header."""
    if not settings.unsubscribe_base_url:
        raise ValueError("no unsubscribe base URL is configured (UNSUBSCRIBE_BASE_URL)")
    token = sign_token(signing_secret(settings, secrets), settings.workspace, address, automation_id)
    return f"{settings.unsubscribe_base_url.rstrip('/')}/{token}"


def is_one_click(body: str | None) -> bool:
    """Whether a POST body is RFC 8058's ``List-Unsubscribe=One-Click`` (form-encoded, or multipart)."""
    if not body:
        return False
    if parse_qs(body.strip()).get("List-Unsubscribe") == ["One-Click"]:
        return True
    # multipart/form-data: a part named List-Unsubscribe whose value is One-Click
    return 'name="List-Unsubscribe"' in body and "One-Click" in body


def unsubscribe(
    suppressions: SuppressionStore,
    address: str,
    automation_id: str | None,
    now: datetime,
    *,
    source: str,
    step: str | None = None,
) -> bool:
    """Suppress promotional mail to the address; True when new (then counted once as ``unsubscribed``)."""
    suppression = Suppression.new(
        address, "unsubscribe", reason=f"unsubscribed ({source})", source=source, automation_id=automation_id, now=now
    )
    created = suppressions.add_new(suppression, now=now, counts={"unsubscribed": 1}, step=step)
    logger.info(
        "unsubscribed" if created else "already unsubscribed",
        extra={"automation": automation_id, "source": source, "new": created},
    )
    if created:
        metrics.add_metric(name="Unsubscribed", unit="Count", value=1)
    return created


def one_click(deps: Deps, token: str, now: datetime) -> Claim:
    """Verify the token and unsubscribe its address (idempotent); ``InvalidTokenError`` changes nothing."""
    claim = read_token(deps.settings, deps.secrets, token)
    unsubscribe(deps.suppressions, claim.address, claim.automation_id, now, source="one-click")
    return claim


# --- the pages --------------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}{brand_title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.3rem;border:1px solid #444;background:#fff;cursor:pointer}}
</style></head><body>{brand}<h1>{title}</h1>{body}</body></html>
"""


def page(title: str, body: str, brand: str = "") -> str:
    """A page of the unsubscribe flow, under the workspace's brand name when it has one (escaped here)."""
    shown = html.escape(brand.strip())
    return _PAGE.format(
        title=title,
        body=body,
        brand_title=f" · {shown}" if shown else "",
        brand=f'<p class="brand"><strong>{shown}</strong></p>' if shown else "",
    )


def masked(address: str) -> str:
    """``a***@example.com``: enough for the person to recognize, not a full address on a page."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def confirm_page(claim: Claim, brand: str = "") -> str:
    """The page behind the visible link: one button posting the one-click body (a GET never unsubscribes)."""
    body = (
        f"<p>Stop promotional emails to <strong>{html.escape(masked(claim.address))}</strong>?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        "<p><small>Messages about your account, bookings and invoices will still reach you.</small></p>"
    )
    return page("Unsubscribe", body, brand)


def done_page(claim: Claim, brand: str = "") -> str:
    body = f"<p><strong>{html.escape(masked(claim.address))}</strong> will no longer receive promotional emails.</p>"
    return page("You are unsubscribed", body, brand)


def invalid_page() -> str:
    body = "<p>This unsubscribe link is not valid. Please use the link from the email you received.</p>"
    return page("Link not valid", body)


def bad_request_page() -> str:
    return page("Unsubscribe", "<p>Use the button on the unsubscribe page.</p>")
