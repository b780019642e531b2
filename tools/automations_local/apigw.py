"""API Gateway (REST API, Lambda proxy integration) in miniature: routes, proxy events, proxy responses."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from automations_local.cfn import ACCOUNT
from automations_local.wiring import Route

_PARAM = re.compile(r"\{([^}/]+?)(\+?)\}")
_TEXTUAL = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "+json", "+xml")


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class NoRoute:
    """No resource has this path (404), or none of its methods is this one (405, with the ``allowed``)."""

    allowed: tuple[str, ...] = ()


def _pattern(path: str) -> re.Pattern[str]:
    out, last = [], 0
    for found in _PARAM.finditer(path):
        out.append(re.escape(path[last : found.start()]))
        name, greedy = found.group(1), found.group(2)
        out.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
        last = found.end()
    out.append(re.escape(path[last:]))
    return re.compile("^" + "".join(out) + "$")


def _specificity(route: Route) -> tuple[int, int, int]:
    """Literal segments win over parameters, and a parameter over a greedy one (API Gateway's order)."""
    segments = route.path.strip("/").split("/")
    greedy = sum(s.endswith("+}") for s in segments)
    params = sum(s.startswith("{") for s in segments)
    return (greedy, params, -len(segments))


def match(routes: list[Route], method: str, path: str) -> Match | NoRoute:
    """The route for a request, with its path parameters (URL-decoded)."""
    allowed: list[str] = []
    for route in sorted(routes, key=_specificity):
        found = _pattern(route.path).match(path)
        if found is None:
            continue
        if route.method in (method, "ANY"):
            return Match(route, {k: unquote(v) for k, v in found.groupdict().items()})
        allowed.append(route.method)
    return NoRoute(tuple(dict.fromkeys(allowed)))


def _single(values: dict[str, list[str]]) -> dict[str, str] | None:
    return {k: v[-1] for k, v in values.items()} or None


def _textual(content_type: str) -> bool:
    lowered = content_type.lower()
    return not lowered or any(marker in lowered for marker in _TEXTUAL)


def proxy_event(
    route: Route,
    path_parameters: dict[str, str],
    *,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    api_key: str | None,
    source_ip: str,
    now: datetime,
    region: str,
    authorizer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event a REST API's Lambda proxy integration gives the function for this request; ``authorizer`` is
    the context the Lambda authorizer answered (``workspace``, ``scopes``, ``key_id``), as the handlers read it."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    encoded = bool(body) and not _textual(content_type)
    if body and not encoded:
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded = True
    if encoded:
        text = base64.b64encode(body).decode("ascii")
    elif not body:
        text = None
    request_id = str(uuid.uuid4())
    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    host = next((v for k, v in headers if k.lower() == "host"), "127.0.0.1")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": _single(multi_headers),
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": _single(multi_query),
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method,
            # The path as requested: the local server has no stage in its URLs (as a custom domain), so that
            # what the API says of its own URL (the OpenAPI document's server) is where it is reached.
            "path": path,
            "stage": stage,
            "protocol": "HTTP/1.1",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "apiKey": api_key,
                "apiKeyId": "local" if api_key else None,
                "sourceIp": source_ip,
                "userAgent": user_agent,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "accessKey": None,
            },
            "authorizer": dict(authorizer) if authorizer is not None else None,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BadProxyResponseError(ValueError):
    """The function answered something API Gateway would refuse (it answers 502)."""


def http_answer(result: Any) -> HttpAnswer:
    """The HTTP response API Gateway makes of a proxy integration's result."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise BadProxyResponseError(f"malformed Lambda proxy response: {str(result)[:200]}")
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, value in (result.get("headers") or {}).items():
        if name not in multi:
            headers.append((str(name), str(value)))
    for name, values in multi.items():
        headers.extend((str(name), str(v)) for v in values)
    body = result.get("body")
    if body is None:
        raw = b""
    elif result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
    return HttpAnswer(int(result["statusCode"]), headers, raw)


def json_answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> HttpAnswer:
    raw = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    return HttpAnswer(status, [("Content-Type", "application/json"), *(headers or [])], raw)
