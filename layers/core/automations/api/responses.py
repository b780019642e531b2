"""JSON error bodies that name every wrong field, the same for every route."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from automations.errors import FieldError


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, default=str, ensure_ascii=False),
        headers=headers or {},
    )


def error_response(status: int, message: str, errors: list[FieldError] | None = None) -> Response[str]:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return json_response(status, body)


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    """A JSON answer of a route; Powertools validates it against the route's response model and serializes it."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})
