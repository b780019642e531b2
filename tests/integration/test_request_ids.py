"""ingest_trigger, stats_webhook and send_email under moto: the ids that tie an answer to its log lines.

Every line a handler logs for an API Gateway request carries the request's id as its correlation id, and a
server error of ``POST /v1/events`` or ``/u/{token}`` answers with that same id, so that the answer leads to
the logs of the request. A bus event's lines carry its EventBridge id, a queue record's its SQS message id.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from automations.services import unsubscribe
from automations.services.unsubscribe import sign_token

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import apigw_event, request, sqs_event, verify_sender
from tests.support.logs import LogLines, captured_log_lines

INGEST = load_handler("ingest_trigger")
WEBHOOK = load_handler("stats_webhook")
SEND = load_handler("send_email")


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_log_lines() as lines:
        yield lines


def with_request_id(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["requestContext"]["requestId"] = request_id
    return event


def answer(response: dict[str, Any]) -> tuple[int, Any]:
    """The status of an API Gateway proxy answer, and its body (parsed when it is JSON)."""
    body = response["body"]
    content_type = (response.get("multiValueHeaders") or {}).get("Content-Type", [""])[0]
    return int(response["statusCode"]), json.loads(body) if content_type == "application/json" else body


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("the table is on fire")


# --- POST /v1/events ---------------------------------------------------------------------------------------


def test_a_server_error_of_post_events_answers_with_the_request_id_its_log_lines_carry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    # Given events that cannot be stored, for a reason nobody expected
    monkeypatch.setattr(INGEST, "accept", broken)
    # When an app posts one
    status, body = answer(
        INGEST.handler(with_request_id(load_event("apigw_post_event.json"), "req-ev-500"), LambdaContextStub())
    )
    # Then the answer is a 500 that names the request, and says nothing of the failure itself
    assert status == 500
    assert body == {"message": "internal error", "request_id": "req-ev-500"}
    # And the error's log line carries the same id, with the failure
    [error] = log_lines.with_message("unexpected error")
    assert error["correlation_id"] == body["request_id"]
    assert error["level"] == "ERROR" and "the table is on fire" in error["exception"]


def test_a_request_no_route_takes_keeps_powertools_404(stack: Stack) -> None:
    event = with_request_id(load_event("apigw_post_event.json"), "req-ev-404")
    event.update(httpMethod="GET", path="/v1/nothing", resource="/v1/nothing", body=None)
    event["requestContext"].update(httpMethod="GET", path="/prod/v1/nothing", resourcePath="/v1/nothing")
    status, body = answer(INGEST.handler(event, LambdaContextStub()))
    assert (status, body) == (404, {"statusCode": 404, "message": "Not found"})


# --- /u/{token} --------------------------------------------------------------------------------------------


def token() -> str:
    return sign_token("test-secret", "default", "ana@example.com", "we-miss-you")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_server_error_of_the_unsubscribe_page_answers_with_the_request_id_its_log_lines_carry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines, method: str
) -> None:
    # Given the unsubscribe page, failing for a reason nobody expected (reading the token, or the suppression)
    monkeypatch.setattr(unsubscribe, "read_token" if method == "GET" else "unsubscribe", broken)
    # When a recipient opens the page, or their mailbox provider posts the one-click body
    event = with_request_id(apigw_event(method, token()), f"req-u-{method}")
    status, body = answer(WEBHOOK.handler(event, LambdaContextStub()))
    # Then the answer is a 500 that names the request
    assert status == 500
    assert body == {"message": "internal error", "request_id": f"req-u-{method}"}
    # And the error's log line carries the same id
    [error] = log_lines.with_message("unexpected error")
    assert error["correlation_id"] == f"req-u-{method}" and "the table is on fire" in error["exception"]


def test_a_refused_unsubscribe_link_is_logged_under_the_request_id(stack: Stack, log_lines: LogLines) -> None:
    status, _ = answer(
        WEBHOOK.handler(with_request_id(apigw_event("GET", "garbage"), "req-u-400"), LambdaContextStub())
    )
    assert status == 400
    [refused] = log_lines.with_message("unsubscribe link refused")
    assert refused["correlation_id"] == "req-u-400"


def test_a_path_the_unsubscribe_routes_do_not_take_keeps_powertools_404(stack: Stack) -> None:
    event = apigw_event("GET", token())
    event.update(path="/elsewhere", resource="/elsewhere")
    status, body = answer(WEBHOOK.handler(event, LambdaContextStub()))
    assert (status, body) == (404, {"statusCode": 404, "message": "Not found"})


# --- the bus and the queue --------------------------------------------------------------------------------


def test_a_bus_event_is_logged_under_its_eventbridge_id(stack: Stack, log_lines: LogLines) -> None:
    record = load_event("eventbridge_trigger.json")
    record["detail"] = "not an object"
    assert INGEST.handler(record, LambdaContextStub())["status"] == "invalid"
    [logged] = log_lines.with_message("invalid EventBridge event")
    assert logged["correlation_id"] == record["id"] == logged["id"]


def test_each_queue_record_is_logged_under_its_message_id(stack: Stack, log_lines: LogLines) -> None:
    verify_sender()
    event = sqs_event(request(), request())
    event["Records"][0]["body"] = "{not json"
    event["Records"][1]["body"] = json.dumps({**request(), "subject": ""})
    result = SEND.handler(event, LambdaContextStub())
    assert len(result["batchItemFailures"]) == 2
    logged = log_lines.with_message("invalid email message kept for the dead-letter queue")
    assert [line["correlation_id"] for line in logged] == [r["messageId"] for r in event["Records"]]
    assert [line["message_id"] for line in logged] == [r["messageId"] for r in event["Records"]]
