"""Statistics of an automation: counters and rates, in total and per step, over a range of days."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.services import queries

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/v1/automations/<automation_id>/stats",
    summary="Counters and rates, per automation and per step, over an optional range of days (UTC), and per day",
    tags=["statistics"],
    responses=route_responses(200, 404, 422),
)
def automation_stats(
    automation_id: str,
    start: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
    interval: Annotated[
        Literal["day"] | None,
        Query(
            description="day: also a daily series, from 'from' (default: the first day counted) to 'to' "
            f"(default: today), at most {queries.MAX_DAYS} days"
        ),
    ] = None,
) -> Response[models.StatsOut]:
    return ok(queries.stats(request_deps(router.current_event), automation_id, start, end, interval))
