"""EventBridge Scheduler under moto: the one-time schedules of delays and of ``after_silence`` countdowns.

Events come in through the real ingest_trigger handler (API Gateway), and schedules are fired by invoking
evaluate_step with the Input stored on them, as the scheduler does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import yaml
from automations.engine import RunState
from automations.services import lifecycle

from tests.conftest import EXAMPLES, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")
EVALUATE = load_handler("evaluate_step")


# --- helpers ------------------------------------------------------------------------------------------------


def post(event: dict[str, Any]) -> dict[str, Any]:
    """POST one event to /v1/events through API Gateway; its answer (``status``, ``runs``)."""
    request = load_event("apigw_post_event.json")
    request["body"] = json.dumps(event)
    response = INGEST.handler(request, LambdaContextStub())
    assert response["statusCode"] == 202, response
    answer: dict[str, Any] = json.loads(response["body"])["events"][0]
    return answer


def fire(payload: dict[str, Any]) -> dict[str, Any]:
    """The scheduler invoking evaluate_step with a schedule's stored Input."""
    result: dict[str, Any] = EVALUATE.handler(payload, LambdaContextStub())
    return result


def check_in(stack: Stack, event_id: str, day: int, **fields: Any) -> dict[str, Any]:
    """Ana (or whoever ``fields`` say) checks in ``day`` days after the start; the clock moves there."""
    stack.clock.offset = timedelta(days=day)
    occurred = (stack.clock.now()).isoformat().replace("+00:00", "Z")
    return post(sample("we-miss-you", event_id, occurred_at=occurred, **fields))


def runs_of(stack: Stack, automation_id: str) -> list[RunState]:
    return list(stack.deps.runs.by_automation(automation_id))


# --- schedules of delays ------------------------------------------------------------------------------------


def test_a_delay_creates_one_one_time_schedule_that_calls_evaluate_step(stack: Stack) -> None:
    # Given the overdue-invoice reminder
    activate(stack, "overdue-invoice-reminder")
    # When an overdue invoice arrives
    [run_id] = post(sample("overdue-invoice-reminder", "evt_sched"))["runs"]
    # Then one schedule in the stack's group calls evaluate_step once, three days later, in UTC
    [schedule] = stack.schedules()
    assert schedule["Name"] == f"run-{run_id}-step-1"
    assert schedule["GroupName"] == stack.settings.schedule_group
    assert schedule["ScheduleExpression"] == "at(2026-11-27T10:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["State"] == "ENABLED"
    # And its target is evaluate_step, with retries and the dead-letter queue, and the run's position as input
    target = schedule["Target"]
    assert target["Arn"] == stack.settings.evaluate_step_arn
    assert target["RoleArn"] == stack.settings.scheduler_role_arn
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert target["DeadLetterConfig"] == {"Arn": stack.settings.scheduler_dlq_arn}
    assert schedule["Input"] == {
        "kind": "step",
        "workspace": "default",
        "run": run_id,
        "step": "step-1",
        "due_at": "2026-11-27T10:00:00+00:00",
    }


def test_a_due_time_between_seconds_is_rounded_up_so_the_schedule_never_fires_early(stack: Stack) -> None:
    # Given a run started a quarter of a second past the full second
    activate(stack, "overdue-invoice-reminder")
    stack.clock.offset = timedelta(milliseconds=250)
    [run_id] = post(sample("overdue-invoice-reminder", "evt_millis"))["runs"]
    # Then its schedule is at the next full second
    [schedule] = stack.schedules()
    assert schedule["ScheduleExpression"] == "at(2026-11-27T10:00:01)"
    # When it fires at exactly that second
    stack.clock.offset = timedelta(days=3, seconds=1)
    out = fire(schedule["Input"])
    # Then the run goes on (it is not "too early")
    assert out["status"] == "advanced"
    assert stack.deps.runs.get(run_id).state.status.value == "completed"


def test_a_long_step_id_still_gets_a_valid_schedule_name(stack: Stack) -> None:
    # Given an automation whose delay step has an 80-character id
    long_id = "wait-for-the-client-to-settle-the-invoice-before-sending-a-reminder-about-it-0001"[:80]
    steps = yaml.safe_load((EXAMPLES / "overdue-invoice-reminder.yaml").read_text())["steps"]
    steps[0] = {"id": long_id, "delay": "3d"}
    activate(stack, "overdue-invoice-reminder", steps=steps)
    # When a run waits on it
    post(sample("overdue-invoice-reminder", "evt_long"))
    # Then the schedule's name fits the scheduler's 64 characters, and firing it continues the run
    [schedule] = stack.schedules()
    assert len(schedule["Name"]) <= 64
    assert schedule["Input"]["step"] == long_id
    stack.clock.offset = timedelta(days=3)
    assert fire(schedule["Input"])["run_status"] == "completed"
    assert len(stack.queued_emails()) == 1


# --- after_silence countdowns -------------------------------------------------------------------------------


