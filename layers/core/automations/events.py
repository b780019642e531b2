"""The trigger event (DESIGN.md §4): what apps post over HTTPS or put on the EventBridge bus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from automations.errors import FieldError
from automations.ids import new_id
from automations.language.loader import errors_of
from automations.language.model import EVENT_TYPE

MAX_BATCH = 100


class Contact(BaseModel):
    """The person the event is about; any further fields are kept for conditions and templates."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    first_name: str | None = Field(default=None, max_length=256)
    timezone: str | None = Field(default=None, max_length=64)


class TriggerEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="Idempotency key.")
    type: str = Field(pattern=EVENT_TYPE, description="The event type, e.g. invoice.overdue.")
    occurred_at: datetime | None = Field(default=None, description="ISO-8601; default: arrival time.")
    contact: Contact | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def normalized(self, now: datetime) -> dict[str, Any]:
        """The stored form: an id and an occurrence time always present, timestamps in UTC ISO-8601."""
        occurred = (self.occurred_at or now).astimezone(UTC)
        return {
            "id": self.id or new_id("evt", now_ms=int(now.timestamp() * 1000)),
            "type": self.type,
            "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            "contact": self.contact.model_dump(exclude_none=True) if self.contact else {},
            "data": self.data,
        }


class EventValidationError(ValueError):
    """One or more events of a request are invalid; nothing of the request is stored."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def parse_events(body: Any) -> list[TriggerEvent]:
    """One event, or ``{"events": [...]}`` of up to 100; every error of every item, named by its place."""
    if isinstance(body, dict) and "events" in body and "type" not in body:
        if set(body) != {"events"}:
            extra = sorted(set(body) - {"events"})
            raise EventValidationError([FieldError(key, "unknown field") for key in extra])
        items = body["events"]
        if not isinstance(items, list) or not items:
            raise EventValidationError([FieldError("events", "expected a list of 1 to 100 events")])
        if len(items) > MAX_BATCH:
            raise EventValidationError([FieldError("events", f"at most {MAX_BATCH} events per request")])
        prefix = "events"
    elif isinstance(body, dict):
        items = [body]
        prefix = ""
    else:
        raise EventValidationError([FieldError("", 'expected a JSON object: an event or {"events": [...]}')])
    parsed: list[TriggerEvent] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            parsed.append(TriggerEvent.model_validate(item))
        except ValidationError as exc:
            for error in errors_of(exc):
                where = f"{prefix}[{index}]" if prefix else ""
                loc = (
                    ".".join(p for p in (where, error.loc) if p) if not error.loc.startswith("[") else where + error.loc
                )
                errors.append(FieldError(loc, error.message))
    ids = [e.id for e in parsed if e.id]
    if len(ids) != len(set(ids)) and not errors:
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        errors.append(FieldError("events", f"the same id appears twice in one request: {', '.join(dupes)}"))
    if errors:
        raise EventValidationError(errors)
    return parsed
