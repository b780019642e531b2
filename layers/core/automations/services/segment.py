"""Segment's HTTP API format (DESIGN.md §4): ``track``, ``identify`` and ``batch`` calls as trigger events.

Apps instrumented with a Segment-compatible SDK post to ``POST /v1/track``, ``/v1/identify`` and ``/v1/batch``;
each message becomes the trigger event ``POST /v1/events`` takes, checked by the same rules (text, nesting,
size, fields) and then stored and matched the same way.

- **track**: ``messageId`` → ``id``, ``userId`` (else ``anonymousId``) → ``contact.id``, ``event`` → ``type``,
  ``properties`` → ``data``, ``timestamp`` (else ``originalTimestamp``, ``sentAt``, ``receivedAt``) →
  ``occurred_at``, ``context.traits`` → the contact's fields.
- **identify**: the trigger event ``contact.identified``, whose ``contact`` carries the traits (``traits``, over
  ``context.traits``) and whose ``data`` is empty.
- **traits**: ``email``; ``firstName``/``first_name`` → ``first_name``; ``lastName``/``last_name`` →
  ``last_name``; ``phone``, ``timezone`` and ``locale``; every other trait is kept as a contact field of the
  same name (but ``id``: the person is ``userId`` or ``anonymousId``). ``context.timezone`` and
  ``context.locale`` give the contact's time zone and locale when the traits do not.
- An event name that is a valid event type is kept as it is; another is made one: accents dropped, lower
  case, each run of other characters ``_`` (``Order Completed`` → ``order_completed``).
- A ``messageId`` that is no valid event id (``A-Z a-z 0-9 _ . : -``, up to 128) becomes ``msg_`` and a hash
  of it, so that the same message sent again is still the same event.
- **batch**: ``{"batch": [...]}`` of 1 to 100 messages, each with its ``type``: ``track`` and ``identify`` are
  events; ``page``, ``screen``, ``group`` and ``alias`` are answered ``ignored``. The batch's own ``context``
  applies to each message, under the message's own.

Every error names its place in Segment's names (``event``, ``userId``, ``properties.total``,
``batch[2].context.traits.email``). Nothing here reads a clock or stores anything.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from automations.errors import FieldError
from automations.events import (
    EVENT_ID,
    MAX_BATCH,
    MAX_DEPTH,
    EventValidationError,
    TriggerEvent,
    parse_event,
    printable,
    structure_errors,
)
from automations.language.model import EVENT_TYPE
from automations.services.event_input import BadJsonError, Invalid, RequestEvents, TooLargeError, read_json, size_error
from automations.services.ingest import EventResult

#: The calls that are trigger events, and the batch that holds them.
Kind = Literal["track", "identify"]
Batch = Literal["batch"]

TRACK: Kind = "track"
IDENTIFY: Kind = "identify"
#: The calls of Segment's spec that start nothing here: answered ``ignored`` in a batch.
IGNORED = ("page", "screen", "group", "alias")
#: The type of the trigger event an identify call becomes.
IDENTIFIED = "contact.identified"
#: The routes, each with the call it takes (``batch``: any).
ROUTES: dict[str, Kind | Batch] = {"/v1/track": TRACK, "/v1/identify": IDENTIFY, "/v1/batch": "batch"}
#: Where a message's time is read, in this order.
TIMESTAMPS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
#: Traits that are the contact's own fields: the field, then the trait names read for it, in this order.
TRAIT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("email",)),
    ("first_name", ("first_name", "firstName")),
    ("last_name", ("last_name", "lastName")),
    ("phone", ("phone",)),
    ("timezone", ("timezone",)),
    ("locale", ("locale",)),
)
#: The trait that is never a contact field: the person is ``userId`` (or ``anonymousId``).
_PERSON_TRAIT = "id"
_MAX_TYPE = 128
#: The type of a track call whose event name is refused: never stored, it lets the rest be checked.
_STAND_IN_TYPE = "segment.track"
#: Nesting kept when a body is read: a batch's traits sit one level deeper in it than a contact's fields in
#: ``{"events": [...]}``, and one level more than the limit must stay visible to be refused.
_PARSED_LEVELS = MAX_DEPTH + 4
_EVENT_TYPE = re.compile(EVENT_TYPE)
_EVENT_ID = re.compile(EVENT_ID)
_NOT_IN_TYPE = re.compile(r"[^a-z0-9_.:-]+")


class SegmentBodyError(ValueError):
    """A body that is no Segment call (HTTP 400): not an object, or a batch that is not a list of 1 to 100."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


