"""The update_contact action on the fakes (DESIGN.md §3 "Actions"): the profile changed once per run and step,
the change seen by the steps after it, each change a contact.<change> event, a chain of automations starting one
another stopped at depth 5, and a change that cannot be made failing the step as ``on_failure`` says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from automations.engine import RunStatus, advance
from automations.events import parse_event
from automations.ports import ContactPatch
from automations.services import contact_changes, runner
from automations.services.ingest import EventResult, ingest

from tests.support.services import World

EMAIL = {
    "id": "congrats",
    "send_email": {
        "to": {"trigger_contact": True},
        "subject": "{{ contact.points }} points",
        "html": "<p>{{ contact.labels | join(',') }}</p>",
    },
}


def automation(steps: list[dict[str, Any]], *, event: str = "checkin.created", **more: Any) -> dict[str, Any]:
    return {"id": "reward", "name": "Reward", "status": "active", "trigger": {"event": event}, "steps": steps, **more}


def checkin(world: World, n: int = 1) -> EventResult:
    event = {"id": f"evt_{n}", "type": "checkin.created", "contact": {"id": "c_1", "email": "ana@example.com"}}
    [result] = world.post(event)
    return result


def deliver_bus(world: World) -> list[EventResult]:
    """Hand the events put on the bus to ingest, as the bus rule does (each once)."""
    results: list[EventResult] = []
    while world.fakes.bus.events:
        entry = world.fakes.bus.events.pop(0)
        detail = {k: v for k, v in entry["Detail"].items() if k != "workspace"}
        results += ingest(world.deps, [parse_event({**detail, "type": entry["DetailType"]})], world.now)
    return results


def test_labels_points_and_badges_are_given_once_and_seen_by_the_next_steps() -> None:
    world = World()
    update = {"id": "award", "update_contact": {"add_labels": ["regular"], "add_points": 100, "add_badges": ["10th"]}}
    world.create(automation([update, EMAIL]))
    result = checkin(world)
    profile = world.deps.contacts.get("c_1")
    assert profile is not None
    assert (profile.labels, profile.points, profile.badges) == (("regular",), 100, ("10th",))
    [(_, step, _)] = world.emails()
    assert step == "congrats"
    run = world.run(result.runs[0])
    assert run.context["contact"]["points"] == 100 and "regular" in run.context["contact"]["labels"]
    kinds = [d.kind for d in run.log]
    assert "contact_update" in kinds and run.status is RunStatus.COMPLETED
    events = sorted(e["DetailType"] for e in world.fakes.bus.events)
    assert events == ["contact.badge_added", "contact.label_added", "contact.points_changed"]
    assert {e["Detail"]["data"]["depth"] for e in world.fakes.bus.events} == {1}


def test_a_retried_step_awards_the_points_once() -> None:
    world = World()
    world.create(automation([{"delay": "1d"}, {"id": "award", "update_contact": {"add_points": 100}}]))
    result = checkin(world)
    [(_, (_, payload))] = list(world.schedules().items())
    world.fakes.clock.advance(timedelta(days=1))
    state = world.run(result.runs[0])
    outcome = advance(world.deps.definition("reward", 1), state, now=world.now, step=payload["step"])
    for _ in range(3):  # the step's effects applied again, as a retried invocation would
        runner.apply_effects(world.deps, outcome)
    profile = world.deps.contacts.get("c_1")
    assert profile is not None and profile.points == 100
    assert len(world.fakes.bus.events) == 1


def test_points_taken_stop_the_balance_at_zero() -> None:
    world = World()
    world.deps.contacts.apply("c_1", ContactPatch(points_add=30), world.now)
    world.create(automation([{"id": "take", "update_contact": {"add_points": -50}}]))
    checkin(world)
    profile = world.deps.contacts.get("c_1")
    assert profile is not None and profile.points == 0
    [event] = world.fakes.bus.events
    assert event["Detail"]["data"] == {"delta": -30, "points": 0, "depth": 1}


@pytest.mark.parametrize(("on_failure", "status", "emails"), [("stop", "failed", 0), ("continue", "completed", 1)])
def test_a_change_that_cannot_be_made_fails_the_step_as_on_failure_says(
    on_failure: str, status: str, emails: int
) -> None:
    world = World()
    world.deps.contacts.apply("c_1", ContactPatch(labels_add=[f"l{n}" for n in range(90)]), world.now)
    world.deps.contacts.apply("c_1", ContactPatch(labels_add=[f"m{n}" for n in range(10)]), world.now)
    update = {"id": "one-more", "update_contact": {"add_labels": ["full"], "on_failure": on_failure}}
    world.create(automation([update, EMAIL]))
    result = checkin(world)
    run = world.run(result.runs[0])
    assert run.status.value == status
    [failed] = [d for d in run.log if d.kind == "action_failed"]
    assert failed.step == "one-more" and "at most 100 labels" in failed.reason
    assert len(world.emails()) == emails


def test_a_chain_of_automations_stops_at_depth_five() -> None:
    world = World()
    world.create(automation([{"id": "more", "update_contact": {"add_points": 1}}], event="contact.points_changed"))
    world.deps.contacts.apply("c_1", ContactPatch(set_fields={"email": "ana@example.com"}), world.now)
    contact_changes.change(world.deps, "c_1", ContactPatch(points_add=1), world.now)
    results = deliver_bus(world)
    started = [r for r in results if r.runs]
    runs = [world.run(r.runs[0]) for r in started]
    assert [run.status.value for run in runs] == ["completed"] * 5 + ["skipped"]
    assert "a chain of 6 automations" in (runs[-1].end_reason or "")
    profile = world.deps.contacts.get("c_1")
    assert profile is not None and profile.points == 6
