"""Profile changes through the service (on the fakes): each change one ``contact.<change>`` event on the bus, with
the workspace, the change's values and its depth; a change with a ledger key made once however often it is
retried; a refused change writes nothing and puts nothing."""

from __future__ import annotations

import pytest
from automations.ports import ContactPatch, InvalidInputError
from automations.services import contact_changes

from tests.support.services import World


def test_each_change_is_an_event_on_the_bus() -> None:
    world = World()
    world.deps.contacts.upsert_from_event("c_1", {"id": "c_1", "email": "ana@example.com"}, world.now)
    patch = ContactPatch(labels_add=["vip"], points_add=100, set_fields={"lead_status": "won"})
    changed = contact_changes.change(world.deps, "c_1", patch, world.now)
    put = world.fakes.bus.events
    assert sorted(e["DetailType"] for e in put) == [
        "contact.label_added",
        "contact.lead_status_changed",
        "contact.points_changed",
    ]
    assert {e["Source"] for e in put} == {"automations"}
    points = next(e["Detail"] for e in put if e["DetailType"] == "contact.points_changed")
    assert points["workspace"] == "default" and points["data"] == {"delta": 100, "points": 100, "depth": 1}
    assert points["contact"] == {"id": "c_1", "email": "ana@example.com"}
    assert changed.events == [e["Detail"]["id"] for e in put]


def test_a_change_with_a_ledger_key_is_made_once() -> None:
    world = World()
    for _ in range(3):
        contact_changes.change(
            world.deps, "c_1", ContactPatch(points_add=100), world.now, ledger_key="run_1:award", depth=2
        )
    profile = world.deps.contacts.get("c_1")
    assert profile is not None and profile.points == 100
    [event] = world.fakes.bus.events
    assert event["Detail"]["data"]["depth"] == 2


def test_a_refused_change_writes_nothing_and_puts_nothing() -> None:
    world = World()
    with pytest.raises(InvalidInputError) as refused:
        contact_changes.change(world.deps, "c_1", ContactPatch(labels_add=["ok"], points_add=-5), world.now)
    assert [e.loc for e in refused.value.errors] == ["points"]
    assert world.deps.contacts.get("c_1") is None and world.fakes.bus.events == []
