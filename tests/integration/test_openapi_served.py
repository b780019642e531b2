"""The OpenAPI document and the Swagger UI as manage_api serves them: open without a key, an Authorize button
for x-api-key, every /v1 route (POST /v1/events included) and the unsubscribe pages, and a server that is the
URL the document was fetched from (the stage on API Gateway's own domain; none on a custom domain)."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler

API = load_handler("manage_api")


def fetch(
    path: str,
    *,
    host: str = "abc123.execute-api.us-east-1.amazonaws.com",
    requested: str | None = None,
    query: dict[str, str] | None = None,
    proto: str | None = "https",
) -> tuple[int, str, str]:
    """GET ``path`` with no key (the authorizer lets the open routes through without a context): the status,
    the content type and the body. ``requested`` is the path as the client sent it (default: with the stage)."""
    request = load_event("apigw_post_event.json")
    headers = {"Host": host, "Accept": "*/*"}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    request.update(
        httpMethod="GET",
        path=path,
        resource=path,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=None,
    )
    request["requestContext"].update(
        httpMethod="GET",
        path=requested if requested is not None else f"/prod{path}",
        resourcePath=path,
        domainName=host,
        stage="prod",
        authorizer=None,
    )
    request["requestContext"]["identity"]["apiKey"] = None
    response = API.handler(request, LambdaContextStub())
    return int(response["statusCode"]), response["multiValueHeaders"]["Content-Type"][0], response["body"]


def document(**where: Any) -> dict[str, Any]:
    status, content_type, body = fetch("/v1/openapi.json", **where)
    assert (status, content_type) == (200, "application/json"), body[:300]
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_the_document_and_the_swagger_page_open_without_a_key(stack: Stack) -> None:
    served = document()
    validate(served)
    status, content_type, page = fetch("/v1/swagger")
    assert status == 200 and content_type.startswith("text/html") and "SwaggerUIBundle" in page
    # The page shows the served document (POST /v1/events and the unsubscribe pages included), not a partial one
    assert '"/v1/events"' in page and '"/u/{token}"' in page
    status, content_type, same = fetch("/v1/swagger", query={"format": "json"})
    assert (status, content_type) == (200, "application/json") and json.loads(same) == served


def test_the_authorize_button_takes_a_key_that_every_v1_route_needs(stack: Stack) -> None:
    served = document()
    assert served["components"]["securitySchemes"]["apiKey"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert served["security"] == [{"apiKey": []}]
    for path, item in served["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", served["security"])
            if path.startswith("/u/"):
                assert security == [], (method, path)
            else:
                assert {"apiKey": []} in security, (method, path)


def test_every_keyed_route_documents_401_403_415_422_and_events_its_shapes(stack: Stack) -> None:
    served = document()
    for path, item in served["paths"].items():
        if path.startswith("/u/"):
            continue
        for method, operation in item.items():
            assert {"401", "403", "415", "422"} <= set(operation["responses"]), (method, path)
    events = served["paths"]["/v1/events"]["post"]
    body = events["requestBody"]["content"]["application/json"]["schema"]
    refs = [{"$ref": "#/components/schemas/TriggerEvent"}, {"$ref": "#/components/schemas/EventBatchIn"}]
    assert body == {"anyOf": refs}
    assert events["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IngestOut"
    }
    result = served["components"]["schemas"]["EventResultOut"]["properties"]
    assert "skipped" in result  # why an event started no run, per automation
    contact_id = served["components"]["schemas"]["Contact"]["properties"]["id"]
    assert {"type": "integer"} in contact_id["anyOf"]


def test_the_unsubscribe_pages_are_described_with_no_key(stack: Stack) -> None:
    pages = document()["paths"]["/u/{token}"]
    assert set(pages) == {"get", "post"}
    for operation in pages.values():
        assert operation["security"] == []
        assert operation["parameters"][0]["name"] == "token"
        assert "text/html" in operation["responses"]["200"]["content"]
    form = pages["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"choice", "List-Unsubscribe"} <= set(form["properties"])


def test_the_server_is_where_the_document_was_fetched_from(stack: Stack) -> None:
    # API Gateway's own domain: the stage is in the URL
    assert document()["servers"] == [{"url": "https://abc123.execute-api.us-east-1.amazonaws.com/prod"}]
    # A custom domain: the path as requested has no stage, and neither has the server
    custom = document(host="api.example.com", requested="/v1/openapi.json")
    assert custom["servers"] == [{"url": "https://api.example.com"}]
    # The local stack: plain HTTP, no stage, the port kept
    local = document(host="127.0.0.1:3000", requested="/v1/openapi.json", proto=None)
    assert local["servers"] == [{"url": "http://127.0.0.1:3000"}]
    # A Host header that is no host name: a relative server, never the header's text
    odd = document(host="evil.example/<script>", requested="/v1/openapi.json")
    assert odd["servers"] == [{"url": "/"}]
