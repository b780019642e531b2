"""Reading a queue message of the email queue: the JSON of ``EmailRequest.as_message()``, checked.

:class:`EmailMessage` is the message's model: the email queue's consumer has Powertools' batch processor parse
each record's body with it (a body it refuses fails that record alone), and :func:`request_from_body` reads a
body with it anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from automations.engine.effects import EmailRequest
from automations.errors import AutomationsError
from automations.language.loader import errors_of
from automations.language.model import EmailType
from automations.language.templates import html_to_text


class InvalidEmailMessageError(AutomationsError):
    """A queue message that no retry can make sendable (not JSON, a field missing or of the wrong kind)."""


def _address(value: str) -> str:
    if "@" not in value:
        raise ValueError("not an email address")
    return value


def _or_none(value: Any) -> Any:
    return value or None


def _or_zero(value: Any) -> Any:
    return value or 0


def _or_empty(value: Any) -> Any:
    return value or {}


#: A field the message cannot do without: text that is not empty.
_Required = Annotated[str, StringConstraints(min_length=1)]
#: A field the message may leave out, empty or null.
_Optional = Annotated[str | None, BeforeValidator(_or_none)]
#: A flag: whatever is truthy is set.
_Flag = Annotated[bool, BeforeValidator(bool)]


class EmailMessage(BaseModel):
    """A message of the email queue: an email of one step, rendered, and whom it goes to."""

    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    workspace: _Required
    automation_id: _Required
    version: Annotated[int, BeforeValidator(_or_zero)] = 0
    run_id: _Required
    step: _Required
    type: EmailType
    recipients: Annotated[list[Annotated[str, AfterValidator(_address)]], Field(min_length=1)]
    subject: _Required
    html: _Required
    text: _Optional = None
    from_name: _Optional = None
    from_address: _Optional = None
    reply_to: _Optional = None
    person: _Optional = None
    headers: Annotated[dict[str, str], BeforeValidator(_or_empty)] = Field(default_factory=dict)
    unsubscribe: _Flag = False
    test: _Flag = False

    def request(self) -> EmailRequest:
        """The email request the message carries (its text made from its HTML when it has none)."""
        return EmailRequest(
            workspace=self.workspace,
            automation_id=self.automation_id,
            version=self.version,
            run_id=self.run_id,
            step=self.step,
            type=self.type,
            recipients=tuple(self.recipients),
            subject=self.subject,
            html=self.html,
            text=self.text or html_to_text(self.html),
            from_name=self.from_name,
            from_address=self.from_address,
            reply_to=self.reply_to,
            person=self.person,
            headers=dict(self.headers),
            unsubscribe=self.unsubscribe,
            test=self.test,
        )


#: The fields every message must have, not empty.
REQUIRED_FIELDS = tuple(name for name, field in EmailMessage.model_fields.items() if field.is_required())


def reason_of(exc: ValidationError) -> str:
    """Why a message was refused, each wrong field named: ``subject: field required; type: ...``."""
    return "; ".join(str(error) for error in errors_of(exc))


def request_from_body(body: str | bytes | Mapping[str, Any]) -> EmailRequest:
    """The :class:`EmailRequest` of a queue message (the JSON of ``EmailRequest.as_message()``)."""
    try:
        if isinstance(body, Mapping):
            message = EmailMessage.model_validate(body)
        else:
            message = EmailMessage.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEmailMessageError(reason_of(exc)) from None
    return message.request()
