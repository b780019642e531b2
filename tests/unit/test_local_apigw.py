"""Requests as API Gateway's REST proxy integration hands them to a function, and its answers back."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from automations_local.apigw import BadProxyResponseError, Match, NoRoute, http_answer, match, proxy_event
from automations_local.wiring import Route

ROUTES = [
    Route("/v1/events", "POST", "ingest_trigger", True),
    Route("/v1/automations", "ANY", "manage_api", True),
    Route("/v1/automations/{id}", "ANY", "manage_api", True),
    Route("/v1/automations/{id}/{action}", "ANY", "manage_api", True),
    Route("/v1/runs/{id}", "GET", "manage_api", True),
    Route("/v1/runs/latest", "GET", "other", True),
    Route("/u/{token}", "GET", "stats_webhook", False),
    Route("/u/{token}", "POST", "stats_webhook", False),
]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_a_path_finds_its_route_and_decoded_parameters() -> None:
    found = match(ROUTES, "POST", "/v1/automations/a%20b/activate")
    assert isinstance(found, Match)
    assert found.route.path == "/v1/automations/{id}/{action}"
    assert found.path_parameters == {"id": "a b", "action": "activate"}


def test_a_literal_segment_wins_over_a_parameter() -> None:
    found = match(ROUTES, "GET", "/v1/runs/latest")
    assert isinstance(found, Match) and found.route.function == "other"


def test_unknown_paths_and_methods() -> None:
    assert match(ROUTES, "GET", "/v2/nothing") == NoRoute(())
    assert match(ROUTES, "DELETE", "/u/tok") == NoRoute(("GET", "POST"))
    assert match(ROUTES, "GET", "/v1/events") == NoRoute(("POST",))


def event_for(
    method: str, path: str, query: str = "", body: bytes = b"", content_type: str = "application/json"
) -> dict[str, Any]:
    found = match(ROUTES, method, path)
    assert isinstance(found, Match)
    headers = [("Host", "127.0.0.1:3000"), ("Content-Type", content_type), ("X-Multi", "a"), ("X-Multi", "b")]
    return proxy_event(
        found.route,
        found.path_parameters,
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        stage="local",
        api_key="k",
        source_ip="127.0.0.1",
        now=NOW,
        region="us-east-1",
    )


def test_the_proxy_event_has_every_field_of_a_rest_api_event() -> None:
    event = event_for("GET", "/v1/automations/x", query="status=active&tag=a&tag=b")
    assert event["resource"] == "/v1/automations/{id}"
    assert event["path"] == "/v1/automations/x"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "x"}
    assert event["queryStringParameters"] == {"status": "active", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"status": ["active"], "tag": ["a", "b"]}
    assert event["headers"]["X-Multi"] == "b" and event["multiValueHeaders"]["X-Multi"] == ["a", "b"]
    assert event["requestContext"]["identity"]["apiKey"] == "k"
    assert event["requestContext"]["resourcePath"] == "/v1/automations/{id}"
    assert event["requestContext"]["stage"] == "local" and event["requestContext"]["path"] == "/v1/automations/x"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_text_bodies_stay_text_and_binary_bodies_are_base64() -> None:
    text = event_for("POST", "/v1/events", body=b'{"type": "x"}')
    assert text["body"] == '{"type": "x"}' and text["isBase64Encoded"] is False
    form = event_for(
        "POST", "/u/tok", body=b"List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert form["body"] == "List-Unsubscribe=One-Click"
    binary = event_for("POST", "/v1/events", body=b"\x00\xff", content_type="application/octet-stream")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x00\xff"


def test_proxy_answers_become_http_answers() -> None:
    answer = http_answer(
        {
            "statusCode": 202,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"ok": True}),
        }
    )
    assert answer.status == 202 and json.loads(answer.body) == {"ok": True}
    assert ("Set-Cookie", "a=1") in answer.headers and ("Set-Cookie", "b=2") in answer.headers
    encoded = http_answer({"statusCode": 200, "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True})
    assert encoded.body == b"\x89PNG"
    with pytest.raises(BadProxyResponseError):
        http_answer({"body": "no status"})
