"""Errors as answers: each typed error of the package, and of Powertools' validation, to its status and body.

Unknown ids are 404; conflicts 409 (activation refusals with their reasons); invalid definitions, requests
and sample events 422 with every error and its place; a body that is not JSON 400, of another type 415;
the email service throttling 503. Anything else is a 500. Every 5xx body carries the request's id (API
Gateway's), which is also the correlation id of the request's log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from automations.api import bodies
from automations.api.responses import error_response, json_response
from automations.errors import DefinitionError, FieldError
from automations.events import EventValidationError
from automations.language.loader import format_loc
from automations.observability import logger
from automations.ports import ConflictError, InvalidInputError, NotFoundError
from automations.services.access import LastAdminKeyError
from automations.services.lifecycle import ActivationError
from automations.services.preview import PreviewError
from automations.services.queries import QueryError
from automations.services.sending import TransientSendError

INTERNAL_ERROR = "internal error"


@dataclass(frozen=True)
class Answer:
    """How an error is answered: its status, the body's message, and what else the body or headers carry."""

    status: int
    message: Callable[[Any], str] = str
    extra: Callable[[Any], dict[str, Any]] = lambda exc: {}
    headers: dict[str, str] = field(default_factory=dict)


def _errors(exc: Any) -> dict[str, Any]:
    return {"errors": [e.as_dict() for e in exc.errors]} if exc.errors else {}


#: Every typed error of the package a route may raise, and its answer.
ANSWERS: dict[type[Exception], Answer] = {
    NotFoundError: Answer(404),
    ConflictError: Answer(409),
    ActivationError: Answer(
        409, lambda exc: "the automation cannot be activated", lambda exc: {"reasons": exc.reasons}
    ),
    DefinitionError: Answer(422, lambda exc: "invalid automation", _errors),
    QueryError: Answer(422, lambda exc: "invalid request", _errors),
    PreviewError: Answer(422),
    EventValidationError: Answer(422, lambda exc: "invalid sample event", _errors),
    InvalidInputError: Answer(422, lambda exc: "invalid request", _errors),
    LastAdminKeyError: Answer(409),
    TransientSendError: Answer(
        503, lambda exc: f"the email service cannot take it now; try again ({exc})", headers={"Retry-After": "5"}
    ),
}


def answer_of(exc: Exception) -> Answer | None:
    """The answer to an error: its own, or that of its nearest base in :data:`ANSWERS`."""
    return next((ANSWERS[kind] for kind in type(exc).__mro__ if kind in ANSWERS), None)


def status_of(exc: Exception) -> int:
    """The status an error is answered with; 500 for one that is not a known error."""
    found = answer_of(exc)
    return found.status if found else 500


def request_id(app: APIGatewayRestResolver) -> str | None:
    """The id API Gateway gave the request (``requestContext.requestId``): the logs' correlation id."""
    found = app.current_event.request_context.request_id
    return str(found) if found else None


def field_error(error: dict[str, Any]) -> FieldError:
    """A Powertools (pydantic) validation error in the language's words: ``body.name: unknown field``."""
    kind = error.get("type")
    message = {"extra_forbidden": "unknown field", "missing": "field required"}.get(str(kind), str(error.get("msg")))
    return FieldError(format_loc(error.get("loc", ())), message[:1].lower() + message[1:])


def register(app: APIGatewayRestResolver) -> None:
    """Answer every error of :data:`ANSWERS`, Powertools' validation errors, unknown routes and the rest."""

    def answer(exc: Exception) -> Response[str]:
        found = answer_of(exc)
        assert found is not None  # registered for the errors of ANSWERS only
        body = {"message": found.message(exc), **found.extra(exc)}
        if found.status >= 500:
            logger.warning("cannot serve the request now", extra={"status": found.status, "error": str(exc)})
            body["request_id"] = request_id(app)
        return json_response(found.status, body, dict(found.headers))

    for kind in ANSWERS:
        app.exception_handler(kind)(answer)

    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "the request body is not valid JSON")
        return error_response(422, "invalid request", [field_error(e) for e in errors])

    def _unreadable_body(exc: RequestUnsupportedContentType) -> Response[str]:
        refused = app.context.get(bodies.REFUSAL)
        if isinstance(refused, bodies.BodyError):
            return error_response(refused.status, refused.message)
        accepted = bodies.accepted(bodies.takes_definition(app.current_event.raw_event))
        return error_response(415, f"unsupported content type: send {accepted}")

    def _no_route(exc: Exception) -> Response[str]:
        event = app.current_event
        return error_response(404, f"no route {event.http_method} {event.path}")

    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(RequestUnsupportedContentType)(_unreadable_body)
    app.exception_handler(Exception)(lambda exc: internal_error(app))
    app.not_found(_no_route)


def internal_error(app: APIGatewayRestResolver) -> Response[str]:
    """The answer to an error no route expected, called while it is handled: the error logged with its
    traceback, and a 500 that names the request (its id, the correlation id of the request's log lines)."""
    logger.exception("unexpected error")
    return json_response(500, {"message": INTERNAL_ERROR, "request_id": request_id(app)})


def register_unexpected(app: APIGatewayRestResolver) -> None:
    """The 500 of :func:`register` alone, for a resolver whose routes answer their own errors (the trigger events,
    the unsubscribe pages): what a route did not expect is :func:`internal_error`, and Powertools' own errors
    (its 404 for a request no route takes) keep Powertools' answers."""

    def _unexpected(exc: Exception) -> Response[str]:
        if isinstance(exc, ServiceError):
            raise exc  # raised from a handler, Powertools answers it with its status
        return internal_error(app)

    app.exception_handler(Exception)(_unexpected)
