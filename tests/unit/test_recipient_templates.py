"""Additional recipients may be templates (``{{ data.staff.email }}``): checked at save, rendered per run, and
one that renders no valid address skipped for that run with the reason on its timeline."""

from __future__ import annotations

from typing import Any

import pytest
from automations.errors import DefinitionError
from automations.language.loader import load_definition

from tests.support.services import World


def automation(additional: list[str]) -> dict[str, Any]:
    return {
        "id": "notify",
        "name": "Notify the staff",
        "status": "active",
        "trigger": {"event": "booking.created"},
        "steps": [
            {
                "id": "tell",
                "send_email": {
                    "to": {"trigger_contact": False, "additional": additional},
                    "subject": "New booking",
                    "html": "<p>New booking</p>",
                },
            }
        ],
    }


def booking(staff: str | None) -> dict[str, Any]:
    data = {"staff": {"email": staff}} if staff is not None else {}
    return {"id": f"evt_{abs(hash(staff))}", "type": "booking.created", "contact": {"id": "c_1"}, "data": data}


def test_a_template_renders_the_address_of_each_run() -> None:
    world = World()
    world.create(automation(["{{ data.staff.email }}", "owner@acme.example"]))
    world.post(booking("joana@acme.example"))
    [(_, _, to)] = world.emails()
    assert to == ("joana@acme.example", "owner@acme.example")


@pytest.mark.parametrize("staff", ["not an address", None])
def test_a_template_that_renders_no_address_is_skipped_with_the_reason(staff: str | None) -> None:
    world = World()
    world.create(automation(["{{ data.staff.email }}", "owner@acme.example"]))
    [result] = world.post(booking(staff))
    [(_, _, to)] = world.emails()
    assert to == ("owner@acme.example",)
    [email] = [d for d in world.run(result.runs[0]).log if d.kind == "email"]
    assert "to.additional[0] skipped" in email.details["note"]


@pytest.mark.parametrize("entry", ["{{ data.staff.email", "not an address", "{{ a }}\n{{ b }}"])
def test_a_bad_recipient_is_refused_at_save(entry: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_definition(automation([entry]))
    assert [e.loc for e in refused.value.errors] == ["steps[0].send_email.to.additional[0]"]
