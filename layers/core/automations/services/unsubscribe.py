"""Unsubscribing: signed links, the one-click POST (RFC 8058) and the small page behind the link.

A token is ``<payload>.<signature>``: the payload is the workspace, the address and the automation as
compact JSON in base64url, the signature an HMAC-SHA256 of it under ``settings.unsubscribe_secret``. Nothing
is stored per email; a token cannot be forged or altered without the secret, and it never expires (an
unsubscribe link must keep working). Unsubscribing suppresses promotional mail to the address in the whole
workspace; transactional and business-critical mail still goes out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from automations.adapters.messages import SuppressionStore
from automations.errors import AutomationsError
from automations.observability import logger, metrics
from automations.settings import Settings

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
MAX_TOKEN_LENGTH = 2048
_CONTEXT = b"automations/unsubscribe/v1\x00"


class InvalidTokenError(AutomationsError):
    """An unsubscribe token that is garbled, forged, or from another workspace."""


@dataclass(frozen=True)
class Claim:
    """What a valid token says: this address, in this workspace, reached through this automation."""

    workspace: str
    address: str
    automation_id: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise InvalidTokenError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("not base64url") from None


def _signature(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()


def sign_token(secret: str, workspace: str, address: str, automation_id: str) -> str:
    """A token for one address and automation (URL-safe: base64url and a dot)."""
    if not secret:
        raise ValueError("an unsubscribe secret is required")
    body = json.dumps([workspace, address.strip().lower(), automation_id], separators=(",", ":"), ensure_ascii=False)
    payload = _b64encode(body.encode())
    return f"{payload}.{_b64encode(_signature(secret, payload))}"


def verify_token(secret: str, token: str, workspace: str | None = None) -> Claim:
    """The claim of a genuine token; ``InvalidTokenError`` for anything else."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise InvalidTokenError("malformed token")
    payload, signature = token.split(".")
    given = _b64decode(signature)
    _b64decode(payload)
    if not hmac.compare_digest(given, _signature(secret, payload)):
        raise InvalidTokenError("bad signature")
    try:
        values: Any = json.loads(_b64decode(payload))
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


def unsubscribe_url(settings: Settings, address: str, automation_id: str) -> str:
    """The https link of one recipient, for the visible link and the ``List-Unsubscribe`` header."""
    if not settings.unsubscribe_base_url:
        raise ValueError("no unsubscribe base URL is configured (UNSUBSCRIBE_BASE_URL)")
    token = sign_token(settings.unsubscribe_secret, settings.workspace, address, automation_id)
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
    item = suppressions.item(
        address, "unsubscribe", reason=f"unsubscribed ({source})", source=source, automation_id=automation_id, now=now
    )
    created = suppressions.add_new(item, now=now, counts={"unsubscribed": 1}, step=step)
    logger.info(
        "unsubscribed" if created else "already unsubscribed",
        extra={"automation": automation_id, "source": source, "new": created},
    )
    if created:
        metrics.add_metric(name="Unsubscribed", unit="Count", value=1)
    return created


def one_click(settings: Settings, suppressions: SuppressionStore, token: str, now: datetime) -> Claim:
    """Verify the token and unsubscribe its address (idempotent); ``InvalidTokenError`` changes nothing."""
    claim = verify_token(settings.unsubscribe_secret, token, settings.workspace)
    unsubscribe(suppressions, claim.address, claim.automation_id, now, source="one-click")
    return claim


# --- the pages --------------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.3rem;border:1px solid #444;background:#fff;cursor:pointer}}
</style></head><body><h1>{title}</h1>{body}</body></html>
"""


def masked(address: str) -> str:
    """``a***@example.com``: enough for the person to recognize, not a full address on a page."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def confirm_page(claim: Claim) -> str:
    """The page behind the visible link: one button posting the one-click body (a GET never unsubscribes)."""
    body = (
        f"<p>Stop promotional emails to <strong>{html.escape(masked(claim.address))}</strong>?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        "<p><small>Messages about your account, bookings and invoices will still reach you.</small></p>"
    )
    return _PAGE.format(title="Unsubscribe", body=body)


def done_page(claim: Claim) -> str:
    body = f"<p><strong>{html.escape(masked(claim.address))}</strong> will no longer receive promotional emails.</p>"
    return _PAGE.format(title="You are unsubscribed", body=body)


def invalid_page() -> str:
    body = "<p>This unsubscribe link is not valid. Please use the link from the email you received.</p>"
    return _PAGE.format(title="Link not valid", body=body)


def bad_request_page() -> str:
    return _PAGE.format(title="Unsubscribe", body="<p>Use the button on the unsubscribe page.</p>")
