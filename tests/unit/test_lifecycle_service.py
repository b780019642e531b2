"""An automation's lifecycle on the in-memory ports: activation routes its events, deactivation and deletion end
its waiting runs with the reason (and a deactivation that had not reached a run ends it when it is due)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from automations.engine import RunStatus
from automations.ports import NotFoundError
from automations.services import lifecycle
from automations.services.lifecycle import ActivationError

from tests.support.services import WELCOME, World, automation, event
from tests.support.settings import settings_with

WAIT_3D: dict[str, Any] = {"id": "wait", "delay": "3d"}


@pytest.fixture
def world() -> World:
    return World()


def three_waiting(world: World) -> list[str]:
    """Three runs of ``reminder`` waiting three days, and three of ``other`` (same event); the reminder's."""
    world.create(automation("reminder", "invoice.overdue", WAIT_3D, WELCOME))
    world.create(automation("other", "invoice.overdue", WAIT_3D, WELCOME))
    results = world.post(*(event("invoice.overdue", f"evt_{n}", f"c_{n}") for n in range(3)))
    return [run.id for result in results for run in world.runs_of(result) if run.automation_id == "reminder"]


def test_deactivating_ends_every_waiting_run_with_the_reason(world: World) -> None:
    # Given three waiting runs of the reminder, and three of another automation
    runs = three_waiting(world)
    # When the reminder is deactivated, with a reason
    summary = lifecycle.deactivate(world.deps, "reminder", world.now, "paused for the holidays")
    # Then it is inactive with that reason, and each of its runs ended with it, their call-backs gone
    assert (summary.status, summary.status_reason) == ("inactive", "paused for the holidays")
    for run_id in runs:
        run = world.run(run_id)
        assert (run.status, run.end_reason) == (RunStatus.CANCELLED, "paused for the holidays")
    assert [payload["run"] for _, payload in world.schedules().values() if payload["run"] in runs] == []
    assert world.counters("reminder") == {"runs_started": 3, "runs_cancelled": 3}
    # And the other automation's runs still wait
    assert len(list(world.deps.runs.waiting_of("other"))) == 3
    # And new events start nothing of it
    [later] = world.post(event("invoice.overdue", "evt_later"))
    assert [world.run(run_id).automation_id for run_id in later.runs] == ["other"]


def test_deactivating_an_inactive_automation_ends_the_runs_left(world: World) -> None:
    runs = three_waiting(world)
    world.deps.automations.set_status("reminder", "inactive", world.now, "paused")
    lifecycle.deactivate(world.deps, "reminder", world.now, "paused again")
    assert {world.run(run_id).end_reason for run_id in runs} == {"paused again"}
    assert world.deps.automations.head("reminder").status_reason == "paused"


def test_a_run_a_deactivation_did_not_reach_ends_with_its_reason_when_due(world: World) -> None:
    # Given a waiting run, and its automation deactivated without its runs being ended (a deactivation in flight)
    [run_id, *_] = three_waiting(world)
    world.deps.automations.set_status("reminder", "inactive", world.now, "too many bounces")
    # When the run is called back
    results = world.later(timedelta(days=3))
    # Then it ends with the deactivation's reason, and sends nothing
    run = world.run(run_id)
    assert (run.status, run.end_reason) == (RunStatus.CANCELLED, "too many bounces")
    assert {r.reason for r in results if r.status == "ended"} == {"too many bounces"}
    assert {automation_id for automation_id, _, _ in world.emails()} == {"other"}


def test_deleting_ends_every_waiting_run_and_forgets_the_automation(world: World) -> None:
    runs = three_waiting(world)
    ended = lifecycle.delete(world.deps, "reminder", world.now)
    assert ended == 3
    assert {(world.run(run_id).status, world.run(run_id).end_reason) for run_id in runs} == {
        (RunStatus.CANCELLED, "automation deleted")
    }
    with pytest.raises(NotFoundError):
        lifecycle.get(world.deps, "reminder")
    [later] = world.post(event("invoice.overdue", "evt_later"))
    assert [world.run(run_id).automation_id for run_id in later.runs] == ["other"]


def test_a_run_of_a_deleted_automation_ends_when_due(world: World) -> None:
    [run_id, *_] = three_waiting(world)
    world.deps.automations.delete("reminder")
    world.later(timedelta(days=3))
    assert world.run(run_id).end_reason == "automation deleted"


def test_activating_a_draft_routes_its_events(world: World) -> None:
    # Given a draft
    world.create({**automation("welcome", "lead.created"), "status": "draft"})
    [before] = world.post(event("lead.created", "evt_1"))
    # When it is activated
    summary = lifecycle.activate(world.deps, "welcome", world.now)
    # Then its events start runs
    [after] = world.post(event("lead.created", "evt_2"))
    assert (summary.status, before.runs, len(after.runs)) == ("active", [], 1)


def test_an_automation_that_cannot_send_is_not_activated() -> None:
    # Given a stack without a sender address or an email queue, and a draft that sends an email
    world = World(settings=settings_with())
    world.create({**automation("welcome", "lead.created"), "status": "draft"})
    # When it is activated
    with pytest.raises(ActivationError) as refused:
        lifecycle.activate(world.deps, "welcome", world.now)
    # Then it is refused with every reason, and stays a draft
    assert refused.value.reasons == [
        "no sender address is configured (SENDER_ADDRESS) and an email step has no 'from'",
        "no email queue is configured (EMAIL_QUEUE_URL)",
    ]
    assert lifecycle.get(world.deps, "welcome").status == "draft"
    assert world.fakes.automations.routes_for("lead.created") == []