@dataclass(frozen=True)
class Ignored:
    """A message of a call that starts nothing here (``page``, ``screen``, ``group``, ``alias``)."""

    kind: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        named = {"id": self.id} if self.id else {}
        return {**named, "status": "ignored", "reason": f"{self.kind} calls start no automation"}


@dataclass(frozen=True)
class Mapped:
    """A message as a trigger event: its fields, and for places of the event the Segment place each came from
    (``where`` is the message's own place: ``batch[2]``, or nothing)."""

    body: dict[str, Any]
    names: dict[str, str]
    where: str = ""
    #: The message's own problems (a missing event name or person, an object that is not one), by their
    #: Segment place; the fields that have them are left out of ``body``.
    errors: tuple[FieldError, ...] = ()

    def segment_loc(self, loc: str) -> str:
        """The Segment place of a place of the trigger event (``data.total`` → ``properties.total``)."""
        if not loc:
            return self.where
        for target in sorted(self.names, key=len, reverse=True):
            if loc == target:
                return self.names[target]
            if loc.startswith((target + ".", target + "[")):
                return self.names[target] + loc[len(target) :]
        return _at(self.where, loc)

    def renamed(self, errors: list[FieldError]) -> list[FieldError]:
        return [FieldError(self.segment_loc(e.loc), e.message) for e in errors]


@dataclass(frozen=True)
class SegmentRequest:
    """The messages of a request in order: each one a valid event, invalid with its errors, or ignored."""

    entries: list[TriggerEvent | Invalid | Ignored]

    @property
    def request_events(self) -> RequestEvents:
        """What the ingest takes: the events and the invalid messages (the ignored ones left out)."""
        return RequestEvents([entry for entry in self.entries if not isinstance(entry, Ignored)])

    def answers(self, results: list[EventResult]) -> list[dict[str, Any]]:
        """One answer per message, in order: the ingest's ``results`` (one per entry of :attr:`request_events`),
        each event's with its ``type``, and the ignored messages'."""
        answered = iter(results)
        out: list[dict[str, Any]] = []
        for entry in self.entries:
            if isinstance(entry, Ignored):
                out.append(entry.as_dict())
                continue
            answer = next(answered).as_dict()
            if isinstance(entry, TriggerEvent):
                answer["type"] = entry.type
            out.append(answer)
        return out


# --- reading a request --------------------------------------------------------------------------------------


def read_request(raw: str | bytes | None, route: Kind | Batch, max_event_bytes: int) -> SegmentRequest:
    """A request body of one of the routes (``track``, ``identify`` or ``batch``), every message checked.

    Raises BadJsonError or SegmentBodyError (400) for a body that is not JSON, not an object, or a malformed
    batch; for a lone message that cannot be accepted, EventValidationError or TooLargeError (400 too, as
    Segment answers), with Segment's names. The messages of a batch are answered one by one.
    """
    if raw is None or not raw.strip():
        raise BadJsonError("the request body is empty: post a JSON object (a Segment call)")
    body = read_json(raw, _PARSED_LEVELS)
    if not isinstance(body, dict):
        raise SegmentBodyError(f"the request body is not a JSON object: post a Segment {route} call")
    if route != "batch":
        return SegmentRequest([checked(body, route, max_event_bytes)])
    return SegmentRequest(_batch(body, max_event_bytes))


