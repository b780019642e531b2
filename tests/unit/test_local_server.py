"""The local server's answers: the API key, the routes, the functions' answers and the clock, with no network."""

from __future__ import annotations

import base64
import json
import textwrap
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from automations.adapters.clock import Clock
from automations_local.lambdas import Functions
from automations_local.pump import Outbox, Pump, Work
from automations_local.server import LocalApp, Request
from automations_local.wiring import Route

ECHO = """
import json
import threading
import time

ANSWERING = {"now": 0, "most": 0}
COUNTING = threading.Lock()

def handler(event, context):
    if event["path"].endswith("/boom"):
        raise RuntimeError("boom")
    if event["path"].endswith("/slow"):
        with COUNTING:
            ANSWERING["now"] += 1
            ANSWERING["most"] = max(ANSWERING["most"], ANSWERING["now"])
        time.sleep(0.02)
        with COUNTING:
            ANSWERING["now"] -= 1
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
"""


class FakePump:
    def __init__(self) -> None:
        self.outbox = Outbox()
        self.passes = 0

    def run_until_quiet(self) -> Work:
        self.passes += 1
        return Work(schedules=2)

    def release_postponed(self) -> int:
        return 0

    def next_due_within(self, window: timedelta) -> None:
        return None


@pytest.fixture
def app(tmp_path: Path) -> LocalApp:
    path = tmp_path / "functions" / "echo" / "app.py"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(ECHO))
    routes = [
        Route("/v1/things/{id}", "ANY", "echo", True),
        Route("/v1/keyed/{id}", "ANY", "echo", True, ("x-api-key",)),
        Route("/u/{token}", "GET", "echo", False),
        Route("/v1/missing", "GET", "not_written_yet", True),
    ]
    return LocalApp(
        routes=routes,
        functions=Functions(tmp_path, region="us-east-1"),
        pump=cast(Pump, FakePump()),
        clock=Clock(),
        api_key="the-key",
        stage="local",
        region="us-east-1",
        functions_of_stack=["echo", "not_written_yet"],
    )


def call(app: LocalApp, method: str, path: str, body: bytes = b"", key: str | None = None) -> tuple[int, Any]:
    headers = [("Content-Type", "application/json")] + ([("x-api-key", key)] if key is not None else [])
    path, _, query = path.partition("?")
    answer = app.handle(Request(method, path, query, headers, body, "127.0.0.1"))
    content_type = dict((k.lower(), v) for k, v in answer.headers).get("content-type", "")
    return answer.status, json.loads(answer.body) if "json" in content_type else answer.body


def test_v1_routes_need_the_api_key(app: LocalApp) -> None:
    assert call(app, "GET", "/v1/things/1")[0] == 401
    assert call(app, "GET", "/v1/things/1", key="wrong")[0] == 403
    status, event = call(app, "GET", "/v1/things/1?x=1", key="the-key")
    assert status == 200
    assert event["requestContext"]["identity"]["apiKey"] == "the-key"
    assert event["pathParameters"] == {"id": "1"} and event["queryStringParameters"] == {"x": "1"}


def basic(username: str, password: str = "") -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())


def test_the_key_may_be_the_basic_username_where_the_authorizer_has_no_identity_source(app: LocalApp) -> None:
    def status(path: str, *headers: tuple[str, str]) -> int:
        return app.handle(Request("GET", path, "", list(headers), b"", "127.0.0.1")).status

    # No identity source (the Segment-compatible routes): x-api-key, or else the Basic username, as Segment sends it
    assert status("/v1/things/1", basic("the-key")) == 200
    assert status("/v1/things/1", basic("wrong")) == 403
    assert status("/v1/things/1", basic("", "the-key")) == 401  # the key is the username, never the password
    assert status("/v1/things/1", ("Authorization", "Bearer the-key")) == 401
    # An x-api-key identity source: API Gateway answers 401 without that header, whatever else the request has
    assert status("/v1/keyed/1", basic("the-key")) == 401
    assert status("/v1/keyed/1", ("X-Api-Key", "the-key")) == 200


def test_public_routes_do_not(app: LocalApp) -> None:
    status, event = call(app, "GET", "/u/token-1")
    assert status == 200 and event["requestContext"]["identity"]["apiKey"] is None


def test_unknown_routes_missing_functions_and_failures(app: LocalApp) -> None:
    assert call(app, "GET", "/v2/x")[0] == 404
    assert call(app, "POST", "/u/token-1")[0] == 405
    status, body = call(app, "GET", "/v1/missing", key="the-key")
    assert status == 501 and "functions/not_written_yet/app.py" in body["message"]
    status, body = call(app, "GET", "/v1/things/boom", key="the-key")
    assert status == 502 and "boom" in body["detail"]


def test_the_clock_moves_by_a_duration_of_the_language(app: LocalApp) -> None:
    status, before = call(app, "GET", "/_local/clock")
    assert status == 200 and before["offset"] == "0m"
    status, after = call(app, "POST", "/_local/clock", json.dumps({"advance": "1d12h"}).encode())
    assert status == 200 and after["offset"] == "1d12h" and after["fired"] == 2
    assert call(app, "POST", "/_local/clock", b'{"advance": "soon"}')[0] == 400
    assert call(app, "POST", "/_local/clock", b"{}")[0] == 400


def test_the_status_names_the_functions_that_are_there(app: LocalApp) -> None:
    status, body = call(app, "GET", "/_local/status")
    assert status == 200 and body["functions"] == {"echo": True, "not_written_yet": False}


def test_the_api_s_routes_are_answered_one_at_a_time(app: LocalApp) -> None:
    # Given eight requests to a route at the same moment
    start = threading.Barrier(8)

    def request() -> int:
        start.wait(timeout=10)
        return call(app, "GET", "/v1/things/slow", key="the-key")[0]

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # Then the function answered them one after the other (Powertools' resolvers share the current request)
    module = app.functions.module("echo")
    assert module.ANSWERING == {"now": 0, "most": 1}
