"""The email rules (DESIGN.md §3 "Email"), pure: the types of email and what each one means, and who an
email step goes to. The engine, previews, test emails, the sender and the contact view all ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from automations.addresses import AddressError, check_address, normalize_address
from automations.language.conditions import resolve
from automations.language.model import EmailType, SendEmail

#: Every type of email, in the order they are shown: promotional, transactional, business_critical.
EMAIL_TYPES: tuple[str, ...] = get_args(EmailType)

#: The types that carry a visible unsubscribe link and RFC 8058's ``List-Unsubscribe`` headers, and that an
#: unsubscribe stops.
UNSUBSCRIBE_TYPES = frozenset({"promotional"})

#: ``List-Unsubscribe-Post``'s value (RFC 8058), which is also the body of a one-click unsubscribe POST.
ONE_CLICK = "List-Unsubscribe=One-Click"

#: What a suppression covers, by its kind: every type of email, or promotional email only.
SUPPRESSION_SCOPES = {"bounce": "all", "complaint": "all", "unsubscribe": "promotional"}

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
    """Whether a suppression of this scope (``all`` or ``promotional``) stops an email of this type."""
    return scope == "all" or (scope == "promotional" and has_unsubscribe(email_type))


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
    found.extend(spec.to.additional)
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(normalize_address(address), address)
    return Recipients(tuple(unique.values()), note)