def _batch(body: dict[str, Any], max_event_bytes: int) -> list[TriggerEvent | Invalid | Ignored]:
    items = body.get("batch")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        problem = f"expected a list of 1 to {MAX_BATCH} messages"
        raise SegmentBodyError(f'the request body is not a batch: {problem} in "batch"', [FieldError("batch", problem)])
    shared = body.get("context")
    if shared is not None and not isinstance(shared, dict):
        raise SegmentBodyError(
            "the batch's context is not a JSON object", [FieldError("context", "expected an object")]
        )
    entries: list[TriggerEvent | Invalid | Ignored] = []
    for index, item in enumerate(items):
        where = f"batch[{index}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            entries.append(Invalid([FieldError(where, "expected a JSON object: a Segment message")]))
        elif kind in IGNORED:
            entries.append(Ignored(str(kind), message_id(item.get("messageId"))))
        elif kind not in (TRACK, IDENTIFY):
            allowed = "track or identify (page, screen, group and alias are ignored)"
            entries.append(
                Invalid([FieldError(f"{where}.type", f"expected {allowed}")], message_id(item.get("messageId")))
            )
        else:
            try:
                entries.append(checked(item, kind, max_event_bytes, where, shared or {}))
            except (EventValidationError, TooLargeError) as exc:
                entries.append(Invalid(exc.errors, message_id(item.get("messageId"))))
    return entries


def checked(
    message: dict[str, Any], kind: Kind, max_event_bytes: int, where: str = "", shared: dict[str, Any] | None = None
) -> TriggerEvent:
    """One message as a valid trigger event: its own fields first, then what it holds (text, nesting), its size
    and the event's fields, as ``POST /v1/events`` checks them; every error named by its Segment place."""
    mapped = to_event(message, kind, where, shared)
    own = list(mapped.errors)
    structural = structure_errors(mapped.body)
    if structural:
        raise EventValidationError(own + mapped.renamed(structural))
    too_large = size_error(mapped.body, "", max_event_bytes)
    if too_large is not None and not own:
        raise TooLargeError(mapped.renamed([too_large]))
    try:
        event = parse_event(mapped.body)
    except EventValidationError as exc:
        raise EventValidationError(own + mapped.renamed(exc.errors)) from None
    if own:
        raise EventValidationError(own)
    return event


# --- the mapping --------------------------------------------------------------------------------------------


def event_type(name: str) -> str | None:
    """The event type of a track call's event name: the name when it is one, else made one (accents dropped,
    lower case, each run of other characters ``_``); None when nothing of it is left."""
    if _EVENT_TYPE.fullmatch(name):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    made = _NOT_IN_TYPE.sub("_", folded).strip("_.:-")[:_MAX_TYPE].rstrip("_.:-")
    return made if _EVENT_TYPE.fullmatch(made) else None


def message_id(value: Any) -> str | None:
    """The event id of a ``messageId``: itself when it is a valid event id, else ``msg_`` and a hash of it;
    None when there is none (or it is not text), and the event gets a new id."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    if _EVENT_ID.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"msg_{digest}"


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _identifier(value: Any) -> str | None:
    """A ``userId`` or ``anonymousId`` as text (SDKs may send a number); None when absent or empty."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def to_event(message: dict[str, Any], kind: Kind, where: str = "", shared: dict[str, Any] | None = None) -> Mapped:
    """The trigger event's fields of one message (``where`` is its place: ``batch[2]``, or nothing), with the
    Segment place of each, and the message's own problems (a missing event name or person, an object that is
    not one), each field that has one left out (a track call without a usable name gets a stand-in type, so
    that the event's other fields can still be checked)."""
    errors: list[FieldError] = []
    names: dict[str, str] = {}
    body: dict[str, Any] = {}

    raw_id = message.get("messageId")
    found_id = message_id(raw_id)
    if found_id is not None:
        body["id"] = found_id
        names["id"] = _at(where, "messageId")
    elif raw_id is not None and raw_id != "":
        errors.append(FieldError(_at(where, "messageId"), "expected a string"))

    if kind == TRACK:
        body["type"] = _track_type(message.get("event"), _at(where, "event"), errors)
        names["type"] = _at(where, "event")
        properties = message.get("properties")
        if properties is not None and not isinstance(properties, dict):
            errors.append(FieldError(_at(where, "properties"), "expected a JSON object"))
        body["data"] = properties if isinstance(properties, dict) else {}
        names["data"] = _at(where, "properties")
    else:
        body["type"] = IDENTIFIED
        body["data"] = {}

    for name in TIMESTAMPS:
        value = message.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            errors.append(FieldError(_at(where, name), "expected an ISO-8601 timestamp"))
        else:
            body["occurred_at"] = value
            names["occurred_at"] = _at(where, name)
        break

    body["contact"] = _contact(message, kind, where, shared or {}, names, errors)
    return Mapped(body, names, where, tuple(errors))


