"""The trigger event (DESIGN.md §4): what apps post over HTTPS or put on the EventBridge bus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from automations.addresses import EmailAddress
from automations.errors import FieldError
from automations.ids import new_id
from automations.language.loader import errors_of
from automations.language.model import EVENT_TYPE

MAX_BATCH = 100
#: How deep an event may nest: the event object is level 1, ``data`` level 2, ``data.a`` level 3...
MAX_DEPTH = 32
#: The moments an event may have occurred at: from 1970 to the end of 2200 (UTC).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2201, 1, 1, tzinfo=UTC)
EVENT_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
#: At most this many errors about the text or the nesting of one event are listed.
_MAX_STRUCTURE_ERRORS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_VALID_ID = re.compile(EVENT_ID)


class Contact(BaseModel):
    """The person the event is about; any further fields are kept for conditions and templates."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(
        default=None,
        max_length=256,
        description="The person's id in the app; an integer (apps often number their users) is kept as its "
        'decimal string, so that 42 and "42" are the same person.',
        json_schema_extra={"anyOf": [{"type": "string", "maxLength": 256}, {"type": "integer"}, {"type": "null"}]},
    )
    email: EmailAddress | None = None
    first_name: str | None = Field(default=None, max_length=256)
    timezone: str | None = Field(default=None, max_length=64)

    @field_validator("id", mode="before")
    @classmethod
    def _decimal_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class TriggerEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=EVENT_ID, description="Idempotency key.")
    type: str = Field(pattern=EVENT_TYPE, description="The event type, e.g. invoice.overdue.")
    occurred_at: datetime | None = Field(
        default=None, description="ISO-8601, between 1970 and 2200; default: arrival time."
    )
    contact: Contact | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if not EARLIEST <= value < LATEST:
            raise ValueError("must be between 1970-01-01T00:00:00Z and 2200-12-31T23:59:59Z")
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


def printable(text: str) -> str:
    """Text safe to answer with: what is not valid Unicode (an unpaired surrogate) shown as ``\\udXXX``."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def join_loc(where: str, part: str | int) -> str:
    """``events[2]`` + ``data`` -> ``events[2].data``; ``data`` + 3 -> ``data[3]``."""
    if isinstance(part, int):
        return f"{where}[{part}]"
    return f"{where}.{part}" if where else part


def readable_id(item: Any) -> str | None:
    """The id of an event that may be invalid, when it is a well-formed one."""
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) and _VALID_ID.match(value) else None


def structure_errors(item: Any, where: str = "") -> list[FieldError]:
    """What no event may hold, each named by its place: text that is not valid Unicode (an unpaired
    surrogate, or bytes that were not UTF-8), and objects or lists nested deeper than ``MAX_DEPTH``."""
    errors: list[FieldError] = []
    for error in _structure(item, where, 1):
        errors.append(error)
        if len(errors) >= _MAX_STRUCTURE_ERRORS:
            break
    return errors


def _structure(value: Any, loc: str, level: int) -> Iterator[FieldError]:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            yield FieldError(loc, "not valid Unicode (an unpaired surrogate, or bytes that are not UTF-8)")
        return
    if not isinstance(value, dict | list):
        return
    if level > MAX_DEPTH:
        yield FieldError(loc, f"nested deeper than {MAX_DEPTH} levels")
        return
    if isinstance(value, list):
        for index, child in enumerate(value):
            yield from _structure(child, join_loc(loc, index), level + 1)
        return
    for key, child in value.items():
        name = printable(str(key))
        if isinstance(key, str) and name != key:
            yield FieldError(join_loc(loc, name), "the field name is not valid Unicode")
        yield from _structure(child, join_loc(loc, name), level + 1)


def batch_items(body: Any) -> tuple[list[Any], str]:
    """The events of a request and the prefix of their places: ``([event], "")`` for one event,
    ``(events, "events")`` for ``{"events": [...]}`` of 1 to 100; a malformed batch is refused whole."""
    if isinstance(body, dict) and "events" in body and "type" not in body:
        if set(body) != {"events"}:
            extra = sorted(set(body) - {"events"})
            raise EventValidationError([FieldError(printable(str(key)), "unknown field") for key in extra])
        items = body["events"]
        if not isinstance(items, list) or not items:
            raise EventValidationError([FieldError("events", "expected a list of 1 to 100 events")])
        if len(items) > MAX_BATCH:
            raise EventValidationError([FieldError("events", f"at most {MAX_BATCH} events per request")])
        return items, "events"
    if isinstance(body, dict):
        return [body], ""
    raise EventValidationError([FieldError("", 'expected a JSON object: an event or {"events": [...]}')])


def item_loc(prefix: str, index: int) -> str:
    """The place of the ``index``-th event of a request: ``events[3]``, or nothing for a lone event."""
    return f"{prefix}[{index}]" if prefix else ""


def parse_event(item: Any, where: str = "") -> TriggerEvent:
    """One event, checked; every error named by its place under ``where`` (``events[3].occurred_at``)."""
    structural = structure_errors(item, where)
    try:
        event = TriggerEvent.model_validate(item)
    except ValidationError as exc:
        schema = [e for e in (_placed(where, error) for error in errors_of(exc)) if not _within(e.loc, structural)]
        raise EventValidationError(structural + schema) from None
    if structural:
        raise EventValidationError(structural)
    return event


def _within(loc: str, errors: list[FieldError]) -> bool:
    """Whether a place is, or holds, one already named (its text or nesting): said once, not twice."""
    return any(e.loc == loc or not loc or e.loc.startswith((loc + ".", loc + "[")) for e in errors)


def _placed(where: str, error: FieldError) -> FieldError:
    loc = printable(error.loc)
    if not where:
        return FieldError(loc, error.message)
    return FieldError(where + loc if loc.startswith("[") else ".".join(p for p in (where, loc) if p), error.message)


def parse_events(body: Any) -> list[TriggerEvent]:
    """One event, or ``{"events": [...]}`` of up to 100; every error of every item, named by its place.

    All or nothing: one invalid event refuses the whole request (HTTP intake answers event by event
    instead, see :mod:`automations.services.event_input`)."""
    items, prefix = batch_items(body)
    parsed: list[TriggerEvent] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse_event(item, item_loc(prefix, index)))
        except EventValidationError as exc:
            errors.extend(exc.errors)
    ids = [e.id for e in parsed if e.id]
    if len(ids) != len(set(ids)) and not errors:
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        errors.append(FieldError("events", f"the same id appears twice in one request: {', '.join(dupes)}"))
    if errors:
        raise EventValidationError(errors)
    return parsed
