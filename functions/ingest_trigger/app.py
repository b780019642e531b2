"""ingest_trigger: trigger events from API Gateway (POST /v1/events, and Segment's format at POST /v1/track,
/v1/identify and /v1/batch) and from the EventBridge bus.

A Segment call is answered as Segment's HTTP API answers: 200 ``{"success": true}``, here with one answer per
message under ``events`` (accepted, duplicate, invalid with its errors, or ignored, each event's with its
``type``); a body that is not a JSON object, a malformed batch, or a lone message that cannot be accepted is a
400 naming every problem in Segment's names (:mod:`automations.services.segment`).

A request's log lines carry its API Gateway request id as their correlation id, and an error the route does not
expect is a 500 naming that id (the management API's answer). A bus event's lines carry the EventBridge event
id. The bus event is read with Powertools' EventBridge model (:class:`BusEvent`): one it refuses, like one whose
trigger event is invalid, is answered ``invalid`` with every error, logged and counted; retrying it could never
help.

An event posted over HTTPS belongs to the workspace of its key (the authorizer's context); a bus event names its
workspace in ``detail.workspace`` (the bus is trusted), the stack's own (``default``) when absent: a workspace the
stack does not have makes the event invalid.
"""

# No ``from __future__ import annotations`` here: the bus event's model and the routes are built from this module
# (on first use), which may be loaded by its path (the local stack, the tests), where postponed annotations could
# not be resolved.
import functools
from typing import TYPE_CHECKING, Any

from automations import settings as stack_settings
from automations.observability import logger, metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

if TYPE_CHECKING:
    from datetime import datetime

    from automations.services.deps import Deps
    from automations.services.event_input import RequestEvents
    from automations.services.ingest import EventResult
    from automations.services.segment import Batch, Kind
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

# In Lambda, a variable this function cannot work without is an error at start, naming it.
stack_settings.require()

#: The correlation id of an invocation's log lines: API Gateway's request id, or else the EventBridge event id.
CORRELATION_ID_PATH = f"{correlation_paths.API_GATEWAY_REST} || {correlation_paths.EVENT_BRIDGE}"


@functools.cache
def bus_event_model() -> "type[EventBridgeModel]":
    """The model of a bus event, built on first use."""
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    class BusEvent(EventBridgeModel):
        """A trigger event as EventBridge delivers it: ``detail-type`` is its type, ``detail`` (an object) the rest."""

        detail: dict[str, Any]

    return BusEvent


@functools.cache
def resolver() -> "APIGatewayRestResolver":
    """The resolver of the HTTPS routes, built on the first request."""
    from automations.api.errors import register_unexpected
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

    app = APIGatewayRestResolver(enable_validation=True)
    register_unexpected(app)

    @app.post("/v1/events", summary="Ingest one trigger event or a batch of up to 100")
    def post_events() -> Response[str]:
        """One event (refused whole when invalid), or a batch where each event is answered on its own; stored and
        matched in the workspace of the request's key."""
        return _events(app)

    @app.post("/v1/track", summary="Ingest a Segment track call: the event, its properties and the person's traits")
    def post_track() -> Response[str]:
        """Segment's track call (SDKs send it in a batch): stored and matched as ``POST /v1/events`` does."""
        return _segment(app, "track")

    @app.post("/v1/identify", summary="Ingest a Segment identify call: a contact.identified event with the traits")
    def post_identify() -> Response[str]:
        """Segment's identify call: the trigger event ``contact.identified`` whose contact carries the traits."""
        return _segment(app, "identify")

    @app.post("/v1/batch", summary="Ingest a Segment batch of track and identify calls, each answered on its own")
    def post_batch() -> Response[str]:
        """What Segment's SDKs send: up to 100 messages; page, screen, group and alias calls are answered ignored."""
        return _segment(app, "batch")

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return resolver()
    if name == "BusEvent":
        return bus_event_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def accept(deps: "Deps", request_events: "RequestEvents", now: "datetime") -> "list[EventResult]":
    """The valid events of a request stored and processed, every event answered in order
    (:func:`automations.services.event_input.accept`)."""
    from automations.services.event_input import accept as accept_events

    return accept_events(deps, request_events, now)


def _events(app: "APIGatewayRestResolver") -> "Response[str]":
    from automations.api import scopes
    from automations.api.responses import error_response, json_response
    from automations.events import EventValidationError
    from automations.services.deps import get_deps
    from automations.services.event_input import BadJsonError, TooLargeError, events_from_body, request_body

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
    _count(results)
    return json_response(202, {"events": [r.as_dict() for r in results]})


def _count(results: "list[EventResult]") -> None:
    metrics.add_metric(name="EventsAccepted", unit="Count", value=sum(r.status == "accepted" for r in results))
    invalid = sum(r.status == "invalid" for r in results)
    if invalid:
        metrics.add_metric(name="InvalidEvents", unit="Count", value=invalid)


def _segment(app: "APIGatewayRestResolver", route: "Kind | Batch") -> "Response[str]":
    from automations.api import scopes
    from automations.api.responses import error_response, json_response
    from automations.events import EventValidationError
    from automations.services import segment
    from automations.services.deps import get_deps
    from automations.services.event_input import BadJsonError, TooLargeError, request_body

    request = app.current_event
    deps = get_deps(scopes.workspace_of(request.raw_event))
    try:
        raw = request_body(request.body, request.is_base64_encoded)
        read = segment.read_request(raw, route, deps.settings.max_event_bytes)
    except BadJsonError as exc:
        return error_response(400, str(exc))
    except segment.SegmentBodyError as exc:
        return error_response(400, exc.message, exc.errors)
    except TooLargeError as exc:
        return error_response(400, "message too large", exc.errors)
    except EventValidationError as exc:
        return error_response(400, "invalid message", exc.errors)
    results = accept(deps, read.request_events, deps.clock.now())
    _count(results)
    return json_response(200, {"success": True, "events": read.answers(results)})


def _eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    from automations.errors import FieldError
    from automations.events import EventValidationError
    from automations.language.loader import errors_of
    from automations.ports import UnknownWorkspaceError
    from automations.services.deps import get_deps
    from automations.services.event_input import TooLargeError, event_from_eventbridge, workspace_from_eventbridge
    from automations.services.ingest import ingest
    from aws_lambda_powertools.utilities.parser import parse
    from pydantic import ValidationError

    errors: list[FieldError]
    try:
        parse(event, model=bus_event_model())  # the envelope, checked; event_from_eventbridge reads the trigger event
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
    from automations.api import scopes

    # A key without events:write (the authorizer's context says which scopes it has) is refused first.
    return scopes.refused(event) or resolver().resolve(event, context)
