"""Segment's track, identify and batch calls mapped onto the trigger event: the fields, the traits, the names
of event types and ids, the answers per message, and every error named by its place in Segment's names; any
message, however odd, is an event or one of the typed errors."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from automations.errors import FieldError
from automations.events import MAX_BATCH, MAX_DEPTH, EventValidationError, TriggerEvent
from automations.services.event_input import BadJsonError, Invalid, TooLargeError
from automations.services.ingest import EventResult
from automations.services.segment import (
    IDENTIFIED,
    Ignored,
    SegmentBodyError,
    checked,
    event_type,
    message_id,
    read_request,
)
from hypothesis import given, settings
from hypothesis import strategies as st

LIMIT = 64 * 1024


def track(**fields: Any) -> dict[str, Any]:
    return {"userId": "c_42", "event": "invoice.overdue", **fields}


def refused(message: dict[str, Any], kind: str = "track", **options: Any) -> list[FieldError]:
    with pytest.raises(EventValidationError) as raised:
        checked(message, kind, LIMIT, **options)  # type: ignore[arg-type]
    return raised.value.errors


def locs(errors: list[FieldError]) -> list[str]:
    return [e.loc for e in errors]


# --- track --------------------------------------------------------------------------------------------------


def test_a_track_call_maps_onto_the_trigger_event() -> None:
    message = {
        "type": "track",
        "messageId": "3f1c0e9a-8d4b-4e6f-9a2b-7c5d1e0f4a31",
        "userId": "c_42",
        "anonymousId": "anon_1",
        "event": "invoice.overdue",
        "properties": {"invoice": {"id": "inv_7", "total": 640}},
        "timestamp": "2026-11-23T10:00:00.120+01:00",
        "context": {
            "traits": {
                "email": "ana@example.com",
                "firstName": "Ana",
                "lastName": "Silva",
                "phone": "+351 1",
                "vip": True,
            },
            "locale": "pt-PT",
            "timezone": "Europe/Lisbon",
            "library": {"name": "analytics-python", "version": "2.4.0"},
        },
        "integrations": {"All": True},
    }
    event = checked(message, "track", LIMIT)
    assert event.normalized(datetime(2026, 11, 24, tzinfo=UTC)) == {
        "id": "3f1c0e9a-8d4b-4e6f-9a2b-7c5d1e0f4a31",
        "type": "invoice.overdue",
        "occurred_at": "2026-11-23T09:00:00.120000Z",
        "contact": {
            "id": "c_42",
            "email": "ana@example.com",
            "first_name": "Ana",
            "timezone": "Europe/Lisbon",
            "last_name": "Silva",
            "phone": "+351 1",
            "locale": "pt-PT",
            "vip": True,
        },
        "data": {"invoice": {"id": "inv_7", "total": 640}},
    }


def test_the_person_is_the_user_id_else_the_anonymous_id_and_numbers_are_text() -> None:
    assert (
        checked(track(userId=None, anonymousId="anon_1"), "track", LIMIT).contact
        == TriggerEvent.model_validate({"type": "x", "contact": {"id": "anon_1"}}).contact
    )
    contact = checked(track(userId=42), "track", LIMIT).contact
    assert contact is not None and contact.id == "42"
    contact = checked(track(userId="", anonymousId=7), "track", LIMIT).contact
    assert contact is not None and contact.id == "7"


def test_the_moment_is_the_first_timestamp_given() -> None:
    stamps = {
        "timestamp": "2026-01-01T00:00:00Z",
        "originalTimestamp": "2026-01-02T00:00:00Z",
        "sentAt": "2026-01-03T00:00:00Z",
        "receivedAt": "2026-01-04T00:00:00Z",
    }
    for skipped, expected in enumerate(["01", "02", "03", "04"]):
        given = dict(list(stamps.items())[skipped:])
        event = checked(track(**given), "track", LIMIT)
        assert event.occurred_at == datetime(2026, 1, int(expected), tzinfo=UTC)
    assert checked(track(timestamp=None, sentAt="2026-01-03T00:00:00Z"), "track", LIMIT).occurred_at is not None
    assert checked(track(), "track", LIMIT).occurred_at is None  # the arrival time, when stored


def test_trait_names_of_either_case_and_context_defaults() -> None:
    traits = {"first_name": "Ana", "firstName": "Anita", "lastName": "Silva", "timezone": "Europe/Paris", "id": "x"}
    context = {"traits": traits, "timezone": "Europe/Lisbon", "locale": "fr-FR"}
    contact = checked(track(context=context), "track", LIMIT).model_dump()["contact"]
    # snake_case wins over camelCase, the traits' time zone over the context's, the person over an ``id`` trait
    assert contact == {
        "id": "c_42",
        "email": None,
        "first_name": "Ana",
        "timezone": "Europe/Paris",
        "last_name": "Silva",
        "locale": "fr-FR",
    }
    # Traits without a value are left out
    contact = checked(track(context={"traits": {"email": None, "plan": None}}), "track", LIMIT).model_dump()["contact"]
    assert contact == {"id": "c_42", "email": None, "first_name": None, "timezone": None}


@pytest.mark.parametrize(
    ("name", "made"),
    [
        ("invoice.overdue", "invoice.overdue"),
        ("Checkout", "Checkout"),
        ("Order Completed", "order_completed"),
        ("  Signed Up!  ", "signed_up"),
        ("Commande passée", "commande_passee"),
        ("Product Added / Cart", "product_added_cart"),
        ("_private event", "private_event"),
        ("日本語", None),
        ("!!!", None),
        ("A" * 200 + " b", "a" * 128),
    ],
)
def test_an_event_name_is_kept_when_it_is_a_type_and_made_one_otherwise(name: str, made: str | None) -> None:
    assert event_type(name) == made


def test_a_track_call_of_a_segment_style_name_has_that_type() -> None:
    assert checked(track(event="Order Completed"), "track", LIMIT).type == "order_completed"


def test_a_message_id_is_kept_when_it_is_an_event_id_and_hashed_otherwise() -> None:
    assert message_id("ajs-next-1795514400000-3b5f0c2e") == "ajs-next-1795514400000-3b5f0c2e"
    assert message_id(123) == "123"
    hashed = message_id("an id / with spaces")
    assert hashed is not None and hashed.startswith("msg_") and len(hashed) == 44
    assert message_id("an id / with spaces") == hashed and message_id("another one") != hashed
    assert message_id("x" * 129) is not None and message_id("x" * 129) != "x" * 129
    assert [message_id(v) for v in (None, "", True, 1.5, {})] == [None] * 5
    assert checked(track(messageId="an id / with spaces"), "track", LIMIT).id == hashed


# --- identify -----------------------------------------------------------------------------------------------


def test_an_identify_call_is_contact_identified_with_the_traits() -> None:
    message = {
        "userId": "c_42",
        "traits": {"email": "ana@example.com", "first_name": "Ana", "locale": "pt-PT", "plan": "pro"},
        "context": {"traits": {"plan": "trial", "company": "Acme"}, "timezone": "Europe/Lisbon"},
        "event": "ignored here",
        "properties": {"ignored": True},
    }
    event = checked(message, "identify", LIMIT)
    assert (event.type, event.data) == (IDENTIFIED, {})
    assert event.model_dump()["contact"] == {
        "id": "c_42",
        "email": "ana@example.com",
        "first_name": "Ana",
        "timezone": "Europe/Lisbon",
        "locale": "pt-PT",
        "plan": "pro",
        "company": "Acme",
    }


# --- errors in Segment's names ------------------------------------------------------------------------------


def test_the_message_s_own_problems_are_named_all_at_once() -> None:
    errors = refused({"event": 3, "userId": [], "properties": "x", "context": 1, "timestamp": 5, "messageId": {}})
    assert locs(errors) == ["messageId", "event", "properties", "timestamp", "userId", "context"]
    assert locs(refused({})) == ["event", "userId"]
    assert checked({"userId": "c"}, "identify", LIMIT).type == IDENTIFIED  # an identify needs its person only
    assert locs(refused({"anonymousId": True}, "identify", where="batch[3]")) == ["batch[3].anonymousId"]
    assert locs(refused({"traits": 1}, "identify")) == ["userId", "traits"]


def test_the_event_s_errors_are_named_by_the_segment_field_they_came_from() -> None:
    assert locs(refused(track(timestamp="not a time"))) == ["timestamp"]
    assert locs(refused(track(timestamp=None, receivedAt="1900-01-01T00:00:00Z"))) == ["receivedAt"]
    assert locs(refused(track(userId="u" * 300))) == ["userId"]
    assert locs(refused(track(userId=None, anonymousId="a" * 300))) == ["anonymousId"]
    assert locs(refused(track(context={"traits": {"email": "nope", "firstName": "F" * 300}}))) == [
        "context.traits.email",
        "context.traits.firstName",
    ]
    assert locs(refused({"userId": "c", "traits": {"email": "nope"}}, "identify")) == ["traits.email"]
    assert locs(refused(track(context={"traits": {"phone": 351}}))) == ["context.traits.phone"]


def test_text_that_is_not_unicode_and_deep_nesting_are_named_in_segment_s_names() -> None:
    errors = refused(track(properties={"note": "bad \ud800"}, context={"traits": {"nick": "\udfff"}}))
    assert locs(errors) == ["properties.note", "context.traits.nick"]
    deep: Any = "x"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert locs(refused(track(properties={"deep": deep}))) == ["properties.deep" + "[0]" * (MAX_DEPTH - 2)]


def test_a_large_message_is_named_at_its_largest_field() -> None:
    with pytest.raises(TooLargeError) as raised:
        checked(track(properties={"notes": "x" * LIMIT}), "track", LIMIT)
    assert locs(raised.value.errors) == ["properties.notes"]
    with pytest.raises(TooLargeError) as raised:
        checked({"userId": "c", "traits": {"bio": "x" * LIMIT}}, "identify", LIMIT, where="batch[1]")
    assert locs(raised.value.errors) == ["batch[1].traits.bio"]


# --- requests -----------------------------------------------------------------------------------------------


def test_a_batch_is_answered_message_by_message() -> None:
    body = {
        "batch": [
            {"type": "track", "messageId": "m1", **track()},
            {"type": "identify", "userId": "c_42", "traits": {"email": "bad"}, "messageId": "m2"},
            {"type": "page", "messageId": "m3", "name": "Home"},
            {"type": "screen"},
            {"type": "purchase", "messageId": "m5"},
            7,
        ],
        "context": {"traits": {"email": "shared@example.com"}, "timezone": "Europe/Lisbon"},
        "sentAt": "2026-11-24T10:00:00Z",
        "writeKey": "never read",
    }
    request = read_request(json.dumps(body), "batch", LIMIT)
    first, second, page, screen, purchase, seven = request.entries
    assert isinstance(first, TriggerEvent) and first.contact is not None
    assert (first.contact.email, first.contact.timezone) == ("shared@example.com", "Europe/Lisbon")
    assert isinstance(second, Invalid) and second.id == "m2"
    assert locs(second.errors) == ["batch[1].traits.email"]
    assert page == Ignored("page", "m3") and screen == Ignored("screen")
    assert isinstance(purchase, Invalid) and locs(purchase.errors) == ["batch[4].type"]
    assert isinstance(seven, Invalid) and locs(seven.errors) == ["batch[5]"]
    # The ingest takes the events and the invalid ones; the answers put the ignored ones back in their place
    assert len(request.request_events.entries) == 4
    results = [
        EventResult("m1", "accepted", ["run_1"]),
        EventResult("m2", "invalid", errors=second.errors),
        EventResult("", "invalid", errors=purchase.errors),
        EventResult("", "invalid", errors=seven.errors),
    ]
    answers = request.answers(results)
    assert [a["status"] for a in answers] == ["accepted", "invalid", "ignored", "ignored", "invalid", "invalid"]
    assert answers[0] == {"id": "m1", "status": "accepted", "runs": ["run_1"], "type": "invoice.overdue"}
    assert answers[2] == {"id": "m3", "status": "ignored", "reason": "page calls start no automation"}


def test_an_error_of_the_batch_s_shared_context_is_named_there() -> None:
    body = {"batch": [{"type": "track", **track()}], "context": {"traits": {"email": "nope"}}}
    [entry] = read_request(json.dumps(body), "batch", LIMIT).entries
    assert isinstance(entry, Invalid) and locs(entry.errors) == ["context.traits.email"]


@pytest.mark.parametrize(
    ("raw", "route", "error"),
    [
        ("", "track", BadJsonError),
        ("  ", "batch", BadJsonError),
        ("{", "track", BadJsonError),
        ("[]", "identify", SegmentBodyError),
        ("null", "batch", SegmentBodyError),
        ('{"batch": "x"}', "batch", SegmentBodyError),
        ('{"batch": []}', "batch", SegmentBodyError),
        (json.dumps({"batch": [{}] * (MAX_BATCH + 1)}), "batch", SegmentBodyError),
        ('{"batch": [{}], "context": []}', "batch", SegmentBodyError),
        ("{}", "track", EventValidationError),
        (json.dumps(track(properties={"x": "y" * LIMIT})), "track", TooLargeError),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_with_a_typed_error(raw: str, route: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_request(raw, route, LIMIT)  # type: ignore[arg-type]


def test_a_batch_s_traits_may_nest_as_deep_as_a_contact_s_fields() -> None:
    # In a batch, a trait sits one level deeper in the body than a contact's field in {"events": [...]}: the
    # nesting the limit allows is kept, and one level more is refused, never cut off unseen
    def body(levels: int) -> str:
        deep = "[" * levels + "]" * levels
        message = json.dumps({"type": "identify", "userId": "c", "traits": {"deep": "X"}})
        return json.dumps({"batch": [json.loads(message.replace('"X"', deep))]})

    [kept] = read_request(body(MAX_DEPTH - 2), "batch", LIMIT).entries
    assert isinstance(kept, TriggerEvent)
    [refused_entry] = read_request(body(MAX_DEPTH - 1), "batch", LIMIT).entries
    assert isinstance(refused_entry, Invalid)
    assert refused_entry.errors[0].loc.startswith("batch[0].traits.deep")


# --- any message --------------------------------------------------------------------------------------------

#: Text, with now and then what is not valid Unicode.
TEXT = st.text(st.characters(codec=None, categories=["L", "N", "P", "Zs", "Cs"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)
NAMES = st.sampled_from(["Order Completed", "invoice.overdue", "", "  ", "é", "x" * 130])
PEOPLE = st.one_of(st.sampled_from(["c_42", "", "u" * 300]), st.integers(), JSON)
STAMPS = st.one_of(st.sampled_from(["2026-11-24T10:00:00Z", "1066-10-14T00:00:00Z", "yesterday"]), JSON)
TRAITS = st.dictionaries(
    st.sampled_from(["email", "firstName", "first_name", "last_name", "phone", "timezone", "locale", "id"]) | TEXT,
    st.sampled_from(["ana@example.com", "not an address", "Ana"]) | JSON,
    max_size=5,
)
CONTEXT = st.fixed_dictionaries(
    {}, optional={"traits": TRAITS | JSON, "locale": st.just("pt-PT") | JSON, "timezone": JSON}
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "alias", "other"]) | JSON,
        "messageId": st.sampled_from(["m1", "an id / with spaces"]) | JSON,
        "userId": PEOPLE,
        "anonymousId": PEOPLE,
        "event": NAMES | JSON,
        "properties": st.dictionaries(TEXT, JSON, max_size=4) | JSON,
        "traits": TRAITS | JSON,
        "context": CONTEXT | JSON,
        "timestamp": STAMPS,
        "originalTimestamp": STAMPS,
        "sentAt": STAMPS,
        "receivedAt": STAMPS,
    },
)
#: Messages of the right shape, holding anything: most are events, some hold what no event may.
SHAPED = st.fixed_dictionaries(
    {"userId": st.sampled_from(["c_42", "anon 1", "ü"]), "event": st.sampled_from(["Order Completed", "a.b", "Ça"])},
    optional={
        "messageId": st.sampled_from(["m1", "an id / with spaces"]) | TEXT,
        "properties": st.dictionaries(TEXT, JSON, max_size=4),
        "traits": st.dictionaries(TEXT, JSON, max_size=4),
        "context": st.fixed_dictionaries(
            {}, optional={"traits": st.dictionaries(TEXT, JSON, max_size=4), "locale": TEXT, "timezone": TEXT}
        ),
        "timestamp": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    },
)
#: The Segment places an error may name: never a field of the trigger event (``contact``, ``data``...).
SEGMENT_PLACES = (
    "messageId",
    "userId",
    "anonymousId",
    "event",
    "properties",
    "traits",
    "context",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
)


def _named_in_segment_s_names(errors: list[FieldError], where: str = "") -> None:
    for error in errors:
        loc = error.loc
        if where:
            if loc.startswith("context"):  # the batch's shared context
                continue
            assert loc == where or loc.startswith(where + "."), loc
            loc = loc[len(where) + 1 :]
            if loc in ("", "type"):
                continue
        if loc == "":  # the whole message (its size): no one place of it
            continue
        assert loc.split(".")[0].split("[")[0] in SEGMENT_PLACES, error


@settings(max_examples=400)
@given(message=MESSAGE, kind=st.sampled_from(["track", "identify"]))
def test_any_message_is_an_event_or_a_typed_error_in_segment_s_names(message: dict[str, Any], kind: str) -> None:
    try:
        event = checked(message, kind, 2048)  # type: ignore[arg-type]
    except (EventValidationError, TooLargeError) as exc:
        assert exc.errors
        _named_in_segment_s_names(exc.errors)
    else:
        assert isinstance(event, TriggerEvent)
        json.dumps(event.normalized(datetime(2026, 11, 24, tzinfo=UTC)), default=str)


@settings(max_examples=300)
@given(message=SHAPED, kind=st.sampled_from(["track", "identify"]))
def test_a_message_of_the_right_shape_holding_anything_is_an_event_or_named_where_it_fails(
    message: dict[str, Any], kind: str
) -> None:
    try:
        event = checked(message, kind, 1024)  # type: ignore[arg-type]
    except (EventValidationError, TooLargeError) as exc:
        _named_in_segment_s_names(exc.errors)
    else:
        assert event.contact is not None and event.contact.id == message["userId"]
        assert event.data == (message.get("properties", {}) if kind == "track" else {})


@settings(max_examples=200)
@given(messages=st.lists(MESSAGE | SHAPED | JSON, min_size=1, max_size=4), shared=st.none() | CONTEXT)
def test_any_batch_is_answered_per_message(messages: list[Any], shared: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"batch": messages}
    if shared is not None:
        body["context"] = shared
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    request = read_request(raw, "batch", 2048)
    assert len(request.entries) == len(messages)
    for index, entry in enumerate(request.entries):
        if isinstance(entry, Invalid):
            assert entry.errors
            _named_in_segment_s_names(entry.errors, f"batch[{index}]")


@settings(max_examples=200)
@given(raw=st.binary(max_size=64) | TEXT | JSON.map(json.dumps), route=st.sampled_from(["track", "identify", "batch"]))
def test_any_body_is_read_or_refused_with_a_typed_error(raw: str | bytes, route: str) -> None:
    with contextlib.suppress(BadJsonError, SegmentBodyError, EventValidationError, TooLargeError):
        read_request(raw, route, LIMIT)  # type: ignore[arg-type]
