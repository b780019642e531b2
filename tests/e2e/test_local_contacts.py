"""Contact profiles on the local stack: an event's contact makes the profile, the API changes it, and a change
reaches ingest through the local bus, starting an automation that listens to it."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


def test_a_label_given_through_the_api_starts_an_automation_through_the_bus(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "manage_api")
    tag = uuid.uuid4().hex[:8]
    person = f"c_e2e_{tag}"
    automation = {
        "id": f"vip-alert-{tag}",
        "name": "Tell the owner about a new VIP",
        "status": "active",
        "trigger": {
            "event": "contact.label_added",
            "where": {"field": "data.label", "op": "eq", "value": f"vip-{tag}"},
        },
        "person": "contact.id",
        "steps": [
            {
                "id": "tell-owner",
                "send_email": {
                    "type": "transactional",
                    "to": {"trigger_contact": False, "additional": [f"owner-{tag}@example.com"]},
                    "subject": "{{ contact.first_name }} is a VIP now ({{ contact.points }} points)",
                    "html": "<p>{{ contact.first_name }}</p>",
                },
            }
        ],
    }
    created = local_stack.request("POST", "/v1/automations", automation)
    assert created.status == 201, created.text
    # An event's contact makes the profile
    event = {"id": f"evt_{tag}", "type": "lead.created", "contact": {"id": person, "first_name": "Ana"}}
    assert local_stack.request("POST", "/v1/events", event).status == 202
    profile = local_stack.request("GET", f"/v1/contacts/{person}").json()["profile"]
    assert profile["first_name"] == "Ana" and profile["labels"] == []
    # The API gives a label and points: the change goes through the bus to the automation
    change = {"add_labels": [f"vip-{tag}"], "add_points": 7}
    patched = local_stack.request("PATCH", f"/v1/contacts/{person}", change)
    assert patched.status == 200, patched.text
    email = local_stack.wait_for_email(f"owner-{tag}@example.com", "is a VIP now")
    assert "Ana is a VIP now (7 points)" in str(email)
    listed = local_stack.request("GET", f"/v1/contacts?label=vip-{tag}").json()["contacts"]
    assert [c["id"] for c in listed] == [person]


def test_an_automation_gives_a_label_and_points_seen_on_the_contact(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "manage_api")
    tag = uuid.uuid4().hex[:8]
    person = f"c_reward_{tag}"
    automation = {
        "id": f"reward-{tag}",
        "name": "Reward a check-in",
        "status": "active",
        "trigger": {"event": f"checkin.{tag}"},
        "steps": [{"id": "award", "update_contact": {"add_labels": ["regular"], "add_points": 100}}],
    }
    assert local_stack.request("POST", "/v1/automations", automation).status == 201
    for n in range(2):  # the same event twice: the second is a duplicate, the points are given once
        event = {"id": f"evt_reward_{tag}", "type": f"checkin.{tag}", "contact": {"id": person, "first_name": "Bo"}}
        assert local_stack.request("POST", "/v1/events", event).status == 202, n
    contact = local_stack.request("GET", f"/v1/contacts/{person}").json()
    assert contact["profile"]["labels"] == ["regular"] and contact["profile"]["points"] == 100
    [run] = contact["runs"]
    assert run["status"] == "completed"


def test_a_coupon_reaches_the_email_a_task_is_listed_and_bus_events_are_seen(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "manage_api")
    tag = uuid.uuid4().hex[:8]
    person = f"c_actions_{tag}"
    address = f"ana-{tag}@example.com"
    automation = {
        "id": f"welcome-back-{tag}",
        "name": "Welcome back with a coupon",
        "status": "active",
        "trigger": {"event": f"client.back.{tag}"},
        "steps": [
            {"id": "coupon", "issue_coupon": {"pool": "comeback"}},
            {"id": "call", "create_task": {"title": "Call {{ contact.first_name }}", "assignee": "owner@acme.example"}},
            {
                "id": "chat",
                "put_event": {"detail_type": f"chat.requested.{tag}", "detail": {"to": "{{ contact.id }}"}},
            },
            {
                "id": "mail",
                "send_email": {
                    "to": {"trigger_contact": True},
                    "subject": "Your code",
                    "html": "<p>Code {{ steps.coupon.code }}, task {{ steps.call.id }}</p>",
                },
            },
        ],
    }
    created = local_stack.request("POST", "/v1/automations", automation)
    assert created.status == 201, created.text
    event = {
        "id": f"evt_back_{tag}",
        "type": f"client.back.{tag}",
        "contact": {"id": person, "email": address, "first_name": "Ana"},
    }
    assert local_stack.request("POST", "/v1/events", event).status == 202
    email = local_stack.wait_for_email(address, "Your code")
    assert "Code COMEBACK-" in str(email)
    tasks = local_stack.request("GET", "/v1/tasks?assignee=owner@acme.example").json()["tasks"]
    assert any(t["title"] == "Call Ana" and t["person"] == person for t in tasks), tasks
    seen = local_stack.request("GET", "/_local/bus", key=None).json()["events"]
    types = {e["detail-type"] for e in seen if (e.get("detail") or {}).get("contact", {}).get("id") == person}
    assert {f"chat.requested.{tag}", "task.created"} <= types, types
