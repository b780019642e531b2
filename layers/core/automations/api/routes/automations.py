"""Automations: list, create (or a draft from a template), read, replace, rename, delete, activate,
deactivate, duplicate, and the versions of one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.errors import FieldError
from automations.observability import metrics
from automations.services import catalog, lifecycle, queries

router = Router()  # type: ignore[no-untyped-call]

Status = Literal["draft", "active", "inactive"]
TAGS = ["automations"]


def _source(body: dict[str, Any]) -> str | dict[str, Any]:
    """A definition as JSON, or ``{"definition": "<YAML or JSON text>"}`` (or a definition object)."""
    if set(body) == {"definition"} and isinstance(body["definition"], str | dict):
        source: str | dict[str, Any] = body["definition"]
        return source
    return body


def _created(summary: lifecycle.Summary) -> Response[Any]:
    return ok(summary.as_dict(), 201, {"Location": f"/v1/automations/{summary.id}"})


@router.get("/v1/automations", summary="List automations", tags=TAGS, responses=route_responses(200, 422))
def list_automations(
    status: Annotated[Status | None, Query(description="Only those with this status")] = None,
) -> Response[models.AutomationList]:
    found = lifecycle.list_all(request_deps(router.current_event), status)
    return ok({"automations": [s.as_dict() for s in found]})


@router.post(
    "/v1/automations",
    summary="Create an automation (a draft unless its status says otherwise), or a draft from a template",
    tags=TAGS,
    responses=route_responses(201, 400, 404, 409, 422),
)
def create_automation(
    body: Annotated[
        dict[str, Any],
        Body(
            description=(
                'A definition as JSON (see GET /v1/schema); or {"definition": "<YAML text>"}; or '
                '{"template": "<template id>", "id": optional, "name": optional} for a draft from a template.'
            ),
        ),
    ],
) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    now = deps.clock.now()
    if "template" in body:
        extra = set(body) - {"template", "id", "name"}
        if extra or not isinstance(body["template"], str):
            loc = f"body.{sorted(extra)[0]}" if extra else "body.template"
            raise queries.QueryError([FieldError(loc, "a template request has 'template', 'id' and 'name' only")])
        summary = catalog.create_from_template(
            deps, body["template"], now, new_id=body.get("id"), name=body.get("name")
        )
    else:
        summary = lifecycle.create(deps, _source(body), now)
    metrics.add_metric(name="AutomationsCreated", unit="Count", value=1)
    return _created(summary)


@router.post(
    "/v1/automations/validate",
    summary="Check a definition without saving it: every problem at its place, or the definition as stored",
    tags=TAGS,
    responses=route_responses(200, 400, 422),
)
def validate_automation(
    body: Annotated[
        dict[str, Any],
        Body(
            description='A definition as JSON (see GET /v1/schema), or {"definition": "<YAML text>"}; '
            '{"definition": ..., "event": {...}} also renders every template for that sample event and warns about '
            "each value it leaves empty."
        ),
    ],
) -> Response[models.Validated]:
    sample = None
    if set(body) == {"definition", "event"} and isinstance(body["event"], dict):
        sample, body = lifecycle.event_in(body["event"]), {"definition": body["definition"]}
    return ok(lifecycle.validate(request_deps(router.current_event), _source(body), sample))


@router.get(
    "/v1/automations/<automation_id>",
    summary="An automation: status, version and definition",
    tags=TAGS,
    responses=route_responses(200, 404, 422),
)
def get_automation(
    automation_id: str,
    version: Annotated[int | None, Query(ge=1, description="A version's definition (default: current)")] = None,
) -> Response[models.AutomationOut]:
    return ok(lifecycle.detail(request_deps(router.current_event), automation_id, version))


@router.put(
    "/v1/automations/<automation_id>",
    summary="Replace the definition: a new immutable version (runs in flight keep theirs)",
    tags=TAGS,
    responses=route_responses(200, 400, 404, 409, 422),
)
def replace_automation(
    automation_id: str,
    body: Annotated[dict[str, Any], Body(description='A definition as JSON, or {"definition": "<YAML text>"}.')],
) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    return ok(lifecycle.replace(deps, automation_id, _source(body), deps.clock.now()).as_dict())


@router.patch(
    "/v1/automations/<automation_id>",
    summary="Rename, or change the description",
    tags=TAGS,
    responses=route_responses(200, 400, 404, 422),
)
def rename_automation(
    automation_id: str, body: Annotated[models.RenameIn, Body()]
) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    summary = lifecycle.edit(deps, automation_id, deps.clock.now(), name=body.name, description=body.description)
    return ok(summary.as_dict())


@router.delete(
    "/v1/automations/<automation_id>",
    summary="Delete an automation; its waiting runs end with the reason",
    tags=TAGS,
    responses=route_responses(200, 404),
)
def delete_automation(automation_id: str) -> Response[models.Deleted]:
    deps = request_deps(router.current_event)
    ended = lifecycle.delete(deps, automation_id, deps.clock.now())
    return ok({"id": automation_id, "deleted": True, "runs_ended": ended})


@router.post(
    "/v1/automations/<automation_id>/activate",
    summary="Activate: start matching events (refused, with the reasons, when it cannot run)",
    tags=TAGS,
    responses=route_responses(200, 404, 409),
)
def activate_automation(automation_id: str) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    return ok(lifecycle.activate(deps, automation_id, deps.clock.now()).as_dict())


@router.post(
    "/v1/automations/<automation_id>/deactivate",
    summary="Deactivate: stop matching events and end the waiting runs",
    tags=TAGS,
    responses=route_responses(200, 404, 409),
)
def deactivate_automation(automation_id: str) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    return ok(lifecycle.deactivate(deps, automation_id, deps.clock.now()).as_dict())


@router.post(
    "/v1/automations/<automation_id>/duplicate",
    summary='Duplicate: a draft "Copy of ..." with a new id',
    tags=TAGS,
    responses=route_responses(201, 400, 404, 409, 422),
)
def duplicate_automation(
    automation_id: str, body: Annotated[models.DuplicateIn | None, Body()] = None
) -> Response[models.AutomationSummary]:
    deps = request_deps(router.current_event)
    given = body or models.DuplicateIn()
    return _created(lifecycle.duplicate(deps, automation_id, deps.clock.now(), new_id=given.id, name=given.name))


@router.get(
    "/v1/automations/<automation_id>/versions",
    summary="Every version of an automation, oldest first",
    tags=TAGS,
    responses=route_responses(200, 404),
)
def list_versions(automation_id: str) -> Response[models.VersionList]:
    return ok(queries.versions(request_deps(router.current_event), automation_id))
