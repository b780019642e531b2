"""One Powertools router per resource of the management API, in the order the OpenAPI document lists them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from automations.api.routes import (
    automations,
    console,
    contacts,
    coupons,
    keys,
    previews,
    runs,
    schema,
    stats,
    tasks,
    templates,
    webhook_secret,
    workspaces,
)

ROUTERS: tuple[Router, ...] = (
    schema.router,
    automations.router,
    stats.router,
    previews.router,
    runs.router,
    templates.router,
    contacts.router,
    tasks.router,
    coupons.router,
    webhook_secret.router,
    keys.router,
    workspaces.router,
    console.router,
)
