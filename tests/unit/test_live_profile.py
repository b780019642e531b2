"""The live contact profile in the services (DESIGN.md §3): an event's contact upserts the person's profile, and
each step of a run sees the profile as it is then, merged over the event's snapshot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from automations.ports import ContactPatch

from tests.support.flows import definition, sample
from tests.support.services import World


def vip_reminder() -> dict[str, Any]:
    """After three days, the owner is told about an overdue invoice of a client labelled ``vip`` only."""
    found = definition("overdue-invoice-reminder")
    found["steps"] = [
        {"delay": "3d"},
        {
            "id": "still-vip",
            "if": {"field": "contact.labels", "op": "contains", "value": "vip"},
            "then": [found["steps"][1]["then"][0]],
        },
    ]
    found.pop("cancel_on")
    return found


def test_an_events_contact_upserts_the_profile() -> None:
    world = World()
    event = sample("invoice-paid-thank-you", "evt_1")
    world.post(event)
    profile = world.deps.contacts.get("c_42")
    assert profile is not None
    assert (profile.email, profile.first_name, profile.timezone) == ("ana@example.com", "Ana", "Europe/Lisbon")
    # A later event's fields win for what it carries; the rest stays
    world.post(sample("invoice-paid-thank-you", "evt_2", contact__email="ana.silva@example.com"))
    profile = world.deps.contacts.get("c_42")
    assert profile is not None and (profile.email, profile.first_name) == ("ana.silva@example.com", "Ana")


def test_an_event_with_a_bare_contact_id_makes_no_profile() -> None:
    world = World()
    world.post({"id": "evt_bare", "type": "nothing.listens", "contact": {"id": "c_7"}, "data": {}})
    assert world.deps.contacts.get("c_7") is None


def test_a_condition_after_a_delay_sees_the_label_given_meanwhile() -> None:
    world = World()
    world.create(vip_reminder())
    event = sample("overdue-invoice-reminder", "evt_overdue_1")
    event["contact"].pop("labels", None)
    [result] = world.post(event)
    assert len(result.runs) == 1
    world.deps.contacts.apply("c_42", ContactPatch(labels_add=["vip"]), world.now)
    world.later(timedelta(days=3))
    assert [step for _, step, _ in world.emails()] == ["reminder-with-owner"]
    run = world.run(result.runs[0])
    assert "vip" in run.context["contact"]["labels"]


def test_a_label_taken_away_meanwhile_is_seen_too() -> None:
    world = World()
    world.create(vip_reminder())
    event = sample("overdue-invoice-reminder", "evt_overdue_2")
    event["contact"]["labels"] = ["vip"]
    world.deps.contacts.apply("c_42", ContactPatch(labels_add=["vip"]), world.now)
    [result] = world.post(event)
    world.deps.contacts.apply("c_42", ContactPatch(labels_remove=["vip"]), world.now)
    world.later(timedelta(days=3))
    assert world.emails() == []
    assert world.run(result.runs[0]).status.value == "completed"
