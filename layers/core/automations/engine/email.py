"""The email rules (DESIGN.md §3 "Email"), pure: the types of email and what each one means, and who an
email step goes to. The engine, previews, test emails, the sender and the contact view all ask here; so does
the sender's adapter, for what the provider takes (header lines, tag values, the senders the stack may use).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from automations.addresses import AddressError, check_address, normalize_address
from automations.errors import TemplateError
from automations.language.conditions import resolve
from automations.language.model import EmailType, SendEmail
from automations.language.templates import render

#: Every type of email, in the order they are shown: promotional, transactional, business_critical.
EMAIL_TYPES: tuple[str, ...] = get_args(EmailType)

#: The types that carry a visible unsubscribe link and RFC 8058's ``List-Unsubscribe`` headers, and that an
#: unsubscribe stops.
UNSUBSCRIBE_TYPES = frozenset({"promotional"})

#: ``List-Unsubscribe-Post``'s value (RFC 8058), which is also the body of a one-click unsubscribe POST.
ONE_CLICK = "List-Unsubscribe=One-Click"

#: The types of email each suppression scope stops: every type (a hard bounce, a complaint), and the two
#: preference levels an unsubscribe keeps: no promotional email (``promotional``), or essential email only
#: (``non_essential``: promotional and transactional email stop, business-critical email still goes).
SCOPE_STOPS: dict[str, frozenset[str]] = {
    "all": frozenset(EMAIL_TYPES),
    "non_essential": frozenset({"promotional", "transactional"}),
    "promotional": UNSUBSCRIBE_TYPES,
}

#: What a suppression covers, by its kind (an unsubscribe's own scope may be ``non_essential`` instead).
SUPPRESSION_SCOPES = {"bounce": "all", "complaint": "all", "unsubscribe": "promotional"}

#: The scopes an unsubscribe may have, from the least mail stopped to the most.
UNSUBSCRIBE_SCOPES = ("promotional", "non_essential")

#: The kinds of mail a contact subscribes to (DESIGN.md §3, "The contact profile").
SUBSCRIPTION_TYPES = ("promotional", "transactional")

#: Why an email step has no trigger contact to send to (a missing, empty or invalid ``contact.email``).
NO_CONTACT_ADDRESS = "the trigger contact has no email address"


def has_unsubscribe(email_type: str) -> bool:
    """Whether an email of this type carries an unsubscribe link and the one-click headers."""
    return email_type in UNSUBSCRIBE_TYPES


def unsubscribe_headers(email_type: str, link: str) -> dict[str, str]:
    """RFC 8058's pair for an email of this type with this unsubscribe link (none for other types)."""
    if not has_unsubscribe(email_type):
        return {}
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": ONE_CLICK}


def scope_blocks(scope: str, email_type: str) -> bool:
    """Whether a suppression of this scope (``all``, ``non_essential`` or ``promotional``) stops an email of this
    type; a scope these rules do not know stops every type."""
    return email_type in SCOPE_STOPS.get(scope, SCOPE_STOPS["all"])


def subscriptions_of(scope: str | None) -> dict[str, bool]:
    """A contact's subscriptions under an unsubscribe of this scope (None: no unsubscribe, both kinds)."""
    return {kind: not (scope is not None and scope_blocks(scope, kind)) for kind in SUBSCRIPTION_TYPES}


def unsubscribe_scope(subscriptions: Mapping[str, bool]) -> str | None:
    """The preference level that keeps these subscriptions, as an unsubscribe's scope: None when both kinds are
    on, ``non_essential`` when transactional mail is off (all but essential mail stops), else ``promotional``."""
    if not subscriptions.get("transactional", True):
        return "non_essential"
    if not subscriptions.get("promotional", True):
        return "promotional"
    return None


def level_subscriptions(given: Mapping[str, bool]) -> dict[str, bool]:
    """Subscriptions as levels: turning transactional mail off turns promotional mail off too (only essential
    mail remains), and turning promotional mail on turns transactional mail on too. ``ValueError`` naming the
    kind when both are given the other way round (promotional on, transactional off)."""
    levels = dict(given)
    if levels.get("promotional") is True and levels.get("transactional") is False:
        raise ValueError("promotional mail cannot be on while transactional mail is off (all but essential mail)")
    if levels.get("transactional") is False:
        levels["promotional"] = False
    if levels.get("promotional") is True:
        levels["transactional"] = True
    return levels


@dataclass(frozen=True)
class Recipients:
    """Who an email step goes to for a context, and a note when the trigger contact could not be one."""

    addresses: tuple[str, ...]
    note: str | None = None


def recipients(spec: SendEmail, context: Mapping[str, Any]) -> Recipients:
    """The trigger contact's address when it is a valid one (trimmed), then the additional recipients; each
    address once, compared case-insensitively, first spelling kept."""
    found: list[str] = []
    note = None
    if spec.to.trigger_contact:
        try:
            found.append(check_address(resolve(context, "contact.email")))
        except AddressError:
            note = NO_CONTACT_ADDRESS
    skipped: list[str] = []
    for index, entry in enumerate(spec.to.additional):
        if "{{" not in entry and "{%" not in entry:
            found.append(entry)
            continue
        try:
            found.append(check_address(render(entry, context, html=False).strip()))
        except (TemplateError, AddressError) as exc:
            skipped.append(f"to.additional[{index}] skipped: {exc}")
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(normalize_address(address), address)
    notes = [n for n in (note, *skipped) if n]
    return Recipients(tuple(unique.values()), "; ".join(notes) or None)


# --- what the provider takes: header lines, tag values, the senders the stack may use ---------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # printable ASCII without ':' (RFC 5322 field-name)
_TAG_VALUE = re.compile(r"[^A-Za-z0-9_-]")


def clean_header(value: str | None, limit: int = 900) -> str:
    """A header value on one line: control characters (CR, LF, NUL, ...) become spaces, runs collapse."""
    if not value:
        return ""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:limit]


def clean_header_name(name: str) -> str | None:
    """A header name as RFC 5322 allows it, or None when it cannot be one."""
    name = str(name).strip()
    return name if _HEADER_NAME.match(name) else None


def sanitize_tag(value: Any) -> str:
    """A message tag value as SES takes it: only ``[A-Za-z0-9_-]``, at most 256 characters, never empty."""
    text = _TAG_VALUE.sub("_", str(value if value is not None else ""))[:256]
    return text or "_"


def sender_allowed(address: str, patterns: Iterable[str]) -> bool:
    """Whether a From address matches one of the allowed senders, as IAM's ``StringLike`` matches the
    ``ses:FromAddress`` condition key: exact characters, ``*`` for any run and ``?`` for one character."""
    for pattern in patterns:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        if re.fullmatch(regex, address, re.DOTALL):
            return True
    return False
