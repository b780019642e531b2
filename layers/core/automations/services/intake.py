"""Turning request bodies and EventBridge events into validated trigger events, with size limits."""

from __future__ import annotations

import json
from typing import Any

from automations.errors import FieldError
from automations.events import EventValidationError, TriggerEvent, parse_events


class TooLargeError(ValueError):
    """An event over the size limit (HTTP 413)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class BadJsonError(ValueError):
    """A body that is not JSON (HTTP 400)."""


def events_from_body(raw: str | bytes | None, max_event_bytes: int) -> list[TriggerEvent]:
    """A request body: one event or ``{"events": [...]}``; every event checked against the size limit."""
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise BadJsonError("the request body is empty: post a JSON event")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJsonError(f"the request body is not valid JSON: {exc}") from None
    batch = isinstance(body, dict) and "type" not in body and "events" in body
    items = body["events"] if batch else [body]
    if isinstance(items, list):
        too_large = []
        for index, item in enumerate(items):
            size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
            if size > max_event_bytes:
                loc = f"events[{index}]" if items is not body and isinstance(body, dict) and "events" in body else ""
                too_large.append(FieldError(loc, f"event is {size} bytes; the limit is {max_event_bytes}"))
        if too_large:
            raise TooLargeError(too_large)
    return parse_events(body)


def event_from_eventbridge(record: dict[str, Any], max_event_bytes: int) -> TriggerEvent:
    """An EventBridge event: ``detail-type`` is the type, ``detail`` the rest; id and time as defaults."""
    detail = record.get("detail")
    if not isinstance(detail, dict):
        raise EventValidationError([FieldError("detail", "expected a JSON object")])
    body = {k: v for k, v in detail.items() if k != "type"}
    body["type"] = record.get("detail-type")
    body.setdefault("id", record.get("id"))
    if record.get("time"):
        body.setdefault("occurred_at", record["time"])
    size = len(json.dumps(body, separators=(",", ":")).encode())
    if size > max_event_bytes:
        raise TooLargeError([FieldError("detail", f"event is {size} bytes; the limit is {max_event_bytes}")])
    return parse_events(body)[0]
