"""Documents: the JSON Schema of the automation language, and the API's own OpenAPI document."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from automations.api import openapi
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.language.schema import stored

router = Router()  # type: ignore[no-untyped-call]


def _served() -> str:
    resolver = router.api_resolver
    assert isinstance(resolver, APIGatewayRestResolver)  # set when the router is included
    return openapi.served(resolver, openapi.server_url(cast(APIGatewayProxyEvent, router.current_event)))


@router.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(200, "application/json", _served())


@router.get("/v1/swagger", include_in_schema=False)
def swagger() -> Response[str]:
    """Swagger UI over the served document (``?format=json``: the document itself, as Swagger UI asks it)."""
    document = _served()
    if (router.current_event.query_string_parameters or {}).get("format") == "json":
        return Response(200, "application/json", document)
    return Response(200, "text/html", openapi.swagger_page(document))


@router.get(
    "/v1/schema",
    summary="The JSON Schema of the automation language",
    tags=["automations"],
    responses=route_responses(200),
)
def automation_schema() -> Response[dict[str, Any]]:
    return ok(stored())
