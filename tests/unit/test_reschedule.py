"""``reschedule_on``: a later event of a waiting run's key updates the run's data and moves its pending delay ("the
booking moved: the reminder moves with it"); a moment moved into the past follows ``if_past``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from automations.engine import CancelSchedule, Finish, RunStatus, ScheduleStep, reschedule, start_run
from automations.errors import DefinitionError, FieldError
from automations.language import load_definition
from automations.services.runner import run_schedule_name

from tests.support.services import WELCOME, World, automation, event

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # the fake clock's start


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def reminder(if_past: str = "skip", **fields: Any) -> dict[str, Any]:
    """A reminder one day before a session, moved by session.moved and ended by session.cancelled."""
    delay = {"id": "day-before", "delay": {"until": "data.session.starts_at", "offset": "-1d", "if_past": if_past}}
    return automation(
        "reminder",
        "session.booked",
        delay,
        WELCOME,
        run_key="data.session.id",
        cancel_on=[{"event": "session.cancelled", "key": "data.session.id"}],
        reschedule_on=[{"event": "session.moved", "key": "data.session.id"}],
        **fields,
    )


def session(
    kind: str, event_id: str, starts_at: datetime | None, session_id: str = "s_1", **more: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": session_id, **more}
    if starts_at is not None:
        data["starts_at"] = iso(starts_at)
    return event(kind, event_id, session=data)


@pytest.fixture
def world() -> World:
    world = World()
    world.create(reminder())
    return world


def booked(world: World, starts_at: datetime, **more: Any) -> str:
    [result] = world.post(session("session.booked", "evt_booked", starts_at, room="A", **more))
    [run] = world.runs_of(result)
    assert run.status is RunStatus.WAITING
    return run.id


def test_a_moved_session_moves_the_waiting_reminder(world: World) -> None:
    # Given a reminder waiting until the day before a session in 5 days
    run_id = booked(world, NOW + timedelta(days=5))
    name = run_schedule_name(run_id, "day-before")
    assert world.schedules()[name][0] == NOW + timedelta(days=4)
    # When the session moves 5 days later (the event carries only the session's id and new time)
    [moved] = world.post(session("session.moved", "evt_moved", NOW + timedelta(days=10)))
    # Then no run is started by it, and the reminder's one schedule now fires the day before the new time
    assert moved.runs == []
    assert list(world.schedules()) == [name]
    due, payload = world.schedules()[name]
    assert due == NOW + timedelta(days=9)
    assert payload["due_at"] == (NOW + timedelta(days=9)).isoformat()
    run = world.run(run_id)
    assert (run.status, run.position, run.due_at) == (RunStatus.WAITING, "day-before", NOW + timedelta(days=9))
    # And the run has the new data merged into its own (what the event did not say is kept)
    assert run.context["data"]["session"] == {"id": "s_1", "starts_at": iso(NOW + timedelta(days=10)), "room": "A"}
    # And the timeline records the move with the old and the new moments
    [moved_decision] = [d for d in run.log if d.kind == "rescheduled"]
    assert moved_decision.reason == (
        f"rescheduled by session.moved (evt_moved): from {(NOW + timedelta(days=4)).isoformat()} "
        f"to {(NOW + timedelta(days=9)).isoformat()}"
    )
    assert moved_decision.details == {
        "event_id": "evt_moved",
        "event_type": "session.moved",
        "from": (NOW + timedelta(days=4)).isoformat(),
        "to": (NOW + timedelta(days=9)).isoformat(),
    }
    # When the old moment comes, nothing is sent; at the new one, the reminder goes, once
    world.later(timedelta(days=4, hours=1))
    assert world.emails() == []
    world.later(timedelta(days=5))
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    assert world.run(run_id).status is RunStatus.COMPLETED


def test_a_session_moved_earlier_moves_the_reminder_earlier(world: World) -> None:
    run_id = booked(world, NOW + timedelta(days=10))
    world.post(session("session.moved", "evt_moved", NOW + timedelta(days=3)))
    assert world.schedules()[run_schedule_name(run_id, "day-before")][0] == NOW + timedelta(days=2)
    world.later(timedelta(days=2))
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]


def test_a_session_moved_into_the_past_ends_the_run_when_if_past_says_skip(world: World) -> None:
    # Given a reminder waiting for a session in 5 days
    run_id = booked(world, NOW + timedelta(days=5))
    # When the session is moved to in 12 hours (its day-before has passed)
    world.post(session("session.moved", "evt_moved", NOW + timedelta(hours=12)))
    # Then the run ends, skipped, with the reason; its schedule is gone and nothing is sent
    run = world.run(run_id)
    past = (NOW - timedelta(hours=12)).isoformat()
    assert (run.status, run.end_reason) == (RunStatus.SKIPPED, f"moment {past} already passed")
    assert [d.kind for d in run.log][-3:] == ["rescheduled", "past", "finished"]
    assert world.schedules() == {}
    assert world.emails() == []
    # And its run key is free again: a new booking of the same session starts a new run
    [again] = world.post(session("session.booked", "evt_booked_2", NOW + timedelta(days=3)))
    assert len(again.runs) == 1


def test_a_session_moved_into_the_past_sends_at_once_when_if_past_says_run_now() -> None:
    # Given a reminder that runs at once when its moment has passed
    world = World()
    world.create(reminder(if_past="run_now"))
    run_id = booked(world, NOW + timedelta(days=5))
    # When the session is moved to in 12 hours
    world.post(session("session.moved", "evt_moved", NOW + timedelta(hours=12)))
    # Then the reminder goes now, the run completes and its schedule is gone
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    run = world.run(run_id)
    assert run.status is RunStatus.COMPLETED
    assert [d.kind for d in run.log] == ["started", "wait", "rescheduled", "past", "email", "finished"]
    assert world.schedules() == {}


def test_a_move_that_leaves_no_moment_ends_the_run_as_skipped(world: World) -> None:
    run_id = booked(world, NOW + timedelta(days=5))
    world.post(event("session.moved", "evt_moved", session={"id": "s_1", "starts_at": "soon"}))
    run = world.run(run_id)
    assert (run.status, run.end_reason) == (
        RunStatus.SKIPPED,
        "delay.until field 'data.session.starts_at' is not a timestamp ('soon')",
    )
    assert world.schedules() == {}


def test_a_move_of_another_session_or_without_a_waiting_run_changes_nothing(world: World) -> None:
    run_id = booked(world, NOW + timedelta(days=5))
    before = world.schedules()
    # Another session moves; a move without the key; a key of no run
    world.post(
        session("session.moved", "evt_other", NOW + timedelta(days=9), session_id="s_2"),
        event("session.moved", "evt_nokey", session={"starts_at": iso(NOW + timedelta(days=9))}),
    )
    assert world.schedules() == before
    run = world.run(run_id)
    assert run.due_at == NOW + timedelta(days=4)
    assert [d.kind for d in run.log] == ["started", "wait"]


def test_cancel_and_reschedule_cover_a_booking_moved_then_cancelled(world: World) -> None:
    # Given a moved booking
    run_id = booked(world, NOW + timedelta(days=5))
    world.post(session("session.moved", "evt_moved", NOW + timedelta(days=8)))
    # When it is cancelled
    world.post(session("session.cancelled", "evt_cancelled", None))
    # Then the run ends, cancelled, and its moved schedule is gone
    run = world.run(run_id)
    assert (run.status, run.end_reason) == (RunStatus.CANCELLED, "cancelled by session.cancelled (evt_cancelled)")
    assert world.schedules() == {}
    # And a move after that finds no run
    world.post(session("session.moved", "evt_moved_again", NOW + timedelta(days=9)))
    assert world.run(run_id).status is RunStatus.CANCELLED
    assert world.schedules() == {}


def test_a_move_updates_the_contact_of_the_same_person_and_the_email_shows_the_new_data() -> None:
    # Given a reminder whose email shows the session's room
    email = {**WELCOME, "send_email": {**WELCOME["send_email"], "subject": "Room {{ data.session.room }}"}}
    world = World()
    world.create({**reminder(), "steps": [reminder()["steps"][0], email]})
    run_id = booked(world, NOW + timedelta(days=5))
    # When the session moves to another room, and the person's first name is corrected
    moved = session("session.moved", "evt_moved", NOW + timedelta(days=6), room="B")
    moved["contact"]["first_name"] = "Ana"
    world.post(moved)
    assert world.run(run_id).context["contact"]["first_name"] == "Ana"
    # Then the reminder, when it goes, says room B
    world.later(timedelta(days=5))
    assert [m["subject"] for m in world.fakes.email_queue.drain()] == ["Room B"]


def test_a_move_of_a_run_waiting_for_its_send_window_only_updates_its_data() -> None:
    # Given a reminder 1 hour after booking, sent on weekdays only, booked on a Saturday
    world = World()
    world.fakes.clock.moment = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
    world.create({**reminder(), "steps": [{"id": "hour", "delay": "1h"}, WELCOME], "send_window": window})
    run_id = booked(world, world.now + timedelta(days=5))
    world.later(timedelta(hours=1))
    run = world.run(run_id)
    assert (run.position, run.window_wait) == ("welcome", True)
    before = world.schedules()
    # When the session moves
    world.post(session("session.moved", "evt_moved", world.now + timedelta(days=9)))
    # Then the run has the new data, still waits for the window, and its schedule is as it was
    run = world.run(run_id)
    assert run.context["data"]["session"]["starts_at"] == iso(world.now + timedelta(days=9))
    assert (run.position, run.window_wait, run.log[-1].kind) == ("welcome", True, "updated")
    assert run.log[-1].reason == "data updated by session.moved (evt_moved); waits for a send window"
    assert world.schedules() == before


# --- the engine alone ---------------------------------------------------------------------------------------------


def test_the_engine_moves_a_call_back_with_a_replacing_schedule_and_the_same_event_again_only_asks_for_it() -> None:
    auto = load_definition(reminder())
    start = session("session.booked", "evt_booked", NOW + timedelta(days=5))
    outcome = start_run(auto, 1, start, now=NOW, run_id="run_1", workspace="default", run_key="s_1")
    moved = session("session.moved", "evt_moved", NOW + timedelta(days=7))
    first = reschedule(auto, outcome.state, moved, now=NOW + timedelta(hours=1))
    new_due = NOW + timedelta(days=6)
    assert first.effects == [ScheduleStep("default", "run_1", "day-before", new_due, replace=True)]
    assert first.state.due_at == new_due
    # The same event again (a retried request): nothing more is recorded; the call-back is asked for again
    again = reschedule(auto, first.state, moved, now=NOW + timedelta(hours=2))
    assert again.noop_reason == "already updated by session.moved (evt_moved)"
    assert again.effects == [ScheduleStep("default", "run_1", "day-before", new_due, replace=True)]
    assert again.state.log == first.state.log
    # A move into the past with if_past: skip drops the call-back and ends the run
    past = reschedule(auto, first.state, session("session.moved", "evt_2", NOW), now=NOW + timedelta(hours=3))
    assert [type(e) for e in past.effects] == [CancelSchedule, Finish]
    assert past.state.status is RunStatus.SKIPPED
    # A run that is not waiting is left alone
    assert reschedule(auto, past.state, moved, now=NOW).noop_reason == "run is skipped, not waiting"


def test_a_relative_delay_keeps_its_moment_and_a_delay_at_follows_the_contacts_new_zone() -> None:
    # Given a run waiting 3 days, and one waiting until the next 09:00 in the contact's zone
    steps = [{"id": "wait", "delay": "3d"}, WELCOME]
    relative = load_definition({**reminder(), "steps": steps})
    start = session("session.booked", "evt_booked", NOW + timedelta(days=5))
    waiting = start_run(relative, 1, start, now=NOW, run_id="run_1", workspace="default").state
    # When a move arrives a day later: the 3 days still count from when the step was reached
    later = reschedule(relative, waiting, session("session.moved", "evt_m", NOW), now=NOW + timedelta(days=1))
    assert later.state.due_at == NOW + timedelta(days=3)
    assert later.state.log[-1].kind == "updated"
    # Given a delay to 09:00 for a contact in Lisbon (10:00 UTC now: the next 09:00 is tomorrow 09:00 UTC)
    at = load_definition({**reminder(), "steps": [{"id": "wait", "delay": {"at": "09:00"}}, WELCOME]})
    start["contact"]["timezone"] = "Europe/Lisbon"
    waiting = start_run(at, 1, start, now=NOW, run_id="run_2", workspace="default").state
    assert waiting.due_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    # When the person moves to New York (the event's contact is the run's person)
    moved = session("session.moved", "evt_m", NOW)
    moved["contact"]["timezone"] = "America/New_York"
    later = reschedule(at, waiting, moved, now=NOW + timedelta(hours=1))
    # Then the reminder waits for 09:00 in New York, counted from when the step was reached
    assert later.state.due_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


# --- refused at save --------------------------------------------------------------------------------------------


def test_reschedule_on_without_a_run_key_is_refused() -> None:
    definition = reminder()
    del definition["run_key"], definition["cancel_on"]
    with pytest.raises(DefinitionError) as caught:
        load_definition(definition)
    assert caught.value.errors == [FieldError("reschedule_on", "needs a 'run_key' to know which runs to move")]


def test_an_event_both_cancelling_and_rescheduling_is_refused() -> None:
    definition = {**reminder(), "reschedule_on": [{"event": "session.cancelled", "key": "data.session.id"}]}
    with pytest.raises(DefinitionError) as caught:
        load_definition(definition)
    assert caught.value.errors == [
        FieldError(
            "reschedule_on", "session.cancelled is in cancel_on too: an event either ends a waiting run or moves it"
        )
    ]


def test_a_bad_reschedule_rule_is_refused_with_its_location() -> None:
    definition = {**reminder(), "reschedule_on": [{"event": "session.moved", "key": "data..id"}]}
    with pytest.raises(DefinitionError) as caught:
        load_definition(definition)
    [error] = caught.value.errors
    assert error.loc == "reschedule_on[0].key"
