"""ingest_trigger under moto: events from API Gateway and EventBridge are stored once and start runs.

Every test drives the real handler with AWS-shaped events (``tests/events/``) built on the realistic
example automations and their sample events, then looks at what a user of the product can see: the HTTP
answer, the stored events, the runs and their timelines, the schedules and the queued emails.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from automations.adapters.dynamodb import stats
from automations.adapters.dynamodb.tables import EventItem
from automations.engine import RunState
from botocore.exceptions import EndpointConnectionError

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import sent_messages, sqs_event, verify_sender
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")
EVALUATE = load_handler("evaluate_step")
SEND = load_handler("send_email")


# --- helpers ------------------------------------------------------------------------------------------------


def post(body: Any, *, raw: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST /v1/events through API Gateway (REST proxy event): the status code and the parsed body."""
    request = load_event("apigw_post_event.json")
    request["body"] = raw if raw is not None else json.dumps(body)
    response = INGEST.handler(request, LambdaContextStub())
    return int(response["statusCode"]), json.loads(response["body"])


def eventbridge(event: dict[str, Any], *, envelope_id: str = "6a7e8feb-b491-4cf7-a9f1-bf3703467718") -> dict[str, Any]:
    """The EventBridge form of a trigger event: ``detail-type`` is its type, ``detail`` the rest."""
    record = load_event("eventbridge_trigger.json")
    record["id"] = envelope_id
    record["detail-type"] = event["type"]
    record["detail"] = {k: v for k, v in event.items() if k != "type"}
    return record


