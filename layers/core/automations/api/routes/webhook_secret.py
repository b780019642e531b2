"""The workspace's webhook signing secret (docs/actions.md, "Verifying a webhook"): read it, and start a rotation.

Webhooks are signed the Standard Webhooks 1.0 way; a receiver verifies them with this secret. A rotation makes a
new secret that signs from then on, while the one before it keeps signing beside it for 24 hours: a receiver
that still holds the old one verifies every webhook meanwhile.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

from automations.api.openapi import route_responses
from automations.api.responses import ok
from automations.api.scopes import request_deps
from automations.services import webhooks

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["webhooks"]


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="The secret that signs webhooks: whsec_ and the base64 of its key")
    created_at: str
    previous: str | None = Field(description="During a rotation, the secret before it (it still signs too)")
    rotation_ends_at: str | None = Field(description="When the previous secret stops signing")
    scheme: str


@router.get(
    "/v1/webhook-secret",
    summary="The workspace's webhook signing secret (made on first use)",
    tags=TAGS,
    responses=route_responses(200),
)
def get_webhook_secret() -> Response[WebhookSecretOut]:
    deps = request_deps(router.current_event)
    now = deps.clock.now()
    return ok(webhooks.secret_view(webhooks.signing_secret(deps, now, fresh=True), now))


@router.post(
    "/v1/webhook-secret/rotate",
    summary="Start a rotation: a new secret signs from now on, the previous one beside it for 24 hours",
    tags=TAGS,
    responses=route_responses(200),
)
def rotate_webhook_secret() -> Response[WebhookSecretOut]:
    deps = request_deps(router.current_event)
    now = deps.clock.now()
    return ok(webhooks.secret_view(webhooks.rotate_secret(deps, now), now))
