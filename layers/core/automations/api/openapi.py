"""The API's OpenAPI document: the answers every route documents, ``POST /v1/events``, the Segment-compatible
routes (``POST /v1/track``, ``/v1/identify``, ``/v1/batch``) and the unsubscribe pages (``/u/{token}``, no key);
its server is the API's URL as the request that fetched it reached it; and the Swagger UI page showing it.

Those are served by ingest_trigger behind the same API and the same keys as the management routes; the
management API's document describes them too, so that one document covers every ``/v1`` route. The Segment
routes also take the key as the HTTP Basic username (the ``basicAuth`` scheme), as Segment's SDKs send it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from automations.api import models
from automations.events import TriggerEvent

#: What each error status means, the same on every route.
ERRORS: dict[int, str] = {
    400: "The body is not JSON, or not UTF-8",
    401: "No API key: send it in the x-api-key header",
    403: "The key is not valid, or lacks the route's scope (the message names it)",
    404: "No such automation, version, run, template or task",
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


#: A Segment message of each call, as the examples of the Segment routes.
SEGMENT_TRACK_EXAMPLE: dict[str, Any] = {
    "messageId": "3f1c0e9a-8d4b-4e6f-9a2b-7c5d1e0f4a31",
    "userId": "c_42",
    "event": "Order Completed",
    "properties": {"order_id": "o_7", "total": 640, "currency": "EUR"},
    "context": {"traits": {"email": "ana@example.com", "firstName": "Ana"}, "locale": "pt-PT"},
    "timestamp": "2026-11-23T10:00:00.000Z",
}
SEGMENT_IDENTIFY_EXAMPLE: dict[str, Any] = {
    "messageId": "8b2e6d40-1f3a-4c5e-b7d9-0a1c2e3f4b5d",
    "userId": "c_42",
    "traits": {"email": "ana@example.com", "firstName": "Ana", "lastName": "Silva", "plan": "pro"},
    "timestamp": "2026-11-23T10:00:01.000Z",
}

#: Each Segment route: its summary, what it does, its request's model and its example.
_SEGMENT_ROUTES: dict[str, tuple[str, str, type[BaseModel], dict[str, Any]]] = {
    "/v1/track": (
        "Ingest a Segment track call: the event, its properties and the person's traits",
        "Segment's track call as a trigger event: messageId is its id, userId (else anonymousId) its person, event "
        "its type, properties its data, context.traits the contact's fields.",
        models.SegmentTrackIn,
        SEGMENT_TRACK_EXAMPLE,
    ),
    "/v1/identify": (
        "Ingest a Segment identify call: a contact.identified event with the traits",
        "Segment's identify call as the trigger event contact.identified, whose contact carries the traits and "
        "whose data is empty.",
        models.SegmentIdentifyIn,
        SEGMENT_IDENTIFY_EXAMPLE,
    ),
    "/v1/batch": (
        "Ingest a Segment batch of track and identify calls, each answered on its own",
        "What Segment's SDKs send: track and identify calls, each answered on its own (accepted, duplicate or "
        "invalid); page, screen, group and alias calls are answered ignored.",
        models.SegmentBatchIn,
        {
            "batch": [
                {"type": "track", **SEGMENT_TRACK_EXAMPLE},
                {"type": "identify", **SEGMENT_IDENTIFY_EXAMPLE},
            ]
        },
    ),
}

#: The security of the Segment routes: the key in x-api-key, or as the HTTP Basic username.
BASIC_AUTH = {"type": "http", "scheme": "basic", "description": "The key as the username, no password (Segment)."}


def segment_operations() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The Segment-compatible routes as OpenAPI operations (by path), and the schemas they refer to (by name)."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (route[2], "validation") for route in _SEGMENT_ROUTES.values()
    ]
    wanted += [(models.SegmentOut, "serialization"), (models.ErrorOut, "serialization")]
    _, definitions = models_json_schema(wanted, ref_template=_REF)
    errors = {
        400: "Not a JSON object, a malformed batch, or a lone message that cannot be accepted (too large "
        "included): every error with its place in Segment's names",
        401: "No key, or an unknown one: send it as the HTTP Basic username (as Segment's SDKs do) or in x-api-key",
        403: "The key lacks the scope events:write",
        413: "A request body over API Gateway's limit (10 MB)",
        415: "Not answered by these routes: a body of any content type is read as JSON",
        422: "Not answered by these routes: an invalid lone message is a 400, as Segment's API answers",
    }
    operations: dict[str, dict[str, Any]] = {}
    for path, (summary, description, model, example) in _SEGMENT_ROUTES.items():
        operations[path] = {
            "tags": ["events"],
            "summary": summary,
            "description": description + " Stored and matched as POST /v1/events; see docs/segment.md.",
            "operationId": f"post_segment_{path.rsplit('/', 1)[-1]}",
            "security": [{"apiKey": []}, {"basicAuth": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(model), "examples": {"a call": {"value": example}}}},
            },
            "responses": {
                "200": {
                    "description": 'Read: {"success": true}, and per message accepted (with its type and the runs '
                    "it started), duplicate, invalid or ignored",
                    "content": {"application/json": {"schema": _ref(models.SegmentOut)}},
                },
                **{
                    str(code): {"description": text, "content": {"application/json": {"schema": _ref(models.ErrorOut)}}}
                    for code, text in errors.items()
                },
            },
        }
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return operations, schemas


_HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}
_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "The signed token of an email's unsubscribe link",
    "schema": {"type": "string"},
}


def unsubscribe_operations() -> dict[str, dict[str, Any]]:
    """``GET`` and ``POST /u/{token}`` (served by stats_webhook, with no key: the signed token is the proof)."""
    refused = {
        "description": "A bad or expired token, or a form asking for no choice the page offers: a page saying why"
    }
    common = {"tags": ["unsubscribe"], "security": [], "parameters": [_TOKEN]}
    return {
        "get": {
            **common,
            "summary": "The email preferences page of a link's recipient, in their language",
            "operationId": "get_preferences_u_token",
            "responses": {
                "200": {"description": "The preferences page", "content": _HTML_PAGE},
                "400": {**refused, "content": _HTML_PAGE},
            },
        },
        "post": {
            **common,
            "summary": "Save the page's choice, or RFC 8058 one-click unsubscribe (stops promotional email)",
            "operationId": "post_preferences_u_token",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "choice": {"type": "string", "description": "The page's choice"},
                                "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "The page saying what was saved", "content": _HTML_PAGE},
                "400": {**refused, "content": _HTML_PAGE},
            },
        },
    }


def with_events_route(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the management API's document that also describes ``POST /v1/events``, the Segment routes and
    the unsubscribe pages ``/u/{token}``."""
    operation, schemas = events_operation()
    segment_ops, segment_schemas = segment_operations()
    out = copy.deepcopy(document)
    out.setdefault("paths", {}).setdefault("/v1/events", {})["post"] = operation
    for path, segment_op in segment_ops.items():
        out["paths"].setdefault(path, {})["post"] = segment_op
    out["paths"].setdefault("/u/{token}", {}).update(unsubscribe_operations())
    components = out.setdefault("components", {})
    components.setdefault("securitySchemes", {}).setdefault("basicAuth", BASIC_AUTH)
    known = components.setdefault("schemas", {})
    for name, schema in {**schemas, **segment_schemas}.items():
        known.setdefault(name, schema)
    tags = out.get("tags")
    if isinstance(tags, list):
        for name in ("events", "unsubscribe"):
            if not any(t.get("name") == name for t in tags if isinstance(t, dict)):
                tags.append({"name": name})
    return out


