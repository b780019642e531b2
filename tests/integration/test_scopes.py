"""Every route and every scope, generated from ``ROUTE_SCOPES``: through the real handlers (manage_api's resolver,
ingest_trigger for ``POST /v1/events`` and the Segment-compatible routes) with the authorizer's context in the API
Gateway event, a key whose scopes do not allow the route is answered 403 naming the scope, and one whose scopes do
is not. A route the resolvers serve but ``ROUTE_SCOPES`` does not list fails here, so a new route cannot skip the
check.

The requests are kept apart from the permissions proof (the routes of keys and workspaces run here with scopes
no flow of the proof has).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from automations.ports import ROOT, Scope
from automations.services.access import OPEN, ROUTE_SCOPES, grants, scope_for

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.iam import RequestLog
from tests.support.recorder import AwsTap

API = load_handler("manage_api")
INGEST = load_handler("ingest_trigger")

#: What a key may hold: each scope of a workspace's key, and the root key's.
HELD = (*(str(scope) for scope in Scope), ROOT)


@pytest.fixture(autouse=True)
def aws_tap(monkeypatch: pytest.MonkeyPatch) -> AwsTap:
    """This module's requests, kept out of the permissions proof."""
    tap = AwsTap(on_request=[RequestLog().record])
    tap.install(monkeypatch)
    return tap


def concrete(template: str) -> str:
    return re.sub(r"\{[^/]+\}", "sample", template)


def request(method: str, path: str, scopes: str | None) -> dict[str, Any]:
    event = load_event("apigw_post_event.json")
    event.update(httpMethod=method, path=path, resource=path, body=None)
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=path)
    if scopes is not None:
        workspace = "" if scopes == ROOT else "acme"
        event["requestContext"]["authorizer"] = {"workspace": workspace, "scopes": scopes, "key_id": "k1"}
    return event


def ingest_paths() -> set[str]:
    """The paths ingest_trigger's resolver serves (``/v1/events``, ``/v1/track``...)."""
    return set(INGEST.app.get_openapi_schema().paths or {})


def answer(method: str, path: str, scopes: str | None) -> tuple[int, Any]:
    handler = INGEST.handler if path in ingest_paths() else API.handler
    response = handler(request(method, path, scopes), LambdaContextStub())
    body = response.get("body") or ""
    try:
        return int(response["statusCode"]), json.loads(body)
    except ValueError:
        return int(response["statusCode"]), body


@pytest.mark.parametrize(("method", "template"), sorted(ROUTE_SCOPES), ids=lambda v: str(v))
def test_each_scope_is_allowed_or_refused_403_naming_the_scope(stack: Stack, method: str, template: str) -> None:
    needed = str(ROUTE_SCOPES[(method, template)])
    path = concrete(template)
    for held in HELD:
        status, body = answer(method, path, held)
        if grants([held], needed):
            assert status != 403, (method, path, held, body)
        else:
            assert status == 403, (method, path, held, status, body)
            assert body == {"message": f"this key lacks the scope '{needed}'", "scope": needed}


def test_a_key_with_several_scopes_is_allowed_by_any_of_them(stack: Stack) -> None:
    status, _ = answer("GET", "/v1/schema", "events:write,automations:read")
    assert status == 200
    status, body = answer("GET", "/v1/schema", "events:write,contacts:read")
    assert (status, body["scope"]) == (403, "automations:read")


def test_without_an_authorizer_context_the_routes_answer_as_before(stack: Stack) -> None:
    assert answer("GET", "/v1/schema", None)[0] == 200
    assert answer("GET", "/v1/webhook-secret", None)[0] != 403


def test_the_open_routes_need_no_scope(stack: Stack) -> None:
    for held in ("", "events:write"):
        assert answer("GET", "/v1/openapi.json", held)[0] == 200
        assert answer("GET", "/v1/swagger", held)[0] == 200


def _served() -> set[tuple[str, str]]:
    """Every (method, path template) the resolvers serve, from their OpenAPI documents."""
    found = set()
    for app in (API.app, INGEST.app):
        for path, item in (app.get_openapi_schema().paths or {}).items():
            for method in ("get", "put", "post", "delete", "patch"):
                if getattr(item, method, None) is not None:
                    found.add((method.upper(), path))
    return found


def test_every_route_the_resolvers_serve_has_a_scope_or_is_open() -> None:
    served = _served()
    assert ("POST", "/v1/events") in served and ("GET", "/v1/automations") in served
    assert {("POST", "/v1/track"), ("POST", "/v1/identify"), ("POST", "/v1/batch")} <= served
    listed = {(method, concrete(template)) for method, template in ROUTE_SCOPES}
    unlisted = sorted(
        f"{method} {path}"
        for method, path in served
        if (method, concrete(path)) not in listed and not any(pattern.match(path) for pattern in OPEN)
    )
    assert not unlisted, f"routes without a scope in services.access.ROUTE_SCOPES: {unlisted}"
    checked = [(method, concrete(path)) for method, path in served]
    assert all(scope_for(method, path) is not None for method, path in checked if (method, path) in listed)
