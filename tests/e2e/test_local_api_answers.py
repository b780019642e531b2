"""On the local stack: the served OpenAPI document's server is where the stack is reached (Swagger's "Try it
out" works), the 202 of POST /v1/events says why no run started (and the statistics count it), an integer
contact id is a person, previews and validation warn about template values the sample leaves empty, and
viewing the outbox is not the recipient opening the email."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


def unique() -> str:
    return uuid.uuid4().hex[:10]


def example_event(example: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLE_EVENTS / f"{example}.json").read_text())
    event["id"] = f"evt_e2e_{unique()}"
    event.pop("occurred_at", None)
    return event


def answer_of(stack: LocalStackClient, event: dict[str, Any]) -> dict[str, Any]:
    answer = stack.post_event(event)
    assert answer.status == 202, answer.text
    [result] = answer.json()["events"]
    assert result["status"] == "accepted", result
    return dict(result)


def test_swagger_try_it_out_calls_the_stack_where_the_document_was_fetched(local_stack: LocalStackClient) -> None:
    # The document and the page open without a key
    answer = local_stack.request("GET", "/v1/openapi.json", key=None)
    assert answer.status == 200, answer.text
    document = answer.json()
    page = local_stack.request("GET", "/v1/swagger", key=None)
    assert page.status == 200 and "SwaggerUIBundle" in page.text
    # Its server is the stack's own URL (no stage prefix: the local stack has none in its URLs)
    [server] = document["servers"]
    assert server["url"] == local_stack.base
    assert "/v1/events" in document["paths"] and "/u/{token}" in document["paths"]
    # A route called at that server answers (as Swagger's "Try it out" calls it, with the key)
    listed = local_stack.request("GET", server["url"] + "/v1/automations")
    assert listed.status == 200, listed.text
    assert local_stack.request("GET", server["url"] + "/v1/automations", key=None).status == 401


def test_an_event_that_starts_no_run_says_why_and_is_counted(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger")
    before = local_stack.totals("new-lead-welcome")
    # A lead whose contact has an email but no id: no person
    event = example_event("new-lead-welcome")
    event["contact"] = {"email": f"lead-{unique()}@example.com"}
    result = answer_of(local_stack, event)
    assert result["runs"] == []
    said = {s["automation"]: s["reason"] for s in result["skipped"]}
    assert said["new-lead-welcome"] == "no person: field 'contact.id' is missing"
    after = local_stack.totals("new-lead-welcome")
    assert after["skipped_no_person"] - before["skipped_no_person"] == 1
    assert after["skipped"] - before["skipped"] == 1
    # An overdue invoice without its id: no run key
    before = local_stack.totals("overdue-invoice-reminder")
    overdue = example_event("overdue-invoice-reminder")
    overdue["contact"]["id"] = f"c_{unique()}"
    overdue["data"]["invoice"].pop("id")
    result = answer_of(local_stack, overdue)
    said = {s["automation"]: s["reason"] for s in result["skipped"]}
    assert said["overdue-invoice-reminder"] == "no run key: field 'data.invoice.id' is missing"
    after = local_stack.totals("overdue-invoice-reminder")
    assert after["skipped_no_run_key"] - before["skipped_no_run_key"] == 1
    # An event no automation listens to considers none, and says nothing
    nothing = answer_of(local_stack, {"type": "nobody.listens", "contact": {"id": "c_1"}})
    assert nothing["runs"] == [] and "skipped" not in nothing


def test_an_integer_contact_id_is_the_person_as_its_decimal_string(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger")
    number = int(uuid.uuid4().int % 10**9) + 10**9
    event = example_event("new-lead-welcome")
    event["contact"] = {"id": number, "email": f"n{number}@example.com", "first_name": "Ana"}
    result = answer_of(local_stack, event)
    [run_id] = result["runs"]
    run = local_stack.request("GET", f"/v1/runs/{run_id}")
    assert run.status == 200 and run.json()["person"] == str(number)
    # The same person, as a string: once_per_person already ran for them
    again = example_event("new-lead-welcome")
    again["contact"] = {"id": str(number), "email": f"n{number}@example.com"}
    second = answer_of(local_stack, again)
    assert second["runs"] == []
    assert [s["reason"].split(":")[0] for s in second["skipped"] if s["automation"] == "new-lead-welcome"] == [
        "frequency"
    ]
    contact = local_stack.request("GET", f"/v1/contacts/{number}")
    assert contact.status == 200, contact.text


def test_previews_and_validation_warn_about_values_the_sample_leaves_empty(local_stack: LocalStackClient) -> None:
    sample = example_event("overdue-invoice-reminder")
    sample["data"]["invoice"].pop("number")
    preview = local_stack.request("POST", "/v1/automations/overdue-invoice-reminder/preview", sample)
    assert preview.status == 200, preview.text
    found = preview.json()
    assert any("data.invoice.number" in w["message"] for w in found["warnings"]), found["warnings"]
    # A sample that does not start a run says so, with no "completed" outcome and no email
    stranger = {k: v for k, v in sample.items() if k != "contact"}
    unmatched = local_stack.request("POST", "/v1/automations/overdue-invoice-reminder/preview", stranger).json()
    assert unmatched["trigger"]["matched"] is False and "no person" in unmatched["trigger"]["reason"]
    assert unmatched["outcome"]["status"] == "not_started" and unmatched["emails"] == []
    # Validation with a sample event warns the same way
    definition = local_stack.request("GET", "/v1/automations/overdue-invoice-reminder").json()["definition"]
    checked = local_stack.request("POST", "/v1/automations/validate", {"definition": definition, "event": sample})
    assert checked.status == 200, checked.text
    assert any("data.invoice.number" in w["message"] for w in checked.json()["warnings"])


def test_viewing_the_outbox_is_not_opening_the_email(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "send_email", "stats_webhook")
    address = f"viewer-{unique()}@example.com"
    event = example_event("new-lead-welcome")
    event["contact"] = {"id": f"c_{unique()}", "email": address, "first_name": "Vera"}
    answer_of(local_stack, event)
    [email] = local_stack.outbox(address)
    before = local_stack.totals("new-lead-welcome")
    # The operator looks at the outbox page: the email is shown, and nothing is counted as opened
    page = local_stack.request("GET", "/_local/outbox.html", key=None)
    assert page.status == 200 and email["subject"] in page.text
    assert "&lt;img src=&quot;/_local/open" not in page.text
    [email] = local_stack.outbox(address)
    assert "Open" not in email["events"]
    assert local_stack.totals("new-lead-welcome")["opened"] == before["opened"]
    # The recipient's mail client loads the pixel: that is an open
    pixel = local_stack.request("GET", f"/_local/open?m={email['id']}", key=None)
    assert pixel.status == 200
    [email] = local_stack.outbox(address)
    assert "Open" in email["events"]
    assert local_stack.totals("new-lead-welcome")["opened"] == before["opened"] + 1
