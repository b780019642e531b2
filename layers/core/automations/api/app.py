"""The management API (DESIGN.md §5) as one Powertools resolver: every resource's router, validation of
requests and answers, the error map, the OpenAPI document at ``/v1/openapi.json`` and a Swagger UI page at
``/v1/swagger`` (both in :mod:`automations.api.routes.schema`). The key is found by API Gateway's authorizer
(or the local server); whether its scopes allow the route is checked here, first (:mod:`automations.api.scopes`):
403 naming the scope it lacks."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.utilities.typing import LambdaContext

from automations.api import bodies, errors, scopes
from automations.api.routes import ROUTERS
from automations.observability import logger

TITLE = "Automations on AWS: management API"
API_VERSION = "1.0.0"


@functools.cache
def build_app() -> APIGatewayRestResolver:
    """The resolver with every router included; one per process (a router belongs to one resolver)."""
    app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
    app.configure_openapi(
        title=TITLE,
        version=API_VERSION,
        description=(
            "Create, version, activate and read the statistics of customer-communication automations. "
            "Every route needs a key in the `x-api-key` header; a key whose scopes do not allow the route is "
            "answered 403 naming the scope it lacks."
        ),
        security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    )
    errors.register(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def readable(app: APIGatewayRestResolver, event: dict[str, Any]) -> dict[str, Any]:
    """The request with its body as JSON text for the routes; a body they cannot read (not UTF-8, or of
    a type they do not take) is refused by the route that would read it (400 or 415), and by it only."""
    try:
        return bodies.as_json(event)
    except bodies.BodyError as exc:
        app.context[bodies.REFUSAL] = exc
        return bodies.with_body(event, None, bodies.REFUSED)


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one API Gateway request, and log it (with the logger's correlation id: the request's id).

    A key that lacks the route's scope is answered 403 before anything else (see :mod:`automations.api.scopes`).
    """
    answer = scopes.refused(event) or app.resolve(readable(app, event), context)
    status = answer.get("statusCode")
    logger.info("request", extra={"method": event.get("httpMethod"), "path": event.get("path"), "status": status})
    return answer
