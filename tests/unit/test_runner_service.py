"""The runner on the in-memory ports: delays and the times runs are called back, each waiting step advanced at
most once and never before its time, and a run the engine cannot continue failing alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from automations import engine
from automations.engine import RunStatus
from automations.ports import StoredRun, TransientError, is_transient, schedule_name
from automations.services import runner
from automations.services.runner import evaluate_step, run_schedule_name

from tests.support.services import WELCOME, World, automation, event

WAIT_3D: dict[str, Any] = {"id": "wait", "delay": "3d"}


@pytest.fixture
def world() -> World:
    return World()


def waiting_run(world: World, *steps: dict[str, Any], **data: Any) -> tuple[str, dict[str, Any]]:
    """A run of ``reminder`` (these steps) waiting on its first delay: its id and its schedule's payload."""
    world.create(automation("reminder", "invoice.overdue", *(steps or (WAIT_3D, WELCOME))))
    [result] = world.post(event("invoice.overdue", "evt_1", **data))
    [run_id] = result.runs
    [(_, payload)] = world.schedules().values()
    return run_id, payload


# --- delays and due times -------------------------------------------------------------------------------------


def test_a_delay_waits_and_the_run_is_called_back_when_it_is_over(world: World) -> None:
    # Given a reminder three days after an invoice is overdue
    started = world.now
    run_id, _ = waiting_run(world)
    # Then the run waits on the delay, due in three days, with one schedule of that time calling it back
    run = world.run(run_id)
    assert (run.status, run.position, run.due_at) == (RunStatus.WAITING, "wait", started + timedelta(days=3))
    name = run_schedule_name(run_id, "wait")
    due, payload = world.schedules()[name]
    assert due == started + timedelta(days=3)
    assert payload == {
        "kind": "step",
        "workspace": "default",
        "run": run_id,
        "step": "wait",
        "due_at": (started + timedelta(days=3)).isoformat(),
    }
    assert world.emails() == []
    # When the three days are over
    [result] = world.later(timedelta(days=3))
    # Then the run goes on and ends, its email queued
    assert (result.status, result.reason, result.run_status) == ("advanced", "delay over", "completed")
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    assert world.counters("reminder") == {"runs_started": 1, "runs_completed": 1}


def test_a_delay_until_a_moment_is_called_back_at_that_second_never_before(world: World) -> None:
    # Given a reminder one day before a session that starts at a moment with a fraction of a second
    delay = {"id": "day-before", "delay": {"until": "data.starts_at", "offset": "-1d"}}
    starts = datetime(2026, 11, 30, 18, 30, 0, 250_000, tzinfo=UTC)
    run_id, _ = waiting_run(world, delay, WELCOME, starts_at=starts.isoformat())
    # Then the run is due a day before, and its schedule fires at the next whole second
    assert world.run(run_id).due_at == starts - timedelta(days=1)
    [(due, _)] = world.schedules().values()
    assert due == datetime(2026, 11, 29, 18, 30, 1, tzinfo=UTC)
    # And it goes on when the schedule fires
    [result] = world.later(due - world.now)
    assert result.status == "advanced"


def test_two_delays_call_the_run_back_twice(world: World) -> None:
    run_id, _ = waiting_run(world, {"id": "first", "delay": "1d"}, WAIT_3D, WELCOME)
    [first] = world.later(timedelta(days=1))
    assert (first.status, first.run_status) == ("advanced", "waiting")
    assert world.run(run_id).position == "wait"
    [second] = world.later(timedelta(days=3))
    assert second.run_status == "completed"
    assert [d.kind for d in world.run(run_id).log].count("resumed") == 2


# --- at most once, never early ------------------------------------------------------------------------------


def test_a_step_delivered_twice_advances_once(world: World) -> None:
    # Given a run whose delay is over and which was called back
    _, payload = waiting_run(world)
    [first] = world.later(timedelta(days=3))
    assert first.status == "advanced"
    # When the same call-back is delivered again
    again = world.fire(payload)
    # Then nothing more happens
    assert (again.status, again.reason) == ("noop", "run already completed")
    assert world.emails() == [("reminder", "welcome", ("c_1@example.com",))]
    assert world.counters("reminder") == {"runs_started": 1, "runs_completed": 1}


