"""The contacts routes through manage_api under moto: a profile put, changed, listed and searched; each change
an event on the stack's bus, which ingest_trigger takes like any bus event, so that one automation can start
another ("when a client gets the label vip, email the owner"); bad changes answered 422 naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from automations.adapters.dynamodb.suppressions import DynamoSuppressionStore
from automations.ports import ROOT, Suppression

from tests.conftest import load_event
from tests.integration.conftest import START
from tests.support.aws import LambdaContextStub, aws_stack
from tests.support.email import REGION, verify_sender
from tests.support.pipeline import Pipeline, handlers
from tests.support.recorder import AwsTap

VIP_ALERT: dict[str, Any] = {
    "id": "vip-alert",
    "name": "Tell the owner about a new VIP",
    "status": "active",
    "trigger": {"event": "contact.label_added", "where": {"field": "data.label", "op": "eq", "value": "vip"}},
    "person": "contact.id",
    "steps": [
        {
            "id": "tell-owner",
            "send_email": {
                "type": "transactional",
                "to": {"trigger_contact": False, "additional": ["owner@acme.example"]},
                "subject": "{{ contact.first_name }} is a VIP now",
                "html": "<p>{{ contact.first_name }} has {{ contact.points }} points.</p>",
            },
        }
    ],
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, aws_tap: AwsTap) -> Iterator[tuple[Pipeline, str]]:
    """The stack, and a queue that receives every event the product puts on its bus."""
    with aws_stack(monkeypatch, START) as stack:
        verify_sender()
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="bus-watch")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = stack.settings.event_bus_name
        events.put_rule(Name="watch", EventBusName=bus, EventPattern=json.dumps({"source": ["automations"]}))
        events.put_targets(Rule="watch", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        yield Pipeline(stack, aws_tap), url


def bus_events(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_profile_is_put_changed_listed_and_searched(api: tuple[Pipeline, str]) -> None:
    pipeline, _ = api
    body = {"email": "ana@example.com", "first_name": "Ana", "last_name": "Silva", "attributes": {"plan": "pro"}}
    status, put = pipeline.keyed("default", "PUT", "/v1/contacts/c_1", body)
    assert status == 200, put
    assert put["profile"]["email"] == "ana@example.com" and put["profile"]["attributes"] == {"plan": "pro"}
    assert put["changes"] == []

    change = {"add_labels": ["vip", "customer"], "add_points": 100, "set": {"lead_status": "won"}}
    status, patched = pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", change)
    assert status == 200, patched
    assert patched["profile"]["labels"] == ["customer", "vip"] and patched["profile"]["points"] == 100
    kinds = sorted(c["type"] for c in patched["changes"])
    assert kinds == [
        "contact.label_added",
        "contact.label_added",
        "contact.lead_status_changed",
        "contact.points_changed",
    ]
    pipeline.keyed("default", "PUT", "/v1/contacts/c_2", {"email": "bo@example.com", "first_name": "Bo"})

    status, listed = pipeline.keyed("default", "GET", "/v1/contacts", query={"label": "vip"})
    assert status == 200 and [c["id"] for c in listed["contacts"]] == ["c_1"], listed
    status, found = pipeline.keyed("default", "GET", "/v1/contacts", query={"q": "bo"})
    assert [c["id"] for c in found["contacts"]] == ["c_2"], found
    status, page = pipeline.keyed("default", "GET", "/v1/contacts", query={"limit": "1"})
    assert [c["id"] for c in page["contacts"]] == ["c_1"] and page["next_cursor"]
    status, rest = pipeline.keyed("default", "GET", "/v1/contacts", query={"limit": "1", "cursor": page["next_cursor"]})
    assert [c["id"] for c in rest["contacts"]] == ["c_2"] and rest["next_cursor"] is None

    status, contact = pipeline.keyed("default", "GET", "/v1/contacts/c_1")
    assert status == 200 and contact["profile"]["points"] == 100
    assert contact["addresses"][0]["address"] == "ana@example.com"
    # Another workspace sees none of it
    acme = {"id": "acme", "name": "Acme", "sender": "hello@acme.example", "sender_name": "Acme", "brand_name": "Acme"}
    assert pipeline.keyed("", "POST", "/v1/workspaces", acme, scopes=ROOT)[0] == 201
    status, theirs = pipeline.keyed("acme", "GET", "/v1/contacts")
    assert status == 200 and theirs["contacts"] == [], theirs
    status, theirs = pipeline.keyed("acme", "GET", "/v1/contacts/c_1")
    assert status == 200 and theirs["profile"] is None, theirs


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"add_points": -500}, "add_points"),
        ({"add_labels": ["x" * 101]}, "add_labels[0]"),
        ({"set": {"timezone": "Mars/Olympus"}}, "set.timezone"),
        ({"set": {"email": "not an address"}}, "set.email"),
        ({"unknown": 1}, "body.unknown"),
        ({"subscriptions": {"promotional": True, "transactional": False}}, "subscriptions"),
    ],
)
def test_a_bad_change_is_a_422_naming_its_field(api: tuple[Pipeline, str], change: dict[str, Any], loc: str) -> None:
    pipeline, _ = api
    status, answer = pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", change)
    assert status == 422, answer
    assert loc in [e["loc"] for e in answer["errors"]], answer
    # Nothing half-written
    status, contact = pipeline.keyed("default", "GET", "/v1/contacts/c_1")
    assert contact["profile"] is None


def test_a_label_given_through_the_api_starts_an_automation_through_the_bus(api: tuple[Pipeline, str]) -> None:
    pipeline, watch = api
    assert pipeline.keyed("default", "POST", "/v1/automations", VIP_ALERT)[0] == 201
    pipeline.keyed("default", "PUT", "/v1/contacts/c_1", {"email": "ana@example.com", "first_name": "Ana"})
    status, patched = pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"add_labels": ["vip"], "add_points": 5})
    assert status == 200, patched
    put = bus_events(watch)
    assert sorted(e["detail-type"] for e in put) == ["contact.label_added", "contact.points_changed"]
    labelled = next(e for e in put if e["detail-type"] == "contact.label_added")
    assert labelled["source"] == "automations" and labelled["detail"]["workspace"] == "default"
    assert labelled["detail"]["data"] == {"label": "vip", "depth": 1}
    # EventBridge's rule hands it to ingest_trigger (its bus events, as the template wires them)
    bus = load_event("eventbridge_trigger.json")
    for event in put:
        answer = handlers()["ingest_trigger"]({**bus, **event}, LambdaContextStub())
        assert answer["status"] == "accepted", answer
    pipeline.settle()
    [sent] = pipeline.ses_sends
    assert str(sent.mime()["Subject"]) == "Ana is a VIP now" and sent.recipient == "owner@acme.example"
    assert "5 points" in str(sent.mime())
    # The same event again is a duplicate
    again = handlers()["ingest_trigger"]({**bus, **labelled}, LambdaContextStub())
    assert again["status"] == "duplicate"


def test_subscriptions_set_through_the_api_are_levels_the_sender_honours(api: tuple[Pipeline, str]) -> None:
    pipeline, _ = api
    # Given Ana's profile, set to essential email only (transactional off turns promotional off too)
    body = {"email": "Ana@Example.com", "subscriptions": {"transactional": False}}
    status, put = pipeline.keyed("default", "PUT", "/v1/contacts/c_1", body)
    assert status == 200, put
    assert put["profile"]["subscriptions"] == {"promotional": False, "transactional": False}
    # Then her address is kept at that level, where the sender reads it, and the contact shows it
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert (item.kind, item.scope, item.source, item.automation_id) == ("unsubscribe", "non_essential", "api", None)
    status, contact = pipeline.keyed("default", "GET", "/v1/contacts/c_1")
    assert contact["profile"]["subscriptions"] == {"promotional": False, "transactional": False}
    assert contact["addresses"] == [
        {
            "address": "ana@example.com",
            "receives": {"promotional": False, "transactional": False, "business_critical": True},
        }
    ]
    assert [(u["kind"], u["scope"]) for u in contact["unsubscribed"]] == [("unsubscribe", "non_essential")]
    # When transactional email is turned back on, promotional email stays off
    status, patched = pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"subscriptions": {"transactional": True}})
    assert status == 200, patched
    assert patched["profile"]["subscriptions"] == {"promotional": False, "transactional": True}
    assert [s.scope for s in DynamoSuppressionStore("default").of("ana@example.com")] == ["promotional"]
    # And promotional email on means every email again
    status, patched = pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"subscriptions": {"promotional": True}})
    assert patched["profile"]["subscriptions"] == {"promotional": True, "transactional": True}
    assert DynamoSuppressionStore("default").of("ana@example.com") == []
    # A change that gives no subscriptions leaves the address's level alone (the recipient's own choice)
    DynamoSuppressionStore("default").add_new(
        Suppression.new("ana@example.com", "unsubscribe", reason="page", source="page", automation_id=None, now=START),
        now=START,
        counts={},
    )
    pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"add_labels": ["vip"]})
    assert [s.scope for s in DynamoSuppressionStore("default").of("ana@example.com")] == ["promotional"]
    status, contact = pipeline.keyed("default", "GET", "/v1/contacts/c_1")
    assert contact["profile"]["subscriptions"] == {"promotional": False, "transactional": True}
