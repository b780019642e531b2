"""Reading trigger events from request bodies: nesting, text that is not Unicode, sizes, time ranges."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from automations.events import MAX_DEPTH, EventValidationError, TriggerEvent, parse_events
from automations.jsontext import cut_deep
from automations.language.loader import load_definition
from automations.services.event_input import (
    BadJsonError,
    Invalid,
    TooLargeError,
    event_from_eventbridge,
    events_from_body,
    largest_field,
    read_json,
)
from automations.services.preview import preview

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

LIMIT = 64 * 1024
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def event(**fields: object) -> dict[str, object]:
    return {"id": "evt_1", "type": "invoice.overdue", **fields}


def test_cut_deep_replaces_what_nests_too_deep_and_keeps_strings_whole() -> None:
    assert cut_deep("[[[1]]]", 2) == "[[null]]"
    assert cut_deep('{"a": "[[[[", "b": [[[2]]]}', 2) == '{"a": "[[[[", "b": [null]}'
    assert cut_deep('["\\"[[[", [[3]]]', 2) == '["\\"[[[", [null]]'
    shallow = "[[1], [2]]"
    assert cut_deep(shallow, 2) is shallow
    assert json.loads(cut_deep("[" * 100_000 + "]" * 100_000, 3)) == [[[None]]]


def test_read_json_refuses_what_is_not_json_even_when_deep() -> None:
    for raw in ("{not json", "[" * 10_000, b"\xff\xfe{"):
        with pytest.raises(BadJsonError):
            read_json(raw)
    assert read_json('\ufeff{"a": 1}') == {"a": 1}


def test_bytes_that_are_not_utf8_become_an_error_at_their_field() -> None:
    raw = json.dumps(event(contact={"id": "JOSE"})).encode().replace(b"JOSE", b"JOS\xc9")
    with pytest.raises(EventValidationError) as refused:
        events_from_body(raw, LIMIT)
    assert [e.loc for e in refused.value.errors] == ["contact.id"]


def test_nesting_is_limited_per_event_and_named() -> None:
    def deep(levels: int) -> str:
        return json.dumps(event(data={"deep": "X"})).replace('"X"', "[" * levels + "]" * levels)

    # the event is level 1, data level 2, data.deep level 3: it may hold MAX_DEPTH - 2 levels of arrays
    assert len(events_from_body(deep(MAX_DEPTH - 2), LIMIT).events) == 1
    with pytest.raises(EventValidationError) as refused:
        events_from_body(deep(MAX_DEPTH - 1), LIMIT)
    assert [e.loc for e in refused.value.errors] == ["data.deep" + "[0]" * (MAX_DEPTH - 2)]
    batch = '{"events": [' + deep(50_000) + "]}"
    [entry] = events_from_body(batch, LIMIT).entries
    assert isinstance(entry, Invalid) and entry.id == "evt_1"
    assert [e.loc for e in entry.errors] == ["events[0].data.deep" + "[0]" * (MAX_DEPTH - 2)]


def test_the_largest_field_is_followed_down_while_it_holds_most_of_the_event() -> None:
    assert largest_field(event(data={"a": {"blob": "x" * 1000}, "b": 1}))[0] == "data.a.blob"
    assert largest_field(event(data={f"k{i}": "x" * 20 for i in range(100)}))[0] == "data"
    assert largest_field(event(data={"rows": [1, "x" * 1000]}), "events[2]")[0] == "events[2].data.rows[1]"
    with pytest.raises(TooLargeError) as refused:
        events_from_body(json.dumps(event(data={"note": "x" * LIMIT})), LIMIT)
    assert [e.loc for e in refused.value.errors] == ["data.note"]


def test_an_eventbridge_event_too_large_names_its_largest_field() -> None:
    record = {"id": "e", "detail-type": "invoice.overdue", "detail": {"data": {"blob": "x" * LIMIT}}}
    with pytest.raises(TooLargeError) as refused:
        event_from_eventbridge(record, LIMIT)
    assert [e.loc for e in refused.value.errors] == ["data.blob"]


@pytest.mark.parametrize(
    ("moment", "ok"),
    [
        ("1970-01-01T00:00:00Z", True),
        ("1969-12-31T23:59:59Z", False),
        ("1970-01-01T00:59:59+01:00", False),
        ("2200-12-31T23:59:59Z", True),
        ("2201-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59-05:00", False),
        ("0001-01-01T00:00:00+05:00", False),
        ("2026-11-24T10:00:00", True),
    ],
)
def test_occurred_at_is_between_1970_and_2200(moment: str, ok: bool) -> None:
    if ok:
        [parsed] = parse_events(event(occurred_at=moment))
        assert isinstance(parsed, TriggerEvent)
        assert parsed.normalized(NOW)["occurred_at"].endswith("Z")
        return
    with pytest.raises(EventValidationError) as refused:
        parse_events(event(occurred_at=moment))
    assert [e.loc for e in refused.value.errors] == ["occurred_at"]


def test_parse_events_stays_all_or_nothing_for_a_batch() -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_events({"events": [event(), event(id="evt_2", occurred_at="9999-01-01T00:00:00Z")]})
    assert [e.loc for e in refused.value.errors] == ["events[1].occurred_at"]


@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"])
def test_a_preview_of_a_delay_until_a_moment_it_cannot_use_ends_skipped(starts_at: str) -> None:
    automation = load_definition((EXAMPLES / "session-reminder.yaml").read_text())
    sample = json.loads((EXAMPLE_EVENTS / "session-reminder.json").read_text())
    sample["data"]["session"]["starts_at"] = starts_at
    result = preview(automation, sample, NOW)
    assert result["outcome"]["status"] == "skipped"
    assert "delay.until field 'data.session.starts_at'" in result["outcome"]["reason"]
