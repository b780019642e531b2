"""Whether the key of a request may call its route (DESIGN.md §5 "Access and workspaces").

API Gateway's authorizer (functions/authorizer) has found the key and passes its workspace and scopes in
``requestContext.authorizer``; the route's scope is :func:`automations.services.access.scope_for`. A key without
it is answered 403 naming the scope, before the request is read (so a refused request learns nothing of the
route's validation). A request without an authorizer context (the local stack, which checks its own key, and the
tests) is not checked here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from automations.services.access import grants, scope_for
from automations.services.deps import Deps, get_deps


@dataclass(frozen=True)
class Caller:
    """Who calls, as the authorizer said: the key's workspace (``""`` for the root key) and its scopes."""

    workspace: str
    scopes: tuple[str, ...]
    key_id: str = ""


def caller_of(event: dict[str, Any]) -> Caller | None:
    """The authorizer's context of an API Gateway (REST) request; None when there is none."""
    context = (event.get("requestContext") or {}).get("authorizer")
    if not isinstance(context, dict) or "scopes" not in context:
        return None
    scopes = tuple(s.strip() for s in str(context.get("scopes") or "").split(",") if s.strip())
    return Caller(str(context.get("workspace") or ""), scopes, str(context.get("key_id") or ""))


def workspace_of(event: dict[str, Any]) -> str | None:
    """The workspace of a request: its key's (None without an authorizer context, or for the root key)."""
    caller = caller_of(event)
    return caller.workspace if caller is not None and caller.workspace else None


def request_deps(current: Any) -> Deps:
    """The dependencies of the workspace of a request (``router.current_event``): every store the route reads or
    writes is its key's workspace's; the stack's own workspace when no authorizer context is given."""
    return get_deps(workspace_of(current.raw_event))


def missing_scope(event: dict[str, Any]) -> str | None:
    """The scope the request's key lacks for its route; None when it has it or no authorizer context is given."""
    caller = caller_of(event)
    if caller is None:
        return None
    needed = scope_for(str(event.get("httpMethod") or "GET"), str(event.get("path") or "/"))
    return None if grants(caller.scopes, needed) else needed


def refusal(scope: str) -> dict[str, Any]:
    """The 403 of a key that lacks ``scope``, as a REST resolver answers (JSON body, multi-value headers)."""
    body = {"message": f"this key lacks the scope {scope!r}", "scope": scope}
    return {
        "statusCode": 403,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def refused(event: dict[str, Any]) -> dict[str, Any] | None:
    """The 403 answer to a request whose key lacks its route's scope; None when the request may go on."""
    scope = missing_scope(event)
    return None if scope is None else refusal(scope)