def from_bus(record: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = INGEST.handler(record, LambdaContextStub())
    return result


def stored_events() -> dict[str, EventItem]:
    return {item.body["id"]: item for item in EventItem.scan()}


def event_count() -> int:
    return sum(1 for _ in EventItem.scan())


def runs_of(stack: Stack, automation_id: str) -> list[RunState]:
    return list(stack.deps.runs.by_automation(automation_id))


def counters(stack: Stack, automation_id: str) -> dict[str, int]:
    return stats.read(stack.settings.workspace, automation_id)["-"]


def fire(payload: dict[str, Any]) -> dict[str, Any]:
    """The scheduler invoking evaluate_step with a schedule's stored Input."""
    result: dict[str, Any] = EVALUATE.handler(payload, LambdaContextStub())
    return result


# --- the whole flow -----------------------------------------------------------------------------------------


def test_api_gateway_event_is_stored_and_starts_a_run_that_waits_on_a_schedule(stack: Stack) -> None:
    # Given the overdue-invoice reminder, active
    activate(stack, "overdue-invoice-reminder")
    # When the app posts an overdue invoice (the sample API Gateway event)
    response = INGEST.handler(load_event("apigw_post_event.json"), LambdaContextStub())
    # Then it is accepted with the run it started
    assert response["statusCode"] == 202
    [answer] = json.loads(response["body"])["events"]
    assert answer["id"] == "evt_01JD5QW3V8XK2M" and answer["status"] == "accepted"
    [run_id] = answer["runs"]
    # And the event is stored as received, marked processed with its run
    stored = stored_events()["evt_01JD5QW3V8XK2M"]
    assert stored.type == "invoice.overdue" and stored.status == "processed" and stored.runs == [run_id]
    assert stored.body["occurred_at"] == "2026-11-23T10:00:00Z"
    assert stored.body["contact"]["email"] == "ana@example.com"
    # And the run waits on its first step, three days after it started, with a timeline that says why
    run = stack.deps.runs.get(run_id).state
    assert run.status.value == "waiting" and run.position == "step-1" and run.person == "c_42"
    assert run.run_key == "inv_7" and run.version == 1
    assert [(d.kind, d.reason) for d in run.log] == [
        ("started", "matched trigger"),
        ("wait", "waiting until 2026-11-27T10:00:00+00:00"),
    ]
    assert run.log[0].details["event_id"] == "evt_01JD5QW3V8XK2M"
    # And one schedule calls evaluate_step back then; nothing is queued yet
    [schedule] = stack.schedules()
    assert schedule["Input"] == {
        "kind": "step",
        "workspace": "default",
        "run": run_id,
        "step": "step-1",
        "due_at": "2026-11-27T10:00:00+00:00",
    }
    assert stack.queued_emails() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_started"] == 1


def test_eventbridge_event_goes_from_the_bus_to_a_queued_email(stack: Stack) -> None:
    # Given the overdue-invoice reminder, active
    activate(stack, "overdue-invoice-reminder")
    # When the billing app puts an overdue invoice on the bus (the sample EventBridge event)
    result = from_bus(load_event("eventbridge_trigger.json"))
    # Then it is accepted: the type comes from detail-type, the time from the envelope
    assert result["id"] == "evt_01JD5QW3V8XK2N" and result["status"] == "accepted"
    [run_id] = result["runs"]
    stored = stored_events()["evt_01JD5QW3V8XK2N"]
    assert stored.type == "invoice.overdue" and stored.status == "processed"
    assert stored.body["occurred_at"] == "2026-11-23T10:00:00Z"
    [schedule] = stack.schedules()
    # When the delay is over and the scheduler calls evaluate_step with the schedule's input
    stack.clock.offset = timedelta(days=3)
    out = fire(schedule["Input"])
    # Then the small invoice took the ELSE path: a friendly reminder to the client alone
    assert out == {"status": "advanced", "reason": "delay over", "run_status": "completed"}
    [email] = stack.queued_emails()
    assert email["recipients"] == ["rui@example.com"]
    assert email["subject"] == "A friendly reminder about invoice 2026-118"
    assert email["run_id"] == run_id and email["step"] == "reminder" and email["type"] == "transactional"
    # And the run's timeline explains every decision
    run = stack.deps.runs.get(run_id).state
    assert [d.kind for d in run.log] == ["started", "wait", "resumed", "branch", "email", "finished"]
    branch = run.log[3]
    assert branch.step == "still-unpaid" and branch.reason == "condition did not hold: took else"
    assert run.end_reason == "reached the end of the automation"


def test_event_without_an_id_gets_one_and_defaults_to_arrival_time(stack: Stack) -> None:
    # Given an event with neither id nor occurred_at
    event = sample("booking-approved", "unused")
    del event["id"], event["occurred_at"]
    # When it is posted
    status, body = post(event)
    # Then it gets a generated id and is stored with the arrival time
    assert status == 202
    [answer] = body["events"]
    assert answer["id"].startswith("evt_") and answer["status"] == "accepted"
    stored = stored_events()[answer["id"]]
    assert stored.body["occurred_at"] == "2026-11-24T10:00:00Z"


def test_event_that_matches_nothing_is_still_stored(stack: Stack) -> None:
    # Given an automation listening to another event type, and one whose filter will not match
    activate(stack, "overdue-invoice-reminder")
    activate(stack, "no-show-follow-up")
    # When an event of an unknown type arrives, and a no-show for a service outside the filter
    _, unknown = post(sample("quote-accepted", "evt_nobody_listens"))
    _, filtered = post(sample("no-show-follow-up", "evt_massage_no_show", data__service__id="svc-massage"))
    # Then both are accepted with no runs, and both are stored
    assert unknown["events"] == [{"id": "evt_nobody_listens", "status": "accepted", "runs": []}]
    skipped = [{"automation": "no-show-follow-up", "reason": "filtered out by trigger.where"}]
    assert filtered["events"] == [{"id": "evt_massage_no_show", "status": "accepted", "runs": [], "skipped": skipped}]
    stored = stored_events()
    assert set(stored) == {"evt_nobody_listens", "evt_massage_no_show"}
    assert stored["evt_nobody_listens"].status == "processed" and stored["evt_nobody_listens"].type == "quote.accepted"
    assert stored["evt_massage_no_show"].status == "processed" and not stored["evt_massage_no_show"].runs
    # And the filtered one is counted as such, with no run and no schedule
    assert counters(stack, "no-show-follow-up")["skipped_filter"] == 1
    assert runs_of(stack, "no-show-follow-up") == [] and stack.schedules() == []


def test_a_batch_is_answered_event_by_event_in_order(stack: Stack) -> None:
    # Given the overdue-invoice reminder and the booking confirmation, active
    activate(stack, "overdue-invoice-reminder")
    activate(stack, "booking-approved")
    batch = {
        "events": [
            sample("overdue-invoice-reminder", "evt_b1"),
            sample("quote-accepted", "evt_b2"),
            sample("booking-approved", "evt_b3", contact__id="c_43", contact__email="rui@example.com"),
        ]
    }
    # When the three are posted in one request
    status, body = post(batch)
    # Then each has its own answer, in order
    assert status == 202
    assert [(a["id"], a["status"], len(a["runs"])) for a in body["events"]] == [
        ("evt_b1", "accepted", 1),
        ("evt_b2", "accepted", 0),
        ("evt_b3", "accepted", 1),
    ]
    # And all three are stored; the overdue invoice waits, the confirmation went out at once
    assert set(stored_events()) == {"evt_b1", "evt_b2", "evt_b3"}
    assert len(stack.schedules()) == 1
    [email] = stack.queued_emails()
    assert email["recipients"] == ["rui@example.com"]
    assert email["subject"] == "Your booking for Sports massage is confirmed"
    assert stack.deps.runs.get(body["events"][2]["runs"][0]).state.status.value == "completed"


# --- duplicates ---------------------------------------------------------------------------------------------


def test_same_event_id_posted_twice_is_a_duplicate_that_creates_nothing(stack: Stack) -> None:
    # Given an overdue invoice accepted once
    activate(stack, "overdue-invoice-reminder")
    event = sample("overdue-invoice-reminder", "evt_twice")
    _, first = post(event)
    # When the app retries it (even with a changed body)
    event["data"]["invoice"]["total"] = 9999
    status, second = post(event)
    # Then the second answer is "duplicate", naming the run of the first
    assert status == 202
    assert second["events"] == [{"id": "evt_twice", "status": "duplicate", "runs": first["events"][0]["runs"]}]
    # And there is still one event (as first stored), one run and one schedule
    assert stored_events()["evt_twice"].body["data"]["invoice"]["total"] == 640
    assert len(runs_of(stack, "overdue-invoice-reminder")) == 1
    assert len(stack.schedules()) == 1
    assert counters(stack, "overdue-invoice-reminder")["runs_started"] == 1


def test_eventbridge_redelivery_is_a_duplicate(stack: Stack) -> None:
    # Given a bus event processed once
    activate(stack, "overdue-invoice-reminder")
    first = from_bus(load_event("eventbridge_trigger.json"))
    # When EventBridge delivers it again
    second = from_bus(load_event("eventbridge_trigger.json"))
    # Then nothing new is created
    assert second == {"id": "evt_01JD5QW3V8XK2N", "status": "duplicate", "runs": first["runs"]}
    # Given a bus event whose detail has no id of its own (another invoice)
    record = load_event("eventbridge_trigger.json")
    record["id"] = "0f3c5d2e-1b7a-4e9f-8c6d-5a4b3c2d1e0f"
    del record["detail"]["id"]
    record["detail"]["data"]["invoice"]["id"] = "inv_9"
    # When it is delivered, then redelivered by EventBridge's retry
    third = from_bus(record)
    fourth = from_bus(copy.deepcopy(record))
    # Then the envelope id is its id, and the redelivery creates nothing new either
    assert third["id"] == record["id"] and third["status"] == "accepted" and len(third["runs"]) == 1
    assert fourth == {"id": record["id"], "status": "duplicate", "runs": third["runs"]}
    assert set(stored_events()) == {"evt_01JD5QW3V8XK2N", record["id"]}
    assert len(runs_of(stack, "overdue-invoice-reminder")) == 2
    assert len(stack.schedules()) == 2


def test_a_batch_mixing_a_known_and_a_new_event_stores_only_the_new_one(stack: Stack) -> None:
    # Given one overdue invoice accepted before
    activate(stack, "overdue-invoice-reminder")
    known = sample("overdue-invoice-reminder", "evt_known")
    _, first = post(known)
    # When a batch repeats it next to a new one for another invoice
    fresh = sample("overdue-invoice-reminder", "evt_fresh", data__invoice__id="inv_9")
    _, body = post({"events": [known, fresh]})
    # Then the known one is a duplicate and the new one is accepted with its own run
    [dupe, new] = body["events"]
    assert dupe == {"id": "evt_known", "status": "duplicate", "runs": first["events"][0]["runs"]}
    assert new["status"] == "accepted" and len(new["runs"]) == 1
    assert set(stored_events()) == {"evt_known", "evt_fresh"}
    assert len(runs_of(stack, "overdue-invoice-reminder")) == 2


def test_a_retry_after_a_crash_before_the_email_was_queued_still_queues_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the booking confirmation (an email at once), and an email queue that fails once
    activate(stack, "booking-approved")
    real_send = stack.deps.email_queue.send
    failures = [EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com")]

    def flaky_send(requests: Any) -> None:
        if failures:
            raise failures.pop()
        real_send(requests)

    monkeypatch.setattr(stack.deps.email_queue, "send", flaky_send)
    event = sample("booking-approved", "evt_crash")
    # When the first delivery fails after the run was stored (a 500 naming the request; the app retries)
    status, body = post(event)
    assert status == 500 and body == {"message": "internal error", "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}
    # (the run's creation stored the event processed, before its email was to be queued)
    assert stored_events()["evt_crash"].status == "processed"
    assert stack.queued_emails() == []
    status, body = post(event)
    # Then the retry finishes the job: the same run, and its email queued
    assert status == 202
    [answer] = body["events"]
    assert answer["status"] == "duplicate" and len(answer["runs"]) == 1
    [email] = stack.queued_emails()
    assert email["run_id"] == answer["runs"][0]
    assert email["subject"] == "Your booking for Sports massage is confirmed"
    assert len(runs_of(stack, "booking-approved")) == 1
    # And a further retry queues the same message again (at least once), which the sender sends once
    assert post(event)[1]["events"] == [answer]
    assert stack.queued_emails() == [email]
    verify_sender()
    for body in (email, email):
        assert SEND.handler(sqs_event(body), LambdaContextStub()) == {"batchItemFailures": []}
    assert [message["Subject"] for message in sent_messages()] == [email["subject"]]


# --- frequency, run_key, nth --------------------------------------------------------------------------------


@pytest.mark.parametrize("together", [False, True], ids=["two-requests", "one-batch"])
def test_once_per_person_lets_only_the_first_of_two_racing_events_start_a_run(stack: Stack, together: bool) -> None:
    # Given the lead welcome, once per person
    activate(stack, "new-lead-welcome")
    first = sample("new-lead-welcome", "evt_lead_web")
    second = sample("new-lead-welcome", "evt_lead_phone", data__lead__source="phone")
    # When two lead.created events for the same person arrive close together, with different ids
    # (moto serialises the requests, so the race is played as back-to-back deliveries: the second
    # one meets the first one's conditional frequency lock, as it would on DynamoDB)
    if together:
        _, body = post({"events": [first, second]})
        answers = body["events"]
    else:
        answers = [post(first)[1]["events"][0], post(second)[1]["events"][0]]
    # Then exactly one run started, both events were accepted and stored
    assert [a["status"] for a in answers] == ["accepted", "accepted"]
    assert len(answers[0]["runs"]) == 1 and answers[1]["runs"] == []
    assert len(runs_of(stack, "new-lead-welcome")) == 1
    assert set(stored_events()) == {"evt_lead_web", "evt_lead_phone"}
    # And the second is counted as skipped by frequency; only one welcome went out
    numbers = counters(stack, "new-lead-welcome")
    assert numbers["runs_started"] == 1 and numbers["skipped_frequency"] == 1
    assert len(stack.queued_emails()) == 1


def test_once_per_person_every_window_allows_a_new_run_after_the_window(stack: Stack) -> None:
    # Given the lead welcome limited to once a day per person
    activate(stack, "new-lead-welcome", frequency={"once_per_person_every": "1d"})
    # When the same person arrives three times: now, 23 hours later and 25 hours later
    started = []
    for hours, event_id in [(0, "evt_w1"), (23, "evt_w2"), (25, "evt_w3")]:
        stack.clock.offset = timedelta(hours=hours)
        started.append(post(sample("new-lead-welcome", event_id))[1]["events"][0]["runs"])
    # Then the first and the third started a run, the second fell inside the window
    assert [len(runs) for runs in started] == [1, 0, 1]
    assert counters(stack, "new-lead-welcome")["skipped_frequency"] == 1
    # And another person is never limited by Ana's window
    stack.clock.offset = timedelta(hours=25, minutes=1)
    _, other = post(sample("new-lead-welcome", "evt_w4", contact__id="c_43"))
    assert len(other["events"][0]["runs"]) == 1


def test_run_key_allows_one_active_run_per_key(stack: Stack) -> None:
    # Given an overdue reminder waiting for invoice inv_7
    activate(stack, "overdue-invoice-reminder")
    _, first = post(sample("overdue-invoice-reminder", "evt_rk1"))
    [run_id] = first["events"][0]["runs"]
    # When the app reports the same invoice overdue again (another event id) while the run waits
    stack.clock.offset = timedelta(days=1)
    _, second = post(sample("overdue-invoice-reminder", "evt_rk2", data__invoice__days_overdue=8))
    # Then no second run starts; the event is stored and counted as skipped by run key
    [answer] = second["events"]
    assert (answer["id"], answer["status"], answer["runs"]) == ("evt_rk2", "accepted", [])
    assert answer["skipped"] == [
        {"automation": "overdue-invoice-reminder", "reason": "run_key busy: a run of key inv_7 is in flight"}
    ]
    assert [r.id for r in runs_of(stack, "overdue-invoice-reminder")] == [run_id]
    assert len(stack.schedules()) == 1
    assert counters(stack, "overdue-invoice-reminder")["skipped_run_key"] == 1
    # And another invoice of the same person has its own run
    _, other = post(sample("overdue-invoice-reminder", "evt_rk3", data__invoice__id="inv_9"))
    assert len(other["events"][0]["runs"]) == 1
    # When the first run ends (its reminder goes out), the key is free again
    stack.clock.offset = timedelta(days=3)
    [schedule] = [s for s in stack.schedules() if s["Input"]["run"] == run_id]
    assert fire(schedule["Input"])["run_status"] == "completed"
    _, again = post(sample("overdue-invoice-reminder", "evt_rk4"))
    assert len(again["events"][0]["runs"]) == 1


def test_nth_starts_a_run_on_the_tenth_event_only_and_duplicates_do_not_count(stack: Stack) -> None:
    # Given the 10th check-in reward
    activate(stack, "tenth-checkin-reward")
    # When Ana checks in nine times, and two of those deliveries are repeated
    for n in range(1, 10):
        stack.clock.offset = timedelta(days=n)
        _, body = post(sample("tenth-checkin-reward", f"evt_checkin_{n}"))
        assert body["events"][0]["runs"] == []
    assert post(sample("tenth-checkin-reward", "evt_checkin_9"))[1]["events"][0]["status"] == "duplicate"
    assert post(sample("tenth-checkin-reward", "evt_checkin_4"))[1]["events"][0]["status"] == "duplicate"
    # Then no run has started yet, and another person's check-ins count apart
    assert runs_of(stack, "tenth-checkin-reward") == []
    _, rui = post(sample("tenth-checkin-reward", "evt_rui_1", contact__id="c_43"))
    assert rui["events"][0]["runs"] == []
    # When the tenth check-in arrives
    _, tenth = post(sample("tenth-checkin-reward", "evt_checkin_10"))
    # Then it, and only it, starts a run that sends the reward
    [run_id] = tenth["events"][0]["runs"]
    run = stack.deps.runs.get(run_id).state
    assert run.log[0].reason == "the person's event number 10 of type client.checked_in"
    [email] = stack.queued_emails()
    assert email["subject"] == "Ten visits! A gift for you, Ana"
    # And the eleventh does not
    _, eleventh = post(sample("tenth-checkin-reward", "evt_checkin_11"))
    assert eleventh["events"][0]["runs"] == []
    assert len(runs_of(stack, "tenth-checkin-reward")) == 1


# --- bad input ----------------------------------------------------------------------------------------------


def _overdue(event_id: str, **fields: Any) -> dict[str, Any]:
    return sample("overdue-invoice-reminder", event_id, **fields)


def _batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}


BAD_BODIES = [
    pytest.param(_overdue("evt_x", type="Invoice Overdue!"), ["type"], id="bad-type"),
    pytest.param({k: v for k, v in _overdue("evt_x").items() if k != "type"}, ["type"], id="missing-type"),
    pytest.param(_overdue("evt_x", colour="red"), ["colour"], id="unknown-field"),
    pytest.param(_overdue("evt x!"), ["id"], id="bad-id"),
    pytest.param(_overdue("evt_x", contact__email="not-an-address"), ["contact.email"], id="bad-email"),
    pytest.param(_overdue("evt_x", data=["not", "an", "object"]), ["data"], id="data-not-object"),
    pytest.param(_overdue("evt_x", occurred_at="9999-12-31T23:59:59-05:00"), ["occurred_at"], id="year-9999"),
    pytest.param(_overdue("evt_x", occurred_at="0001-01-01T00:00:00+05:00"), ["occurred_at"], id="year-1"),
    pytest.param(_overdue("evt_x", occurred_at="1969-12-31T23:59:59Z"), ["occurred_at"], id="before-1970"),
    pytest.param(_overdue("evt_x", occurred_at="2201-01-01T00:00:00Z"), ["occurred_at"], id="after-2200"),
    pytest.param(_overdue("evt_x", contact__id="\ud800x"), ["contact.id"], id="lone-surrogate"),
    pytest.param(_overdue("evt_x", data__invoice__note="ok \udfff"), ["data.invoice.note"], id="lone-low-surrogate"),
    pytest.param(_batch(), ["events"], id="batch-empty"),
    pytest.param({"events": "not a list"}, ["events"], id="batch-not-a-list"),
    pytest.param(_batch(*[_overdue(f"evt_{i}") for i in range(101)]), ["events"], id="batch-over-100"),
    pytest.param({"events": [_overdue("evt_1")], "extra": 1}, ["extra"], id="batch-unknown-key"),
    pytest.param(["not", "an", "object"], [""], id="not-an-object"),
]


def test_invalid_events_are_answered_422_naming_each_wrong_field_and_nothing_is_stored(stack: Stack) -> None:
    # Given an active automation that would match the valid events
    activate(stack, "overdue-invoice-reminder")
    for case in BAD_BODIES:
        body, locations = case.values
        # When a request with a wrong field is posted
        status, answer = post(body)
        # Then it is refused with 422 and every wrong place is named, with a message
        assert status == 422, (case.id, answer)
        assert answer["message"] == "invalid event"
        assert [e["loc"] for e in answer["errors"]] == locations, case.id
        assert all(e["message"] for e in answer["errors"]), case.id
    # And nothing of any of those requests was stored or started
    assert stored_events() == {}
    assert runs_of(stack, "overdue-invoice-reminder") == [] and stack.schedules() == []


def test_a_batch_answers_each_event_and_an_invalid_one_does_not_block_the_others(stack: Stack) -> None:
    # Given an active automation and a batch of eleven events, three of them wrong in different ways
    activate(stack, "overdue-invoice-reminder")
    events: list[Any] = [_overdue(f"evt_{i}", data__invoice__id=f"inv_{i}") for i in range(11)]
    events[3]["occurred_at"] = "9999-12-31T23:59:59-05:00"
    events[7] = {"type": "Invoice Overdue!", "contact": {"id": "\ud800x"}, "colour": "red"}
    events[9] = ["not", "an", "event"]
    # When it is posted
    status, answer = post({"events": events})
    # Then every event is answered in order: the good ones accepted with their runs
    assert status == 202
    answers = answer["events"]
    invalid = {3, 7, 9}
    assert [a["status"] for a in answers] == ["invalid" if i in invalid else "accepted" for i in range(11)]
    assert all(len(a["runs"]) == 1 for i, a in enumerate(answers) if i not in invalid)
    # And each invalid one carries its errors (with their place in the request) and its id when it has one
    assert answers[3] == {
        "id": "evt_3",
        "status": "invalid",
        "errors": [
            {"loc": "events[3].occurred_at", "message": "must be between 1970-01-01T00:00:00Z and 2200-12-31T23:59:59Z"}
        ],
    }
    assert "id" not in answers[7] and "runs" not in answers[7]
    assert sorted(e["loc"] for e in answers[7]["errors"]) == [
        "events[7].colour",
        "events[7].contact.id",
        "events[7].type",
    ]
    assert [e["loc"] for e in answers[9]["errors"]] == ["events[9]"]
    # And only the good ones were stored, each with its run
    assert set(stored_events()) == {f"evt_{i}" for i in range(11) if i not in invalid}
    assert len(runs_of(stack, "overdue-invoice-reminder")) == 8
    # When the app fixes the wrong time and posts the valid ones again
    events[3]["occurred_at"] = "2026-11-23T10:00:00Z"
    _, again = post({"events": [e for i, e in enumerate(events) if i not in (7, 9)]})
    # Then the ones already stored are duplicates, and the fixed one is accepted
    assert [a["status"] for a in again["events"]] == ["duplicate"] * 3 + ["accepted"] + ["duplicate"] * 5
    assert event_count() == 9


def test_a_batch_repeating_an_id_answers_the_repeat_as_a_duplicate(stack: Stack) -> None:
    # Given an active automation
    activate(stack, "overdue-invoice-reminder")
    # When a batch holds the same event id twice (the second with another body)
    first = _overdue("evt_same")
    second = _overdue("evt_same", data__invoice__id="inv_9")
    status, answer = post({"events": [first, _overdue("evt_other", data__invoice__id="inv_8"), second]})
    # Then the first is accepted, and the repeat is its duplicate, naming the same run
    assert status == 202
    [one, other, repeat] = answer["events"]
    assert one["status"] == "accepted" and len(one["runs"]) == 1
    assert other["status"] == "accepted"
    assert repeat == {"id": "evt_same", "status": "duplicate", "runs": one["runs"]}
    # And the event is stored once, as first posted
    assert stored_events()["evt_same"].body["data"]["invoice"]["id"] == "inv_7"
    assert len(runs_of(stack, "overdue-invoice-reminder")) == 2


def test_a_batch_of_invalid_events_only_is_answered_event_by_event(stack: Stack) -> None:
    status, answer = post({"events": [_overdue("evt_1", type=""), _overdue("evt_2", occurred_at=7.5e99)]})
    assert status == 202
    assert [(a["id"], a["status"], [e["loc"] for e in a["errors"]]) for a in answer["events"]] == [
        ("evt_1", "invalid", ["events[0].type"]),
        ("evt_2", "invalid", ["events[1].occurred_at"]),
    ]
    assert event_count() == 0


def test_a_body_that_is_not_json_is_answered_400(stack: Stack) -> None:
    for raw in ["{not json", '{"type": "invoice.overdue",', "", "   "]:
        # When the body is not JSON (or empty)
        status, answer = post(None, raw=raw)
        # Then 400 with a message
        assert status == 400, raw
        assert answer["message"], raw
    # And nothing was stored
    assert event_count() == 0


def test_an_event_over_the_size_limit_is_answered_413_and_one_just_under_is_accepted(stack: Stack) -> None:
    # Given an event whose data alone is larger than the limit (64 KiB)
    limit = stack.settings.max_event_bytes
    assert limit == 64 * 1024
    big = _overdue("evt_big", data__notes="x" * limit)
    # When it is posted alone
    single_status, single = post(big)
    # Then 413, naming the field that makes it too large and the limit, and nothing stored
    assert single_status == 413
    assert single["message"] == "event too large"
    [error] = single["errors"]
    assert error["loc"] == "data.notes" and str(limit) in error["message"]
    assert event_count() == 0
    # When it is posted second in a batch
    batch_status, batch = post({"events": [_overdue("evt_small"), big]})
    # Then the small one is accepted and the big one is answered invalid, naming the field and the limit
    assert batch_status == 202
    [small, refused] = batch["events"]
    assert small["status"] == "accepted"
    assert refused["id"] == "evt_big" and refused["status"] == "invalid"
    assert [e["loc"] for e in refused["errors"]] == ["events[1].data.notes"]
    assert str(limit) in refused["errors"][0]["message"]
    assert set(stored_events()) == {"evt_small"}
    # When an event padded to exactly the limit (counted as compact JSON) is posted
    fits = _overdue("evt_fits", data__notes="")
    size = len(json.dumps(fits, separators=(",", ":")).encode())
    fits["data"]["notes"] = "x" * (limit - size)
    status, _ = post(fits)
    # Then it is accepted and stored
    assert status == 202
    assert set(stored_events()) == {"evt_small", "evt_fits"}


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        pytest.param(_overdue("x" * 1_000_000), "id", id="id"),
        pytest.param({**_overdue("evt_t"), "type": "t" * 1_000_000}, "type", id="type"),
        pytest.param(_overdue("evt_b", data__invoice__lines=["line " * 50] * 500), "data.invoice.lines", id="many"),
    ],
)
def test_a_413_names_the_largest_field(stack: Stack, event: dict[str, Any], loc: str) -> None:
    status, answer = post(event)
    assert status == 413
    assert [e["loc"] for e in answer["errors"]] == [loc]
    assert event_count() == 0