@functools.cache
def _document(resolver: APIGatewayRestResolver) -> dict[str, Any]:
    return with_events_route(json.loads(resolver.get_openapi_json_schema()))


def served(resolver: APIGatewayRestResolver, server: str = "/") -> str:
    """The document served at ``/v1/openapi.json``: the resolver's routes, ``POST /v1/events``, the
    Segment-compatible routes (served by ingest_trigger behind the same API) and the unsubscribe pages; its one
    server is ``server``, where the request that fetched it was sent (see :func:`server_url`)."""
    return json.dumps({**_document(resolver), "servers": [{"url": server}]}, indent=2)


@functools.cache
def _swagger_files() -> tuple[str, str]:
    """Swagger UI's script and style sheet, as Powertools ships them (inlined: no CDN)."""
    folder = Path(swagger_ui.__file__).parent
    return (folder / "swagger-ui-bundle.min.js").read_text("utf-8"), (folder / "swagger-ui.min.css").read_text("utf-8")


def swagger_page(document: str) -> str:
    """Swagger UI showing ``document`` (the served one: its Authorize button takes a key for x-api-key, and
    "Try it out" calls its server)."""
    script, style = _swagger_files()
    return generate_swagger_html(document.replace("</", "<\\/"), script, style, "", None, False)


_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def server_url(event: APIGatewayProxyEvent) -> str:
    """The base URL of the API as the request reached it: its scheme and host, and the stage when the path
    carries it (``https://{id}.execute-api.{region}.amazonaws.com/{stage}``; a custom domain or the local stack
    have no stage in the path). ``requestContext.path`` is the path as requested, ``path`` the route's."""
    context = event.request_context
    requested, route = context.path or "", event.path or ""
    prefix = requested[: -len(route)].rstrip("/") if route and requested.endswith(route) else ""
    host = event.headers.get("host") or context.domain_name or ""
    if not _HOST.match(host):
        return prefix or "/"
    scheme = event.headers.get("x-forwarded-proto") or ("https" if host.endswith(".amazonaws.com") else "http")
    if scheme not in ("http", "https"):
        scheme = "https"
    return f"{scheme}://{host}{prefix}"
