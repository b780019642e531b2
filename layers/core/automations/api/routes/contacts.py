"""Contacts: a person's suppressions, subscriptions and recent runs."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.services import queries

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/v1/contacts/<person>",
    summary="A person's suppression and subscription state, with reasons and times, and recent runs",
    tags=["contacts"],
    responses=route_responses(200),
)
def get_contact(person: str) -> Response[models.ContactOut]:
    return ok(queries.contact(request_deps(router.current_event), unquote(person)))
