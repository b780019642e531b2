"""Time and language on the local stack, with its clock moved as a user would: a New York contact's email
reached on a Friday night under a Mon-Fri 09-18 window goes out on Monday at 09:00 New York time; a de-DE
contact gets the German subject, the German date in Berlin time and "640,00 €"; and moving a booking's
starts_at with booking.updated moves its reminder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e

NEW_YORK = ZoneInfo("America/New_York")
#: One text for both languages: the filters format it in each contact's own.
SESSION = "<p>{{ data.session.starts_at | datetime('full') }}, {{ data.price | money('EUR') }}</p>"


def stack_now(local_stack: LocalStackClient) -> datetime:
    answer = local_stack.request("GET", "/_local/clock", key=None)
    assert answer.status == 200, answer.text
    return datetime.fromisoformat(answer.json()["now"])


def advance_to(local_stack: LocalStackClient, moment: datetime) -> datetime:
    """Move the stack's clock to ``moment`` (whole minutes, never back)."""
    minutes = int((moment - stack_now(local_stack)).total_seconds() // 60) + 1
    assert minutes > 0
    local_stack.advance(f"{minutes}m")
    return stack_now(local_stack)


def next_local(after: datetime, weekday: int, hour: int, zone: ZoneInfo) -> datetime:
    """The first ``weekday`` (0 is Monday) at ``hour``:00 local after ``after``."""
    local = after.astimezone(zone)
    day = local.date()
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        if candidate.weekday() == weekday and candidate > local:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


def create(local_stack: LocalStackClient, definition: dict[str, Any]) -> None:
    created = local_stack.request("POST", "/v1/automations", definition)
    assert created.status == 201, created.text


def test_a_friday_night_email_waits_for_monday_nine_in_the_contact_s_zone(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email")
    tag = uuid.uuid4().hex[:8]
    create(
        local_stack,
        {
            "id": f"window-{tag}",
            "name": "Shipped, in working hours",
            "status": "active",
            "trigger": {"event": f"order.shipped.{tag}"},
            "send_window": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"},
            "steps": [
                {
                    "id": "tell",
                    "send_email": {
                        "to": {"trigger_contact": True},
                        "subject": f"Shipped {tag}",
                        "html": "<p>On its way</p>",
                    },
                }
            ],
        },
    )
    friday_night = next_local(stack_now(local_stack) + timedelta(hours=1), 4, 23, NEW_YORK)
    advance_to(local_stack, friday_night)
    address = f"ny-{tag}@example.com"
    contact = {"id": f"c_ny_{tag}", "email": address, "timezone": "America/New_York"}
    event = {"id": f"evt_{tag}", "type": f"order.shipped.{tag}", "contact": contact}
    assert local_stack.request("POST", "/v1/events", event).status == 202
    assert local_stack.emails_about(address, f"Shipped {tag}") == []
    # Saturday and Sunday pass: still nothing
    local_stack.advance("1d")
    assert local_stack.emails_about(address, f"Shipped {tag}") == []
    monday_nine = next_local(friday_night, 0, 9, NEW_YORK)
    advance_to(local_stack, monday_nine)
    email = local_stack.wait_for_email(address, f"Shipped {tag}")
    sent = datetime.fromisoformat(email["sent_at"]).astimezone(NEW_YORK)
    assert (sent.weekday(), sent.hour) == (0, 9), sent
    runs = local_stack.request("GET", f"/v1/runs?automation_id=window-{tag}").json()["runs"]
    timeline = local_stack.request("GET", f"/v1/runs/{runs[0]['id']}").json()["timeline"]
    assert any(d["kind"] == "window" and "send window" in d["reason"] for d in timeline)


def test_a_german_contact_gets_the_german_subject_date_and_money(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "send_email")
    tag = uuid.uuid4().hex[:8]
    create(
        local_stack,
        {
            "id": f"reminder-de-{tag}",
            "name": "Session reminder in the contact's language",
            "status": "active",
            "trigger": {"event": f"session.booked.{tag}"},
            "steps": [
                {
                    "id": "remind",
                    "send_email": {
                        "to": {"trigger_contact": True},
                        "subject": {"en": f"Your session {tag}", "de": f"Ihre Sitzung {tag}"},
                        "html": {"en": SESSION, "de": SESSION},
                    },
                }
            ],
        },
    )
    address = f"de-{tag}@example.com"
    contact = {"id": f"c_de_{tag}", "email": address, "locale": "de-DE", "timezone": "Europe/Berlin"}
    data = {"session": {"starts_at": "2026-12-01T09:00:00Z"}, "price": 640}
    event = {"id": f"evt_{tag}", "type": f"session.booked.{tag}", "contact": contact, "data": data}
    assert local_stack.request("POST", "/v1/events", event).status == 202
    email = local_stack.wait_for_email(address, f"Ihre Sitzung {tag}")
    assert "Dienstag, 1. Dezember 2026 um 10:00:00 Mitteleuropäische Normalzeit" in email["html"]
    assert "640,00\xa0€" in email["html"]  # Babel separates the amount and the sign with a no-break space


def test_moving_a_booking_moves_its_reminder(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "evaluate_step", "send_email")
    tag = uuid.uuid4().hex[:8]
    create(
        local_stack,
        {
            "id": f"booking-{tag}",
            "name": "Reminder a day before, moved with the booking",
            "status": "active",
            "trigger": {"event": f"booking.created.{tag}"},
            "run_key": "data.booking.id",
            "reschedule_on": [{"event": f"booking.updated.{tag}", "key": "data.booking.id"}],
            "steps": [
                {"delay": {"until": "data.booking.starts_at", "offset": "-1d"}},
                {
                    "id": "remind",
                    "send_email": {
                        "to": {"trigger_contact": True},
                        "subject": f"Tomorrow {tag}",
                        "html": "<p>See you</p>",
                    },
                },
            ],
        },
    )
    now = stack_now(local_stack)
    address = f"booking-{tag}@example.com"
    contact = {"id": f"c_b_{tag}", "email": address}
    first = (now + timedelta(days=5)).isoformat()
    moved = (now + timedelta(days=10)).isoformat()
    for kind, starts_at in (("created", first), ("updated", moved)):
        event = {
            "id": f"evt_{kind}_{tag}",
            "type": f"booking.{kind}.{tag}",
            "contact": contact,
            "data": {"booking": {"id": f"b_{tag}", "starts_at": starts_at}},
        }
        assert local_stack.request("POST", "/v1/events", event).status == 202
    # The first reminder's day passes without it
    local_stack.advance("5d")
    assert local_stack.emails_about(address, f"Tomorrow {tag}") == []
    # The moved one comes a day before the new start
    local_stack.advance("5d")
    local_stack.wait_for_email(address, f"Tomorrow {tag}")
    runs = local_stack.request("GET", f"/v1/runs?automation_id=booking-{tag}").json()["runs"]
    assert len(runs) == 1
    timeline = local_stack.request("GET", f"/v1/runs/{runs[0]['id']}").json()["timeline"]
    assert any(d["kind"] == "rescheduled" for d in timeline)
