"""One bad event never blocks the others: a batch with one poison event of each kind, and good ones around.

Every kind of input that once crashed a request (moments past the edges of time, text that is not Unicode,
JSON nested too deep, an event over the size limit) and every kind of automation that once broke its event
type (a template that breaks its bounds at render, a delay until a moment it cannot use) sits in one batch;
each poison is answered or ended on its own, and every good event is stored and processed.
"""

from __future__ import annotations

import json
from typing import Any

from automations.adapters.dynamodb.tables import EventItem
from automations.engine import RunStatus
from automations.services import lifecycle

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.flows import activate, definition, sample

INGEST = load_handler("ingest_trigger")


def good(event_id: str, **fields: Any) -> dict[str, Any]:
    return sample("booking-approved", event_id, **fields)


def test_a_batch_with_one_poison_of_each_kind_processes_every_other_event(stack: Stack) -> None:
    # Given the booking confirmation, a copy whose greeting breaks its bounds when rendered, and an
    # automation that waits until a moment taken from the event
    activate(stack, "booking-approved")
    broken_html = "<p>{{ (contact.first_name * 1000000000) | length }}</p>"
    changed = definition("booking-approved", id="booking-approved-broken", name="Broken greeting")
    changed["steps"][0]["send_email"]["html"] = broken_html
    lifecycle.create(stack.deps, changed, stack.clock.now())
    activate(stack, "session-reminder")
    # When one batch carries good events and one poison of each kind
    events: list[str] = [
        json.dumps(good("evt_good_1")),
        json.dumps(good("evt_late", occurred_at="9999-12-31T23:59:59-05:00")),
        json.dumps(good("evt_early", occurred_at="0001-01-01T00:00:00+05:00")),
        json.dumps(good("evt_good_2")),
        json.dumps(good("evt_surrogate")).replace('"c_42"', '"\\ud800x"'),
        json.dumps({**good("evt_deep"), "data": {"x": json.loads("[" * 40 + "]" * 40)}}),
        json.dumps({**good("evt_huge"), "data": {"blob": "x" * (stack.settings.max_event_bytes + 10)}}),
        json.dumps(sample("session-reminder", "evt_zero_time", data__session__starts_at="0001-01-01T00:00:00Z")),
        json.dumps(good("evt_good_3")),
    ]
    request = load_event("apigw_post_event.json")
    request["body"] = '{"events": [' + ",".join(events) + "]}"
    response = INGEST.handler(request, LambdaContextStub())
    # Then the request is answered 202, every event on its own and in order
    assert response["statusCode"] == 202, response
    answers = json.loads(response["body"])["events"]
    assert [a["status"] for a in answers] == [
        "accepted",
        "invalid",
        "invalid",
        "accepted",
        "invalid",
        "invalid",
        "invalid",
        "accepted",
        "accepted",
    ]
    places = [a["errors"][0]["loc"] for a in answers if a["status"] == "invalid"]
    assert places[0] == "events[1].occurred_at" and places[1] == "events[2].occurred_at"
    assert places[2].startswith("events[4].contact")
    assert places[3].startswith("events[5].data")
    assert places[4].startswith("events[6].data")
    # And every good event was stored and processed; no poison was stored
    stored = {item.body["id"]: item.status for item in EventItem.scan()}
    assert stored == {
        "evt_good_1": "processed",
        "evt_good_2": "processed",
        "evt_zero_time": "processed",
        "evt_good_3": "processed",
    }
    # And each good booking started both automations: the confirmation was queued, the broken greeting
    # failed only its own email, with the reason on its run
    queued = stack.queued_emails()
    confirmations = [e for e in queued if e["automation_id"] == "booking-approved"]
    assert len(confirmations) == 3
    for answer in (answers[0], answers[3], answers[8]):
        assert len(answer["runs"]) == 2
        for run_id in answer["runs"]:
            state = stack.deps.runs.get(run_id).state
            if state.automation_id == "booking-approved-broken":
                failures = [d for d in state.log if d.kind == "email_failed"]
                assert failures and "template failed to render" in failures[0].reason
    # And the reminder whose moment cannot be used ended skipped, with the reason
    [reminder] = answers[7]["runs"]
    state = stack.deps.runs.get(reminder).state
    assert state.status is RunStatus.SKIPPED
    assert state.end_reason