INVALID_BUS_EVENTS: list[tuple[str, Any, str]] = [
    ("bad-detail-type", lambda r: r.update({"detail-type": "Invoice Overdue!"}), "type"),
    ("detail-not-object", lambda r: r.update({"detail": "not an object"}), "detail"),
    ("bad-time", lambda r: r["detail"].update({"occurred_at": "soon"}), "occurred_at"),
    ("unknown-field", lambda r: r["detail"].update({"unknown": 1}), "unknown"),
    ("too-large", lambda r: r["detail"].update({"blob": "x" * 70_000}), "blob"),
    ("year-9999", lambda r: r["detail"].update({"occurred_at": "9999-12-31T23:59:59-05:00"}), "occurred_at"),
    ("lone-surrogate", lambda r: r["detail"]["contact"].update({"id": "\ud800x"}), "contact.id"),
]


def test_an_invalid_eventbridge_event_is_reported_invalid_and_nothing_is_stored(stack: Stack) -> None:
    # Given an active automation
    activate(stack, "overdue-invoice-reminder")
    for name, change, location in INVALID_BUS_EVENTS:
        # When EventBridge delivers an event that is wrong in one way
        record = load_event("eventbridge_trigger.json")
        change(record)
        result = from_bus(record)
        # Then the handler answers "invalid", naming the field (no retry could fix it)
        assert result["status"] == "invalid", name
        assert location in [e["loc"] for e in result["errors"]], name
    # And nothing was stored or started
    assert event_count() == 0
    assert runs_of(stack, "overdue-invoice-reminder") == []