def test_after_silence_keeps_one_countdown_per_person_that_each_new_event_restarts(stack: Stack) -> None:
    # Given "we miss you": thirty days after a client's last check-in
    activate(stack, "we-miss-you")
    # When Ana checks in today
    first = check_in(stack, "evt_ci_1", day=0)
    # Then no run starts; one countdown schedule waits thirty days
    assert first["runs"] == []
    [countdown] = stack.schedules()
    assert countdown["Name"] == "silence-default-we-miss-you-c_42"
    assert countdown["ScheduleExpression"] == "at(2026-12-24T10:00:00)"
    assert countdown["Input"] == {
        "kind": "silence",
        "workspace": "default",
        "automation": "we-miss-you",
        "version": 1,
        "person": "c_42",
        "event": "evt_ci_1",
        "due_at": "2026-12-24T10:00:00+00:00",
    }
    stale = countdown["Input"]
    # When she checks in again five days later
    check_in(stack, "evt_ci_2", day=5)
    # Then there is still one schedule for her, moved to thirty days after the newest check-in
    [countdown] = stack.schedules()
    assert countdown["ScheduleExpression"] == "at(2026-12-29T10:00:00)"
    assert countdown["Input"]["event"] == "evt_ci_2"
    latest = countdown["Input"]
    # When the first countdown's payload fires anyway (thirty days after the first check-in)
    stack.clock.offset = timedelta(days=30)
    out = fire(stale)
    # Then it is a no-op: she was not silent for thirty days
    assert out["status"] == "noop" and out["reason"] == "a newer event restarted the countdown"
    assert runs_of(stack, "we-miss-you") == [] and stack.queued_emails() == []
    # When the latest fires, thirty days after her last check-in
    stack.clock.offset = timedelta(days=35)
    out = fire(latest)
    # Then a run starts with her last check-in, saying why, and the email is queued
    assert out == {"status": "advanced", "reason": "run started", "run_status": "completed"}
    [run] = runs_of(stack, "we-miss-you")
    assert run.log[0].reason == "no client.checked_in for 30d"
    assert run.context["event"]["id"] == "evt_ci_2"
    [email] = stack.queued_emails()
    assert email["subject"] == "We miss you, Ana" and email["recipients"] == ["ana@example.com"]
    assert email["type"] == "promotional" and email["unsubscribe"] is True
    assert email["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    # And a second delivery of the same schedule starts nothing more
    assert fire(latest)["status"] == "noop"
    assert len(runs_of(stack, "we-miss-you")) == 1 and stack.queued_emails() == []


def test_after_silence_a_late_older_event_does_not_shorten_the_countdown(stack: Stack) -> None:
    # Given Ana's countdown restarted by a check-in on day 5
    activate(stack, "we-miss-you")
    check_in(stack, "evt_ci_1", day=0)
    check_in(stack, "evt_ci_5", day=5)
    # When a check-in from day 2, delayed on its way, arrives on day 6
    stack.clock.offset = timedelta(days=6)
    answer = post(sample("we-miss-you", "evt_ci_2_late", occurred_at="2026-11-26T10:00:00Z"))
    # Then it is accepted, but the countdown still runs from her last check-in (day 5)
    assert answer["status"] == "accepted"
    [countdown] = stack.schedules()
    assert countdown["ScheduleExpression"] == "at(2026-12-29T10:00:00)"
    assert countdown["Input"]["event"] == "evt_ci_5"
    # And nothing happens on day 32, thirty days after the late event
    stack.clock.offset = timedelta(days=32)
    assert fire({**countdown["Input"], "event": "evt_ci_2_late"})["status"] == "noop"
    assert runs_of(stack, "we-miss-you") == []


def test_after_silence_counts_each_person_apart_and_stops_when_deactivated(stack: Stack) -> None:
    # Given Ana and Rui checking in on the same day
    activate(stack, "we-miss-you")
    check_in(stack, "evt_ana", day=0)
    check_in(stack, "evt_rui", day=0, contact__id="c_43", contact__email="rui@example.com")
    # Then each has a countdown of their own
    schedules = {s["Input"]["person"]: s for s in stack.schedules()}
    assert set(schedules) == {"c_42", "c_43"}
    # When the automation is deactivated, and Ana's countdown fires thirty days later
    lifecycle.deactivate(stack.deps, "we-miss-you", stack.clock.now())
    stack.clock.offset = timedelta(days=30)
    out = fire(schedules["c_42"]["Input"])
    # Then nothing starts
    assert out["status"] == "noop" and out["reason"] == "automation inactive"
    assert runs_of(stack, "we-miss-you") == [] and stack.queued_emails() == []


def test_after_silence_people_whose_ids_differ_only_in_punctuation_keep_apart_countdowns(stack: Stack) -> None:
    # Given "we miss you" keyed by email address, and two clients whose addresses differ by one sign
    activate(stack, "we-miss-you", person="contact.email")
    check_in(stack, "evt_plus", day=0, contact__email="ana+yoga@example.com")
    check_in(stack, "evt_minus", day=1, contact__email="ana-yoga@example.com")
    # Then each keeps a countdown of their own, under names the scheduler accepts
    schedules = {s["Input"]["person"]: s for s in stack.schedules()}
    assert set(schedules) == {"ana+yoga@example.com", "ana-yoga@example.com"}
    assert all(len(s["Name"]) <= 64 for s in schedules.values())
    # When the first one's countdown is over
    stack.clock.offset = timedelta(days=30)
    out = fire(schedules["ana+yoga@example.com"]["Input"])
    # Then her email goes out
    assert out["status"] == "advanced"
    [email] = stack.queued_emails()
    assert email["recipients"] == ["ana+yoga@example.com"]


def test_after_silence_ignores_an_event_older_than_the_silence(stack: Stack) -> None:
    # Given "we miss you"
    activate(stack, "we-miss-you")
    # When a check-in from forty days ago arrives (a backfill)
    answer = post(sample("we-miss-you", "evt_old", occurred_at="2026-10-15T10:00:00Z"))
    # Then it is stored, but starts no countdown: its silence is already over
    assert {key: answer[key] for key in ("id", "status", "runs")} == {"id": "evt_old", "status": "accepted", "runs": []}
    assert [skip["automation"] for skip in answer["skipped"]] == ["we-miss-you"]
    assert stack.schedules() == []
