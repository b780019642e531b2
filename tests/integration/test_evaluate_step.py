"""evaluate_step under moto: the scheduler calls a waiting run back, and the run goes on at most once.

Runs are started through the real ingest_trigger handler (API Gateway events built on the examples), and
evaluate_step is invoked with the Input stored on the run's schedule, as EventBridge Scheduler does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from automations.adapters.dynamodb import stats
from automations.engine import RunState
from automations.services import lifecycle

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.flows import activate, definition, sample

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


def start(stack: Stack, event: dict[str, Any]) -> str:
    """Post an event that starts exactly one run; the run's id."""
    [run_id] = post(event)["runs"]
    return str(run_id)


def fire(payload: dict[str, Any]) -> dict[str, Any]:
    """The scheduler invoking evaluate_step with a schedule's stored Input."""
    result: dict[str, Any] = EVALUATE.handler(payload, LambdaContextStub())
    return result


def schedule_of(stack: Stack, run_id: str) -> dict[str, Any]:
    [schedule] = [s for s in stack.schedules() if s["Input"].get("run") == run_id]
    return schedule


def run(stack: Stack, run_id: str) -> RunState:
    return stack.deps.runs.get(run_id).state


def counters(stack: Stack, automation_id: str) -> dict[str, int]:
    return stats.read(stack.settings.workspace, automation_id)["-"]


# --- at most once, never early ------------------------------------------------------------------------------


def test_a_schedule_fired_twice_advances_the_run_once(stack: Stack) -> None:
    # Given an overdue-invoice run waiting three days
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_twice"))
    payload = schedule_of(stack, run_id)["Input"]
    # When the scheduler delivers the call-back, then delivers it again
    stack.clock.offset = timedelta(days=3)
    first = fire(payload)
    stack.clock.offset = timedelta(days=3, minutes=2)
    second = fire(payload)
    # Then the first advanced the run to its end, the second did nothing
    assert first == {"status": "advanced", "reason": "delay over", "run_status": "completed"}
    assert second == {"status": "noop", "reason": "run already completed", "run_status": "completed"}
    # And only one email was queued: the VIP client's large invoice copies the owner
    [email] = stack.queued_emails()
    assert email["recipients"] == ["ana@example.com", "owner@acme.example"]
    assert email["step"] == "reminder-with-owner" and email["run_id"] == run_id
    # And the timeline tells every decision with its reason
    state = run(stack, run_id)
    assert [(d.kind, d.step, d.reason) for d in state.log] == [
        ("started", None, "matched trigger"),
        ("wait", "step-1", "waiting until 2026-11-27T10:00:00+00:00"),
        ("resumed", "step-1", "delay over"),
        ("branch", "still-unpaid", "condition held: took then"),
        ("email", "reminder-with-owner", "email requested"),
        ("finished", None, "reached the end of the automation"),
    ]
    assert state.log[3].details["checks"], "the branch keeps the checks it evaluated"
    assert counters(stack, "overdue-invoice-reminder")["runs_completed"] == 1


def test_a_schedule_fired_early_is_a_noop_and_the_run_still_waits(stack: Stack) -> None:
    # Given an overdue-invoice run waiting until 2026-11-27T10:00
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_early"))
    payload = schedule_of(stack, run_id)["Input"]
    # When the call-back arrives a minute before its time
    stack.clock.offset = timedelta(days=3) - timedelta(minutes=1)
    early = fire(payload)
    # Then nothing happens: no email, the run still waits on the same step and time
    assert early == {
        "status": "noop",
        "reason": "not due before 2026-11-27T10:00:00+00:00",
        "run_status": "waiting",
    }
    assert stack.queued_emails() == []
    state = run(stack, run_id)
    assert state.status.value == "waiting" and state.position == "step-1" and len(state.log) == 2
    # When it arrives on time, the run goes on
    stack.clock.offset = timedelta(days=3)
    assert fire(payload)["status"] == "advanced"
    assert len(stack.queued_emails()) == 1


def test_a_call_back_for_an_unknown_run_or_another_step_is_a_noop(stack: Stack) -> None:
    # Given a waiting run, and the sample scheduler payload naming a run that does not exist
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_other_step"))
    stack.clock.offset = timedelta(days=3)
    # When evaluate_step is invoked for the unknown run, and for a step the run does not wait on
    unknown = fire(load_event("scheduler_evaluate_step.json"))
    wrong_step = fire({**schedule_of(stack, run_id)["Input"], "step": "still-unpaid"})
    # Then both are no-ops that say why, and the run is untouched
    assert unknown["status"] == "noop" and unknown["reason"] == "run run_REPLACED_BY_TEST not found"
    assert wrong_step == {
        "status": "noop",
        "reason": "run waits on 'step-1', not 'still-unpaid'",
        "run_status": "waiting",
    }
    assert run(stack, run_id).status.value == "waiting"
    assert stack.queued_emails() == []


