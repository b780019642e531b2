"""AutomationStore: heads, immutable versions, and routes that follow the head's status in the same write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from automations.ports import AutomationInfo, ConflictError, NotFoundError, Ports, RouteInfo

from tests.contract.conftest import START


def definition(automation_id: str = "welcome", **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": automation_id,
        "name": "Welcome",
        "description": "Greets new contacts",
        "status": "active",
        "trigger": {"event": "contact.created"},
        "cancel_on": [{"event": "contact.deleted", "key": "{{ contact.id }}"}],
        "steps": [{"id": "hello", "send_email": {"subject": "Hi"}}],
    }
    found.update(changes)
    return found


def routes(ports: Ports, event_type: str) -> list[RouteInfo]:
    return ports.automations.routes_for(event_type, fresh=True)


def test_a_new_active_automation_is_version_1_and_routed_by_its_trigger_and_its_cancel_on(ports: Ports) -> None:
    created = ports.automations.create(definition(), START)

    assert created == AutomationInfo(
        id="welcome",
        name="Welcome",
        status="active",
        version=1,
        trigger_event="contact.created",
        description="Greets new contacts",
        created_at=START,
        updated_at=START,
    )
    assert ports.automations.head("welcome") == created
    assert ports.automations.heads() == [created]
    assert ports.automations.version("welcome", 1) == definition()
    [version] = ports.automations.versions("welcome")
    assert (version.automation_id, version.version, version.definition, version.created_at) == (
        "welcome",
        1,
        definition(),
        START,
    )
    assert routes(ports, "contact.created") == [RouteInfo("welcome", "trigger", 1)]
    assert routes(ports, "contact.deleted") == [RouteInfo("welcome", "cancel", 1)]


def test_an_active_automation_is_routed_by_its_reschedule_on(ports: Ports) -> None:
    reschedule_on = [{"event": "contact.moved", "key": "contact.id"}, {"event": "contact.moved", "key": "data.id"}]
    ports.automations.create(definition(reschedule_on=reschedule_on), START)

    assert routes(ports, "contact.moved") == [RouteInfo("welcome", "reschedule", 1)]


def test_a_draft_is_not_routed(ports: Ports) -> None:
    ports.automations.create(definition(status="draft"), START)

    assert ports.automations.head("welcome").status == "draft"
    assert routes(ports, "contact.created") == []


def test_an_id_is_created_once(ports: Ports) -> None:
    ports.automations.create(definition(), START)

    with pytest.raises(ConflictError):
        ports.automations.create(definition(name="Other"), START)
    assert ports.automations.head("welcome").name == "Welcome"


def test_unknown_ids_and_versions_are_not_found(ports: Ports) -> None:
    ports.automations.create(definition(), START)

    with pytest.raises(NotFoundError):
        ports.automations.head("nobody")
    with pytest.raises(NotFoundError):
        ports.automations.version("welcome", 2)
    with pytest.raises(NotFoundError):
        ports.automations.replace(definition("nobody"), START)
    with pytest.raises(NotFoundError):
        ports.automations.set_status("nobody", "inactive", START)
    with pytest.raises(NotFoundError):
        ports.automations.rename("nobody", "x", None, START)
    with pytest.raises(NotFoundError):
        ports.automations.delete("nobody")
    assert ports.automations.versions("nobody") == []


def test_a_new_version_moves_the_head_and_the_routes(ports: Ports) -> None:
    ports.automations.create(definition(), START)
    later = START + timedelta(hours=1)
    changed = definition(name="Welcome back", trigger={"event": "contact.updated"}, cancel_on=[])
    del changed["description"]

    assert ports.automations.replace(changed, later) == 2

    head = ports.automations.head("welcome")
    assert (head.version, head.name, head.trigger_event, head.description) == (
        2,
        "Welcome back",
        "contact.updated",
        None,
    )
    assert (head.created_at, head.updated_at) == (START, later)
    assert ports.automations.version("welcome", 1) == definition()
    assert ports.automations.version("welcome", 2) == changed
    assert [v.version for v in ports.automations.versions("welcome")] == [1, 2]
    assert routes(ports, "contact.created") == []
    assert routes(ports, "contact.deleted") == []
    assert routes(ports, "contact.updated") == [RouteInfo("welcome", "trigger", 2)]


def test_a_new_version_without_a_status_keeps_the_heads(ports: Ports) -> None:
    ports.automations.create(definition(status="draft"), START)
    changed = definition()
    del changed["status"]

    ports.automations.replace(changed, START)

    assert ports.automations.head("welcome").status == "draft"
    assert routes(ports, "contact.created") == []


def test_a_new_version_is_refused_when_the_head_is_not_at_the_expected_version(ports: Ports) -> None:
    ports.automations.create(definition(), START)
    ports.automations.replace(definition(name="Second"), START)

    with pytest.raises(ConflictError):
        ports.automations.replace(definition(name="Stale"), START, expected_version=1)
    assert ports.automations.head("welcome").name == "Second"
    assert ports.automations.replace(definition(name="Third"), START, expected_version=2) == 3


def test_deactivating_drops_the_routes_with_the_reason_and_activating_brings_them_back(ports: Ports) -> None:
    ports.automations.create(definition(), START)
    ports.automations.replace(definition(name="Second"), START)
    later = START + timedelta(minutes=5)

    inactive = ports.automations.set_status("welcome", "inactive", later, "bounce rate too high")

    assert (inactive.status, inactive.status_reason, inactive.updated_at) == ("inactive", "bounce rate too high", later)
    assert ports.automations.head("welcome") == inactive
    assert routes(ports, "contact.created") == []
    assert routes(ports, "contact.deleted") == []

    active = ports.automations.set_status("welcome", "active", later)

    assert (active.status, active.status_reason, active.version) == ("active", None, 2)
    assert routes(ports, "contact.created") == [RouteInfo("welcome", "trigger", 2)]
    assert routes(ports, "contact.deleted") == [RouteInfo("welcome", "cancel", 2)]


def test_a_rename_changes_the_head_only(ports: Ports) -> None:
    ports.automations.create(definition(), START)
    later = START + timedelta(minutes=1)

    renamed = ports.automations.rename("welcome", "Hello", None, later)

    assert (renamed.name, renamed.description, renamed.updated_at, renamed.version) == (
        "Hello",
        "Greets new contacts",
        later,
        1,
    )
    assert ports.automations.head("welcome") == renamed
    assert ports.automations.version("welcome", 1)["name"] == "Welcome"
    assert ports.automations.rename("welcome", "Hello", "New words", later).description == "New words"


def test_deleting_removes_the_head_the_routes_and_every_version(ports: Ports) -> None:
    ports.automations.create(definition(), START)
    ports.automations.replace(definition(name="Second"), START)
    ports.automations.create(definition("other"), START)

    ports.automations.delete("welcome")

    with pytest.raises(NotFoundError):
        ports.automations.head("welcome")
    with pytest.raises(NotFoundError):
        ports.automations.version("welcome", 1)
    assert ports.automations.versions("welcome") == []
    assert [head.id for head in ports.automations.heads()] == ["other"]
    assert routes(ports, "contact.created") == [RouteInfo("other", "trigger", 1)]


def test_heads_are_listed_by_id_and_routes_by_automation(ports: Ports) -> None:
    for automation_id in ("zeta", "alpha", "mid"):
        ports.automations.create(definition(automation_id), START)

    assert [head.id for head in ports.automations.heads()] == ["alpha", "mid", "zeta"]
    assert [route.automation_id for route in routes(ports, "contact.created")] == ["alpha", "mid", "zeta"]
