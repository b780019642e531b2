"""manage_api: the operators' API (DESIGN.md §5): automations, versions, stats, runs, templates, contacts.

Every route is one call into the package; errors of the package become JSON answers with a status code:
unknown ids 404, conflicts 409 (activation refusals with their reasons), invalid definitions or requests
422 with every error and its place. The OpenAPI document is served at ``/v1/openapi.json``, a Swagger UI
page at ``/v1/swagger``. The API key is checked by API Gateway (and by the local server).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from automations import settings as stack_settings
from automations.adapters.store import ConflictError, NotFoundError
from automations.api import bodies, models, openapi
from automations.api.responses import error_response, json_response
from automations.errors import DefinitionError, FieldError
from automations.events import EventValidationError, parse_events
from automations.language.loader import format_loc
from automations.language.model import Automation
from automations.language.schema import stored
from automations.observability import logger, metrics
from automations.services import automations as manage
from automations.services import catalog, preview, queries
from automations.services.deps import Deps, get_deps
from automations.services.sending import TransientSendError
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

# Test emails carry signed unsubscribe links: a function deployed without the secret fails at start.
stack_settings.require("UNSUBSCRIBE_SECRET_ARN")

TITLE = "Automations on AWS: management API"
API_VERSION = "1.0.0"

app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
app.configure_openapi(
    title=TITLE,
    version=API_VERSION,
    description=(
        "Create, version, activate and read the statistics of customer-communication automations. "
        "Every route needs the API key in the `x-api-key` header."
    ),
    security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
    security=[{"apiKey": []}],
)
app.enable_swagger(path="/v1/swagger", title=TITLE, version=API_VERSION)

Status = Literal["draft", "active", "inactive"]


def _responses(ok: int, *errors: int, description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of a route's answers: its success (with the route's model), its errors, and
    those of every route (401, 403, 415, 422)."""
    return openapi.route_responses(ok, *errors, description=description)


# --- errors -------------------------------------------------------------------------------------------------


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response[str]:
    return error_response(404, str(exc))


@app.exception_handler(manage.ActivationError)
def _cannot_activate(exc: manage.ActivationError) -> Response[str]:
    return json_response(409, {"message": "the automation cannot be activated", "reasons": exc.reasons})


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response[str]:
    return error_response(409, str(exc))


@app.exception_handler(DefinitionError)
def _invalid(exc: DefinitionError) -> Response[str]:
    return error_response(422, "invalid automation", exc.errors)


@app.exception_handler(queries.QueryError)
def _bad_query(exc: queries.QueryError) -> Response[str]:
    return error_response(422, "invalid request", exc.errors)


@app.exception_handler(preview.PreviewError)
def _cannot_preview(exc: preview.PreviewError) -> Response[str]:
    return error_response(422, str(exc))


@app.exception_handler(TransientSendError)
def _try_later(exc: TransientSendError) -> Response[str]:
    return json_response(
        503, {"message": f"the email service cannot take it now; try again ({exc})"}, {"Retry-After": "5"}
    )


@app.exception_handler(EventValidationError)
def _invalid_event(exc: EventValidationError) -> Response[str]:
    return error_response(422, "invalid sample event", exc.errors)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "the request body is not valid JSON")
    return error_response(422, "invalid request", [_field_error(e) for e in errors])


@app.exception_handler(RequestUnsupportedContentType)
def _unreadable_body(exc: RequestUnsupportedContentType) -> Response[str]:
    refused = app.context.get("body_error")
    if isinstance(refused, bodies.BodyError):
        return error_response(refused.status, refused.message)
    accepted = bodies.accepted(bodies.takes_definition(app.current_event.raw_event))
    return error_response(415, f"unsupported content type: send {accepted}")


def _readable(event: dict[str, Any]) -> dict[str, Any]:
    """The request with its body as JSON text for the routes; a body they cannot read (not UTF-8, or of
    a type they do not take) is refused by the route that would read it (400 or 415), and by it only."""
    try:
        return bodies.as_json(event)
    except bodies.BodyError as exc:
        app.append_context(body_error=exc)
        return bodies.with_body(event, None, bodies.REFUSED)


def _field_error(error: dict[str, Any]) -> FieldError:
    """A Powertools (pydantic) validation error in the language's words: ``body.name: unknown field``."""
    kind = error.get("type")
    message = {"extra_forbidden": "unknown field", "missing": "field required"}.get(str(kind), str(error.get("msg")))
    return FieldError(format_loc(error.get("loc", ())), message[:1].lower() + message[1:])


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return error_response(500, "internal error; the request id is in the logs")


@app.not_found
def _no_route(exc: Exception) -> Response[str]:
    event = app.current_event
    return error_response(404, f"no route {event.http_method} {event.path}")


