"""Previews and test emails of an automation, for a sample event."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.services import lifecycle, preview
from automations.services.deps import Deps

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["automations"]


def _with_unsubscribe_base(deps: Deps) -> Deps:
    """Unless the stack sets one, test emails link to the unsubscribe page of the API serving this request."""
    if deps.settings.unsubscribe_base_url:
        return deps
    context = cast(APIGatewayProxyEvent, router.current_event).request_context
    domain = context.domain_name or ""
    if not domain:
        return deps
    stage = f"/{context.stage}" if domain.endswith(".amazonaws.com") and context.stage else ""
    settings = deps.settings.model_copy(update={"unsubscribe_base_url": f"https://{domain}{stage}/u"})
    return dataclasses.replace(deps, settings=settings)


@router.post(
    "/v1/automations/<automation_id>/preview",
    summary="Render every email of the automation for a sample event, with the branch each condition takes",
    tags=TAGS,
    responses=route_responses(200, 400, 404, 422),
)
def preview_automation(
    automation_id: str,
    body: Annotated[
        dict[str, Any] | None,
        Body(description='A sample trigger event, or {"event": {...}}; its type defaults to the trigger\'s.'),
    ] = None,
) -> Response[dict[str, Any]]:
    deps = request_deps(router.current_event)
    sample = lifecycle.sample(deps, automation_id, lifecycle.event_in(body))
    settings = deps.settings
    found = preview.preview(
        sample.automation,
        sample.event,
        deps.clock.now(),
        version=sample.version,
        timezone=settings.timezone,
        locale=settings.locale,
    )
    return ok(found)


@router.post(
    "/v1/automations/<automation_id>/test-email",
    summary="Send one rendered email to an address, marked as a test and kept out of the statistics",
    tags=TAGS,
    responses=route_responses(202, 400, 404, 422, 503),
)
def test_email(automation_id: str, body: Annotated[models.EmailTestIn, Body()]) -> Response[dict[str, Any]]:
    deps = _with_unsubscribe_base(request_deps(router.current_event))
    sample = lifecycle.sample(deps, automation_id, body.event)
    now = deps.clock.now()
    result = preview.send_test_email(
        deps, sample.automation, body.step, sample.event, body.to, now, version=sample.version
    )
    return ok(result, 202)
