"""The API's OpenAPI document: the answers every route documents, and ``POST /v1/events``.

``POST /v1/events`` is served by ingest_trigger behind the same API and the same key as the management
routes; the management API's document describes it too, so that one document covers every ``/v1`` route.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from automations.api import models
from automations.events import TriggerEvent

#: What each error status means, the same on every route.
ERRORS: dict[int, str] = {
    400: "The body is not JSON, or not UTF-8",
    401: "No API key: send it in the x-api-key header",
    403: "The key is not valid, or lacks the route's scope (the message names it)",
    404: "No such automation, version, run or template",
    409: "Conflict: the id exists, the automation changed meanwhile, or it cannot be activated",
    413: "An event over the size limit: each error names the event and its size",
    415: "Unsupported content type: send application/json (a definition may also be application/yaml)",
    422: "Invalid: every error with its place",
    503: "The email service cannot take it now: try again",
}

#: Answers that any route may give: no key, a key without the scope, a body of another type, invalid input.
EVERY_ROUTE = (401, 403, 415, 422)

_REF = "#/components/schemas/{model}"


def route_responses(ok: int, *errors: int, description: str = "Success") -> dict[int, OpenAPIResponse]:
    """A route's ``responses=`` for Powertools: its success (with the route's model) and its errors, which
    always include those of :data:`EVERY_ROUTE`; every error body is an :class:`~models.ErrorOut`."""
    documented: dict[int, OpenAPIResponse] = {ok: {"description": description}}
    for code in sorted({*errors, *EVERY_ROUTE}):
        documented[code] = {
            "description": ERRORS[code],
            "content": {"application/json": {"model": models.ErrorOut}},
        }
    return documented


EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt_invoice_7_overdue",
    "type": "invoice.overdue",
    "occurred_at": "2026-11-23T10:00:00Z",
    "contact": {"id": "c_42", "email": "ana@example.com", "first_name": "Ana", "timezone": "Europe/Lisbon"},
    "data": {"invoice": {"id": "inv_7", "number": "2026-117", "total": 640}},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _error(code: int) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": {"application/json": {"schema": _ref(models.ErrorOut)}}}


def events_operation() -> tuple[dict[str, Any], dict[str, Any]]:
    """``POST /v1/events`` as an OpenAPI operation, and the schemas it refers to (by name)."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (TriggerEvent, "validation"),
        (models.EventBatchIn, "validation"),
        (models.IngestOut, "serialization"),
        (models.ErrorOut, "serialization"),
    ]
    _, definitions = models_json_schema(wanted, ref_template=_REF)
    operation = {
        "tags": ["events"],
        "summary": "Ingest one trigger event, or a batch of up to 100",
        "description": (
            "Each event starts the runs of the active automations it triggers. The same event id again "
            "creates nothing new (its answer says `duplicate`). In a batch, each event is answered on its own."
        ),
        "operationId": "post_events_v1_events_post",
        "requestBody": {
            "required": True,
            "description": 'One event, or {"events": [...]} of 1 to 100 events.',
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_ref(TriggerEvent), _ref(models.EventBatchIn)]},
                    "examples": {
                        "one event": {"value": EVENT_EXAMPLE},
                        "a batch": {"value": {"events": [EVENT_EXAMPLE]}},
                    },
                }
            },
        },
        "responses": {
            "202": {
                "description": "Stored: per event, accepted (with the runs it started), duplicate or invalid",
                "content": {"application/json": {"schema": _ref(models.IngestOut)}},
            },
            **{str(code): _error(code) for code in sorted({400, 413, *EVERY_ROUTE})},
        },
    }
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return operation, schemas


def with_events_route(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the management API's document that also describes ``POST /v1/events``."""
    operation, schemas = events_operation()
    out = copy.deepcopy(document)
    out.setdefault("paths", {}).setdefault("/v1/events", {})["post"] = operation
    known = out.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        known.setdefault(name, schema)
    tags = out.get("tags")
    if isinstance(tags, list) and not any(t.get("name") == "events" for t in tags if isinstance(t, dict)):
        tags.append({"name": "events"})
    return out


@functools.cache
def served(resolver: APIGatewayRestResolver) -> str:
    """The document served at ``/v1/openapi.json``: the resolver's routes, and ``POST /v1/events`` (served by
    ingest_trigger behind the same API); made once per resolver."""
    return json.dumps(with_events_route(json.loads(resolver.get_openapi_json_schema())), indent=2)
