"""Keys of the calling workspace (DESIGN.md §5): create one (its secret shown once), list them, revoke one.

The workspace is the one the authorizer found the request's key in (``requestContext.authorizer.workspace``),
else the settings' workspace (a request that reached the handler without the authorizer).
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import workspace_of
from automations.errors import FieldError
from automations.ports import InvalidInputError, NotFoundError
from automations.services import access
from automations.services.deps import get_access, get_deps

router = Router()  # type: ignore[no-untyped-call]

#: A key's id as :func:`~automations.services.access.new_secret` makes it (anything else is no key of ours).
KEY_ID = re.compile(r"^[0-9a-z-]{1,40}$")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What the key is for (1 to 100 characters)", max_length=access.MAX_NAME)
    scopes: list[str] = Field(description="events:write, automations:read|write, contacts:read|write, admin")


class KeyOut(BaseModel):
    id: str
    workspace: str
    name: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class NewKeyOut(KeyOut):
    secret: str = Field(description="The key itself: shown this once, never again")


class KeyList(BaseModel):
    keys: list[KeyOut]


def request_workspace(current: Any) -> str:
    """The workspace of the request: the authorizer's context, else the settings' workspace."""
    return workspace_of(current.raw_event) or get_deps().settings.workspace


def utf8(**values: str) -> None:
    """``InvalidInputError`` naming each text that cannot be stored (lone surrogates)."""
    errors = []
    for loc, value in values.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.append(FieldError(loc, "not valid UTF-8 text"))
    if errors:
        raise InvalidInputError(errors)


@router.post(
    "/v1/keys",
    summary="Create a key of this workspace: its secret is answered this once",
    tags=["keys"],
    responses=route_responses(201, 400, description="Created: the key with its secret"),
)
def create_key(body: KeyIn) -> Response[NewKeyOut]:
    utf8(name=body.name, **{f"scopes[{i}]": s for i, s in enumerate(body.scopes)})
    created = access.create_key(get_access(), request_workspace(router.current_event), body.name, body.scopes)
    return ok(created.as_dict(), 201)


@router.get(
    "/v1/keys",
    summary="The keys of this workspace: names, scopes, when created and last used (never their secrets)",
    tags=["keys"],
    responses=route_responses(200),
)
def list_keys() -> Response[KeyList]:
    keys = access.list_keys(get_access(), request_workspace(router.current_event))
    return ok({"keys": [key.as_dict() for key in keys]})


@router.delete(
    "/v1/keys/<key_id>",
    summary="Revoke a key (the workspace's last admin key cannot be revoked)",
    tags=["keys"],
    responses=route_responses(200, 404, 409, description="Revoked: the key as it is now"),
)
def revoke_key(key_id: str) -> Response[KeyOut]:
    workspace = request_workspace(router.current_event)
    if not KEY_ID.match(key_id):
        raise NotFoundError(f"no key {key_id!r} in workspace {workspace!r}")
    return ok(access.revoke_key(get_access(), workspace, key_id).as_dict())
