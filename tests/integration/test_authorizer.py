"""authorizer under moto: API Gateway's REQUEST authorizer events (``tests/events/``) with a key in
``X-Api-Key`` or as the HTTP Basic username, answered with an IAM policy over the whole stage and the key's
workspace and scopes, or refused with ``Unauthorized``; the secret never reaches the logs.

Its requests are kept apart here; the permissions proof (tests/integration/test_permissions.py) checks them
against the template's role, and :func:`test_the_authorizer_reads_and_touches_keys_only` states what it needs.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from automations.services import access
from automations.services.deps import get_access

from tests.conftest import load_event
from tests.support.aws import ROOT_KEY, LambdaContextStub, Stack, load_handler
from tests.support.iam import RequestLog
from tests.support.logs import captured_log_lines
from tests.support.recorder import AwsTap

AUTHORIZER = load_handler("authorizer")
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod"


@pytest.fixture
def requests_made() -> RequestLog:
    return RequestLog()


@pytest.fixture(autouse=True)
def aws_tap(monkeypatch: pytest.MonkeyPatch, requests_made: RequestLog) -> AwsTap:
    """The authorizer's AWS requests, kept in this module's log (the function has no role in the template yet)."""
    tap = AwsTap(on_request=[requests_made.record])
    tap.install(monkeypatch)
    return tap


def with_key(secret: str) -> dict[str, Any]:
    event = load_event("apigw_authorizer_request.json")
    event["headers"]["X-Api-Key"] = event["multiValueHeaders"]["X-Api-Key"][0] = secret
    return event


def with_basic(username: str, password: str = "") -> dict[str, Any]:
    event = load_event("apigw_authorizer_request_basic.json")
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    event["headers"]["authorization"] = event["multiValueHeaders"]["authorization"][0] = f"Basic {encoded}"
    return event


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = AUTHORIZER.handler(event, LambdaContextStub())
    return answer


def refused(event: dict[str, Any]) -> None:
    with pytest.raises(AUTHORIZER.UnauthorizedError) as raised:
        authorize(event)
    assert str(raised.value) == "Unauthorized"


def test_an_active_key_is_allowed_every_method_of_the_stage_with_its_workspace_and_scopes(stack: Stack) -> None:
    created = access.create_key(get_access(), "acme", "the app", ["events:write", "contacts:read"])

    with captured_log_lines() as logs:
        answer = authorize(with_key(created.secret))

    assert answer == {
        "principalId": created.key.id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{STAGE_ARN}/*/*"]}],
        },
        "context": {"workspace": "acme", "scopes": "events:write,contacts:read", "key_id": created.key.id},
    }
    assert created.secret not in json.dumps(logs.all())
    (accepted,) = logs.with_message("key accepted")
    assert (accepted["key_id"], accepted["workspace"]) == (created.key.id, "acme")
    assert accepted["correlation_id"] == "5f7c3b1e-2a4d-4c6e-8f90-1a2b3c4d5e6f"
    used = get_access().keys.get("acme", created.key.id)
    assert used is not None and used.last_used_at == stack.clock.now()


def test_the_header_is_read_in_any_case_and_basic_authorization_as_segment_sends_it(stack: Stack) -> None:
    created = access.create_key(get_access(), "acme", "segment", ["events:write"])
    lower = with_key(created.secret)
    lower["headers"] = {name.lower(): value for name, value in lower["headers"].items()}

    assert authorize(lower)["context"]["key_id"] == created.key.id
    assert authorize(with_basic(created.secret))["context"]["workspace"] == "acme"
    refused(with_basic("", created.secret))  # the key is the username, never the password


def test_a_segment_route_s_request_with_the_key_as_basic_username_only_is_allowed(stack: Stack) -> None:
    # The Segment-compatible routes' authorizer has no identity source: API Gateway hands it every request, here
    # one as segment-analytics-python sends it (no x-api-key, the write key as the Basic username)
    created = access.create_key(get_access(), "acme", "segment", ["events:write"])
    event = load_event("apigw_authorizer_request_segment.json")
    assert "x-api-key" not in {name.lower() for name in event["headers"]}
    encoded = base64.b64encode(f"{created.secret}:".encode()).decode()
    event["headers"]["authorization"] = event["multiValueHeaders"]["authorization"][0] = f"Basic {encoded}"

    answer = authorize(event)

    assert answer["context"] == {"workspace": "acme", "scopes": "events:write", "key_id": created.key.id}
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == [f"{STAGE_ARN}/*/*"]
    # The sample's own key was never created
    refused(load_event("apigw_authorizer_request_segment.json"))


def test_a_revoked_key_is_refused(stack: Stack) -> None:
    keys = get_access()
    access.create_key(keys, "acme", "admin", ["admin"])
    app = access.create_key(keys, "acme", "the app", ["events:write"])
    assert authorize(with_key(app.secret))["principalId"] == app.key.id

    stack.clock.moment += timedelta(minutes=1)
    access.revoke_key(keys, "acme", app.key.id)

    with captured_log_lines() as logs:
        refused(with_key(app.secret))
    assert logs.with_message("request refused")[0]["reason"] == "unknown or revoked key"
    assert app.secret not in json.dumps(logs.all())


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(with_key("ak_0123456789abcdef_not-a-key-we-made"), id="unknown"),
        pytest.param(with_key("not even shaped like a key"), id="malformed"),
        pytest.param(with_basic("ak_0123456789abcdef_not-a-key-we-made"), id="unknown basic"),
    ],
)
def test_an_unknown_key_is_refused_and_never_logged(stack: Stack, event: dict[str, Any]) -> None:
    presented = AUTHORIZER.presented_key(event["headers"])
    assert presented

    with captured_log_lines() as logs:
        refused(event)

    assert presented not in json.dumps(logs.all())
    assert logs.with_message("request refused")[0]["reason"] == "unknown or revoked key"


@pytest.mark.parametrize(
    "headers", [{}, None, {"X-Api-Key": "  "}, {"Authorization": "Bearer abc"}, {"Authorization": "Basic !!"}]
)
def test_a_request_without_a_key_is_refused(stack: Stack, headers: dict[str, str] | None) -> None:
    event = load_event("apigw_authorizer_request.json")
    event["headers"], event["multiValueHeaders"] = headers, None

    with captured_log_lines() as logs:
        refused(event)

    assert logs.with_message("request refused")[0]["reason"] == "no key"


def test_the_authorizer_reads_and_touches_keys_only(stack: Stack, requests_made: RequestLog) -> None:
    created = access.create_key(get_access(), "acme", "the app", ["events:write"])
    authorize(with_key(created.secret))
    refused(with_key("ak_0123456789abcdef_unknown"))

    (function,) = requests_made.functions()
    assert function == "AuthorizerFunction"  # named as the template names it
    keys_table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.settings.keys_table}"
    assert {(r.action, r.resource) for _, r in requests_made.seen} == {
        ("dynamodb:GetItem", keys_table),
        ("dynamodb:UpdateItem", keys_table),
    }


def test_the_root_key_is_allowed_with_the_root_scope_and_no_workspace(stack: Stack) -> None:
    with captured_log_lines() as logs:
        answer = authorize(with_key(ROOT_KEY))

    assert answer["principalId"] == "root"
    assert answer["context"] == {"workspace": "", "scopes": "root", "key_id": "root"}
    assert ROOT_KEY not in json.dumps(logs.all())
    refused(with_key(ROOT_KEY + "x"))
