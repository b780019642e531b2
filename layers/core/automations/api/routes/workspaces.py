"""Workspaces of the stack (DESIGN.md §5, the root key only): create one with its first admin key, list them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.routes.keys import NewKeyOut, utf8
from automations.errors import FieldError
from automations.ports import InvalidInputError, Workspace
from automations.services import access
from automations.services.deps import get_access, get_deps

router = Router()  # type: ignore[no-untyped-call]


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="A slug: 1 to 40 of a-z, 0-9 and '-'", max_length=40)
    name: str = Field(max_length=100)
    sender: str = Field(description="The address the workspace's emails are sent from", max_length=254)
    sender_name: str = Field(max_length=100)
    timezone: str = Field("UTC", description="The default IANA time zone", max_length=64)
    locale: str = Field("en", description="The default locale", max_length=35)
    brand_name: str = Field(description="The brand shown on the preferences page", max_length=100)
    hard_bounce_rate_limit: float | None = Field(
        None, description="An automation whose hard bounce rate passes it is deactivated (the stack's when absent)"
    )
    complaint_rate_limit: float | None = Field(
        None, description="An automation whose complaint rate passes it is deactivated (the stack's when absent)"
    )


class WorkspaceOut(BaseModel):
    id: str
    name: str
    sender: str
    sender_name: str
    timezone: str
    locale: str
    brand_name: str
    created_at: str
    hard_bounce_rate_limit: float | None
    complaint_rate_limit: float | None


class NewWorkspaceOut(BaseModel):
    workspace: WorkspaceOut
    key: NewKeyOut = Field(description="The workspace's first admin key, with its secret shown this once")


class WorkspaceList(BaseModel):
    workspaces: list[WorkspaceOut]


def workspace_out(workspace: Workspace) -> dict[str, str | float | None]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "sender": workspace.sender_address,
        "sender_name": workspace.sender_name,
        "timezone": workspace.timezone,
        "locale": workspace.locale,
        "brand_name": workspace.brand_name,
        "created_at": workspace.created_at.isoformat(),
        "hard_bounce_rate_limit": workspace.hard_bounce_rate_limit,
        "complaint_rate_limit": workspace.complaint_rate_limit,
    }


@router.post(
    "/v1/workspaces",
    summary="Create a workspace and its first admin key (the root key only)",
    tags=["workspaces"],
    responses=route_responses(201, 400, description="Created: the workspace, and its admin key with its secret"),
)
def create_workspace(body: WorkspaceIn) -> Response[NewWorkspaceOut]:
    utf8(**{name: value for name, value in body.model_dump().items() if isinstance(value, str)})
    try:
        created = access.create_workspace(
            get_access(),
            id=body.id,
            name=body.name,
            sender_address=body.sender,
            sender_name=body.sender_name,
            timezone=body.timezone,
            locale=body.locale,
            brand_name=body.brand_name,
            hard_bounce_rate_limit=body.hard_bounce_rate_limit,
            complaint_rate_limit=body.complaint_rate_limit,
            senders=get_deps().settings.senders(),
        )
    except InvalidInputError as exc:  # the request calls the sender's address ``sender``
        named = [FieldError("sender" if e.loc == "sender_address" else e.loc, e.message) for e in exc.errors]
        raise InvalidInputError(named) from None
    return ok({"workspace": workspace_out(created.workspace), "key": created.key.as_dict()}, 201)


@router.get(
    "/v1/workspaces",
    summary="Every workspace of the stack (the root key only)",
    tags=["workspaces"],
    responses=route_responses(200),
)
def list_workspaces() -> Response[WorkspaceList]:
    return ok({"workspaces": [workspace_out(w) for w in access.list_workspaces(get_access())]})
