"""ingest_trigger under moto: Segment's HTTP API format (POST /v1/track, /v1/identify and /v1/batch).

The requests are API Gateway proxy events as the Segment-compatible routes receive them (``tests/events/``): the
key sent as the HTTP Basic username, the authorizer's context (workspace, scopes) in the request context, and a
body as Segment's SDKs post it. What is checked is what a user of the product sees: the answer (Segment's
``{"success": true}``, with one answer per message), the stored events, and the runs they started.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from automations.adapters.dynamodb.tables import EventItem
from automations.events import MAX_BATCH
from automations.services import access, segment
from automations.services.deps import get_access
from openapi_spec_validator import validate

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.flows import activate

INGEST = load_handler("ingest_trigger")
MANAGE = load_handler("manage_api")

WELCOME = "new-lead-welcome"


def batch_request(scopes: str = "events:write") -> dict[str, Any]:
    """The sample: a batch as segment-analytics-python posts it (a track, an identify and a page call), with the
    context the authorizer answered for its key. (The sample leaves that context's own keys to the test: their
    values are strings, where Powertools' model of the event, which every sample is checked with, reads
    ``scopes`` as a Cognito list.)"""
    request = load_event("apigw_segment_batch.json")
    context = {"workspace": "default", "scopes": scopes, "key_id": "0123456789abcdef"}
    request["requestContext"]["authorizer"].update(context)
    return request


def segment_request(path: str, body: Any, *, raw: str | None = None, scopes: str = "events:write") -> dict[str, Any]:
    """A Segment-compatible route's request: the sample's headers and authorizer context, this path and body."""
    request = batch_request(scopes)
    request.update(path=path, resource=path, body=raw if raw is not None else json.dumps(body))
    request["requestContext"].update(path=f"/prod{path}", resourcePath=path)
    return request


def send(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = INGEST.handler(request, LambdaContextStub())
    return int(response["statusCode"]), json.loads(response["body"])


def post(path: str, body: Any = None, *, raw: str | None = None) -> tuple[int, dict[str, Any]]:
    return send(segment_request(path, body, raw=raw))


def stored() -> dict[str, dict[str, Any]]:
    return {item.body["id"]: item.body for item in EventItem.scan()}


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "c_7", "event": "lead.created", **fields}


# --- a batch as the SDK sends it ----------------------------------------------------------------------------


def test_a_batch_as_the_sdk_sends_it_is_stored_matched_and_answered_per_message(stack: Stack) -> None:
    # Given the new-lead welcome, active (it emails each new lead with an address)
    activate(stack, WELCOME)
    # When the app's Segment SDK posts its batch: a track, an identify and a page call
    status, answer = send(batch_request())
    # Then it is answered as Segment answers, with one answer per message
    assert status == 200, answer
    assert answer["success"] is True
    tracked, identified, page = answer["events"]
    assert tracked["id"] == "3f1c0e9a-8d4b-4e6f-9a2b-7c5d1e0f4a31" and tracked["status"] == "accepted"
    assert tracked["type"] == "lead.created" and len(tracked["runs"]) == 1
    assert identified == {
        "id": "8b2e6d40-1f3a-4c5e-b7d9-0a1c2e3f4b5d",
        "status": "accepted",
        "runs": [],
        "type": "contact.identified",
    }
    assert page == {
        "id": "c7a9e1f2-5b3d-4a8c-9e0f-1d2b3c4a5e6f",
        "status": "ignored",
        "reason": "page calls start no automation",
    }
    # And the track call is stored as the trigger event it maps to
    events = stored()
    assert set(events) == {tracked["id"], identified["id"]}
    assert events[tracked["id"]] == {
        "id": tracked["id"],
        "type": "lead.created",
        "occurred_at": "2026-11-24T09:59:58.120000Z",
        "contact": {
            "id": "c_42",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Silva",
            "phone": "+351 912 345 678",
            "timezone": "Europe/Lisbon",
            "locale": "pt-PT",
            "plan": "trial",
        },
        "data": {"lead": {"id": "lead_9", "source": "contact-form"}, "interest": "prenatal yoga"},
    }
    # And the identify call as contact.identified, whose contact carries the traits
    assert events[identified["id"]]["type"] == "contact.identified"
    assert events[identified["id"]]["data"] == {}
    assert events[identified["id"]]["contact"] == {
        "id": "c_42",
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Silva",
        "timezone": "Europe/Lisbon",
        "locale": "pt-PT",
        "plan": "pro",
        "company": {"name": "Acme Studio"},
    }
    # And the run of the welcome is the person's, and its email is queued to the trait's address
    [run] = stack.deps.runs.by_automation(WELCOME)
    assert run.id == tracked["runs"][0] and run.person == "c_42"
    [email] = stack.queued_emails()
    assert "ana@example.com" in json.dumps(email)


def test_the_same_batch_again_is_answered_duplicate_and_starts_nothing_new(stack: Stack) -> None:
    activate(stack, WELCOME)
    first = send(batch_request())[1]["events"]
    status, again = send(batch_request())
    assert status == 200
    assert [(a["status"], a.get("runs")) for a in again["events"]] == [
        ("duplicate", first[0]["runs"]),
        ("duplicate", []),
        ("ignored", None),
    ]
    assert len(list(stack.deps.runs.by_automation(WELCOME))) == 1
    assert len(stack.queued_emails()) == 1


def test_one_bad_message_of_a_batch_blocks_no_other(stack: Stack) -> None:
    activate(stack, WELCOME)
    messages = [
        track(messageId="m-ok-1", context={"traits": {"email": "ok@example.com"}}),
        track(messageId="m-bad-email", context={"traits": {"email": "not an address"}}),
        {"type": "identify", "messageId": "m-no-person", "traits": {"plan": "pro"}},
        {"type": "alias", "previousId": "anon_1", "userId": "c_7"},
        {"type": "purchase", "messageId": "m-unknown"},
        "not a message",
        track(messageId="m-ok-1"),  # the first one's id again
    ]
    status, answer = post("/v1/batch", {"batch": messages})
    assert status == 200, answer
    ok, bad_email, no_person, alias, unknown, not_object, again = answer["events"]
    assert ok["status"] == "accepted" and len(ok["runs"]) == 1
    assert bad_email["id"] == "m-bad-email" and bad_email["status"] == "invalid"
    assert [e["loc"] for e in bad_email["errors"]] == ["batch[1].context.traits.email"]
    assert no_person["status"] == "invalid"
    assert [e["loc"] for e in no_person["errors"]] == ["batch[2].userId"]
    assert alias == {"status": "ignored", "reason": "alias calls start no automation"}
    assert unknown["status"] == "invalid" and [e["loc"] for e in unknown["errors"]] == ["batch[4].type"]
    assert not_object["status"] == "invalid" and [e["loc"] for e in not_object["errors"]] == ["batch[5]"]
    assert again == {"id": "m-ok-1", "status": "duplicate", "runs": ok["runs"], "type": "lead.created"}
    assert set(stored()) == {"m-ok-1"}


# --- track and identify alone -------------------------------------------------------------------------------


def test_a_track_call_of_a_segment_style_name_becomes_an_event_type(stack: Stack) -> None:
    body = {
        "userId": 42,
        "event": "Order Completed",
        "properties": {"order_id": "o_1", "total": 99.5},
        "originalTimestamp": "2026-11-24T09:00:00Z",
        "messageId": "ajs-next-1795514400000-3b5f0c2e",
    }
    status, answer = post("/v1/track", body)
    assert status == 200, answer
    [event] = answer["events"]
    assert (event["type"], event["status"]) == ("order_completed", "accepted")
    stored_event = stored()["ajs-next-1795514400000-3b5f0c2e"]
    assert stored_event["type"] == "order_completed" and stored_event["contact"] == {"id": "42"}
    assert stored_event["occurred_at"] == "2026-11-24T09:00:00Z"
    assert stored_event["data"] == {"order_id": "o_1", "total": 99.5}


def test_an_identify_call_with_an_anonymous_id_and_no_message_id_gets_one(stack: Stack) -> None:
    body = {"anonymousId": "anon_5e1", "traits": {"firstName": "Rui", "email": "rui@example.com"}}
    status, answer = post("/v1/identify", body)
    assert status == 200, answer
    [event] = answer["events"]
    assert event["status"] == "accepted" and event["id"].startswith("evt_")
    stored_event = stored()[event["id"]]
    assert stored_event["contact"] == {"id": "anon_5e1", "first_name": "Rui", "email": "rui@example.com"}
    # Without a timestamp, the event occurred when it arrived
    assert stored_event["occurred_at"] == stack.clock.now().isoformat().replace("+00:00", "Z")


def test_an_invalid_lone_message_is_a_400_naming_segment_s_fields(stack: Stack) -> None:
    status, answer = post("/v1/track", {"properties": [], "timestamp": "yesterday"})
    assert status == 400
    assert answer["message"] == "invalid message"
    assert [e["loc"] for e in answer["errors"]] == ["event", "properties", "userId", "timestamp"]
    status, answer = post("/v1/track", track(timestamp="1066-10-14T09:00:00Z"))
    assert status == 400 and [e["loc"] for e in answer["errors"]] == ["timestamp"]
    status, answer = post("/v1/identify", {"userId": "c_1", "traits": {"email": "nope", "firstName": 7}})
    assert status == 400 and [e["loc"] for e in answer["errors"]] == ["traits.firstName", "traits.email"]
    assert stored() == {}


def test_a_message_over_the_size_limit_is_a_400_naming_its_largest_field(stack: Stack) -> None:
    blob = "x" * (stack.settings.max_event_bytes + 1)
    status, answer = post("/v1/track", track(properties={"notes": blob}))
    assert status == 400
    assert answer["message"] == "message too large"
    assert [e["loc"] for e in answer["errors"]] == ["properties.notes"]
    assert stored() == {}


@pytest.mark.parametrize(
    ("path", "raw", "named"),
    [
        pytest.param("/v1/track", "", "empty", id="empty"),
        pytest.param("/v1/track", "{not json", "not valid JSON", id="not JSON"),
        pytest.param("/v1/identify", "[1, 2]", "not a JSON object", id="a list"),
        pytest.param("/v1/batch", '"batch"', "not a JSON object", id="a string"),
        pytest.param("/v1/batch", '{"batch": {}}', "not a batch", id="batch not a list"),
        pytest.param("/v1/batch", '{"batch": []}', "not a batch", id="empty batch"),
        pytest.param("/v1/batch", json.dumps({"batch": [track()] * (MAX_BATCH + 1)}), "not a batch", id="too many"),
        pytest.param("/v1/batch", '{"batch": [{}], "context": 3}', "context", id="batch context"),
    ],
)
def test_a_body_that_is_no_segment_call_is_a_400_naming_the_problem(
    stack: Stack, path: str, raw: str, named: str
) -> None:
    status, answer = post(path, raw=raw)
    assert status == 400, answer
    assert named in answer["message"]
    assert stored() == {}


def test_a_base64_body_is_read(stack: Stack) -> None:
    request = segment_request("/v1/track", None, raw=base64.b64encode(json.dumps(track()).encode()).decode())
    request["isBase64Encoded"] = True
    status, answer = send(request)
    assert status == 200 and answer["events"][0]["status"] == "accepted"


# --- keys and workspaces ------------------------------------------------------------------------------------


def test_a_key_without_events_write_is_refused_naming_the_scope(stack: Stack) -> None:
    for path in ("/v1/track", "/v1/identify", "/v1/batch"):
        status, answer = send(segment_request(path, track(), scopes="automations:read"))
        assert (status, answer["scope"]) == (403, "events:write")
    assert stored() == {}


def test_the_events_land_in_the_workspace_of_the_key(stack: Stack) -> None:
    # Given a second workspace, and its key's context on the request (as the authorizer answers it)
    access.create_workspace(
        get_access(),
        id="acme",
        name="Acme",
        sender_address="hello@acme.example",
        sender_name="Acme",
        timezone="Europe/Lisbon",
        locale="pt",
        brand_name="Acme Studio",
    )
    request = segment_request("/v1/track", track(messageId="m-acme"))
    request["requestContext"]["authorizer"]["workspace"] = "acme"
    # When the app posts a track call
    status, answer = send(request)
    # Then it is stored in acme's workspace, not in the stack's own
    assert status == 200, answer
    assert stack.deps.in_workspace("acme").events.get("m-acme") is not None
    assert stack.deps.events.get("m-acme") is None


# --- the API's description ----------------------------------------------------------------------------------


def test_the_openapi_document_describes_the_segment_routes(stack: Stack) -> None:
    request = load_event("apigw_post_event.json")
    request.update(httpMethod="GET", path="/v1/openapi.json", resource="/v1/openapi.json", body=None)
    response = MANAGE.handler(request, LambdaContextStub())
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    validate(document)
    assert document["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    served = {path: item.post for path, item in INGEST.app.get_openapi_schema().paths.items() if item.post}
    for path, route in segment.ROUTES.items():
        operation = document["paths"][path]["post"]
        # The route's summary, as the handler's resolver declares it
        assert operation["summary"] == served[path].summary
        assert operation["summary"].startswith("Ingest a Segment") and route in operation["summary"]
        assert operation["security"] == [{"apiKey": []}, {"basicAuth": []}]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/SegmentOut"
        }
        assert "400" in operation["responses"]
        # The documented example is accepted as it is
        [example] = operation["requestBody"]["content"]["application/json"]["examples"].values()
        status, answer = post(path, example["value"])
        assert status == 200 and answer["success"] is True, answer
