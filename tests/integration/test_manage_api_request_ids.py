"""manage_api under moto: the request id of API Gateway in the log lines of a request and in its 5xx answers.

Every line the handler logs for a request carries the request's id as its correlation id; a server error
answers with that same id, so that the answer leads to the logs of the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from automations.services import lifecycle, preview
from automations.services.sending import TransientSendError

from tests.conftest import EXAMPLES, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.logs import LogLines, captured_log_lines

API = load_handler("manage_api")
OVERDUE = "overdue-invoice-reminder"


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_log_lines() as captured:
        yield captured


def call(method: str, path: str, body: Any, request_id: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """One request with this API Gateway request id: the status, the JSON body and the headers."""
    request = load_event("apigw_post_event.json")
    request.update(httpMethod=method, path=path, resource=path, body=json.dumps(body) if body is not None else None)
    request["queryStringParameters"] = request["multiValueQueryStringParameters"] = None
    request["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=path, requestId=request_id)
    response = API.handler(request, LambdaContextStub())
    return int(response["statusCode"]), json.loads(response["body"]), response["multiValueHeaders"]


def create_overdue() -> None:
    definition = yaml.safe_load((EXAMPLES / f"{OVERDUE}.yaml").read_text())
    status, body, _ = call("POST", "/v1/automations", definition, "req-create")
    assert status == 201, body


def test_a_server_error_answers_with_the_request_id_its_log_lines_carry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    # Given a route that fails unexpectedly
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(lifecycle, "list_all", broken)
    # When it is called
    status, body, _ = call("GET", "/v1/automations", None, "req-5xx-0001")
    # Then the answer is a 500 that names the request, and says nothing of the failure itself
    assert status == 500
    assert body == {"message": "internal error", "request_id": "req-5xx-0001"}
    assert "fire" not in json.dumps(body)
    # And the error's log line carries the same id, with the failure
    [error] = log_lines.with_message("unexpected error")
    assert error["correlation_id"] == body["request_id"]
    assert error["level"] == "ERROR" and "the table is on fire" in error["exception"]


def test_the_email_service_throttling_answers_with_the_request_id(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    create_overdue()

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise TransientSendError("throttled", [])

    monkeypatch.setattr(preview, "send_test_email", throttled)
    path = f"/v1/automations/{OVERDUE}/test-email"
    status, body, headers = call("POST", path, {"to": "me@acme.example"}, "req-503-0001")
    assert status == 503 and headers["Retry-After"] == ["5"]
    assert body == {
        "message": "the email service cannot take it now; try again (throttled)",
        "request_id": "req-503-0001",
    }
    [warning] = log_lines.with_message("cannot serve the request now")
    assert warning["correlation_id"] == "req-503-0001" and warning["status"] == 503


def test_every_request_is_logged_with_its_request_id(stack: Stack, log_lines: LogLines) -> None:
    # When requests are answered, a success, an error of the client and an unknown route
    answers = [
        call("GET", "/v1/automations", None, "req-ok-0001")[0],
        call("GET", "/v1/automations/nope", None, "req-404-0001")[0],
        call("GET", "/v1/nothing-here", None, "req-404-0002")[0],
    ]
    assert answers == [200, 404, 404]
    # Then each one is logged once, with its method, path and status, under its request id
    logged = [
        (line["correlation_id"], line["method"], line["path"], line["status"])
        for line in log_lines.with_message("request")
    ]
    assert logged == [
        ("req-ok-0001", "GET", "/v1/automations", 200),
        ("req-404-0001", "GET", "/v1/automations/nope", 404),
        ("req-404-0002", "GET", "/v1/nothing-here", 404),
    ]
    # And a client error's answer carries no request id
    status, body, _ = call("GET", "/v1/automations/nope", None, "req-404-0003")
    assert status == 404 and "request_id" not in body
