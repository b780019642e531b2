"""Suggested automations (the catalog), ready to create a draft from."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.services import catalog

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/v1/templates",
    summary="Suggested automations, ready to create a draft from",
    tags=["templates"],
    responses=route_responses(200),
)
def list_templates(
    category: Annotated[str | None, Query(description="Only this category")] = None,
) -> Response[models.TemplateList]:
    return ok({"templates": [t.as_dict() for t in catalog.templates_in(category)]})