def test_scheduler_s_default_notification_is_answered_invalid_logged_and_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a waiting run
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_no_input"))
    stack.clock.offset = timedelta(days=3)
    capsys.readouterr()
    # When Scheduler invokes evaluate_step for a schedule without Input (its default notification)
    notification = load_event("scheduler_default_notification.json")
    answer = fire(notification)
    # Then it is answered invalid with the reason, not a traceback, and nothing changed
    assert answer["status"] == "invalid" and "without Input" in answer["reason"]
    assert set(answer) == {"status", "reason"}
    assert run(stack, run_id).status.value == "waiting"
    assert stack.queued_emails() == []
    # And one structured log line says why, naming the schedule
    [logged] = [r for r in caplog.records if r.getMessage() == "invalid schedule payload"]
    assert logged.levelname == "ERROR" and logged.reason == answer["reason"]  # type: ignore[attr-defined]
    assert logged.schedule == notification["resources"]  # type: ignore[attr-defined]
    # And the InvalidSchedulePayloads metric counts it
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m.get("InvalidSchedulePayloads") for m in emitted if "InvalidSchedulePayloads" in m] == [[1.0]]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"kind": "step", "workspace": "default", "step": "step-1", "due_at": "2026-11-27T10:00:00+00:00"}, "run"),
        ({"kind": "step", "workspace": "default", "run": "r", "step": "s", "due_at": "tomorrow"}, "due_at"),
        ({"kind": "silence", "workspace": "default", "automation": "we-miss-you", "due_at": "2026-11-27"}, "person"),
        ({"kind": "later", "run": "r"}, "unknown kind 'later'"),
        ({"run": "r", "step": "s"}, "no kind"),
        (["step"], "not an object"),
    ],
    ids=["step-without-run", "bad-due-at", "silence-without-person", "unknown-kind", "no-kind", "not-an-object"],
)
def test_a_payload_of_another_shape_is_answered_invalid(stack: Stack, payload: Any, expected: str) -> None:
    answer = fire(payload)
    assert answer["status"] == "invalid" and expected in answer["reason"], answer


# --- cancel_on ----------------------------------------------------------------------------------------------


def test_cancel_on_ends_the_waiting_run_of_that_key_and_deletes_its_schedule(stack: Stack) -> None:
    # Given overdue reminders waiting for two invoices of Ana, and the thank-you for paid invoices
    activate(stack, "overdue-invoice-reminder")
    activate(stack, "invoice-paid-thank-you")
    paid_run = start(stack, sample("overdue-invoice-reminder", "evt_overdue_7"))
    open_run = start(stack, sample("overdue-invoice-reminder", "evt_overdue_9", data__invoice__id="inv_9"))
    stale_payload = schedule_of(stack, paid_run)["Input"]
    # When invoice inv_7 is paid a day later
    stack.clock.offset = timedelta(days=1)
    paid = post(sample("invoice-paid-thank-you", "evt_paid_7"))
    # Then its waiting reminder ended, with the event named as the reason
    state = run(stack, paid_run)
    assert state.status.value == "cancelled"
    assert state.end_reason == "cancelled by invoice.paid (evt_paid_7)"
    assert state.log[-1].kind == "finished" and state.log[-1].reason == state.end_reason
    # And its schedule is gone; the other invoice's reminder still waits on its own
    assert [s["Input"]["run"] for s in stack.schedules()] == [open_run]
    assert run(stack, open_run).status.value == "waiting"
    # And the paid event started the thank-you, which went out at once
    assert len(paid["runs"]) == 1
    [thanks] = stack.queued_emails()
    assert thanks["subject"] == "Thank you for paying invoice 2026-117"
    # When the old schedule fires anyway (it was already on its way)
    stack.clock.offset = timedelta(days=3)
    late = fire(stale_payload)
    # Then it is a no-op: no reminder about a paid invoice
    assert late == {"status": "noop", "reason": "run already cancelled", "run_status": "cancelled"}
    assert stack.queued_emails() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_cancelled"] == 1


