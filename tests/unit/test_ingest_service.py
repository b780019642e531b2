"""Ingest on the in-memory ports: which events start runs and which are refused (filter, frequency, run key,
nth), countdowns of ``after_silence``, ``cancel_on``, duplicates, and failures (one broken automation fails
alone; a failure of the cloud fails the request, whose retry finishes the job)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from automations import engine
from automations.engine import RunStatus
from automations.ports import TransientError
from automations.services import ingest as ingest_service
from automations.services import runner
from automations.services.event_input import accept, events_from_body
from automations.services.sending.queue_message import request_from_body

from tests.support.mail import Mailroom
from tests.support.services import WELCOME, World, automation, event

WAIT_3D: dict[str, Any] = {"id": "wait", "delay": "3d"}


@pytest.fixture
def world() -> World:
    return World()


# --- matching ---------------------------------------------------------------------------------------------


def test_an_event_starts_a_run_of_each_automation_listening_to_its_type(world: World) -> None:
    # Given two automations of lead.created and one of another type
    world.create(automation("welcome", "lead.created"))
    world.create(automation("notify-owner", "lead.created"))
    world.create(automation("thanks", "invoice.paid"))
    # When a lead.created event arrives
    [result] = world.post(event("lead.created", "evt_1"))
    # Then it is accepted with one run of each of the two, both completed, each email queued once
    assert result.status == "accepted"
    assert sorted(run.automation_id for run in world.runs_of(result)) == ["notify-owner", "welcome"]
    assert {run.status for run in world.runs_of(result)} == {RunStatus.COMPLETED}
    assert sorted(world.emails()) == [
        ("notify-owner", "welcome", ("c_1@example.com",)),
        ("welcome", "welcome", ("c_1@example.com",)),
    ]
    # And the event is stored as processed, with its runs
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.status == "processed" and sorted(stored.runs) == sorted(result.runs)
    assert world.counters("welcome") == {"runs_started": 1, "runs_completed": 1}


def test_an_event_no_automation_listens_to_is_accepted_and_starts_nothing(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    [result] = world.post(event("invoice.paid", "evt_1"))
    assert (result.status, result.runs) == ("accepted", [])
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.status == "processed"
    assert world.emails() == []


def test_a_draft_or_inactive_automation_starts_nothing(world: World) -> None:
    world.create({**automation("draft", "lead.created"), "status": "draft"})
    world.create({**automation("paused", "lead.created"), "status": "inactive"})
    [result] = world.post(event("lead.created", "evt_1"))
    assert result.runs == []


def test_an_event_filtered_out_by_where_is_counted_as_skipped(world: World) -> None:
    # Given an automation for large invoices only
    where = {"field": "data.total", "op": "gt", "value": 500}
    world.create(automation("big-invoices", "invoice.overdue", trigger={"event": "invoice.overdue", "where": where}))
    # When a small invoice and a large one are overdue
    [small, large] = world.post(
        event("invoice.overdue", "evt_small", total=20), event("invoice.overdue", "evt_large", total=900)
    )
    # Then only the large one starts a run, and the small one is counted as filtered out
    assert (small.runs, len(large.runs)) == ([], 1)
    assert world.counters("big-invoices") == {"runs_started": 1, "runs_completed": 1, "skipped_filter": 1}


def test_the_same_event_twice_is_a_duplicate_with_the_same_runs(world: World) -> None:
    # Given an event that started a run
    world.create(automation("welcome", "lead.created"))
    [first] = world.post(event("lead.created", "evt_1"))
    world.emails()
    # When it arrives again
    [again] = world.post(event("lead.created", "evt_1"))
    # Then it is a duplicate naming the same run: no second run, and its email queued again under the same run and
    # step (the event was marked in the run's creation, before the email left; the sender claims each message
    # once, so it is never sent twice)
    assert (again.status, again.runs) == ("duplicate", first.runs)
    assert world.emails() == [("welcome", "welcome", ("c_1@example.com",))]
    assert world.counters("welcome")["runs_started"] == 1


def test_a_batch_is_answered_event_by_event_in_order(world: World) -> None:
    # Given a welcome automation
    world.create(automation("welcome", "lead.created"))
    # When one request carries a new event, an invalid one, the first again, and another new one
    body = {
        "events": [
            event("lead.created", "evt_1", "ana"),
            {"id": "evt_bad", "type": "Not A Type"},
            event("lead.created", "evt_1", "ana"),
            event("lead.created", "evt_2", "bo"),
        ]
    }
    answers = accept(world.deps, events_from_body(json.dumps(body), world.settings.max_event_bytes), world.now)
    # Then each is answered in its place: the repeat names the first one's run, the invalid one why
    assert [answer.status for answer in answers] == ["accepted", "invalid", "duplicate", "accepted"]
    assert answers[2].runs == answers[0].runs and len(answers[3].runs) == 1
    assert answers[1].as_dict()["id"] == "evt_bad" and answers[1].as_dict()["errors"][0]["loc"] == "events[1].type"
    assert len(world.emails()) == 2


# --- frequency, run key, nth --------------------------------------------------------------------------------


def test_once_per_person_starts_one_run_per_person(world: World) -> None:
    world.create(automation("welcome", "lead.created", frequency="once_per_person"))
    [ana, ana_again, bo] = world.post(
        event("lead.created", "evt_1", "ana"),
        event("lead.created", "evt_2", "ana"),
        event("lead.created", "evt_3", "bo"),
    )
    assert (len(ana.runs), ana_again.runs, len(bo.runs)) == (1, [], 1)
    assert ana_again.status == "accepted"
    assert world.counters("welcome")["skipped_frequency"] == 1


def test_a_frequency_window_refuses_a_second_run_until_it_is_over(world: World) -> None:
    # Given an automation at most once per person every 7 days, and a run for Ana
    world.create(automation("weekly", "class.booked", frequency={"once_per_person_every": "7d"}))
    world.post(event("class.booked", "evt_1", "ana"))
    # When Ana books again within the week, then after it
    world.later(timedelta(days=6))
    [within] = world.post(event("class.booked", "evt_2", "ana"))
    world.later(timedelta(days=1, seconds=1))
    [after] = world.post(event("class.booked", "evt_3", "ana"))
    # Then only the booking after the week starts a run
    assert (within.runs, len(after.runs)) == ([], 1)
    assert world.counters("weekly")["skipped_frequency"] == 1


def test_a_busy_run_key_refuses_a_second_run_until_the_first_ends(world: World) -> None:
    # Given a reminder per invoice that waits three days
    world.create(automation("reminder", "invoice.overdue", WAIT_3D, run_key="data.invoice"))
    [first] = world.post(event("invoice.overdue", "evt_1", invoice="inv_1"))
    # When the same invoice is overdue again while the first run waits, and another invoice too
    [busy, other] = world.post(
        event("invoice.overdue", "evt_2", invoice="inv_1"), event("invoice.overdue", "evt_3", invoice="inv_2")
    )
    # Then the same invoice starts nothing (counted), the other invoice starts its own run
    assert (busy.runs, len(other.runs)) == ([], 1)
    assert world.counters("reminder")["skipped_run_key"] == 1
    # And once the first run has ended, the invoice may start a run again
    world.later(timedelta(days=3))
    assert world.run(first.runs[0]).status is RunStatus.COMPLETED
    [again] = world.post(event("invoice.overdue", "evt_4", invoice="inv_1"))
    assert len(again.runs) == 1


def test_nth_starts_a_run_on_the_persons_nth_event_only(world: World) -> None:
    # Given a reward for the third check-in
    world.create(automation("third-visit", "client.checked_in", trigger={"event": "client.checked_in", "nth": 3}))
    # When Ana checks in four times, her second check-in delivered twice, and Bo once in between
    deliveries = [("evt_1", "ana"), ("evt_2", "ana"), ("evt_2", "ana"), ("evt_b", "bo"), ("evt_3", "ana")]
    answers = [world.post(event("client.checked_in", event_id, person))[0] for event_id, person in deliveries]
    answers += world.post(event("client.checked_in", "evt_4", "ana"))
    # Then only Ana's third check-in starts a run (the repeated delivery counted once)
    assert [len(answer.runs) for answer in answers] == [0, 0, 0, 0, 1, 0]
    [run] = world.runs_of(answers[4])
    assert run.person == "ana" and "event number 3" in run.log[0].reason


# --- after_silence ------------------------------------------------------------------------------------------


def miss_you(world: World) -> None:
    trigger = {"event": "client.checked_in", "after_silence": "30d"}
    world.create(automation("miss-you", "client.checked_in", trigger=trigger))


def test_each_event_restarts_the_countdown_and_the_run_starts_after_the_last_one(world: World) -> None:
    # Given a "we miss you" 30 days after a person's last check-in
    miss_you(world)
    # When Ana checks in, then again ten days later
    [first] = world.post(event("client.checked_in", "evt_1", "ana", at=world.now))
    world.later(timedelta(days=10))
    world.post(event("client.checked_in", "evt_2", "ana", at=world.now))
    # Then no run starts on either, and one countdown runs, due 30 days after the second
    assert first.runs == []
    [(name, (due, payload))] = world.schedules().items()
    assert name == ingest_service.silence_schedule_name("default", "miss-you", "ana")
    assert due == world.now + timedelta(days=30) and payload["event"] == "evt_2"
    # And when 30 days have passed, the run starts with the last event
    assert world.later(timedelta(days=29)) == []
    [result] = world.later(timedelta(days=1))
    assert (result.status, result.reason) == ("advanced", "run started")
    [run] = world.deps.runs.by_automation("miss-you")
    assert run.context["event"]["id"] == "evt_2" and run.log[0].reason == "no client.checked_in for 30d"
    assert world.emails() == [("miss-you", "welcome", ("ana@example.com",))]
    assert world.fakes.counters.silence("miss-you", "ana") is None


def test_a_late_older_event_never_shortens_the_silence(world: World) -> None:
    miss_you(world)
    world.post(event("client.checked_in", "evt_new", "ana", at=world.now))
    world.post(event("client.checked_in", "evt_old", "ana", at=world.now - timedelta(days=5)))
    [(due, payload)] = world.schedules().values()
    assert payload["event"] == "evt_new" and due == world.now + timedelta(days=30)


def test_an_event_older_than_the_silence_starts_no_countdown(world: World) -> None:
    miss_you(world)
    world.post(event("client.checked_in", "evt_old", "ana", at=world.now - timedelta(days=31)))
    assert world.schedules() == {} and world.fakes.counters.silence("miss-you", "ana") is None


def test_a_countdown_replaced_by_a_newer_event_starts_nothing(world: World) -> None:
    # Given the countdown of Ana's first check-in, which a second one replaced
    miss_you(world)
    world.post(event("client.checked_in", "evt_1", "ana", at=world.now))
    [(_, first_payload)] = world.schedules().values()
    world.post(event("client.checked_in", "evt_2", "ana", at=world.now + timedelta(seconds=1)))
    # When the first countdown's payload is delivered anyway (a late delivery)
    world.fakes.clock.advance(timedelta(days=31))
    result = world.fire(first_payload)
    # Then nothing starts
    assert (result.status, result.reason) == ("noop", "a newer event restarted the countdown")
    assert list(world.deps.runs.by_automation("miss-you")) == []


def test_a_countdown_over_for_a_deactivated_automation_starts_nothing_and_is_cleared(world: World) -> None:
    miss_you(world)
    world.post(event("client.checked_in", "evt_1", "ana", at=world.now))
    world.deps.automations.set_status("miss-you", "inactive", world.now)
    [result] = world.later(timedelta(days=30))
    assert (result.status, result.reason) == ("noop", "automation inactive")
    assert world.fakes.counters.silence("miss-you", "ana") is None


# --- cancel_on ----------------------------------------------------------------------------------------------


def test_a_cancelling_event_ends_the_waiting_run_of_its_key(world: World) -> None:
    # Given an overdue reminder waiting three days for invoice inv_1, and one for inv_2
    cancel_on = [{"event": "invoice.paid", "key": "data.invoice"}]
    world.create(
        automation("reminder", "invoice.overdue", WAIT_3D, WELCOME, run_key="data.invoice", cancel_on=cancel_on)
    )
    [paid, unpaid] = world.post(
        event("invoice.overdue", "evt_1", invoice="inv_1"), event("invoice.overdue", "evt_2", invoice="inv_2")
    )
    # When inv_1 is paid
    [answer] = world.post(event("invoice.paid", "evt_paid", invoice="inv_1"))
    # Then its run is cancelled with the reason, its schedule is gone, and no run was started by the payment
    assert answer.runs == []
    run = world.run(paid.runs[0])
    assert (run.status, run.end_reason) == (RunStatus.CANCELLED, "cancelled by invoice.paid (evt_paid)")
    assert [payload["run"] for _, payload in world.schedules().values()] == unpaid.runs
    # And when the three days are over, only the unpaid invoice is reminded
    world.later(timedelta(days=3))
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    assert world.run(unpaid.runs[0]).status is RunStatus.COMPLETED
    assert world.counters("reminder") == {"runs_started": 2, "runs_cancelled": 1, "runs_completed": 1}


def test_a_cancelling_event_without_a_waiting_run_changes_nothing(world: World) -> None:
    cancel_on = [{"event": "invoice.paid", "key": "data.invoice"}]
    world.create(automation("reminder", "invoice.overdue", WAIT_3D, run_key="data.invoice", cancel_on=cancel_on))
    answers = world.post(event("invoice.paid", "evt_paid", invoice="inv_9"), event("invoice.paid", "evt_no_key"))
    assert [(answer.status, answer.runs) for answer in answers] == [("accepted", []), ("accepted", [])]
    assert world.counters("reminder") == {}


# --- failures -----------------------------------------------------------------------------------------------


def test_an_automation_that_breaks_on_an_event_fails_alone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two automations of the same event, one of which the engine cannot run
    world.create(automation("welcome", "lead.created"))
    world.create(automation("broken", "lead.created"))
    real_start = engine.start_run

    def start_run(automation: Any, *args: Any, **kwargs: Any) -> Any:
        if automation.id == "broken":
            raise ZeroDivisionError("division by zero")
        return real_start(automation, *args, **kwargs)

    monkeypatch.setattr(runner, "start_run", start_run)
    # When an event of their type arrives
    [result] = world.post(event("lead.created", "evt_1"))
    # Then it is accepted: the good automation ran and sent its email
    assert result.status == "accepted"
    runs = {run.automation_id: run for run in world.runs_of(result)}
    assert runs["welcome"].status is RunStatus.COMPLETED
    assert world.emails() == [("welcome", "welcome", ("c_1@example.com",))]
    # And the broken one has a failed run that says why
    broken = runs["broken"]
    assert broken.status is RunStatus.FAILED
    assert broken.end_reason == "the automation failed on this event: ZeroDivisionError: division by zero"
    assert world.counters("broken") == {"runs_started": 1, "runs_failed": 1}
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.status == "processed"


def test_a_failure_of_the_cloud_fails_the_request_and_its_retry_finishes_the_job(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a welcome email, and an email queue that is unavailable once
    world.create(automation("welcome", "lead.created"))
    real_send = world.fakes.email_queue.send
    outages = [TransientError("the queue is unavailable")]

    def send(requests: Any) -> None:
        if outages:
            raise outages.pop()
        real_send(requests)

    monkeypatch.setattr(world.fakes.email_queue, "send", send)
    # When the event arrives: the run is stored (the event with it, marked processed), then its email cannot be
    # queued
    with pytest.raises(TransientError):
        world.post(event("lead.created", "evt_1"))
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.status == "processed"
    # Then the retry answers with the same run, and queues its email once
    [retry] = world.post(event("lead.created", "evt_1"))
    assert retry.status == "duplicate" and len(retry.runs) == 1
    assert world.emails() == [("welcome", "welcome", ("c_1@example.com",))]
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and (stored.status, list(stored.runs)) == ("processed", retry.runs)
    assert world.counters("welcome") == {"runs_started": 1, "runs_completed": 1}


def test_a_retry_of_an_event_whose_run_moved_on_makes_sure_of_the_schedule_it_waits_on(world: World) -> None:
    # Given a run that waited a day and now waits on a second delay, whose event was never marked processed
    world.create(automation("reminder", "invoice.overdue", {"id": "first", "delay": "1d"}, WAIT_3D))
    [first] = world.post(event("invoice.overdue", "evt_1"))
    world.later(timedelta(days=1))
    assert world.run(first.runs[0]).position == "wait"
    stored = world.fakes.events.get("evt_1")
    assert stored is not None
    world.fakes.events.events["evt_1"] = replace(stored, status="received", runs=())
    world.fakes.scheduler.schedules.clear()
    # When the event is delivered again
    [retry] = world.post(event("invoice.overdue", "evt_1"))
    # Then it names the same run, which waits on, its schedule made again for the step it waits on
    assert (retry.status, retry.runs) == ("duplicate", first.runs)
    [(due, payload)] = world.schedules().values()
    assert (payload["run"], payload["step"], due) == (first.runs[0], "wait", world.now + timedelta(days=3))
    assert world.emails() == []


# --- duplicates of events stored in their first write --------------------------------------------------------


def test_a_duplicate_of_an_event_whose_run_queued_an_email_queues_it_again_and_it_is_sent_once() -> None:
    # Given an event whose run's creation stored it processed, and whose email was queued and sent
    room = Mailroom()
    room.create(automation("welcome", "lead.created"))
    [first] = room.post(event("lead.created", "evt_1", "ana"))
    stored = room.fakes.events.get("evt_1")
    assert stored is not None and (stored.status, list(stored.runs)) == ("processed", first.runs)
    [queued] = room.fakes.email_queue.drain()
    [sent] = room.send(request_from_body(queued))
    assert sent.state == "sent"
    # When the event is delivered again (its sender cannot tell whether the email left before a crash)
    [again] = room.post(event("lead.created", "evt_1", "ana"))
    # Then the same message is queued again, and the sender finds it sent: the provider got it once
    assert (again.status, again.runs) == ("duplicate", first.runs)
    [requeued] = room.fakes.email_queue.drain()
    assert requeued == queued
    [resent] = room.send(request_from_body(requeued))
    assert (resent.state, resent.reason) == ("done", "already sent") and room.sent_to() == ["ana@example.com"]
    assert room.counters("welcome")["runs_started"] == 1


def test_a_duplicate_of_a_processed_countdown_restart_makes_its_schedule_again_at_the_recorded_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a check-in of a known person (its contact changes nothing: its countdown's write stores it, processed),
    # and a scheduler that fails after that write
    miss_you(world)
    world.deps.contacts.upsert_from_event("ana", event("client.checked_in", "evt_0", "ana")["contact"], world.now)
    real_replace = world.fakes.scheduler.replace
    outages = [TransientError("the scheduler is unavailable")]

    def replace_once(*args: Any, **kwargs: Any) -> None:
        if outages:
            raise outages.pop()
        real_replace(*args, **kwargs)

    monkeypatch.setattr(world.fakes.scheduler, "replace", replace_once)
    checked_in = world.now
    with pytest.raises(TransientError):
        world.post(event("client.checked_in", "evt_1", "ana", at=checked_in))
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.status == "processed"
    assert world.schedules() == {}
    # When the event is delivered again, an hour later
    world.fakes.clock.advance(timedelta(hours=1))
    [again] = world.post(event("client.checked_in", "evt_1", "ana", at=checked_in))
    # Then its countdown's schedule is made, at the time the countdown recorded (30 days after the check-in)
    assert (again.status, again.runs) == ("duplicate", [])
    countdown = world.fakes.counters.silence("miss-you", "ana")
    assert countdown is not None and countdown.due_at == checked_in + timedelta(days=30)
    [(name, (due, payload))] = world.schedules().items()
    assert name == ingest_service.silence_schedule_name("default", "miss-you", "ana")
    assert (due, payload["event"]) == (countdown.due_at, "evt_1")
    # And the run starts when the silence is over, once
    world.later(timedelta(days=30))
    assert world.emails() == [("miss-you", "welcome", ("ana@example.com",))]


def test_an_event_of_a_batch_sees_the_run_key_an_earlier_event_of_the_batch_took(world: World) -> None:
    # Given an overdue reminder per invoice, cancelled when the invoice is paid
    cancel_on = [{"event": "invoice.paid", "key": "data.invoice"}]
    world.create(
        automation("reminder", "invoice.overdue", WAIT_3D, WELCOME, run_key="data.invoice", cancel_on=cancel_on)
    )
    # When one request carries the overdue invoice and then its payment (the key free when the request began)
    overdue, paid = world.post(
        event("invoice.overdue", "evt_1", invoice="inv_1"), event("invoice.paid", "evt_paid", invoice="inv_1")
    )
    # Then the payment cancels the run the overdue event started in the same request
    [run_id] = overdue.runs
    assert (overdue.status, paid.status, paid.runs) == ("accepted", "accepted", [])
    run = world.run(run_id)
    assert (run.status, run.end_reason) == (RunStatus.CANCELLED, "cancelled by invoice.paid (evt_paid)")
    assert world.schedules() == {} and world.fakes.runs.run_for_key("reminder", "inv_1") is None
    for event_id, runs in (("evt_1", (run_id,)), ("evt_paid", ())):
        stored = world.fakes.events.get(event_id)
        assert stored is not None and (stored.status, stored.runs) == ("processed", runs)


def test_a_retry_of_an_event_that_left_nothing_to_write_is_marked_processed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a waiting reminder, and a payment whose first delivery cancelled it but failed to mark itself processed
    cancel_on = [{"event": "invoice.paid", "key": "data.invoice"}]
    world.create(automation("reminder", "invoice.overdue", WAIT_3D, run_key="data.invoice", cancel_on=cancel_on))
    [overdue] = world.post(event("invoice.overdue", "evt_1", invoice="inv_1"))
    real_mark = world.fakes.events.mark_processed
    outages = [TransientError("the table is unavailable")]

    def mark_once(done: Any) -> None:
        if outages:
            raise outages.pop()
        real_mark(done)

    monkeypatch.setattr(world.fakes.events, "mark_processed", mark_once)
    with pytest.raises(TransientError):
        world.post(event("invoice.paid", "evt_paid", invoice="inv_1"))
    stored = world.fakes.events.get("evt_paid")
    assert stored is not None and stored.status == "received"
    assert world.run(overdue.runs[0]).status is RunStatus.CANCELLED
    # When it is delivered again (the key is free now: nothing is left to cancel, no write would store it)
    [retry] = world.post(event("invoice.paid", "evt_paid", invoice="inv_1"))
    # Then it is a duplicate, and it is processed at last
    assert (retry.status, retry.runs) == ("duplicate", [])
    stored = world.fakes.events.get("evt_paid")
    assert stored is not None and stored.status == "processed"
    assert world.counters("reminder") == {"runs_started": 1, "runs_cancelled": 1}
