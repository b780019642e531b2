"""Documents: the JSON Schema of the automation language, and the API's own OpenAPI document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from automations.api import openapi
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.language.schema import stored

router = Router()  # type: ignore[no-untyped-call]


@router.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    resolver = router.api_resolver
    assert isinstance(resolver, APIGatewayRestResolver)  # set when the router is included
    return Response(200, "application/json", openapi.served(resolver))


@router.get(
    "/v1/schema",
    summary="The JSON Schema of the automation language",
    tags=["automations"],
    responses=route_responses(200),
)
def automation_schema() -> Response[dict[str, Any]]:
    return ok(stored())