def _track_type(name: Any, place: str, errors: list[FieldError]) -> str:
    if name is None or name == "":
        errors.append(FieldError(place, "required: the name of the event"))
        return _STAND_IN_TYPE
    if not isinstance(name, str):
        errors.append(FieldError(place, "expected a string: the name of the event"))
        return _STAND_IN_TYPE
    if len(name) > _MAX_TYPE:
        errors.append(FieldError(place, f"at most {_MAX_TYPE} characters"))
        return _STAND_IN_TYPE
    made = event_type(name)
    if made is None:
        errors.append(FieldError(place, "cannot be made an event type: use letters, digits and _ . : -"))
        return _STAND_IN_TYPE
    return made


def _contact(
    message: dict[str, Any],
    kind: Kind,
    where: str,
    shared: dict[str, Any],
    names: dict[str, str],
    errors: list[FieldError],
) -> dict[str, Any]:
    """The contact of a message: its person, its traits, and the time zone and locale of its context."""
    contact: dict[str, Any] = {}
    for field in ("userId", "anonymousId"):
        raw = message.get(field)
        if raw is not None and raw != "" and _identifier(raw) is None:
            errors.append(FieldError(_at(where, field), "expected a string"))
    person_field = "userId" if _identifier(message.get("userId")) is not None else "anonymousId"
    person = _identifier(message.get(person_field))
    if person is None and not any(e.loc in (_at(where, "userId"), _at(where, "anonymousId")) for e in errors):
        errors.append(FieldError(_at(where, "userId"), "required: userId or anonymousId, the person"))
    if person is not None:
        contact["id"] = person
        names["contact.id"] = _at(where, person_field)

    context, context_place = message.get("context"), _at(where, "context")
    if context is not None and not isinstance(context, dict):
        errors.append(FieldError(context_place, "expected a JSON object"))
        context = None
    merged: dict[str, tuple[Any, str]] = {key: (value, _at("context", key)) for key, value in shared.items()}
    merged.update({key: (value, _at(context_place, key)) for key, value in (context or {}).items()})

    traits: dict[str, tuple[Any, str]] = {}
    sources = [merged.get("traits")]
    if kind == IDENTIFY:
        sources.append((message.get("traits"), _at(where, "traits")))
    for source in sources:
        if source is None or source[0] is None:
            continue
        value, place = source
        if not isinstance(value, dict):
            errors.append(FieldError(place, "expected a JSON object"))
            continue
        traits.update({str(key): (trait, _at(place, printable(str(key)))) for key, trait in value.items()})

    used = {_PERSON_TRAIT}
    for field, aliases in TRAIT_FIELDS:
        used.update(aliases)
        found = next((traits[alias] for alias in aliases if alias in traits and traits[alias][0] is not None), None)
        if found is None and field in ("timezone", "locale") and field in merged and merged[field][0] is not None:
            found = merged[field]
        if found is None:
            continue
        value, place = found
        if not isinstance(value, str):
            errors.append(FieldError(place, "expected a string"))
            continue
        contact[field] = value
        names[f"contact.{field}"] = place
    for key, (value, place) in traits.items():
        if key in used or value is None:
            continue
        contact[key] = value
        names[f"contact.{printable(key)}"] = place
    if contact:
        names["contact"] = _at(context_place, "traits") if kind == TRACK else _at(where, "traits")
    return contact
