"""Why an event started no run (per automation considered, and counted), integer contact ids, preview warnings
about template values the sample leaves empty, the outbox page without the tracking pixel, and ``make dev``
passing its options through."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from automations.language.loader import load_definition
from automations.services.preview import preview
from automations_local.ses_simulator import outbox_page, tracked_html

from tests.conftest import ROOT
from tests.support.services import World, automation, event
from tests.unit.test_local_ses_simulator import sent_to

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World()


# --- why no run started ---------------------------------------------------------------------------------------


def test_an_event_without_its_person_says_so_and_is_counted(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    body = event("lead.created", "evt_1")
    body["contact"] = {"email": "ana@example.com"}
    [result] = world.post(body)
    assert result.runs == []
    assert result.as_dict()["skipped"] == [
        {"automation": "welcome", "reason": "no person: field 'contact.id' is missing"}
    ]
    assert world.counters("welcome") == {"skipped_no_person": 1}


def test_an_event_without_its_run_key_says_so_and_is_counted(world: World) -> None:
    world.create(automation("reminder", "invoice.overdue", run_key="data.invoice"))
    [result] = world.post(event("invoice.overdue", "evt_1"))
    assert result.as_dict()["skipped"] == [
        {"automation": "reminder", "reason": "no run key: field 'data.invoice' is missing"}
    ]
    assert world.counters("reminder") == {"skipped_no_run_key": 1}


def test_filter_frequency_and_busy_run_key_say_why(world: World) -> None:
    where = {"field": "data.total", "op": "gt", "value": 500}
    world.create(automation("big", "invoice.overdue", trigger={"event": "invoice.overdue", "where": where}))
    world.create(
        automation(
            "once", "invoice.overdue", {"id": "wait", "delay": "3d"}, frequency="once_per_person", run_key="data.n"
        )
    )
    [first] = world.post(event("invoice.overdue", "evt_1", total=20, n="a"))
    assert len(first.runs) == 1
    assert first.skipped == [{"automation": "big", "reason": "filtered out by trigger.where"}]
    [again] = world.post(event("invoice.overdue", "evt_2", total=20, n="a"))
    reasons = {s["automation"]: s["reason"] for s in again.skipped}
    assert reasons["big"] == "filtered out by trigger.where"
    assert reasons["once"].startswith(("frequency:", "run_key busy:")), reasons


def test_an_event_of_a_type_nobody_listens_to_considers_none_and_counts_nothing(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    [result] = world.post(event("invoice.paid", "evt_1"))
    assert "skipped" not in result.as_dict()
    assert world.counters("welcome") == {}


def test_a_started_run_leaves_skipped_out_of_the_answer(world: World) -> None:
    world.create(automation("welcome", "lead.created"))
    [result] = world.post(event("lead.created", "evt_1"))
    assert len(result.runs) == 1 and "skipped" not in result.as_dict()


# --- integer contact ids --------------------------------------------------------------------------------------


def test_an_integer_contact_id_is_the_person_as_its_decimal_string(world: World) -> None:
    world.create(automation("welcome", "lead.created", frequency="once_per_person"))
    body = event("lead.created", "evt_1")
    body["contact"] = {"id": 42, "email": "ana@example.com"}
    [result] = world.post(body)
    [run] = world.runs_of(result)
    assert run.person == "42"
    stored = world.fakes.events.get("evt_1")
    assert stored is not None and stored.body["contact"]["id"] == "42"
    # "42" is the same person: once_per_person already ran for them
    again = event("lead.created", "evt_2", "42")
    [second] = world.post(again)
    assert second.runs == [] and second.skipped[0]["reason"].startswith("frequency")


@pytest.mark.parametrize("value", [True, 4.2, {"n": 1}])
def test_other_contact_ids_are_refused(world: World, value: Any) -> None:
    from automations.events import EventValidationError, parse_event

    with pytest.raises(EventValidationError, match=r"contact\.id"):
        parse_event({"type": "lead.created", "contact": {"id": value}})


# --- preview warnings -----------------------------------------------------------------------------------------

DEFINITION: dict[str, Any] = {
    "id": "note",
    "name": "Note",
    "trigger": {"event": "invoice.overdue"},
    "person": "contact.id",
    "steps": [
        {
            "id": "mail",
            "send_email": {
                "to": {"trigger_contact": True},
                "subject": "Invoice {{ data.invoice.number }}",
                "html": "<p>Hi {{ contact.first_name | default('there') }}, {{ data.missing.x }}"
                "{% if data.maybe is defined %}{{ data.maybe }}{% endif %}</p>",
            },
        }
    ],
}


def test_preview_warns_about_each_value_the_sample_leaves_empty() -> None:
    sample = {"contact": {"id": "c_1", "email": "ana@example.com"}, "data": {"invoice": {"id": "inv_1"}}}
    result = preview(load_definition(DEFINITION), sample, NOW)
    assert result["trigger"]["matched"] is True and result["outcome"]["status"] == "completed"
    messages = [w["message"] for w in result["warnings"]]
    assert messages == [
        "{{ data.invoice.number }} has no value for this sample event: it renders empty",
        "{{ data.missing.x }} has no value for this sample event: it renders empty",
    ]
    assert {w["loc"] for w in result["warnings"]} == {"steps[0]"}
    full = {"contact": {"id": "c_1", "first_name": "Ana"}, "data": {"invoice": {"number": "7"}, "missing": {"x": 1}}}
    assert preview(load_definition(DEFINITION), full, NOW)["warnings"] == []


def test_the_preview_of_a_sample_that_does_not_match_says_so() -> None:
    result = preview(load_definition(DEFINITION), {"data": {}}, NOW)
    assert result["trigger"]["matched"] is False
    assert result["trigger"]["reason"] == "no person: field 'contact.id' is missing"
    assert result["outcome"]["status"] == "not_started" and "no person" in result["outcome"]["reason"]
    assert result["emails"] == [] and result["path"] == [] and result["timeline"] == []
    assert all(step["reached"] is False for step in result["steps"])
    assert result["steps"][0]["email"]["subject"] == "Invoice"  # what it would render, still shown


# --- the outbox page ------------------------------------------------------------------------------------------


def test_the_outbox_page_shows_emails_without_the_tracking_pixel() -> None:
    sent = sent_to("ana@example.com")
    page = outbox_page([sent])
    # The email is shown (its links still through the click tracker), the pixel is not in it
    assert "srcdoc=" in page and "/_local/click?m=ses-1" in page
    assert "&lt;img src=&quot;/_local/open" not in page
    # A link opens it as the recipient would (loading the pixel), on purpose only
    assert 'href="/_local/open?m=ses-1"' in page
    # The message as a mail client gets it still has the pixel
    assert '<img src="/_local/open?m=ses-1"' in tracked_html(sent)
    assert "/_local/open" not in tracked_html(sent, pixel=False)


# --- make dev -------------------------------------------------------------------------------------------------


def test_make_dev_passes_its_options_through() -> None:
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "dev", "ARGS=--port 3100 --no-examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-m automations_local --port 3100 --no-examples" in dry.stdout
