"""manage_api under moto: request bodies by content type (JSON, YAML, others), encoding and nesting.

Each test sends API Gateway REST proxy events with the body and headers a client would send, base64
encoded where API Gateway (or the local server) encodes them, and reads the status code and the answer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from automations.api.bodies import MAX_JSON_DEPTH

from tests.conftest import EXAMPLES, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler

API = load_handler("manage_api")
OVERDUE = "overdue-invoice-reminder"
YAML_TEXT = (EXAMPLES / f"{OVERDUE}.yaml").read_text()


def request(
    method: str,
    path: str,
    body: str | bytes | None,
    content_type: str | None = "application/json",
    *,
    encoded: bool = False,
    header_name: str = "Content-Type",
    multi_only: bool = False,
) -> tuple[int, Any]:
    """One request through API Gateway: the body as sent, with this content type (or none)."""
    event = load_event("apigw_post_event.json")
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"}
    multi = {k: v for k, v in event["multiValueHeaders"].items() if k.lower() != "content-type"}
    if content_type is not None:
        if not multi_only:
            headers[header_name] = content_type
        multi[header_name] = [content_type]
    if encoded and body is not None:
        raw = body.encode() if isinstance(body, str) else body
        body = base64.b64encode(raw).decode("ascii")
    assert not isinstance(body, bytes)
    event.update(
        httpMethod=method,
        path=path,
        resource=path,
        body=body,
        isBase64Encoded=encoded,
        headers=headers,
        multiValueHeaders=multi,
    )
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=path)
    response = API.handler(event, LambdaContextStub())
    return int(response["statusCode"]), json.loads(response["body"])


def definition(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(YAML_TEXT)
    found.update(changes)
    return found


# --- YAML ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [
        ("application/yaml", False),
        ("application/x-yaml", True),  # as the local server passes it: not a textual type, so base64
        ("text/yaml; charset=utf-8", False),
    ],
)
def test_a_definition_posted_as_yaml_is_created(stack: Stack, content_type: str, encoded: bool) -> None:
    status, body = request("POST", "/v1/automations", YAML_TEXT, content_type, encoded=encoded)
    assert status == 201, body
    assert body["id"] == OVERDUE and body["version"] == 1
    status, got = request("GET", f"/v1/automations/{OVERDUE}", None, None)
    assert status == 200 and got["definition"]["steps"][0] == {"delay": "3d"}


def test_a_definition_replaced_as_yaml_is_a_new_version(stack: Stack) -> None:
    assert request("POST", "/v1/automations", YAML_TEXT, "application/yaml")[0] == 201
    changed = YAML_TEXT.replace("delay: 3d", "delay: 4d")
    assert changed != YAML_TEXT
    status, body = request("PUT", f"/v1/automations/{OVERDUE}", changed, "application/yaml", encoded=True)
    assert status == 200, body
    assert body["version"] == 2
    status, got = request("GET", f"/v1/automations/{OVERDUE}", None, None)
    assert got["definition"]["steps"][0] == {"delay": "4d"}


def test_invalid_yaml_is_a_422_naming_its_line_and_an_invalid_definition_names_its_fields(stack: Stack) -> None:
    status, body = request("POST", "/v1/automations", "id: x\nname: [unclosed\n", "application/yaml")
    assert status == 422 and "line" in body["errors"][0]["message"]
    status, body = request("POST", "/v1/automations", YAML_TEXT + "colour: blue\n", "application/yaml")
    assert status == 422 and "colour" in {e["loc"] for e in body["errors"]}
    status, body = request("POST", "/v1/automations", "a: " + "[" * 5000 + "]" * 5000, "application/yaml")
    assert status == 422 and body["errors"][0]["message"] == "nested too deeply to be read"


def test_yaml_is_only_for_definitions(stack: Stack) -> None:
    request("POST", "/v1/automations", YAML_TEXT, "application/yaml")
    status, body = request("PATCH", f"/v1/automations/{OVERDUE}", "name: New\n", "application/yaml")
    assert status == 415
    assert body["message"] == "unsupported content type application/yaml: send application/json"


# --- content types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", YAML_TEXT),
        ("multipart/form-data; boundary=xyz", '--xyz\r\nContent-Disposition: form-data; name="id"\r\n\r\nx\r\n--xyz--'),
        ("application/x-www-form-urlencoded", "id=x&name=y"),
        ("application/xml", "<automation/>"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/automations"), ("PUT", f"/v1/automations/{OVERDUE}"), ("POST", "/v1/automations/validate")],
)
def test_an_unsupported_content_type_for_a_definition_is_a_415_naming_the_accepted_ones(
    stack: Stack, method: str, path: str, content_type: str, body: str
) -> None:
    request("POST", "/v1/automations", YAML_TEXT, "application/yaml")
    status, answer = request(method, path, body, content_type)
    assert status == 415, answer
    kind = content_type.split(";")[0]
    assert answer["message"] == (
        f"unsupported content type {kind}: send application/json, "
        "or the definition as application/yaml, application/x-yaml or text/yaml"
    )
    assert request("GET", f"/v1/automations/{OVERDUE}", None, None)[1]["version"] == 1


def test_other_routes_with_a_body_refuse_other_types_with_415(stack: Stack) -> None:
    request("POST", "/v1/automations", YAML_TEXT, "application/yaml")
    for method, path, body in [
        ("PATCH", f"/v1/automations/{OVERDUE}", "name=New"),
        ("POST", f"/v1/automations/{OVERDUE}/duplicate", "id=copy"),
        ("POST", f"/v1/automations/{OVERDUE}/preview", "event"),
        ("POST", f"/v1/automations/{OVERDUE}/test-email", "to=me@acme.example"),
    ]:
        status, answer = request(method, path, body, "text/plain")
        assert (status, answer["message"]) == (415, "unsupported content type text/plain: send application/json")


def test_json_is_the_default_and_the_content_type_header_is_read_in_any_case(stack: Stack) -> None:
    body = json.dumps(definition())
    assert request("POST", "/v1/automations", body, None)[0] == 201
    assert (
        request("POST", "/v1/automations", json.dumps(definition(id="b")), "APPLICATION/JSON; charset=UTF-8")[0] == 201
    )
    assert (
        request("POST", "/v1/automations", json.dumps(definition(id="c")), "text/plain", header_name="content-type")[0]
        == 415
    )
    assert request("POST", "/v1/automations", json.dumps(definition(id="d")), "text/plain", multi_only=True)[0] == 415
    assert (
        request(
            "POST", "/v1/automations", YAML_TEXT.replace(OVERDUE, "e"), "application/yaml", header_name="CONTENT-TYPE"
        )[0]
        == 201
    )
    status, answer = request("PATCH", f"/v1/automations/{OVERDUE}", '{"name": "New"}', "application/merge-patch+json")
    assert status == 200 and answer["name"] == "New"


def test_a_route_without_a_body_ignores_its_content_type(stack: Stack) -> None:
    request("POST", "/v1/automations", YAML_TEXT, "application/yaml")
    status, answer = request("POST", f"/v1/automations/{OVERDUE}/deactivate", "ignored", "text/plain")
    assert status == 200 and answer["status"] == "inactive"
    status, answer = request("POST", f"/v1/automations/{OVERDUE}/duplicate", None, "text/plain")
    assert status == 201 and answer["id"] == f"{OVERDUE}-copy"


# --- encoding and nesting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml", None])
def test_a_body_that_is_not_utf8_is_a_400_saying_so(stack: Stack, content_type: str | None) -> None:
    # UTF-8 but for one Latin-1 byte: the example speaks several languages, the name is where it breaks
    text = YAML_TEXT.replace("\nname: ", "\nname: Atrasada é ", 1)
    latin1 = text.encode("utf-8").replace("é".encode(), "é".encode("latin-1"), 1)
    assert "é".encode("latin-1") in latin1
    status, answer = request("POST", "/v1/automations", latin1, content_type, encoded=True)
    assert status == 400, answer
    assert "not UTF-8" in answer["message"]
    assert request("GET", f"/v1/automations/{OVERDUE}", None, None)[0] == 404


def test_a_json_body_base64_encoded_is_read(stack: Stack) -> None:
    status, answer = request("POST", "/v1/automations", json.dumps(definition()), "application/json", encoded=True)
    assert status == 201, answer


def test_a_json_body_nested_too_deep_is_a_400_saying_so(stack: Stack) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 10_000):
        body = '{"definition": ' + "[" * depth + "]" * depth + "}"
        status, answer = request("POST", "/v1/automations", body)
        assert (status, answer["message"]) == (400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    status, answer = request("POST", f"/v1/automations/{OVERDUE}/preview", "[" * 10_000)
    assert status == 400


def test_the_openapi_document_has_415_on_every_operation_with_a_body(stack: Stack) -> None:
    status, document = request("GET", "/v1/openapi.json", None, None)
    assert status == 200
    with_body = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and operation.get("security") != []  # the unsubscribe form reads any body
    ]
    assert {("/v1/automations", "post"), ("/v1/automations/{automation_id}", "put")} <= {
        (p, m) for p, m, _ in with_body
    }
    for path, method, operation in with_body:
        assert "415" in operation["responses"], (path, method)


# --- sample events ------------------------------------------------------------------------------------------


def test_a_preview_with_an_occurred_at_outside_1970_2200_is_a_422_naming_it(stack: Stack) -> None:
    request("POST", "/v1/automations", YAML_TEXT, "application/yaml")
    for moment in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        status, answer = request("POST", f"/v1/automations/{OVERDUE}/preview", json.dumps({"occurred_at": moment}))
        assert status == 422, answer
        assert [e["loc"] for e in answer["errors"]] == ["occurred_at"]
    status, answer = request("POST", f"/v1/automations/{OVERDUE}/preview", '{"contact": {"id": "\\ud800x"}}')
    assert status == 422 and [e["loc"] for e in answer["errors"]] == ["contact.id"]


def test_validate_checks_a_definition_without_saving_it(stack: Stack) -> None:
    # A valid definition, as YAML: answered with the definition as it would be stored; nothing is stored
    status, answer = request("POST", "/v1/automations/validate", YAML_TEXT, "application/yaml")
    assert status == 200, answer
    assert answer["valid"] is True and answer["definition"]["id"] == OVERDUE
    assert answer["activation_problems"] == []
    assert request("GET", f"/v1/automations/{OVERDUE}", None, "application/json")[0] == 404
    # An invalid one: a 422 naming the place
    broken = YAML_TEXT.replace("delay: 3d", "delay: 3 days")
    status, answer = request("POST", "/v1/automations/validate", broken, "application/yaml")
    assert status == 422, answer
    assert any(error["loc"].startswith("steps[0]") for error in answer["errors"]), answer
