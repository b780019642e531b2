"""ingest_trigger under moto: bodies as API Gateway delivers them (base64, bytes that are not UTF-8, deep
JSON), and moments at the edges of time, each answered with a 4xx naming the place or handled in the run.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from automations.adapters.dynamodb.tables import EventItem
from automations.events import MAX_DEPTH
from automations.services.ingest import process

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")


def send(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = INGEST.handler(request, LambdaContextStub())
    return int(response["statusCode"]), json.loads(response["body"])


def post_raw(body: bytes | str, *, encoded: bool = False) -> tuple[int, dict[str, Any]]:
    """POST /v1/events with this exact body; ``encoded``: as API Gateway passes a binary body (base64)."""
    request = load_event("apigw_post_event.json")
    if encoded:
        raw = body.encode() if isinstance(body, str) else body
        request.update(body=base64.b64encode(raw).decode("ascii"), isBase64Encoded=True)
    else:
        request["body"] = body
    return send(request)


def stored() -> set[str]:
    return {item.body["id"] for item in EventItem.scan()}


def nested(levels: int) -> str:
    """JSON arrays nested ``levels`` deep: ``[[[...]]]``."""
    return "[" * levels + "]" * levels


# --- base64 bodies ------------------------------------------------------------------------------------------


def test_the_event_sam_generates_for_api_gateway_with_a_base64_body_is_accepted(stack: Stack) -> None:
    # Given the overdue-invoice reminder, active
    activate(stack, "overdue-invoice-reminder")
    # When the event `sam local generate-event apigateway aws-proxy` makes (base64 body, no content type)
    request = load_event("apigw_post_event_base64.json")
    assert request["isBase64Encoded"] is True
    status, answer = send(request)
    # Then it is read as JSON, accepted, and starts a run
    assert status == 202, answer
    [event] = answer["events"]
    assert event["id"] == "evt_01JD5QW3V8XK2P" and event["status"] == "accepted" and len(event["runs"]) == 1
    assert stored() == {"evt_01JD5QW3V8XK2P"}


def test_a_body_the_local_server_passes_as_octet_stream_is_accepted(stack: Stack) -> None:
    # Given the overdue-invoice reminder, and a body sent as application/octet-stream (base64 in the event)
    activate(stack, "overdue-invoice-reminder")
    request = load_event("apigw_post_event_octet_stream.json")
    assert request["isBase64Encoded"] is True
    assert request["multiValueHeaders"]["content-type"] == ["application/octet-stream"]
    # When it is posted
    status, answer = send(request)
    # Then it is accepted like a JSON body
    assert status == 202, answer
    assert [(e["id"], e["status"]) for e in answer["events"]] == [("evt_01JD5QW3V8XK2Q", "accepted")]


def test_base64_bodies_get_the_same_answers_as_plain_ones(stack: Stack) -> None:
    # A batch, encoded
    batch = {"events": [sample("quote-accepted", "evt_q1"), sample("quote-accepted", "evt_q2")]}
    status, answer = post_raw(json.dumps(batch), encoded=True)
    assert status == 202 and [e["status"] for e in answer["events"]] == ["accepted", "accepted"]
    # Not JSON, encoded: 400
    status, answer = post_raw("{not json", encoded=True)
    assert status == 400 and "JSON" in answer["message"]
    # Marked base64 but not base64: 400
    request = load_event("apigw_post_event.json")
    request["isBase64Encoded"] = True
    request["body"] = "{not base64}"
    status, answer = send(request)
    assert status == 400 and "base64" in answer["message"]


# --- text that is not Unicode -------------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_in_a_value_are_a_422_naming_the_field(stack: Stack) -> None:
    # Given an event whose contact id holds a byte that is not UTF-8 (a Latin-1 "é")
    raw = json.dumps(sample("quote-accepted", "evt_latin1", contact__id="JOSE")).encode()
    raw = raw.replace(b'"JOSE"', b'"JOS\xc9"')
    # When it is posted (API Gateway passes such a body as base64)
    status, answer = post_raw(raw, encoded=True)
    # Then 422, naming the field
    assert status == 422, answer
    assert [e["loc"] for e in answer["errors"]] == ["contact.id"]
    assert "Unicode" in answer["errors"][0]["message"]
    assert stored() == set()


def test_a_lone_surrogate_escape_is_a_422_naming_the_field_even_in_a_field_name(stack: Stack) -> None:
    # Given the JSON escapes of unpaired surrogates, in a value and in a field name
    event = json.dumps(sample("quote-accepted", "evt_s1", contact__id="PLACEHOLDER"))
    status, answer = post_raw(event.replace("PLACEHOLDER", "\\ud800x"))
    assert status == 422 and [e["loc"] for e in answer["errors"]] == ["contact.id"]
    status, answer = post_raw(event.replace('"PLACEHOLDER"', '"ok", "\\udc00key": 1'))
    assert status == 422
    # Then the place is named with the surrogate escaped, and the answer is valid UTF-8 JSON
    assert [e["loc"] for e in answer["errors"]] == ["contact.\\udc00key"]
    # And in a batch, only that event is refused
    good = sample("quote-accepted", "evt_s2")
    batch = '{"events": [' + event.replace("PLACEHOLDER", "\\udfff") + ", " + json.dumps(good) + "]}"
    status, answer = post_raw(batch)
    assert status == 202
    assert [(e["id"], e["status"]) for e in answer["events"]] == [("evt_s1", "invalid"), ("evt_s2", "accepted")]
    assert [e["loc"] for e in answer["events"][0]["errors"]] == ["events[0].contact.id"]
    assert stored() == {"evt_s2"}


# --- nesting ------------------------------------------------------------------------------------------------


def _deep_event(event_id: str, levels: int) -> str:
    """An event whose ``data.deep`` nests arrays ``levels`` deep (as text: too deep for json.dumps)."""
    event = json.dumps(sample("quote-accepted", event_id, data__deep="PLACEHOLDER"))
    return event.replace('"PLACEHOLDER"', nested(levels))


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, 10_000], ids=["just-over", "ten-thousand"])
def test_json_nested_too_deep_is_a_422_naming_the_field(stack: Stack, levels: int) -> None:
    # Given an event whose data.deep nests arrays so deep that the event passes the limit
    # (the event object is level 1, data level 2, data.deep level 3)
    status, answer = post_raw(_deep_event("evt_deep", levels))
    # Then 422, naming the place where the limit is passed
    assert status == 422, answer
    [error] = answer["errors"]
    assert error["loc"] == "data.deep" + "[0]" * (MAX_DEPTH - 2)
    assert error["message"] == f"nested deeper than {MAX_DEPTH} levels"
    assert stored() == set()


def test_json_nested_up_to_the_limit_is_accepted(stack: Stack) -> None:
    status, answer = post_raw(_deep_event("evt_deep_ok", MAX_DEPTH - 2))
    assert status == 202, answer
    assert stored() == {"evt_deep_ok"}


def test_a_deep_event_in_a_batch_is_refused_alone(stack: Stack) -> None:
    batch = '{"events": [' + _deep_event("evt_deep", 10_000) + ", " + json.dumps(sample("quote-accepted", "ok")) + "]}"
    status, answer = post_raw(batch)
    assert status == 202
    [deep, good] = answer["events"]
    assert deep["id"] == "evt_deep" and deep["status"] == "invalid"
    assert [e["loc"] for e in deep["errors"]] == ["events[0].data.deep" + "[0]" * (MAX_DEPTH - 2)]
    assert good["status"] == "accepted"
    assert stored() == {"ok"}


@pytest.mark.parametrize(
    "body",
    [nested(10_000), "[" * 10_000, '{"a":' * 10_000, '{"type": "x", "data": ' + "[" * 10_000 + "}"],
    ids=["arrays", "unclosed", "objects", "unclosed-in-event"],
)
def test_a_deep_body_that_is_not_one_readable_event_is_a_4xx(stack: Stack, body: str) -> None:
    status, answer = post_raw(body)
    assert status in (400, 422), answer
    assert answer["message"]
    assert stored() == set()


# --- moments at the edges of time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "reason"),
    [
        ("0001-01-01T00:00:00Z", "the offset takes it out of the range of dates"),
        ("9999-12-31T23:59:59Z", "a delay cannot wait beyond 2200"),
        ("2201-01-02T00:00:00Z", "a delay cannot wait beyond 2200"),
        ("not a time", "not a timestamp"),
    ],
)
def test_a_delay_until_a_moment_it_cannot_use_ends_the_run_as_skipped(
    stack: Stack, starts_at: str, reason: str
) -> None:
    # Given the session reminder (a day before data.session.starts_at)
    activate(stack, "session-reminder")
    # When a session is booked with a start the delay cannot use (a day before year 1 does not exist)
    status, answer = post_raw(json.dumps(sample("session-reminder", "evt_edge", data__session__starts_at=starts_at)))
    # Then the event is accepted, and its run ends skipped with the reason on its timeline
    assert status == 202, answer
    [run_id] = answer["events"][0]["runs"]
    run = stack.deps.runs.get(run_id).state
    assert run.status.value == "skipped"
    assert reason in (run.end_reason or "")
    assert run.log[-1].kind == "finished" and reason in run.log[-1].reason
    assert stack.schedules() == []


def test_a_countdown_is_not_started_for_an_event_stored_with_a_year_9999(stack: Stack) -> None:
    # Given an after_silence automation, and an event from before intake refused such times
    activate(stack, "we-miss-you")
    event = sample("we-miss-you", "evt_far", occurred_at="9999-12-31T23:59:59Z")
    routes = stack.deps.automations.routes_for(event["type"])
    # When it is processed
    assert process(stack.deps, event, routes, stack.clock.now()) == []
    # Then no countdown is scheduled, and nothing crashed
    assert stack.schedules() == []
    # And the same event over HTTP is refused at intake
    status, answer = post_raw(json.dumps(event))
    assert status == 422 and [e["loc"] for e in answer["errors"]] == ["occurred_at"]


def test_occurred_at_at_the_edges_of_the_accepted_range(stack: Stack) -> None:
    first = sample("quote-accepted", "evt_1970", occurred_at="1970-01-01T00:00:00Z")
    last = sample("quote-accepted", "evt_2200", occurred_at="2200-12-31T23:59:59+00:00")
    offset = sample("quote-accepted", "evt_offset", occurred_at="2201-01-01T00:59:59+01:00")
    status, answer = post_raw(json.dumps({"events": [first, last, offset]}))
    assert status == 202
    assert [e["status"] for e in answer["events"]] == ["accepted"] * 3
    assert {item.body["id"]: item.body["occurred_at"] for item in EventItem.scan()} == {
        "evt_1970": "1970-01-01T00:00:00Z",
        "evt_2200": "2200-12-31T23:59:59Z",
        "evt_offset": "2200-12-31T23:59:59Z",
    }