def test_cancel_on_for_a_key_without_a_waiting_run_changes_nothing(stack: Stack) -> None:
    # Given a reminder waiting for invoice inv_7
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_overdue"))
    # When another invoice is paid
    answer = post(sample("invoice-paid-thank-you", "evt_paid_other", data__invoice__id="inv_99"))
    # Then the event is accepted and the reminder still waits
    assert answer == {"id": "evt_paid_other", "status": "accepted", "runs": []}
    assert run(stack, run_id).status.value == "waiting"
    assert len(stack.schedules()) == 1


# --- delay until a moment -----------------------------------------------------------------------------------


def test_delay_until_a_future_moment_waits_until_one_day_before_the_session(stack: Stack) -> None:
    # Given the session reminder (one day before starts_at), and a session on 2026-11-30 at 18:30
    activate(stack, "session-reminder")
    run_id = start(stack, sample("session-reminder", "evt_booked"))
    # Then the run waits until 2026-11-29 18:30 on a schedule for exactly then
    schedule = schedule_of(stack, run_id)
    assert schedule["ScheduleExpression"] == "at(2026-11-29T18:30:00)"
    assert schedule["Input"]["due_at"] == "2026-11-29T18:30:00+00:00"
    # When the schedule fires then
    stack.clock.offset = timedelta(days=5, hours=8, minutes=30)
    assert fire(schedule["Input"])["run_status"] == "completed"
    # Then the reminder goes out
    [email] = stack.queued_emails()
    assert email["subject"] == "See you tomorrow: Vinyasa Flow"
    assert email["recipients"] == ["ana@example.com"]


def test_delay_until_a_moment_already_past_with_if_past_skip_skips_the_run(stack: Stack) -> None:
    # Given the session reminder (if_past: skip), and a session booked twelve hours before it starts
    activate(stack, "session-reminder")
    event = sample("session-reminder", "evt_late_booking", data__session__starts_at="2026-11-24T22:00:00Z")
    # When the booking arrives
    run_id = start(stack, event)
    # Then the run ends at once as skipped, with no schedule and no email
    state = run(stack, run_id)
    assert state.status.value == "skipped"
    assert state.end_reason == "moment 2026-11-23T22:00:00+00:00 already passed"
    assert [(d.kind, d.reason) for d in state.log] == [
        ("started", "matched trigger"),
        ("past", "moment already passed"),
        ("finished", "moment 2026-11-23T22:00:00+00:00 already passed"),
    ]
    assert state.log[1].details == {"due_at": "2026-11-23T22:00:00+00:00", "if_past": "skip"}
    assert stack.schedules() == [] and stack.queued_emails() == []
    # And the booking's run key is free again: a rebooking for a later date is reminded
    later = sample("session-reminder", "evt_rebooked", data__session__starts_at="2026-12-10T09:00:00Z")
    assert run(stack, start(stack, later)).status.value == "waiting"


def test_delay_until_a_moment_already_past_with_if_past_run_now_sends_at_once(stack: Stack) -> None:
    # Given a session reminder that, when booked late, reminds at once
    delay = {"until": "data.session.starts_at", "offset": "-1d", "if_past": "run_now"}
    steps = definition("session-reminder")["steps"]
    steps[0] = {"delay": delay}
    activate(stack, "session-reminder", id="session-reminder-now", steps=steps)
    # When a session starting in twelve hours is booked
    event = sample("session-reminder", "evt_late", data__session__starts_at="2026-11-24T22:00:00Z")
    run_id = start(stack, event)
    # Then the reminder is queued at once and the run completed, saying why it did not wait
    [email] = stack.queued_emails()
    assert email["subject"] == "See you tomorrow: Vinyasa Flow" and email["run_id"] == run_id
    state = run(stack, run_id)
    assert state.status.value == "completed"
    assert ("past", "moment already passed: running now") in [(d.kind, d.reason) for d in state.log]
    assert stack.schedules() == []


# --- deactivation, deletion, new versions -------------------------------------------------------------------


