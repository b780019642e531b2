"""Turning request bodies and EventBridge events into validated trigger events, with size limits.

A request body is one event or ``{"events": [...]}``. A lone event that cannot be accepted refuses the
request (413 when too large, 422 otherwise); in a batch, each event is answered on its own and one bad
event never blocks the others. A body that is not JSON, or that nests so deep that it cannot be read,
is refused whole (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.errors import FieldError
from automations.events import (
    MAX_DEPTH,
    EventValidationError,
    TriggerEvent,
    batch_items,
    item_loc,
    join_loc,
    parse_event,
    printable,
    readable_id,
    structure_errors,
)
from automations.jsontext import cut_deep
from automations.ports import WORKSPACE_ID
from automations.services.deps import Deps
from automations.services.ingest import EventResult, ingest

#: Nesting kept when a body is parsed: an event of a batch sits two levels down, and one level more
#: than the limit must stay visible for the event holding it to be refused, naming the place.
_PARSED_LEVELS = MAX_DEPTH + 3


class TooLargeError(ValueError):
    """An event over the size limit (HTTP 413)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class BadJsonError(ValueError):
    """A body that is not JSON (HTTP 400)."""


@dataclass(frozen=True)
class Invalid:
    """An event of a batch that cannot be accepted: every reason, and its id when it could be read."""

    errors: list[FieldError]
    id: str | None = None


@dataclass(frozen=True)
class RequestEvents:
    """The events of a request in order: each one valid, or (in a batch only) invalid with its errors."""

    entries: list[TriggerEvent | Invalid]

    @property
    def events(self) -> list[TriggerEvent]:
        return [entry for entry in self.entries if isinstance(entry, TriggerEvent)]


def request_body(body: str | None, base64_encoded: bool | None) -> str | bytes | None:
    """The body of an API Gateway proxy event: as sent, or its bytes when API Gateway encoded it."""
    if not body or not base64_encoded:
        return body
    try:
        return base64.b64decode(body)
    except binascii.Error:
        raise BadJsonError("the request body is marked as base64 but is not valid base64") from None


def read_json(raw: str | bytes, levels: int = _PARSED_LEVELS) -> Any:
    """The JSON of a body (bytes as UTF-8, where bytes that are not become unpaired surrogates, refused
    later at the field holding them); whatever nests deeper than ``levels`` (by default, what an event of
    ``{"events": [...]}`` may hold, and one level more) is cut off unread."""
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    text = text.removeprefix("\ufeff")
    cut = cut_deep(text, levels)
    try:
        return json.loads(cut)
    except RecursionError:
        raise BadJsonError(f"the request body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        if cut is not text:
            raise BadJsonError("the request body is not valid JSON") from None
        raise BadJsonError(f"the request body is not valid JSON: {printable(str(exc))}") from None


def event_size(item: Any) -> int:
    """An event's size as it is counted against the limit: compact JSON, in UTF-8 bytes."""
    return len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def largest_field(item: Any, where: str = "") -> tuple[str, int]:
    """The place that makes an event large: its biggest field, followed down while it holds most of it."""
    loc, size = where, event_size(item)
    while isinstance(item, dict | list) and item:
        parts = item.items() if isinstance(item, dict) else enumerate(item)
        key, child, child_size = max(((k, v, event_size(v)) for k, v in parts), key=lambda part: part[2])
        if child_size * 2 < size:
            break
        item, size = child, child_size
        loc = join_loc(loc, key if isinstance(key, int) else printable(str(key)))
    return loc, size


def size_error(item: Any, where: str, max_event_bytes: int) -> FieldError | None:
    """Why an event is too large, at its largest field; None when it fits."""
    size = event_size(item)
    if size <= max_event_bytes:
        return None
    loc, field_size = largest_field(item, where)
    part = f"; this field alone is {field_size} bytes" if loc != where else ""
    return FieldError(loc, f"event is {size} bytes, over the limit of {max_event_bytes}{part}")


def events_from_body(raw: str | bytes | None, max_event_bytes: int) -> RequestEvents:
    """A request body: one event or ``{"events": [...]}``; each event checked, the size limit included.

    Raises BadJsonError (400) for a body that is not JSON; EventValidationError (422) for a malformed
    batch or an invalid lone event; TooLargeError (413) for a lone event over the limit. The events of a
    batch are answered one by one: an invalid one is an :class:`Invalid` entry.
    """
    if raw is None or not raw.strip():
        raise BadJsonError("the request body is empty: post a JSON event")
    body = read_json(raw)
    items, prefix = batch_items(body)
    entries: list[TriggerEvent | Invalid] = []
    for index, item in enumerate(items):
        where = item_loc(prefix, index)
        try:
            entries.append(_checked(item, where, max_event_bytes))
        except (EventValidationError, TooLargeError) as exc:
            if not prefix:
                raise
            entries.append(Invalid(exc.errors, readable_id(item)))
    return RequestEvents(entries)


def _checked(item: Any, where: str, max_event_bytes: int) -> TriggerEvent:
    """One event: what it holds (text, nesting) first, then its size, then its fields."""
    if structure_errors(item, where):
        return parse_event(item, where)  # refused, naming every wrong field
    too_large = size_error(item, where, max_event_bytes)
    if too_large is not None:
        raise TooLargeError([too_large])
    return parse_event(item, where)


def workspace_from_eventbridge(record: dict[str, Any], default: str) -> str:
    """The workspace an EventBridge event is for: ``detail.workspace`` (the bus is trusted), else ``default``."""
    detail = record.get("detail")
    found = detail.get("workspace") if isinstance(detail, dict) else None
    if found is None:
        return default
    if not isinstance(found, str) or not WORKSPACE_ID.fullmatch(found):
        raise EventValidationError([FieldError("detail.workspace", "expected a workspace id (a slug)")])
    return found


def event_from_eventbridge(record: dict[str, Any], max_event_bytes: int) -> TriggerEvent:
    """An EventBridge event: ``detail-type`` is the type, ``detail`` the rest (but ``workspace``, which
    :func:`workspace_from_eventbridge` reads); id and time as defaults."""
    detail = record.get("detail")
    if not isinstance(detail, dict):
        raise EventValidationError([FieldError("detail", "expected a JSON object")])
    body = {k: v for k, v in detail.items() if k not in ("type", "workspace")}
    body["type"] = record.get("detail-type")
    body.setdefault("id", record.get("id"))
    if record.get("time"):
        body.setdefault("occurred_at", record["time"])
    return _checked(body, "", max_event_bytes)


def accept(deps: Deps, request_events: RequestEvents, now: datetime) -> list[EventResult]:
    """Store and process the valid events of a request; the answer has every event, in order.

    An id seen earlier in the same request is that event's duplicate; an invalid event is answered
    ``invalid`` with its errors.
    """
    ids: set[str] = set()
    unique: list[TriggerEvent] = []
    for event in request_events.events:
        if event.id is None or event.id not in ids:
            if event.id is not None:
                ids.add(event.id)
            unique.append(event)
    results = iter(ingest(deps, unique, now)) if unique else iter([])
    answered: list[EventResult] = []
    seen: dict[str, EventResult] = {}
    for entry in request_events.entries:
        if isinstance(entry, Invalid):
            answered.append(EventResult(entry.id or "", "invalid", errors=entry.errors))
        elif entry.id is not None and entry.id in seen:
            answered.append(EventResult(entry.id, "duplicate", list(seen[entry.id].runs)))
        else:
            result = next(results)
            if entry.id is not None:
                seen[entry.id] = result
            answered.append(result)
    return answered
