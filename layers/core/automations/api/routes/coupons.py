"""Coupon pools: codes loaded by operators, which ``issue_coupon`` steps claim one by one; each pool's codes left
and claimed (docs/actions.md, "Coupon pools")."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from automations.api import models
from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["coupon-pools"]


@router.get(
    "/v1/coupon-pools",
    summary="Every coupon pool of the workspace, with its codes left and claimed",
    tags=TAGS,
    responses=route_responses(200),
)
def list_pools() -> Response[models.CouponPoolListOut]:
    deps = request_deps(router.current_event)
    return ok({"pools": [counts.as_dict() for counts in deps.coupons.pools()]})


@router.get(
    "/v1/coupon-pools/<pool>",
    summary="A coupon pool's codes left and claimed (0 and 0 for a pool never loaded)",
    tags=TAGS,
    responses=route_responses(200),
)
def get_pool(pool: str) -> Response[models.CouponCountsOut]:
    deps = request_deps(router.current_event)
    return ok(deps.coupons.counts(pool).as_dict())


@router.post(
    "/v1/coupon-pools/<pool>/codes",
    summary="Load codes into a pool (made by its first load); codes it has already are skipped",
    tags=TAGS,
    responses=route_responses(201, 400, description="Loaded: how many codes were added, and the pool's counts"),
)
def load_codes(pool: str, body: Annotated[models.CouponCodesIn, Body()]) -> Response[models.CouponLoadOut]:
    deps = request_deps(router.current_event)
    added = deps.coupons.load(pool, body.codes, deps.clock.now())
    return ok({**deps.coupons.counts(pool).as_dict(), "added": added}, status=201)
