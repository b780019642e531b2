"""Email addresses: one rule for every address the product takes, keeps or sends to.

An address is valid when email-validator accepts it as deliverable syntax, without any DNS lookup: a local
part in ASCII (SES does not take SMTPUTF8 addresses) and not quoted; a domain name with a dot that is not a
special-use one (``localhost``, ``.local``, ``.test``, ``.invalid``...); at most 254 characters; no display
name. Spaces around it are trimmed, and otherwise it is kept as given (case included). An internationalized
domain is valid: it goes on the wire in its ASCII (Punycode) form, :func:`wire_form`.

:data:`EmailAddress` is the pydantic type of every address field (the trigger event's ``contact.email``, an
email step's ``from``, ``reply_to`` and additional recipients, the test email's ``to``); its error is
``not an email address: '<value>'``, reported at the field. :func:`normalize_address` is the form an
address is known by (suppressions, message ids, one email per recipient): trimmed and lower-case.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from automations.errors import AutomationsError

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

#: The longest address (RFC 5321's path limit less its angle brackets).
MAX_LENGTH = 254


class AddressError(AutomationsError, ValueError):
    """A value that is not an email address; ``reason`` says what is wrong with it."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(f"not an email address: {value!r} ({reason})")
        self.value = value
        self.reason = reason


def _validated(value: Any) -> tuple[str, ValidatedEmail]:
    if not isinstance(value, str):
        raise AddressError(value, "not a string")
    address = value.strip()
    found = _verdict(address)
    if isinstance(found, str):
        raise AddressError(value, found)
    return address, found


@lru_cache(maxsize=1024)
def _verdict(address: str) -> ValidatedEmail | str:
    """email-validator's answer for a trimmed address (the same sender is checked for every email it sends): the
    validated address, or why it is not one. Imported on first use: most handlers never check an address."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return str(exc)


def check_address(value: Any) -> str:
    """The address, trimmed; :class:`AddressError` when it is not one."""
    return _validated(value)[0]


def is_address(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a valid email address."""
    try:
        _validated(value)
    except AddressError:
        return False
    return True


def wire_form(value: Any) -> str:
    """The address as SES takes it: as given when it is ASCII, its domain in Punycode otherwise."""
    address, found = _validated(value)
    return address if address.isascii() or found.ascii_email is None else found.ascii_email


def normalize_address(address: str) -> str:
    """The form an address is known by: trimmed, lower-case (suppressions, message ids, de-duplication)."""
    return address.strip().lower()


def field_value(value: Any) -> str:
    """An address field's value, checked (a pydantic error naming the value when it is not an address)."""
    return _field(value)


def _field(value: Any) -> str:
    try:
        return check_address(value)
    except AddressError:
        raise PydanticCustomError("email", "not an email address: '{value}'", {"value": value}) from None


EmailAddress = Annotated[
    str,
    BeforeValidator(_field),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_LENGTH}),
]