def test_two_racing_deliveries_advance_the_run_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run whose delay is over, and a delivery that reads it just before another one advances it
    run_id, payload = waiting_run(world)
    world.fakes.clock.advance(timedelta(days=3))
    real_get = world.fakes.runs.get

    def read_then_lose_the_race(wanted: str) -> StoredRun:
        stored = real_get(wanted)
        monkeypatch.setattr(world.fakes.runs, "get", real_get)
        assert evaluate_step(world.deps, payload, world.now).status == "advanced"
        return stored

    monkeypatch.setattr(world.fakes.runs, "get", read_then_lose_the_race)
    # When the late one tries to save what it computed
    late = evaluate_step(world.deps, payload, world.now)
    # Then it stores nothing: the run advanced once and ended once
    assert (late.status, late.reason) == ("noop", "another delivery advanced the run first")
    run = world.run(run_id)
    assert run.status is RunStatus.COMPLETED and [d.kind for d in run.log].count("resumed") == 1
    assert world.counters("reminder") == {"runs_started": 1, "runs_completed": 1}
    # And its email requests are for the same (run, step, recipient): the sender sends it once
    assert set(world.emails()) == {("reminder", "welcome", ("c_1@example.com",))}


def test_a_call_back_before_the_due_time_does_nothing(world: World) -> None:
    run_id, payload = waiting_run(world)
    world.fakes.clock.advance(timedelta(days=2))
    result = world.fire(payload)
    assert (result.status, result.run_status) == ("noop", "waiting")
    assert result.reason.startswith("not due before")
    assert world.run(run_id).status is RunStatus.WAITING and world.emails() == []


def test_an_early_call_back_for_another_due_time_makes_sure_the_run_is_called_back_when_due(world: World) -> None:
    # Given a waiting run, and a call-back whose payload names an earlier due time (a racing, older schedule)
    run_id, payload = waiting_run(world)
    run = world.run(run_id)
    assert run.due_at is not None
    world.fakes.scheduler.schedules.clear()
    world.fakes.clock.advance(timedelta(days=3) - timedelta(minutes=2))
    # When it fires two minutes before the run is due
    result = world.fire({**payload, "due_at": (run.due_at - timedelta(hours=1)).isoformat()})
    # Then nothing happens now, and a schedule calls the run back when it is due
    assert result.status == "noop"
    due, again = world.schedules()[schedule_name("run", run_id, "wait", "due")]
    assert (due, again["run"], again["step"]) == (run.due_at, run_id, "wait")
    [later] = world.later(timedelta(minutes=2))
    assert later.status == "advanced"


def test_a_call_back_for_another_step_or_an_unknown_run_does_nothing(world: World) -> None:
    run_id, payload = waiting_run(world)
    world.fakes.clock.advance(timedelta(days=3))
    other = world.fire({**payload, "step": "other"})
    unknown = world.fire({**payload, "run": "run_unknown"})
    assert (other.status, other.reason) == ("noop", "run waits on 'wait', not 'other'")
    assert (unknown.status, unknown.reason) == ("noop", "run run_unknown not found")
    assert world.run(run_id).status is RunStatus.WAITING


# --- failures -----------------------------------------------------------------------------------------------


def test_a_run_the_engine_cannot_continue_fails_with_the_reason(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a waiting run, and an engine that breaks on it
    run_id, _ = waiting_run(world)

    def advance(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("position")

    monkeypatch.setattr(runner, "advance", advance)
    # When it is called back
    [result] = world.later(timedelta(days=3))
    # Then it ends failed, saying where and why, its failure counted
    assert (result.status, result.run_status) == ("ended", "failed")
    run = world.run(run_id)
    assert run.end_reason == "the automation failed at step 'wait': KeyError: 'position'"
    assert world.counters("reminder") == {"runs_started": 1, "runs_failed": 1}


def test_a_failure_of_the_cloud_while_advancing_leaves_the_run_for_the_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a waiting run, and an engine call that meets a transient failure once
    run_id, payload = waiting_run(world)
    real_advance = engine.advance
    outages = [TransientError("throttled")]

    def advance(*args: Any, **kwargs: Any) -> Any:
        if outages:
            raise outages.pop()
        return real_advance(*args, **kwargs)

    monkeypatch.setattr(runner, "advance", advance)
    world.fakes.clock.advance(timedelta(days=3))
    # When it is called back, the failure fails the call (the scheduler retries it)
    with pytest.raises(TransientError):
        world.fire(payload)
    assert world.run(run_id).status is RunStatus.WAITING
    # Then the retry advances it
    assert world.fire(payload).status == "advanced"
    assert world.run(run_id).status is RunStatus.COMPLETED


def test_only_what_the_adapters_call_transient_is_retried_whole() -> None:
    from automations.adapters.failures import is_transient as aws_is_transient
    from botocore.exceptions import ClientError, EndpointConnectionError

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
    assert is_transient(TransientError("down")) and not is_transient(throttled)
    for failure in (TransientError("down"), throttled, EndpointConnectionError(endpoint_url="https://x.example")):
        assert aws_is_transient(failure)
    for bug in (ValueError("bad"), KeyError("k"), OverflowError("far")):
        assert not is_transient(bug) and not aws_is_transient(bug)
