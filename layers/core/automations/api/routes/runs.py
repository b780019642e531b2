"""Runs: those of an automation or a person, and one run's timeline."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.services import queries

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["runs"]


@router.get(
    "/v1/runs",
    summary="Runs of an automation, of a person, or both; newest first",
    tags=TAGS,
    responses=route_responses(200, 422),
)
def list_runs(
    automation_id: Annotated[str | None, Query()] = None,
    person: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_RUNS)] = 50,
) -> Response[models.RunList]:
    found = queries.runs(request_deps(router.current_event), automation_id=automation_id, person=person, limit=limit)
    return ok({"runs": found})


@router.get(
    "/v1/runs/<run_id>",
    summary="A run's timeline: every decision with its time, step and reason",
    tags=TAGS,
    responses=route_responses(200, 404),
)
def get_run(run_id: str) -> Response[models.RunDetail]:
    return ok(queries.run_detail(request_deps(router.current_event), unquote(run_id)))
