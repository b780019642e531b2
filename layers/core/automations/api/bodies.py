"""Request bodies of the management API: their content type and their text, before the routes read them.

The routes read JSON. A body may come as API Gateway passes it (text, or base64 when binary); it must be
UTF-8. A definition (``POST /v1/automations``, ``PUT /v1/automations/{id}``, ``POST
/v1/automations/validate``) may also be YAML (``application/yaml``, ``application/x-yaml``,
``text/yaml``): its text becomes ``{"definition": "<text>"}``, which those routes read as the definition
text. No content type means JSON. Any other type is refused with 415, naming the accepted ones.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from automations.jsontext import cut_deep

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
#: The requests whose body may be a definition as YAML text.
_DEFINITION_ROUTES = re.compile(r"^(POST /v1/automations(/validate)?|PUT /v1/automations/[^/]+)/?$")
#: The content type given to a refused body: no route reads it, so the route answers with the refusal.
REFUSED = "application/x-refused-body"
#: The key of the resolver's context that holds the :class:`BodyError` of a refused body.
REFUSAL = "body_error"
#: How deep a JSON body of the management API may nest.
MAX_JSON_DEPTH = 64


class BodyError(Exception):
    """A body the routes cannot read: its HTTP status (400 or 415) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header of an API Gateway proxy event, in any case (``headers``, else ``multiValueHeaders``)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if str(key).lower() == wanted and value is not None:
            return str(value)
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if str(key).lower() == wanted and values:
            return str(values[-1])
    return None


def media_type(content_type: str | None) -> str:
    """``Application/JSON; charset=utf-8`` -> ``application/json``; none -> ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def takes_definition(event: Mapping[str, Any]) -> bool:
    return bool(_DEFINITION_ROUTES.match(f"{event.get('httpMethod', '')} {event.get('path', '')}"))


def accepted(definition: bool) -> str:
    """The accepted content types, in words."""
    if definition:
        return f"{JSON}, or the definition as {', '.join(YAML_TYPES[:-1])} or {YAML_TYPES[-1]}"
    return JSON


def _is_json(kind: str) -> bool:
    return kind in ("", JSON) or (kind.startswith("application/") and kind.endswith("+json"))


def text_of(event: Mapping[str, Any]) -> str | None:
    """The body as text: decoded from base64 when API Gateway encoded it; it must be UTF-8."""
    body = event.get("body")
    if body is None or body == "":
        return None
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(str(body))
        except binascii.Error:
            raise BodyError(400, "the request body is marked as base64 but is not valid base64") from None
    else:
        try:
            raw = str(body).encode("utf-8")
        except UnicodeEncodeError:
            raise BodyError(400, "the request body is not valid UTF-8 text") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"the request body is not UTF-8 text (byte {exc.start} is not)") from None


def as_json(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the event whose body is JSON text with the content type ``application/json``.

    Raises BodyError: 400 for a body that is not UTF-8, 415 for a content type the route does not take.
    """
    kind = media_type(header(event, "content-type"))
    text = text_of(event)
    definition = takes_definition(event)
    if text is not None and _is_json(kind):
        if cut_deep(text, MAX_JSON_DEPTH) is not text:
            raise BodyError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    elif text is not None:
        if kind in YAML_TYPES and definition:
            text = json.dumps({"definition": text}, ensure_ascii=False)
        else:
            shown = kind or "(none)"
            raise BodyError(415, f"unsupported content type {shown}: send {accepted(definition)}")
    return with_body(event, text, JSON)


def with_body(event: Mapping[str, Any], text: str | None, content_type: str) -> dict[str, Any]:
    """A copy of the event with this body (not base64) and this content type, in both header maps."""
    out = copy.copy(dict(event))
    out["body"] = text
    out["isBase64Encoded"] = False
    for field in ("headers", "multiValueHeaders"):
        found = out.get(field)
        if found is None and field == "multiValueHeaders":
            continue
        kept = {k: v for k, v in (found or {}).items() if str(k).lower() != "content-type"}
        kept["Content-Type"] = [content_type] if field == "multiValueHeaders" else content_type
        out[field] = kept
    return out