def test_deactivation_ends_waiting_runs_and_their_schedules(stack: Stack) -> None:
    # Given two reminders waiting
    activate(stack, "overdue-invoice-reminder")
    runs = [
        start(stack, sample("overdue-invoice-reminder", "evt_d1")),
        start(stack, sample("overdue-invoice-reminder", "evt_d2", data__invoice__id="inv_9")),
    ]
    payloads = [schedule_of(stack, r)["Input"] for r in runs]
    # When the operator deactivates the automation a day later
    stack.clock.offset = timedelta(days=1)
    lifecycle.deactivate(stack.deps, "overdue-invoice-reminder", stack.clock.now())
    # Then both runs ended with that reason, and their schedules are deleted
    for run_id in runs:
        state = run(stack, run_id)
        assert state.status.value == "cancelled" and state.end_reason == "automation deactivated"
        assert state.log[-1].reason == "automation deactivated"
    assert stack.schedules() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_cancelled"] == 2
    # When a stale schedule fires anyway
    stack.clock.offset = timedelta(days=3)
    assert fire(payloads[0]) == {"status": "noop", "reason": "run already cancelled", "run_status": "cancelled"}
    # Then no email is queued; and a new overdue invoice is stored but starts nothing
    assert stack.queued_emails() == []
    assert post(sample("overdue-invoice-reminder", "evt_d3", data__invoice__id="inv_10"))["runs"] == []


def test_a_call_back_after_a_deactivation_that_stopped_halfway_ends_the_run_with_its_reason(stack: Stack) -> None:
    # Given a waiting reminder, and an automation switched off (with a reason) before its runs were ended
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_half"))
    stack.deps.automations.set_status(
        "overdue-invoice-reminder", "inactive", stack.clock.now(), "automation deactivated"
    )
    # When the run's schedule fires
    stack.clock.offset = timedelta(days=3)
    out = fire(schedule_of(stack, run_id)["Input"])
    # Then the run ends before its next action, with the deactivation's reason, and nothing is sent
    assert out == {"status": "ended", "reason": "automation deactivated", "run_status": "cancelled"}
    assert run(stack, run_id).end_reason == "automation deactivated"
    assert stack.queued_emails() == []


def test_deletion_ends_waiting_runs_and_stale_schedules_do_nothing(stack: Stack) -> None:
    # Given a waiting reminder
    activate(stack, "overdue-invoice-reminder")
    run_id = start(stack, sample("overdue-invoice-reminder", "evt_del"))
    payload = schedule_of(stack, run_id)["Input"]
    # When the automation is deleted
    ended = lifecycle.delete(stack.deps, "overdue-invoice-reminder", stack.clock.now())
    # Then its run ended with that reason and the schedule is gone
    assert ended == 1
    state = run(stack, run_id)
    assert state.status.value == "cancelled" and state.end_reason == "automation deleted"
    assert stack.schedules() == []
    # When the stale schedule fires, nothing happens; a new event matches nothing
    stack.clock.offset = timedelta(days=3)
    assert fire(payload)["status"] == "noop"
    assert stack.queued_emails() == []
    assert post(sample("overdue-invoice-reminder", "evt_del2", data__invoice__id="inv_9"))["runs"] == []


def test_a_new_version_leaves_a_waiting_run_on_the_version_it_started_with(stack: Stack) -> None:
    # Given a reminder run waiting on version 1
    activate(stack, "overdue-invoice-reminder")
    old_run = start(stack, sample("overdue-invoice-reminder", "evt_v1"))
    # When the operator replaces the automation: one day, and another subject
    v2 = definition("overdue-invoice-reminder")
    v2["steps"][0] = {"delay": "1d"}
    v2["steps"][1]["then"][0]["send_email"]["subject"] = "Reminder (v2): invoice {{ data.invoice.number }}"
    summary = lifecycle.replace(stack.deps, "overdue-invoice-reminder", v2, stack.clock.now())
    assert summary.version == 2 and summary.status == "active"
    # And a new overdue invoice arrives afterwards
    new_run = start(stack, sample("overdue-invoice-reminder", "evt_v2", data__invoice__id="inv_9"))
    # Then the new run follows version 2 (one day), the old one still version 1 (three days)
    assert run(stack, new_run).version == 2
    assert run(stack, new_run).due_at is not None and str(run(stack, new_run).due_at).startswith("2026-11-25")
    stack.clock.offset = timedelta(days=1)
    fire(schedule_of(stack, new_run)["Input"])
    [new_email] = stack.queued_emails()
    assert new_email["subject"] == "Reminder (v2): invoice 2026-117" and new_email["version"] == 2
    # When the old run's schedule fires three days in
    stack.clock.offset = timedelta(days=3)
    assert fire(schedule_of(stack, old_run)["Input"])["status"] == "advanced"
    # Then it sent version 1's email
    [old_email] = stack.queued_emails()
    assert old_email["subject"] == "Invoice 2026-117 is overdue" and old_email["version"] == 1
    assert run(stack, old_run).version == 1
