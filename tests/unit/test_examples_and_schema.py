"""The examples are valid and the stored JSON Schema matches the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from automations.engine import match_trigger, start_run
from automations.language import load_definition
from automations.language.schema import generate, stored

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
SCENARIOS = {
    "invoice-paid-thank-you",
    "overdue-invoice-reminder",
    "new-lead-welcome",
    "session-reminder",
    "we-miss-you",
    "tenth-checkin-reward",
    "booking-approved",
    "booking-declined",
    "no-show-follow-up",
    "recurring-payment-cancelled",
    "quote-accepted",
    "we-miss-you-coupon",
    "booking-cancelled-chat",
    "new-lead-to-crm",
}


def test_every_scenario_has_an_example() -> None:
    assert {p.stem for p in EXAMPLE_FILES} == SCENARIOS


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_is_valid_and_runs_on_its_sample_event(path) -> None:  # type: ignore[no-untyped-def]
    # Given an example and its sample event
    automation = load_definition(path.read_text())
    event = json.loads((EXAMPLE_EVENTS / f"{path.stem}.json").read_text())
    assert automation.id == path.stem
    # When the event is matched and a run started
    match = match_trigger(automation, event)
    assert match.matched, match.reason
    outcome = start_run(
        automation,
        1,
        event,
        now=datetime(2026, 11, 24, 10, tzinfo=UTC),
        run_id="run_1",
        workspace="default",
        person=match.person,
        run_key=match.run_key,
    )
    # Then the run either waits or did something, and every decision has a reason
    assert outcome.effects
    assert all(d.reason for d in outcome.state.log)


def test_stored_schema_is_current() -> None:
    assert stored() == json.loads(json.dumps(generate())), "run `make schema` to refresh the JSON Schema"