def _ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    """A JSON answer; Powertools validates it against the route's response model and serializes it."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


# --- documents ----------------------------------------------------------------------------------------------


@functools.cache
def _document() -> str:
    """The routes of this API, and POST /v1/events (served by ingest_trigger behind the same API)."""
    return json.dumps(openapi.with_events_route(json.loads(app.get_openapi_json_schema())), indent=2)


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(200, "application/json", _document())


@app.get(
    "/v1/schema",
    summary="The JSON Schema of the automation language",
    tags=["automations"],
    responses=_responses(200),
)
def automation_schema() -> Response[dict[str, Any]]:
    return _ok(stored())


# --- automations --------------------------------------------------------------------------------------------


def _deps() -> Deps:
    return get_deps()


def _with_unsubscribe_base(deps: Deps) -> Deps:
    """Unless the stack sets one, test emails link to the unsubscribe page of the API serving this request."""
    if deps.settings.unsubscribe_base_url:
        return deps
    context = app.current_event.request_context
    domain = context.domain_name or ""
    if not domain:
        return deps
    stage = f"/{context.stage}" if domain.endswith(".amazonaws.com") and context.stage else ""
    settings = deps.settings.model_copy(update={"unsubscribe_base_url": f"https://{domain}{stage}/u"})
    return dataclasses.replace(deps, settings=settings)


def _source(body: dict[str, Any]) -> str | dict[str, Any]:
    """A definition as JSON, or ``{"definition": "<YAML or JSON text>"}`` (or a definition object)."""
    if set(body) == {"definition"} and isinstance(body["definition"], str | dict):
        source: str | dict[str, Any] = body["definition"]
        return source
    return body


@app.get("/v1/automations", summary="List automations", tags=["automations"], responses=_responses(200, 422))
def list_automations(
    status: Annotated[Status | None, Query(description="Only those with this status")] = None,
) -> Response[models.AutomationList]:
    found = manage.list_all(_deps(), status)
    return _ok({"automations": [s.as_dict() for s in found]})


@app.post(
    "/v1/automations",
    summary="Create an automation (a draft unless its status says otherwise), or a draft from a template",
    tags=["automations"],
    responses=_responses(201, 400, 404, 409, 422),
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
    deps = _deps()
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
        summary = manage.create(deps, _source(body), now)
    metrics.add_metric(name="AutomationsCreated", unit="Count", value=1)
    return _ok(summary.as_dict(), 201, {"Location": f"/v1/automations/{summary.id}"})


@app.get(
    "/v1/automations/<automation_id>",
    summary="An automation: status, version and definition",
    tags=["automations"],
    responses=_responses(200, 404, 422),
)
def get_automation(
    automation_id: str,
    version: Annotated[int | None, Query(ge=1, description="A version's definition (default: current)")] = None,
) -> Response[models.AutomationOut]:
    deps = _deps()
    summary = manage.get(deps, automation_id)
    definition = manage.definition_of(deps, automation_id, version)
    body = {**summary.as_dict(), "definition": definition, "definition_version": version or summary.version}
    return _ok(body)


@app.put(
    "/v1/automations/<automation_id>",
    summary="Replace the definition: a new immutable version (runs in flight keep theirs)",
    tags=["automations"],
    responses=_responses(200, 400, 404, 409, 422),
)
def replace_automation(
    automation_id: str,
    body: Annotated[dict[str, Any], Body(description='A definition as JSON, or {"definition": "<YAML text>"}.')],
) -> Response[models.AutomationSummary]:
    deps = _deps()
    summary = manage.replace(deps, automation_id, _source(body), deps.clock.now())
    return _ok(summary.as_dict())


@app.patch(
    "/v1/automations/<automation_id>",
    summary="Rename, or change the description",
    tags=["automations"],
    responses=_responses(200, 400, 404, 422),
)
def rename_automation(
    automation_id: str, body: Annotated[models.RenameIn, Body()]
) -> Response[models.AutomationSummary]:
    deps = _deps()
    if body.name is None and body.description is None:
        raise queries.QueryError([FieldError("body", "give a name, a description, or both")])
    name = body.name if body.name is not None else manage.get(deps, automation_id).name
    summary = manage.rename(deps, automation_id, name, body.description, deps.clock.now())
    return _ok(summary.as_dict())


@app.delete(
    "/v1/automations/<automation_id>",
    summary="Delete an automation; its waiting runs end with the reason",
    tags=["automations"],
    responses=_responses(200, 404),
)
def delete_automation(automation_id: str) -> Response[models.Deleted]:
    deps = _deps()
    ended = manage.delete(deps, automation_id, deps.clock.now())
    return _ok({"id": automation_id, "deleted": True, "runs_ended": ended})


@app.post(
    "/v1/automations/<automation_id>/activate",
    summary="Activate: start matching events (refused, with the reasons, when it cannot run)",
    tags=["automations"],
    responses=_responses(200, 404, 409),
)
def activate_automation(automation_id: str) -> Response[models.AutomationSummary]:
    deps = _deps()
    return _ok(manage.activate(deps, automation_id, deps.clock.now()).as_dict())


@app.post(
    "/v1/automations/<automation_id>/deactivate",
    summary="Deactivate: stop matching events and end the waiting runs",
    tags=["automations"],
    responses=_responses(200, 404, 409),
)
def deactivate_automation(automation_id: str) -> Response[models.AutomationSummary]:
    deps = _deps()
    return _ok(manage.deactivate(deps, automation_id, deps.clock.now()).as_dict())


@app.post(
    "/v1/automations/<automation_id>/duplicate",
    summary='Duplicate: a draft "Copy of ..." with a new id',
    tags=["automations"],
    responses=_responses(201, 400, 404, 409, 422),
)
def duplicate_automation(
    automation_id: str, body: Annotated[models.DuplicateIn | None, Body()] = None
) -> Response[models.AutomationSummary]:
    deps = _deps()
    now = deps.clock.now()
    summary = manage.duplicate(deps, automation_id, now, new_id=body.id if body else None)
    if body and body.name:
        summary = manage.rename(deps, summary.id, body.name, None, now)
    return _ok(summary.as_dict(), 201, {"Location": f"/v1/automations/{summary.id}"})


@app.get(
    "/v1/automations/<automation_id>/versions",
    summary="Every version of an automation, oldest first",
    tags=["automations"],
    responses=_responses(200, 404),
)
def list_versions(automation_id: str) -> Response[models.VersionList]:
    return _ok(queries.versions(_deps(), automation_id))


@app.get(
    "/v1/automations/<automation_id>/stats",
    summary="Counters and rates, per automation and per step, over an optional range of days (UTC)",
    tags=["statistics"],
    responses=_responses(200, 404, 422),
)
def automation_stats(
    automation_id: str,
    start: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
) -> Response[models.StatsOut]:
    return _ok(queries.stats(_deps(), automation_id, start, end))


def _sample_event(deps: Deps, automation_id: str, raw: dict[str, Any]) -> tuple[Automation, int, dict[str, Any]]:
    """The automation's current version and a validated sample event (its type defaults to the trigger's)."""
    head = manage.get(deps, automation_id)
    automation = deps.definition(automation_id, head.version)
    event = dict(raw)
    event.setdefault("type", automation.trigger.event)
    [parsed] = parse_events(event)
    return automation, head.version, parsed.normalized(deps.clock.now())


@app.post(
    "/v1/automations/<automation_id>/preview",
    summary="Render every email of the automation for a sample event, with the branch each condition takes",
    tags=["automations"],
    responses=_responses(200, 400, 404, 422),
)
def preview_automation(
    automation_id: str,
    body: Annotated[
        dict[str, Any] | None,
        Body(description='A sample trigger event, or {"event": {...}}; its type defaults to the trigger\'s.'),
    ] = None,
) -> Response[dict[str, Any]]:
    deps = _deps()
    body = body or {}
    raw = body["event"] if set(body) == {"event"} and isinstance(body["event"], dict) else body
    automation, version, event = _sample_event(deps, automation_id, raw)
    return _ok(preview.preview(automation, event, deps.clock.now(), version=version))


@app.post(
    "/v1/automations/<automation_id>/test-email",
    summary="Send one rendered email to an address, marked as a test and kept out of the statistics",
    tags=["automations"],
    responses=_responses(202, 400, 404, 422, 503),
)
def test_email(automation_id: str, body: Annotated[models.EmailTestIn, Body()]) -> Response[dict[str, Any]]:
    deps = _with_unsubscribe_base(_deps())
    automation, version, event = _sample_event(deps, automation_id, body.event)
    now = deps.clock.now()
    result = preview.send_test_email(deps, automation, body.step, event, body.to, now, version=version)
    return _ok(result, 202)


# --- runs, templates, contacts ------------------------------------------------------------------------------


@app.get(
    "/v1/runs",
    summary="Runs of an automation, of a person, or both; newest first",
    tags=["runs"],
    responses=_responses(200, 422),
)
def list_runs(
    automation_id: Annotated[str | None, Query()] = None,
    person: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_RUNS)] = 50,
) -> Response[models.RunList]:
    found = queries.runs(_deps(), automation_id=automation_id, person=person, limit=limit)
    return _ok({"runs": found})


@app.get(
    "/v1/runs/<run_id>",
    summary="A run's timeline: every decision with its time, step and reason",
    tags=["runs"],
    responses=_responses(200, 404),
)
def get_run(run_id: str) -> Response[models.RunDetail]:
    return _ok(queries.run_detail(_deps(), unquote(run_id)))


@app.get(
    "/v1/templates",
    summary="Suggested automations, ready to create a draft from",
    tags=["templates"],
    responses=_responses(200),
)
def list_templates(
    category: Annotated[str | None, Query(description="Only this category")] = None,
) -> Response[models.TemplateList]:
    found = [t.as_dict() for t in catalog.templates() if category is None or t.category == category]
    return _ok({"templates": found})


@app.get(
    "/v1/contacts/<person>",
    summary="A person's suppression and subscription state, with reasons and times, and recent runs",
    tags=["contacts"],
    responses=_responses(200),
)
def get_contact(person: str) -> Response[models.ContactOut]:
    return _ok(queries.contact(_deps(), unquote(person)))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ManagementRequests", unit="Count", value=1)
    return app.resolve(_readable(event), context)
