"""An ``after_silence`` countdown restarted by a new event, on the local stack driven over HTTP.

A new event moves the person's countdown (EventBridge Scheduler ``UpdateSchedule``); the local stack fires
the moved schedule at its new time, once, and never at the old one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


def quiet_for_an_hour(tag: str) -> dict[str, Any]:
    """An active automation that writes to a person after one hour without their event."""
    return {
        "id": f"quiet-hour-{tag}",
        "name": "Quiet for an hour",
        "status": "active",
        "trigger": {"event": f"e2e.checked_in.{tag}", "after_silence": "1h"},
        "person": "contact.id",
        "steps": [
            {
                "id": "nudge",
                "send_email": {
                    "type": "transactional",
                    "from_name": "Acme Studio",
                    "to": {"trigger_contact": True},
                    "subject": "Still with us, {{ contact.first_name }}?",
                    "html": "<p>Hi {{ contact.first_name }}, we have not seen you for an hour.</p>",
                },
            }
        ],
    }


def check_in(stack: LocalStackClient, tag: str, address: str) -> None:
    event = {
        "id": f"evt_e2e_{uuid.uuid4().hex[:10]}",
        "type": f"e2e.checked_in.{tag}",
        "contact": {"id": f"c_{tag}", "email": address, "first_name": "Ines"},
        "data": {},
    }
    answer = stack.post_event(event)
    assert answer.status == 202, answer.text
    [result] = answer.json()["events"]
    assert result["status"] == "accepted", result


def test_a_restarted_silence_countdown_fires_once_at_its_new_time(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email", "manage_api")
    tag = uuid.uuid4().hex[:10]
    address = f"quiet-{tag}@example.com"
    # Given an active automation that writes after one hour of silence
    created = local_stack.request("POST", "/v1/automations", quiet_for_an_hour(tag))
    assert created.status == 201, created.text
    assert created.json()["status"] == "active"
    # When the person checks in, and again half an hour later (the countdown restarts)
    check_in(local_stack, tag, address)
    local_stack.advance("30m")
    check_in(local_stack, tag, address)
    # Then nothing is sent one hour after the first check-in (45 minutes after the second)
    local_stack.advance("45m")
    assert local_stack.outbox(address) == []
    # And one email is sent once the hour after the second check-in is over
    local_stack.advance("30m")
    [email] = local_stack.outbox(address)
    assert email["subject"] == "Still with us, Ines?"
    stats = local_stack.totals(f"quiet-hour-{tag}")
    assert stats["runs_started"] == 1
