"""The pure engine: runs start, wait, branch, email and end as values; time comes in as an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from automations.engine import (
    CancelSchedule,
    EmailRequest,
    Finish,
    Outcome,
    RunState,
    RunStatus,
    ScheduleStep,
    advance,
    build_context,
    cancel,
    match_trigger,
    start_run,
)
from automations.errors import EngineError
from automations.language import Automation, evaluate, load_definition
from automations.language.program import Program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WS = "default"
RUN = "run_1"

EMAIL: dict[str, Any] = {
    "to": {"trigger_contact": True},
    "subject": "Invoice {{ data.invoice.number }}",
    "html": "<p>Hi {{ contact.first_name | default('there') }}</p>",
}


def email(**changes: Any) -> dict[str, Any]:
    return {"send_email": {**EMAIL, **changes}}


def automation(*steps: dict[str, Any], **top: Any) -> Automation:
    data: dict[str, Any] = {
        "id": "overdue-invoice-reminder",
        "name": "Remind clients",
        "status": "active",
        "trigger": {"event": "invoice.overdue"},
        "steps": list(steps),
        **top,
    }
    return load_definition(data)


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "evt_1",
        "type": "invoice.overdue",
        "occurred_at": "2026-11-24T09:00:00Z",
        "contact": {"id": "c_42", "email": "ana@example.com", "first_name": "Ana", "labels": ["vip"]},
        "data": {
            "invoice": {"id": "inv_7", "number": "2026-117", "total": 640},
            "session": {"starts_at": "2026-11-30T18:30:00+02:00"},
        },
    }
    base.update(changes)
    return base


def start(auto: Automation, evt: dict[str, Any] | None = None, now: datetime = NOW) -> Outcome:
    return start_run(auto, 1, evt or event(), now=now, run_id=RUN, workspace=WS, person="c_42")


def emails(outcome: Outcome) -> list[EmailRequest]:
    return [e for e in outcome.effects if isinstance(e, EmailRequest)]


def kinds(state: RunState) -> list[str]:
    return [d.kind for d in state.log]


def finish(outcome: Outcome) -> Finish:
    last = outcome.effects[-1]
    assert isinstance(last, Finish)
    return last


# --- delays -------------------------------------------------------------------------------------------------


def test_relative_delay_schedules_at_now_plus_duration_and_stops() -> None:
    # Given an automation that waits 3 days then emails
    auto = automation({"delay": "3d"}, email())
    # When a run starts
    outcome = start(auto)
    # Then one call-back is scheduled 3 days later, and nothing else happens yet
    assert outcome.effects == [ScheduleStep(WS, RUN, "step-1", NOW + timedelta(days=3))]
    assert outcome.state.status is RunStatus.WAITING
    assert outcome.state.position == "step-1"
    assert outcome.state.due_at == NOW + timedelta(days=3)
    assert outcome.state.visited == ["step-1"]
    assert kinds(outcome.state) == ["started", "wait"]


def test_compound_duration_is_added_whole() -> None:
    # Given a 1d12h delay
    # When a run starts
    outcome = start(automation({"delay": "1d12h"}, email()))
    # Then the call-back is 36 hours later
    assert outcome.effects == [ScheduleStep(WS, RUN, "step-1", NOW + timedelta(hours=36))]


def test_advance_before_due_does_nothing_and_says_why() -> None:
    # Given a run waiting 3 days
    waiting = start(automation({"delay": "3d"}, email())).state
    # When it is advanced one minute early
    outcome = advance(automation({"delay": "3d"}, email()), waiting, now=NOW + timedelta(days=3, minutes=-1))
    # Then nothing happens, and the reason names the due time
    assert outcome.effects == []
    assert outcome.state is waiting
    assert outcome.noop_reason == f"not due before {(NOW + timedelta(days=3)).isoformat()}"


def test_advance_on_a_wrong_step_is_a_noop() -> None:
    # Given a run waiting on step-1
    auto = automation({"delay": "3d"}, email())
    waiting = start(auto).state
    # When a call-back for another step arrives, even late
    outcome = advance(auto, waiting, now=NOW + timedelta(days=30), step="step-2")
    # Then nothing happens
    assert outcome.effects == []
    assert outcome.state is waiting
    assert outcome.noop_reason == "run waits on 'step-1', not 'step-2'"


def test_advance_after_due_continues_to_the_end() -> None:
    # Given a run waiting 3 days before an email
    auto = automation({"delay": "3d"}, email())
    waiting = start(auto).state
    # When it is advanced at its due time
    outcome = advance(auto, waiting, now=NOW + timedelta(days=3), step="step-1")
    # Then the email is requested and the run completes
    assert len(emails(outcome)) == 1
    assert finish(outcome) == Finish(WS, RUN, RunStatus.COMPLETED, "reached the end of the automation")
    assert outcome.state.status is RunStatus.COMPLETED
    assert outcome.state.visited == ["step-1", "step-2"]
    assert "resumed" in kinds(outcome.state)


def test_advance_does_not_change_the_state_it_was_given() -> None:
    # Given a waiting run
    auto = automation({"delay": "1h"}, email())
    waiting = start(auto).state
    before = waiting.model_copy(deep=True)
    # When it is advanced
    advance(auto, waiting, now=NOW + timedelta(hours=2))
    # Then the original state is untouched (the caller stores the new one conditionally)
    assert waiting == before


def test_duplicate_delivery_after_resuming_is_a_noop() -> None:
    # Given a run with two delays, advanced past the first
    auto = automation({"delay": "1h"}, {"delay": "1h"}, email())
    first = advance(auto, start(auto).state, now=NOW + timedelta(hours=1), step="step-1")
    assert first.effects == [ScheduleStep(WS, RUN, "step-2", NOW + timedelta(hours=2))]
    # When the scheduler delivers step-1 again
    again = advance(auto, first.state, now=NOW + timedelta(hours=1, minutes=5), step="step-1")
    # Then nothing happens
    assert again.effects == []
    assert again.noop_reason == "run waits on 'step-2', not 'step-1'"


def test_advance_of_an_ended_run_is_a_noop() -> None:
    # Given a completed run
    auto = automation(email())
    done = start(auto).state
    assert done.status is RunStatus.COMPLETED
    # When it is advanced
    outcome = advance(auto, done, now=NOW + timedelta(days=1))
    # Then nothing happens
    assert outcome.effects == []
    assert outcome.noop_reason == "run is completed, not waiting"


def test_advance_on_a_step_unknown_to_the_version_is_an_engine_error() -> None:
    # Given a run waiting on a step the automation does not have
    auto = automation({"delay": "1h"}, email())
    waiting = start(auto).state.model_copy(update={"position": "gone"})
    # When it is advanced when due
    # Then the engine refuses
    with pytest.raises(EngineError, match="unknown to version"):
        advance(auto, waiting, now=NOW + timedelta(days=1))


def test_until_delay_in_the_future_schedules_at_timestamp_plus_offset() -> None:
    # Given a reminder one day before the session starts
    auto = automation({"delay": {"until": "data.session.starts_at", "offset": "-1d"}}, email())
    # When a run starts well before
    outcome = start(auto)
    # Then the call-back is at starts_at - 1 day
    due = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)
    assert outcome.effects == [ScheduleStep(WS, RUN, "step-1", due)]
    assert outcome.state.due_at == due


def test_until_delay_without_offset_schedules_at_the_timestamp() -> None:
    # Given a delay until the session starts
    auto = automation({"delay": {"until": "data.session.starts_at"}}, email())
    # When a run starts
    outcome = start(auto)
    # Then the call-back is at the timestamp itself
    assert outcome.effects == [ScheduleStep(WS, RUN, "step-1", datetime(2026, 11, 30, 16, 30, tzinfo=UTC))]


def test_until_in_the_past_with_skip_ends_the_run_skipped() -> None:
    # Given a session starting in 12 hours and a reminder one day before it
    evt = event(data={"session": {"starts_at": (NOW + timedelta(hours=12)).isoformat()}})
    auto = automation({"delay": {"until": "data.session.starts_at", "offset": "-1d", "if_past": "skip"}}, email())
    # When a run starts
    outcome = start(auto, evt)
    # Then the run ends skipped, with no email and the moment in its reason
    due = NOW - timedelta(hours=12)
    assert emails(outcome) == []
    assert outcome.effects == [Finish(WS, RUN, RunStatus.SKIPPED, f"moment {due.isoformat()} already passed")]
    assert outcome.state.status is RunStatus.SKIPPED
    assert kinds(outcome.state) == ["started", "past", "finished"]


def test_until_in_the_past_with_run_now_continues_at_once() -> None:
    # Given the same late booking, with run_now
    evt = event(data={"session": {"starts_at": (NOW + timedelta(hours=12)).isoformat()}})
    auto = automation({"delay": {"until": "data.session.starts_at", "offset": "-1d", "if_past": "run_now"}}, email())
    # When a run starts
    outcome = start(auto, evt)
    # Then the email goes at once and the run completes
    assert len(emails(outcome)) == 1
    assert finish(outcome).status is RunStatus.COMPLETED
    assert kinds(outcome.state) == ["started", "past", "email", "finished"]


def test_until_exactly_now_counts_as_passed() -> None:
    # Given a moment equal to now
    evt = event(data={"session": {"starts_at": NOW.isoformat()}})
    auto = automation({"delay": {"until": "data.session.starts_at", "if_past": "run_now"}}, email())
    # When a run starts
    outcome = start(auto, evt)
    # Then it does not wait
    assert not any(isinstance(e, ScheduleStep) for e in outcome.effects)
    assert len(emails(outcome)) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({}, "delay.until field 'data.session.starts_at' is missing"),
        ({"session": {"starts_at": None}}, "delay.until field 'data.session.starts_at' is missing"),
        (
            {"session": {"starts_at": "soon"}},
            "delay.until field 'data.session.starts_at' is not a timestamp ('soon')",
        ),
    ],
)
def test_until_field_missing_or_not_a_timestamp_skips(data: dict[str, Any], reason: str) -> None:
    # Given an event without a usable timestamp
    auto = automation({"delay": {"until": "data.session.starts_at", "if_past": "run_now"}}, email())
    # When a run starts
    outcome = start(auto, event(data=data))
    # Then the run ends skipped with the reason
    assert outcome.effects == [Finish(WS, RUN, RunStatus.SKIPPED, reason)]
    assert outcome.state.end_reason == reason
    assert outcome.state.log[-1].step == "step-1"


def test_naive_until_timestamp_is_read_as_utc() -> None:
    # Given a timestamp without an offset
    auto = automation({"delay": {"until": "data.session.starts_at"}}, email())
    # When a run starts
    outcome = start(auto, event(data={"session": {"starts_at": "2026-12-01T09:00:00"}}))
    # Then it is scheduled at that UTC moment
    assert outcome.effects == [ScheduleStep(WS, RUN, "step-1", datetime(2026, 12, 1, 9, tzinfo=UTC))]


# --- conditions ---------------------------------------------------------------------------------------------

BIG = {"field": "data.invoice.total", "op": "gt", "value": 500}


@pytest.mark.parametrize(("total", "subject"), [(640, "then"), (100, "else")])
def test_if_takes_then_or_else(total: int, subject: str) -> None:
    # Given an if with an email on each side
    auto = automation({"if": BIG, "then": [email(subject="then")], "else": [email(subject="else")]})
    # When a run starts for a big or a small invoice
    outcome = start(auto, event(data={"invoice": {"total": total}}))
    # Then only the matching side's email is requested
    assert [e.subject for e in emails(outcome)] == [subject]
    branch = next(d for d in outcome.state.log if d.kind == "branch")
    assert branch.details["branch"] == subject
    assert branch.details["checks"][0]["actual"] == total


def test_empty_branch_continues_after_the_if() -> None:
    # Given an if whose taken branch is empty, followed by an email
    auto = automation({"if": BIG, "then": []}, email(subject="after"))
    # When a run starts and the condition holds
    outcome = start(auto)
    # Then the run continues with the step after the if
    assert [e.subject for e in emails(outcome)] == ["after"]
    branch = next(d for d in outcome.state.log if d.kind == "branch")
    assert branch.reason == "condition held: took then (empty)"
    assert outcome.state.visited == ["step-1", "step-2"]


def test_absent_else_continues_after_the_if() -> None:
    # Given an if without else
    auto = automation({"if": BIG, "then": [email(subject="big")]}, email(subject="after"))
    # When the condition does not hold
    outcome = start(auto, event(data={"invoice": {"total": 1}}))
    # Then the run goes on after the if
    assert [e.subject for e in emails(outcome)] == ["after"]


def test_branch_rejoins_the_main_path_after_its_last_step() -> None:
    # Given a then-branch with a delay, followed by an email after the if
    auto = automation({"if": BIG, "then": [{"delay": "1d"}, email(subject="in")]}, email(subject="after"))
    # When the run starts and is advanced after the delay
    first = start(auto)
    assert first.effects == [ScheduleStep(WS, RUN, "step-1-then-1", NOW + timedelta(days=1))]
    second = advance(auto, first.state, now=NOW + timedelta(days=1), step="step-1-then-1")
    # Then the branch finishes and the run continues after the if
    assert [e.subject for e in emails(second)] == ["in", "after"]
    assert second.state.visited == ["step-1", "step-1-then-1", "step-1-then-2", "step-2"]


@pytest.mark.parametrize(
    ("total", "labels", "subject"),
    [(640, ["vip"], "big-vip"), (640, [], "big-regular"), (10, ["vip"], "small")],
)
def test_nested_ifs(total: int, labels: list[str], subject: str) -> None:
    # Given an if nested in the then of another
    vip = {"field": "contact.labels", "op": "contains", "value": "vip"}
    auto = automation(
        {
            "id": "big",
            "if": BIG,
            "then": [
                {"id": "vip", "if": vip, "then": [email(subject="big-vip")], "else": [email(subject="big-regular")]}
            ],
            "else": [email(subject="small")],
        },
    )
    evt = event(data={"invoice": {"total": total}}, contact={"id": "c", "email": "a@b.example", "labels": labels})
    # When a run starts
    outcome = start(auto, evt)
    # Then the one matching leaf email is requested and the run completes
    assert [e.subject for e in emails(outcome)] == [subject]
    assert finish(outcome).status is RunStatus.COMPLETED


def test_condition_sees_run_and_automation_in_its_context() -> None:
    # Given a condition on the run's context
    cond = {
        "all": [{"field": "run.id", "op": "eq", "value": RUN}, {"field": "automation.version", "op": "eq", "value": 1}]
    }
    auto = automation({"if": cond, "then": [email(subject="yes")], "else": [email(subject="no")]})
    # When a run starts
    outcome = start(auto)
    # Then run and automation are visible
    assert [e.subject for e in emails(outcome)] == ["yes"]


# --- emails -------------------------------------------------------------------------------------------------


def test_email_request_is_rendered_with_everything_the_sender_needs() -> None:
    # Given a transactional email with sender details
    auto = automation(
        email(
            type="transactional",
            from_name="Acme Studio",
            reply_to="accounts@acme.example",
            **{"from": "billing@acme.example"},
            subject="Invoice   {{ data.invoice.number }}\tis overdue",
        )
    )
    # When a run starts
    [request] = emails(start(auto))
    # Then the request is rendered and addressed
    assert request.recipients == ("ana@example.com",)
    assert request.subject == "Invoice 2026-117 is overdue"
    assert request.html == "<p>Hi Ana</p>"
    assert request.text == "Hi Ana\n"
    assert (request.from_name, request.from_address, request.reply_to) == (
        "Acme Studio",
        "billing@acme.example",
        "accounts@acme.example",
    )
    assert (request.workspace, request.automation_id, request.version, request.run_id, request.step) == (
        WS,
        "overdue-invoice-reminder",
        1,
        RUN,
        "step-1",
    )
    assert request.person == "c_42"
    assert request.as_message()["recipients"] == ["ana@example.com"]


def test_explicit_text_part_is_used() -> None:
    # Given an email with its own text part
    # When a run starts
    [request] = emails(start(automation(email(text="Plain {{ contact.first_name }}"))))
    # Then the text part is rendered from it
    assert request.text == "Plain Ana"


def test_promotional_email_carries_one_click_unsubscribe() -> None:
    # Given a promotional email
    # When a run starts
    [request] = emails(start(automation(email(type="promotional"))))
    # Then it asks for an unsubscribe link and RFC 8058 one-click
    assert request.unsubscribe is True
    assert request.headers == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@pytest.mark.parametrize("kind", ["transactional", "business_critical"])
def test_non_promotional_email_has_no_unsubscribe(kind: str) -> None:
    # Given a transactional or business-critical email
    # When a run starts
    [request] = emails(start(automation(email(type=kind))))
    # Then it carries no unsubscribe
    assert request.unsubscribe is False
    assert request.headers == {}
    assert request.type == kind


def test_trigger_contact_without_email_but_additional_recipients() -> None:
    # Given an email to the contact and the owner, and a contact with no address
    auto = automation(email(to={"trigger_contact": True, "additional": ["owner@acme.example"]}))
    # When a run starts
    outcome = start(auto, event(contact={"id": "c_42", "first_name": "Ana"}))
    # Then the owner still gets it, and the log notes the missing address
    [request] = emails(outcome)
    assert request.recipients == ("owner@acme.example",)
    decision = next(d for d in outcome.state.log if d.kind == "email")
    assert decision.details["note"] == "the trigger contact has no email address"


def test_recipients_are_deduplicated_case_insensitively() -> None:
    # Given the contact also listed as an additional recipient, in other case
    auto = automation(email(to={"trigger_contact": True, "additional": ["ANA@example.com", "b@acme.example"]}))
    # When a run starts
    [request] = emails(start(auto))
    # Then each address appears once
    assert request.recipients == ("ana@example.com", "b@acme.example")


@pytest.mark.parametrize("address", [None, "", "not-an-address", "ana@example.com\nBcc: x@y.example"])
def test_no_recipients_at_all_skips_the_email(address: str | None) -> None:
    # Given an email to the trigger contact only, and no usable address
    auto = automation(email(), email(subject="second"))
    evt = event(contact={"id": "c_42", "email": address})
    # When a run starts
    outcome = start(auto, evt)
    # Then no email is requested, the decision says why, and the run still completes
    assert emails(outcome) == []
    skipped = [d for d in outcome.state.log if d.kind == "email_skipped"]
    assert [d.reason for d in skipped] == ["the trigger contact has no email address"] * 2
    assert finish(outcome).status is RunStatus.COMPLETED


def test_template_failing_at_render_time_is_logged_not_raised() -> None:
    # Given a body that divides by zero when rendered
    auto = automation(email(html="<p>{{ 1 / data.zero }}</p>"), email(subject="next"))
    # When a run starts
    outcome = start(auto, event(data={"zero": 0, "invoice": {"number": "1"}}))
    # Then that email fails with its reason, and the run goes on
    failed = next(d for d in outcome.state.log if d.kind == "email_failed")
    assert "ZeroDivisionError" in failed.reason
    assert [e.subject for e in emails(outcome)] == ["next"]


# --- cancel -------------------------------------------------------------------------------------------------


def test_cancel_of_a_waiting_run_drops_its_schedule_and_finishes() -> None:
    # Given a run waiting on its delay
    waiting = start(automation({"delay": "3d"}, email())).state
    # When it is cancelled
    outcome = cancel(waiting, now=NOW + timedelta(hours=1), reason="invoice.paid arrived")
    # Then its call-back is cancelled and the run ends with the reason
    assert outcome.effects == [
        CancelSchedule(WS, RUN, "step-1"),
        Finish(WS, RUN, RunStatus.CANCELLED, "invoice.paid arrived"),
    ]
    assert outcome.state.status is RunStatus.CANCELLED
    assert outcome.state.end_reason == "invoice.paid arrived"
    assert outcome.state.ended_at == NOW + timedelta(hours=1)
    assert outcome.state.position is None
    assert waiting.status is RunStatus.WAITING


def test_cancel_with_another_status() -> None:
    # Given a waiting run
    waiting = start(automation({"delay": "3d"}, email())).state
    # When it is ended because its automation failed
    outcome = cancel(waiting, now=NOW, reason="automation deleted", status=RunStatus.FAILED)
    # Then the status is the one given
    assert finish(outcome).status is RunStatus.FAILED


def test_cancel_of_a_running_run_has_no_schedule_to_drop() -> None:
    # Given a run that is not waiting
    running = RunState(id=RUN, workspace=WS, automation_id="a", version=1, started_at=NOW, updated_at=NOW)
    # When it is cancelled
    outcome = cancel(running, now=NOW, reason="deactivated")
    # Then it just finishes
    assert outcome.effects == [Finish(WS, RUN, RunStatus.CANCELLED, "deactivated")]


def test_cancel_of_an_ended_run_is_a_noop() -> None:
    # Given a completed run
    done = start(automation(email())).state
    # When it is cancelled
    outcome = cancel(done, now=NOW, reason="late")
    # Then nothing happens
    assert outcome.effects == []
    assert outcome.state is done
    assert outcome.noop_reason == "run already completed"


# --- match_trigger ------------------------------------------------------------------------------------------


def test_match_trigger_matches_and_names_person_and_run_key() -> None:
    # Given an automation with a run_key
    auto = automation(email(), run_key="data.invoice.id")
    # When its event arrives
    match = match_trigger(auto, event())
    # Then it matches, for this person and key
    assert (match.matched, match.reason, match.person, match.run_key) == (True, "matched", "c_42", "inv_7")


def test_match_trigger_refuses_other_event_types() -> None:
    # Given an event of another type
    # When it is matched
    match = match_trigger(automation(email()), event(type="invoice.paid"))
    # Then it does not match
    assert not match.matched
    assert match.reason == "event type 'invoice.paid' is not 'invoice.overdue'"


@pytest.mark.parametrize(("service", "matched"), [("svc-yoga", True), ("svc-boxing", False)])
def test_match_trigger_applies_where(service: str, matched: bool) -> None:
    # Given a trigger limited to some services
    where = {"field": "data.service.id", "op": "in", "value": ["svc-yoga", "svc-pilates"]}
    auto = automation(email(), trigger={"event": "invoice.overdue", "where": where})
    # When an event for a service arrives
    match = match_trigger(auto, event(data={"service": {"id": service}}))
    # Then it matches only for the listed services, with the checks recorded
    assert match.matched is matched
    assert match.checks == [
        {"field": "data.service.id", "op": "in", "value": ["svc-yoga", "svc-pilates"], "actual": service,
         "missing": False, "result": matched}
    ]  # fmt: skip
    if not matched:
        assert match.reason == "filtered out by trigger.where"


@pytest.mark.parametrize("contact", [{"email": "a@b.example"}, {"id": None}, {"id": {"x": 1}}])
def test_match_trigger_without_person(contact: dict[str, Any]) -> None:
    # Given an event whose person field is missing, null or not a scalar
    # When it is matched
    match = match_trigger(automation(email()), event(contact=contact))
    # Then it does not match, and says why
    assert not match.matched
    assert match.reason == "no person: field 'contact.id' is missing"


def test_match_trigger_without_run_key() -> None:
    # Given an automation keyed by invoice, and an event without an invoice id
    auto = automation(email(), run_key="data.invoice.id")
    # When it is matched
    match = match_trigger(auto, event(data={"invoice": {"number": "1"}}))
    # Then it does not match, and says why
    assert not match.matched
    assert match.reason == "no run key: field 'data.invoice.id' is missing"


def test_match_trigger_keys_are_strings() -> None:
    # Given numeric and boolean person and key fields
    auto = automation(email(), person="data.customer", run_key="data.flag")
    # When matched
    match = match_trigger(auto, event(data={"customer": 42, "flag": True}))
    # Then the keys are their string spellings
    assert (match.person, match.run_key) == ("42", "true")


# --- context, log and time ----------------------------------------------------------------------------------


def test_build_context_exposes_event_contact_data_run_and_automation() -> None:
    # Given an event and an automation
    auto = automation(email())
    # When the context of a run is built
    context = build_context(event(), automation=auto, version=3, run_id=RUN, started_at=NOW)
    # Then every name of DESIGN §3 is there
    assert context["event"] == {"id": "evt_1", "type": "invoice.overdue", "occurred_at": "2026-11-24T09:00:00Z"}
    assert context["contact"]["first_name"] == "Ana"
    assert context["data"]["invoice"]["id"] == "inv_7"
    assert context["run"] == {"id": RUN, "started_at": NOW.isoformat()}
    assert context["automation"] == {
        "id": auto.id,
        "name": auto.name,
        "version": 3,
        "timezone": "UTC",
        "locale": "en",
    }


def test_every_decision_has_a_reason() -> None:
    # Given runs through every kind of decision
    auto = automation(
        {"delay": "1h"},
        {"if": BIG, "then": [email(type="promotional")], "else": []},
        email(to={"trigger_contact": True}),
        {"delay": {"until": "data.session.starts_at", "if_past": "run_now"}},
    )
    evt = event(contact={"id": "c_42"}, data={"invoice": {"total": 1000}, "session": {"starts_at": "2020-01-01"}})
    # When the run starts, is advanced, and another is cancelled
    first = start(auto, evt)
    second = advance(auto, first.state, now=NOW + timedelta(hours=1))
    cancelled = cancel(start(auto).state, now=NOW, reason="cancelled by invoice.paid")
    # Then every decision has a non-empty reason
    for state in (second.state, cancelled.state):
        assert state.log
        assert all(d.reason.strip() for d in state.log), state.log
    assert {"started", "wait", "resumed", "branch", "email_skipped", "past", "finished"} <= set(kinds(second.state))


def test_naive_now_raises_engine_error() -> None:
    # Given a naive datetime
    naive = datetime(2026, 11, 24, 10, 0)
    auto = automation({"delay": "1h"}, email())
    # When the engine is called with it
    # Then it refuses, for start and for advance
    with pytest.raises(EngineError, match="aware"):
        start(auto, now=naive)
    waiting = start(auto).state
    with pytest.raises(EngineError, match="aware"):
        advance(auto, waiting, now=naive + timedelta(days=1))


def test_aware_now_in_another_zone_compares_as_an_instant() -> None:
    # Given a run waiting one hour, and a clock reading in UTC+02:00
    from datetime import timezone

    auto = automation({"delay": "1h"}, email())
    waiting = start(auto).state
    plus_two = timezone(timedelta(hours=2))
    # When it is advanced at 12:59 and 13:00 local (10:59 and 11:00 UTC)
    early = advance(auto, waiting, now=datetime(2026, 11, 24, 12, 59, tzinfo=plus_two))
    on_time = advance(auto, waiting, now=datetime(2026, 11, 24, 13, 0, tzinfo=plus_two))
    # Then the instant decides, not the wall-clock reading
    assert early.effects == []
    assert len(emails(on_time)) == 1


# --- properties ---------------------------------------------------------------------------------------------

FIELDS = ["data.a", "data.b", "data.when", "data.missing"]
RELATIVE = ["15m", "2h", "1d", "3d", "1w"]


@st.composite
def leaf_conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(["eq", "ne", "gt", "lte", "in", "not_in", "exists", "not_exists", "is_empty", "before"]))
    if op in {"exists", "not_exists", "is_empty"}:
        return {"field": field, "op": op}
    if op in {"in", "not_in"}:
        return {
            "field": field,
            "op": op,
            "value": draw(st.lists(st.integers(0, 5) | st.sampled_from("xy"), max_size=3)),
        }
    if op == "before":
        return {"field": field, "op": op, "value": (NOW + timedelta(hours=draw(st.integers(-50, 50)))).isoformat()}
    return {"field": field, "op": op, "value": draw(st.integers(0, 5) | st.sampled_from(["x", "y", "3"]))}


conditions = st.recursive(
    leaf_conditions(),
    lambda children: st.builds(
        lambda k, xs: {k: xs}, st.sampled_from(["all", "any"]), st.lists(children, min_size=1, max_size=3)
    ),
    max_leaves=4,
)


def steps(depth: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    delay = st.one_of(
        st.sampled_from(RELATIVE).map(lambda d: {"delay": d}),
        st.fixed_dictionaries(
            {
                "until": st.just("data.when"),
                "offset": st.sampled_from(["-1d", "2h", "-30m"]),
                "if_past": st.sampled_from(["skip", "run_now"]),
            }
        ).map(lambda spec: {"delay": spec}),
    )
    send = st.sampled_from(["promotional", "transactional"]).map(
        lambda kind: {"send_email": {**EMAIL, "type": kind, "subject": "S {{ data.b }}", "html": "<p>{{ data.a }}</p>"}}
    )
    options = [delay, send]
    if depth < 2:
        nested = steps(depth + 1)
        options.append(
            st.builds(
                lambda cond, then, otherwise: {"if": cond, "then": then, "else": otherwise},
                conditions,
                nested | st.just([]),
                nested | st.just([]),
            )
        )
    return st.lists(st.one_of(*options), min_size=1, max_size=3)


contexts = st.fixed_dictionaries(
    {
        "a": st.integers(0, 5) | st.none(),
        "b": st.sampled_from(["x", "y", "3", ""]),
        "when": st.integers(-48, 24 * 20).map(lambda h: (NOW + timedelta(hours=h)).isoformat()) | st.just("bad"),
    }
)
calls = st.lists(st.tuples(st.integers(0, 60 * 24 * 30), st.sampled_from(["none", "position", "bogus"])), max_size=8)


@given(steps(0), contexts, calls)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engine_invariants(
    step_list: list[dict[str, Any]], data: dict[str, Any], call_list: list[tuple[int, str]]
) -> None:
    # Given a generated automation and an event
    auto = automation(*step_list)
    program = Program.of(auto)
    evt = event(data=data)
    # When a run starts and is advanced at random times, on random steps
    outcome = start(auto, evt)
    history: list[tuple[RunState, datetime, Outcome]] = []
    all_effects = list(outcome.effects)
    check_schedules(outcome, NOW)
    state = outcome.state
    for minutes, which in call_list:
        now = NOW + timedelta(minutes=minutes)
        target = {"none": None, "position": state.position, "bogus": "no-such-step"}[which]
        result = advance(auto, state, now=now, step=target)
        history.append((state, now, result))
        all_effects.extend(result.effects)
        check_schedules(result, now)
        state = result.state
    # And then far enough into the future, as the scheduler would
    for _ in range(len(program.nodes) + 1):
        if state.status.ended:
            break
        assert state.due_at is not None
        now = max(state.due_at, NOW) + timedelta(minutes=1)
        result = advance(auto, state, now=now, step=state.position)
        history.append((state, now, result))
        all_effects.extend(result.effects)
        check_schedules(result, now)
        state = result.state

    # Then no effect is produced for a step before its due time
    for before, now, result in history:
        if result.effects:
            assert before.status is RunStatus.WAITING
            assert before.due_at is not None and now >= before.due_at
        else:
            assert result.state is before
            assert result.noop_reason
    # And each step runs at most once, and each email step asks for at most one email
    assert len(state.visited) == len(set(state.visited))
    email_steps = [e.step for e in all_effects if isinstance(e, EmailRequest)]
    assert len(email_steps) == len(set(email_steps))
    assert set(email_steps) <= set(state.visited)
    # And every branch taken is the one evaluate() gives, and the next step visited is its first step
    for decision in state.log:
        if decision.kind != "branch":
            continue
        node = program[decision.step or ""]
        assert node.step.if_ is not None
        held = evaluate(node.step.if_, state.context)
        assert decision.details["result"] is held
        assert decision.details["branch"] == ("then" if held else "else")
        expected_next = (node.then_first if held else node.else_first) or node.next
        index = state.visited.index(node.id)
        following = state.visited[index + 1] if index + 1 < len(state.visited) else None
        assert following == expected_next
    # And the run has ended, exactly once, with a reason for every decision
    assert state.status.ended
    assert state.status in {RunStatus.COMPLETED, RunStatus.SKIPPED}
    finishes = [e for e in all_effects if isinstance(e, Finish)]
    assert len(finishes) == 1
    assert finishes[0].status is state.status
    assert all(d.reason for d in state.log)


def check_schedules(outcome: Outcome, now: datetime) -> None:
    """A call-back is always in the future, for the step the run now waits on, and ends the effects."""
    schedules = [e for e in outcome.effects if isinstance(e, ScheduleStep)]
    assert len(schedules) <= 1
    if schedules:
        assert schedules[0] is outcome.effects[-1]
        assert schedules[0].due_at > now
        assert outcome.state.position == schedules[0].step
        assert outcome.state.due_at == schedules[0].due_at
        assert outcome.state.status is RunStatus.WAITING
