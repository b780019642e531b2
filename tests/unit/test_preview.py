"""Previews: the sample's path through the real engine, every branch's condition, every email rendered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from automations.language.loader import load_definition
from automations.services.preview import preview

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _overdue() -> tuple[object, dict[str, object]]:
    automation = load_definition((EXAMPLES / "overdue-invoice-reminder.yaml").read_text())
    event = json.loads((EXAMPLE_EVENTS / "overdue-invoice-reminder.json").read_text())
    return automation, event


def test_a_big_invoice_takes_the_then_branch_after_the_delay() -> None:
    automation, event = _overdue()
    result = preview(automation, event, NOW)  # type: ignore[arg-type]
    assert result["trigger"]["matched"] is True
    assert result["path"] == ["step-1", "still-unpaid", "reminder-with-owner"]
    assert result["outcome"]["status"] == "completed"
    [email] = result["emails"]
    assert email == {
        "step": "reminder-with-owner",
        "type": "transactional",
        "to": ["ana@example.com", "owner@acme.example"],
        "subject": "Invoice 2026-117 is overdue",
    }
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["still-unpaid"]["branch"] == "then"
    assert steps["still-unpaid"]["checks"][0] == {
        "field": "data.invoice.total",
        "op": "gt",
        "value": 500,
        "actual": 640,
        "missing": False,
        "result": True,
    }
    assert "2026-11-27T10:00:00" in steps["step-1"]["decision"]
    # every email is rendered, the one on the branch not taken too
    assert steps["reminder"]["reached"] is False
    assert steps["reminder"]["email"]["subject"] == "A friendly reminder about invoice 2026-117"
    assert "€640.00" in steps["reminder-with-owner"]["email"]["html"]  # no locale: English
    assert steps["reminder-with-owner"]["email"]["headers"] == {}


def test_a_small_invoice_takes_the_else_branch() -> None:
    automation, event = _overdue()
    event["data"]["invoice"]["total"] = 90  # type: ignore[index]
    event["contact"]["labels"] = []  # type: ignore[index]
    result = preview(automation, event, NOW)  # type: ignore[arg-type]
    assert result["path"] == ["step-1", "still-unpaid", "reminder"]
    assert [e["to"] for e in result["emails"]] == [["ana@example.com"]]
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["still-unpaid"]["result"] is False and steps["still-unpaid"]["branch"] == "else"


def test_a_promotional_email_shows_its_unsubscribe_link_and_headers() -> None:
    automation = load_definition((EXAMPLES / "we-miss-you.yaml").read_text())
    result = preview(automation, {"contact": {"id": "c_1", "email": "ana@example.com"}}, NOW)
    [step] = result["steps"]
    assert step["email"]["subject"] == "We miss you, friend"
    assert '<a href="#unsubscribe">' in step["email"]["html"]
    assert step["email"]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_sample_without_an_address_says_so() -> None:
    automation = load_definition((EXAMPLES / "we-miss-you.yaml").read_text())
    result = preview(automation, {"contact": {"id": "c_1"}}, NOW)
    [step] = result["steps"]
    assert step["email"]["to"] == [] and "no recipient" in step["email"]["note"]
    assert result["emails"] == []
