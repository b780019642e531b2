"""ingest_trigger: trigger events from API Gateway (POST /v1/events) and from the EventBridge bus."""

from __future__ import annotations

from typing import Any

from automations.api.responses import error_response, json_response
from automations.events import EventValidationError
from automations.observability import logger, metrics
from automations.services.deps import get_deps
from automations.services.ingest import ingest
from automations.services.intake import (
    BadJsonError,
    TooLargeError,
    accept,
    event_from_eventbridge,
    events_from_body,
    request_body,
)
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayRestResolver(enable_validation=True)


@app.post("/v1/events", summary="Ingest one trigger event or a batch of up to 100")
def post_events() -> Response[str]:
    """One event (refused whole when invalid), or a batch where each event is answered on its own."""
    deps = get_deps()
    request = app.current_event
    try:
        raw = request_body(request.body, request.is_base64_encoded)
        intake = events_from_body(raw, deps.settings.max_event_bytes)
    except BadJsonError as exc:
        return error_response(400, str(exc))
    except TooLargeError as exc:
        return error_response(413, "event too large", exc.errors)
    except EventValidationError as exc:
        return error_response(422, "invalid event", exc.errors)
    results = accept(deps, intake, deps.clock.now())
    metrics.add_metric(name="EventsAccepted", unit="Count", value=sum(r.status == "accepted" for r in results))
    invalid = sum(r.status == "invalid" for r in results)
    if invalid:
        metrics.add_metric(name="InvalidEvents", unit="Count", value=invalid)
    return json_response(202, {"events": [r.as_dict() for r in results]})


def _eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    deps = get_deps()
    try:
        trigger = event_from_eventbridge(event, deps.settings.max_event_bytes)
    except (EventValidationError, TooLargeError) as exc:
        # Retrying cannot fix a malformed event: record why, count it, and let it go.
        logger.error(
            "invalid EventBridge event",
            extra={"errors": [e.as_dict() for e in exc.errors], "id": event.get("id")},
        )
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return {"status": "invalid", "errors": [e.as_dict() for e in exc.errors]}
    result = ingest(deps, [trigger], deps.clock.now())[0]
    metrics.add_metric(name="EventsAccepted", unit="Count", value=int(result.status == "accepted"))
    return result.as_dict()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "detail-type" in event:
        return _eventbridge(event)
    return app.resolve(event, context)
