"""ingest_trigger: trigger events from API Gateway (POST /v1/events) and from the EventBridge bus.

A request's log lines carry its API Gateway request id as their correlation id, and an error the route does not
expect is a 500 naming that id (the management API's answer). A bus event's lines carry the EventBridge event
id. The bus event is read with Powertools' EventBridge model (:class:`BusEvent`): one it refuses, like one whose
trigger event is invalid, is answered ``invalid`` with every error, logged and counted; retrying it could never
help.

An event posted over HTTPS belongs to the workspace of its key (the authorizer's context); a bus event names its
workspace in ``detail.workspace`` (the bus is trusted), the stack's own (``default``) when absent: a workspace the
stack does not have makes the event invalid.
"""

# No ``from __future__ import annotations`` here: the bus event's model is built when the module loads, which may
# be by its path (the local stack, the tests), where postponed annotations could not be resolved.
from typing import Any

from automations import settings as stack_settings
from automations.api import scopes
from automations.api.errors import register_unexpected
from automations.api.responses import error_response, json_response
from automations.errors import FieldError
from automations.events import EventValidationError
from automations.language.loader import errors_of
from automations.observability import logger, metrics
from automations.ports import UnknownWorkspaceError
from automations.services.deps import get_deps
from automations.services.event_input import (
    BadJsonError,
    TooLargeError,
    accept,
    event_from_eventbridge,
    events_from_body,
    request_body,
    workspace_from_eventbridge,
)
from automations.services.ingest import ingest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

# In Lambda, a variable this function cannot work without is an error at start, naming it.
stack_settings.require()

#: The correlation id of an invocation's log lines: API Gateway's request id, or else the EventBridge event id.
CORRELATION_ID_PATH = f"{correlation_paths.API_GATEWAY_REST} || {correlation_paths.EVENT_BRIDGE}"

app = APIGatewayRestResolver(enable_validation=True)
register_unexpected(app)


class BusEvent(EventBridgeModel):
    """A trigger event as EventBridge delivers it: ``detail-type`` is its type, ``detail`` (an object) the rest."""

    detail: dict[str, Any]


@app.post("/v1/events", summary="Ingest one trigger event or a batch of up to 100")
def post_events() -> Response[str]:
    """One event (refused whole when invalid), or a batch where each event is answered on its own; stored and
    matched in the workspace of the request's key."""
    request = app.current_event
    deps = get_deps(scopes.workspace_of(request.raw_event))
    try:
        raw = request_body(request.body, request.is_base64_encoded)
        request_events = events_from_body(raw, deps.settings.max_event_bytes)
    except BadJsonError as exc:
        return error_response(400, str(exc))
    except TooLargeError as exc:
        return error_response(413, "event too large", exc.errors)
    except EventValidationError as exc:
        return error_response(422, "invalid event", exc.errors)
    results = accept(deps, request_events, deps.clock.now())
    metrics.add_metric(name="EventsAccepted", unit="Count", value=sum(r.status == "accepted" for r in results))
    invalid = sum(r.status == "invalid" for r in results)
    if invalid:
        metrics.add_metric(name="InvalidEvents", unit="Count", value=invalid)
    return json_response(202, {"events": [r.as_dict() for r in results]})


def _eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    errors: list[FieldError]
    try:
        parse(event, model=BusEvent)  # the envelope, checked; event_from_eventbridge reads the trigger event in it
        deps = get_deps(workspace_from_eventbridge(event, get_deps().settings.workspace))
        trigger = event_from_eventbridge(event, deps.settings.max_event_bytes)
    except ValidationError as exc:
        errors = errors_of(exc)
    except (EventValidationError, TooLargeError) as exc:
        errors = exc.errors
    except UnknownWorkspaceError as exc:
        errors = [FieldError("detail.workspace", str(exc))]
    else:
        result = ingest(deps, [trigger], deps.clock.now())[0]
        metrics.add_metric(name="EventsAccepted", unit="Count", value=int(result.status == "accepted"))
        return result.as_dict()
    # Retrying cannot fix a malformed event: record why, count it, and let it go.
    logger.error("invalid EventBridge event", extra={"errors": [e.as_dict() for e in errors], "id": event.get("id")})
    metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
    return {"status": "invalid", "errors": [e.as_dict() for e in errors]}


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "detail-type" in event:
        return _eventbridge(event)
    # A key without events:write (the authorizer's context says which scopes it has) is refused first.
    return scopes.refused(event) or app.resolve(event, context)
