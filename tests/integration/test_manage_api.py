"""manage_api under moto: every route of DESIGN.md §5 (but events and unsubscribe) through the real handler.

Each test sends API Gateway REST proxy events (shaped like ``tests/events/apigw_post_event.json``) and reads
what an operator would: the status code and the JSON body.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import yaml
from automations.adapters.dynamodb import stats
from automations.events import parse_events
from automations.ports import Suppression
from automations.services.ingest import ingest
from openapi_spec_validator import validate

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler

API = load_handler("manage_api")
EVALUATE = load_handler("evaluate_step")
INGEST = load_handler("ingest_trigger")

OVERDUE = "overdue-invoice-reminder"


# --- helpers ------------------------------------------------------------------------------------------------


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    raw: str | None = None,
) -> tuple[int, Any]:
    """One request through API Gateway (REST proxy event): the status code and the parsed JSON body."""
    request = load_event("apigw_post_event.json")
    request.update(
        httpMethod=method,
        path=path,
        resource=path,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=raw if raw is not None else (json.dumps(body) if body is not None else None),
    )
    request["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=path)
    response = API.handler(request, LambdaContextStub())
    text = response["body"]
    content_type = response["multiValueHeaders"]["Content-Type"][0]
    return int(response["statusCode"]), json.loads(text) if content_type == "application/json" else text


def example(example_id: str, /, **changes: Any) -> dict[str, Any]:
    definition: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{example_id}.yaml").read_text())
    definition.update(changes)
    return definition


def sample_event(example_id: str, /, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLE_EVENTS / f"{example_id}.json").read_text())
    event.update(changes)
    return event


def create(definition: dict[str, Any]) -> dict[str, Any]:
    status, body = call("POST", "/v1/automations", definition)
    assert status == 201, body
    return dict(body)


def post_event(stack: Stack, event: dict[str, Any]) -> list[str]:
    """An event through the ingest service (as POST /v1/events does); the runs it started."""
    [result] = ingest(stack.deps, parse_events(event), stack.clock.now())
    return result.runs


# --- create, get, list ------------------------------------------------------------------------------------


def test_create_from_json_is_a_draft_and_is_listed(stack: Stack) -> None:
    # Given a definition without a status
    definition = example(OVERDUE)
    del definition["status"]
    # When it is created
    status, body = call("POST", "/v1/automations", definition)
    # Then it is version 1 of a draft, readable and listed
    assert status == 201
    assert body["id"] == OVERDUE and body["status"] == "draft" and body["version"] == 1
    assert body["trigger"] == "invoice.overdue"
    status, got = call("GET", f"/v1/automations/{OVERDUE}")
    assert status == 200
    assert got["status"] == "draft" and got["definition_version"] == 1
    assert got["definition"]["steps"][0] == {"delay": "3d"}
    status, listed = call("GET", "/v1/automations")
    assert [a["id"] for a in listed["automations"]] == [OVERDUE]


def test_create_from_yaml_text_and_list_by_status(stack: Stack) -> None:
    # Given one active automation (from YAML text) and one draft
    status, body = call("POST", "/v1/automations", {"definition": (EXAMPLES / f"{OVERDUE}.yaml").read_text()})
    assert status == 201 and body["status"] == "active"
    create(example("we-miss-you", status="draft"))
    # When listing by status
    _, active = call("GET", "/v1/automations", query={"status": "active"})
    _, drafts = call("GET", "/v1/automations", query={"status": "draft"})
    _, inactive = call("GET", "/v1/automations", query={"status": "inactive"})
    status, wrong = call("GET", "/v1/automations", query={"status": "paused"})
    # Then each status has its own
    assert [a["id"] for a in active["automations"]] == [OVERDUE]
    assert [a["id"] for a in drafts["automations"]] == ["we-miss-you"]
    assert inactive["automations"] == []
    assert status == 422 and wrong["errors"][0]["loc"] == "query.status"


def test_an_invalid_definition_gets_every_error_with_its_place(stack: Stack) -> None:
    # Given a definition with an unknown filter, an unknown field and a bad delay
    definition = example(OVERDUE, colour="blue")
    definition["steps"][0] = {"delay": "3 days"}
    definition["steps"][1]["then"][0]["send_email"]["subject"] = "{{ data.invoice.number | upper2 }}"
    # When it is created
    status, body = call("POST", "/v1/automations", definition)
    # Then nothing is stored and each error is named with its location
    assert status == 422
    assert body["message"] == "invalid automation"
    locs = {e["loc"] for e in body["errors"]}
    assert {"colour", "steps[0].delay", "steps[1].then[0].send_email.subject"} <= locs
    assert all(e["message"] for e in body["errors"])
    assert call("GET", f"/v1/automations/{OVERDUE}")[0] == 404


def test_invalid_yaml_text_names_its_line(stack: Stack) -> None:
    status, body = call("POST", "/v1/automations", {"definition": "id: x\nname: [unclosed\n"})
    assert status == 422
    assert "line" in body["errors"][0]["message"]


def test_a_body_that_is_not_json_is_400(stack: Stack) -> None:
    status, body = call("POST", "/v1/automations", raw="{not json")
    assert status == 400 and "JSON" in body["message"]


def test_creating_an_existing_id_is_a_conflict(stack: Stack) -> None:
    create(example(OVERDUE))
    status, body = call("POST", "/v1/automations", example(OVERDUE))
    assert status == 409 and "already exists" in body["message"]


UNKNOWN = [
    ("GET", "/v1/automations/nope", None),
    ("PUT", "/v1/automations/nope", example(OVERDUE, id="nope")),
    ("PATCH", "/v1/automations/nope", {"name": "New"}),
    ("DELETE", "/v1/automations/nope", None),
    ("POST", "/v1/automations/nope/activate", None),
    ("POST", "/v1/automations/nope/deactivate", None),
    ("POST", "/v1/automations/nope/duplicate", None),
    ("GET", "/v1/automations/nope/versions", None),
    ("GET", "/v1/automations/nope/stats", None),
    ("POST", "/v1/automations/nope/preview", {}),
    ("POST", "/v1/automations/nope/test-email", {"to": "ana@example.com"}),
    ("GET", "/v1/runs/run_nope", None),
    ("POST", "/v1/automations", {"template": "nope"}),
]


def test_unknown_ids_are_404_with_a_message(stack: Stack) -> None:
    for method, path, body in UNKNOWN:
        status, answer = call(method, path, body)
        assert (status, "nope'" in answer["message"]) == (404, True), (method, path, answer)
    status, answer = call("GET", "/v1/nothing/here")
    assert status == 404 and answer["message"] == "no route GET /v1/nothing/here"


def test_an_unknown_version_is_404(stack: Stack) -> None:
    create(example(OVERDUE))
    status, body = call("GET", f"/v1/automations/{OVERDUE}", query={"version": "7"})
    assert status == 404 and "version 7" in body["message"]


# --- versions -----------------------------------------------------------------------------------------------


def test_replace_makes_a_new_version_and_runs_in_flight_keep_theirs(stack: Stack) -> None:
    # Given an active automation with a run waiting on its delay
    create(example(OVERDUE))
    [run_id] = post_event(stack, sample_event(OVERDUE))
    # When it is replaced with a new subject (as YAML text)
    changed = example(OVERDUE)
    changed["steps"][1]["then"][0]["send_email"]["subject"] = "Version two"
    status, body = call("PUT", f"/v1/automations/{OVERDUE}", {"definition": yaml.safe_dump(changed)})
    # Then version 2 is current, both are listed, and version 1 can still be read
    assert status == 200 and body["version"] == 2 and body["status"] == "active"
    _, versions = call("GET", f"/v1/automations/{OVERDUE}/versions")
    assert [(v["version"], v["current"]) for v in versions["versions"]] == [(1, False), (2, True)]
    _, old = call("GET", f"/v1/automations/{OVERDUE}", query={"version": "1"})
    assert old["definition_version"] == 1
    old_email = old["definition"]["steps"][1]["then"][0]["send_email"]
    assert old_email["subject"]["en"] == "Invoice {{ data.invoice.number }} is overdue"
    # And the waiting run, once due, still sends version 1's email
    stack.clock.offset = timedelta(days=3)
    [schedule] = stack.schedules()
    EVALUATE.handler(schedule["Input"], LambdaContextStub())
    [email] = stack.queued_emails()
    assert email["subject"] == "Invoice 2026-117 is overdue"
    _, run = call("GET", f"/v1/runs/{run_id}")
    assert run["version"] == 1


def test_replace_keeps_the_status_unless_the_definition_says_otherwise(stack: Stack) -> None:
    create(example(OVERDUE))
    without_status = example(OVERDUE, name="Renamed by PUT")
    del without_status["status"]
    status, body = call("PUT", f"/v1/automations/{OVERDUE}", without_status)
    assert status == 200 and body["status"] == "active" and body["name"] == "Renamed by PUT"
    status, body = call("PUT", f"/v1/automations/{OVERDUE}", example(OVERDUE, status="inactive"))
    assert status == 200 and body["status"] == "inactive" and body["version"] == 3


def test_replace_refuses_another_id_and_invalid_definitions(stack: Stack) -> None:
    create(example(OVERDUE))
    status, body = call("PUT", f"/v1/automations/{OVERDUE}", example(OVERDUE, id="another"))
    assert status == 422 and body["errors"] == [
        {"loc": "id", "message": "must be 'overdue-invoice-reminder', the automation being replaced"}
    ]
    status, body = call("PUT", f"/v1/automations/{OVERDUE}", example(OVERDUE, steps=[]))
    assert status == 422 and body["errors"][0]["loc"] == "steps"
    assert call("GET", f"/v1/automations/{OVERDUE}")[1]["version"] == 1


# --- status -------------------------------------------------------------------------------------------------


def test_status_transitions_draft_active_inactive_active(stack: Stack) -> None:
    # Given a draft
    create(example(OVERDUE, status="draft"))
    # When it is activated, deactivated and activated again
    status, activated = call("POST", f"/v1/automations/{OVERDUE}/activate")
    again = call("POST", f"/v1/automations/{OVERDUE}/activate")[1]
    deactivated = call("POST", f"/v1/automations/{OVERDUE}/deactivate")[1]
    reactivated = call("POST", f"/v1/automations/{OVERDUE}/activate")[1]
    # Then each answer carries the new status (activating twice is harmless)
    assert status == 200 and activated["status"] == "active"
    assert again["status"] == "active"
    assert deactivated["status"] == "inactive" and deactivated["status_reason"] == "automation deactivated"
    assert reactivated["status"] == "active"
    # And only an active automation starts runs
    assert len(post_event(stack, sample_event(OVERDUE))) == 1


def test_a_draft_starts_no_runs(stack: Stack) -> None:
    create(example(OVERDUE, status="draft"))
    assert post_event(stack, sample_event(OVERDUE)) == []


def test_activation_is_refused_with_the_reasons_when_no_sender_is_configured(stack: Stack) -> None:
    # Given a stack without a sender address, and a draft that sends email without a 'from'
    stack.deps.settings = stack.settings.model_copy(update={"sender_address": ""})
    create(example(OVERDUE, status="draft"))
    # When it is activated
    status, body = call("POST", f"/v1/automations/{OVERDUE}/activate")
    # Then it is refused with the reason, and stays a draft
    assert status == 409
    assert body["message"] == "the automation cannot be activated"
    assert any("SENDER_ADDRESS" in reason for reason in body["reasons"])
    assert call("GET", f"/v1/automations/{OVERDUE}")[1]["status"] == "draft"
    # And creating it active is refused the same way
    status, body = call("POST", "/v1/automations", example("we-miss-you"))
    assert status == 409 and body["reasons"]


def test_deactivate_ends_the_waiting_runs_with_the_reason(stack: Stack) -> None:
    create(example(OVERDUE))
    [run_id] = post_event(stack, sample_event(OVERDUE))
    assert call("GET", f"/v1/runs/{run_id}")[1]["status"] == "waiting"
    call("POST", f"/v1/automations/{OVERDUE}/deactivate")
    _, run = call("GET", f"/v1/runs/{run_id}")
    assert run["status"] == "cancelled" and run["end_reason"] == "automation deactivated"
    assert stack.schedules() == []


def test_delete_ends_the_waiting_runs_and_forgets_the_automation(stack: Stack) -> None:
    create(example(OVERDUE))
    [run_id] = post_event(stack, sample_event(OVERDUE))
    status, body = call("DELETE", f"/v1/automations/{OVERDUE}")
    assert status == 200 and body == {"id": OVERDUE, "deleted": True, "runs_ended": 1}
    assert call("GET", f"/v1/automations/{OVERDUE}")[0] == 404
    assert call("GET", f"/v1/automations/{OVERDUE}/versions")[0] == 404
    _, run = call("GET", f"/v1/runs/{run_id}")
    assert run["status"] == "cancelled" and run["end_reason"] == "automation deleted"
    assert post_event(stack, sample_event(OVERDUE, id="evt_after_delete")) == []


# --- duplicate, rename ------------------------------------------------------------------------------------


def test_duplicate_makes_a_draft_copy_with_a_new_id(stack: Stack) -> None:
    create(example(OVERDUE))
    status, first = call("POST", f"/v1/automations/{OVERDUE}/duplicate")
    _, second = call("POST", f"/v1/automations/{OVERDUE}/duplicate")
    _, chosen = call("POST", f"/v1/automations/{OVERDUE}/duplicate", {"id": "my-reminder", "name": "Mine"})
    assert status == 201
    assert (first["id"], first["status"], first["name"]) == (
        f"{OVERDUE}-copy",
        "draft",
        "Copy of Remind clients about overdue invoices",
    )
    assert second["id"] == f"{OVERDUE}-copy-2"
    assert (chosen["id"], chosen["name"], chosen["status"]) == ("my-reminder", "Mine", "draft")
    _, copy = call("GET", f"/v1/automations/{OVERDUE}-copy")
    assert copy["definition"]["steps"] == call("GET", f"/v1/automations/{OVERDUE}")[1]["definition"]["steps"]
    status, taken = call("POST", f"/v1/automations/{OVERDUE}/duplicate", {"id": "my-reminder"})
    assert status == 409, taken


def test_rename_changes_name_and_description_but_not_the_version(stack: Stack) -> None:
    create(example(OVERDUE))
    status, body = call("PATCH", f"/v1/automations/{OVERDUE}", {"name": "Overdue: 3 days", "description": "v2"})
    assert status == 200 and body["name"] == "Overdue: 3 days" and body["description"] == "v2"
    assert body["version"] == 1
    _, only_description = call("PATCH", f"/v1/automations/{OVERDUE}", {"description": "v3"})
    assert only_description["name"] == "Overdue: 3 days" and only_description["description"] == "v3"
    _, got = call("GET", f"/v1/automations/{OVERDUE}")
    assert got["definition"]["name"] == "Overdue: 3 days"
    # A copy is named after the new name
    assert call("POST", f"/v1/automations/{OVERDUE}/duplicate")[1]["name"] == "Copy of Overdue: 3 days"


def test_rename_refuses_bad_bodies(stack: Stack) -> None:
    create(example(OVERDUE))
    for body, loc in [({}, "body"), ({"name": ""}, "body.name"), ({"name": "x", "colour": "blue"}, "body.colour")]:
        status, answer = call("PATCH", f"/v1/automations/{OVERDUE}", body)
        assert (status, answer["errors"][0]["loc"]) == (422, loc), answer
    status, answer = call("PATCH", f"/v1/automations/{OVERDUE}", {"name": "x", "colour": "blue"})
    assert answer["errors"][0]["message"] == "unknown field"


# --- stats --------------------------------------------------------------------------------------------------


def test_stats_per_automation_and_per_step_with_rates(stack: Stack) -> None:
    # Given two runs started, a skipped event, and email feedback counted on one step
    where = {"field": "data.invoice.total", "op": "gt", "value": 0}
    create(example(OVERDUE, trigger={"event": "invoice.overdue", "where": where}))
    post_event(stack, sample_event(OVERDUE))
    post_event(stack, sample_event(OVERDUE, id="evt_2", data={"invoice": {"id": "inv_8", "total": 20}}))
    post_event(stack, sample_event(OVERDUE, id="evt_3", data={"invoice": {"id": "inv_9", "total": 0}}))
    counts = {"sent": 4, "delivered": 4, "opened": 5, "opened_unique": 2, "clicked_unique": 1, "clicked": 1}
    counts |= {"bounced_hard": 0, "complained": 1, "unsubscribed": 1}
    stats.increment(stack.settings.workspace, OVERDUE, stack.clock.now(), counts, step="reminder")
    # When the stats are read
    status, body = call("GET", f"/v1/automations/{OVERDUE}/stats")
    # Then the whole automation and each step have their counters and rates
    assert status == 200
    totals = body["totals"]
    assert (totals["runs_started"], totals["skipped_filter"], totals["skipped"]) == (2, 1, 1)
    assert (totals["sent"], totals["delivered"], totals["opened"], totals["clicked"]) == (4, 4, 5, 1)
    assert totals["rates"] == {
        "delivery_rate": 1.0,
        "open_rate": 0.5,
        "click_rate": 0.25,
        "bounce_rate": 0.0,
        "hard_bounce_rate": 0.0,
        "complaint_rate": 0.25,
        "unsubscribe_rate": 0.25,
    }
    steps = {s["step"]: s for s in body["steps"]}
    assert list(steps) == ["step-1", "still-unpaid", "reminder-with-owner", "reminder"]
    assert steps["step-1"]["kind"] == "delay" and steps["still-unpaid"]["loc"] == "steps[1]"
    assert steps["reminder"]["sent"] == 4 and steps["reminder"]["rates"]["open_rate"] == 0.5
    # And a rate whose denominator is 0 is null
    assert steps["reminder-with-owner"]["rates"]["delivery_rate"] is None
    assert (body["from"], body["to"], body["version"]) == (None, None, 1)


def test_stats_over_a_range_of_days(stack: Stack) -> None:
    create(example(OVERDUE))
    today = stack.clock.now()
    stats.increment(stack.settings.workspace, OVERDUE, today - timedelta(days=10), {"sent": 7}, step="reminder")
    stats.increment(stack.settings.workspace, OVERDUE, today, {"sent": 1}, step="reminder")
    start = (today - timedelta(days=1)).date().isoformat()
    query = {"from": start, "to": today.date().isoformat()}
    status, body = call("GET", f"/v1/automations/{OVERDUE}/stats", query=query)
    assert status == 200 and body["totals"]["sent"] == 1 and body["from"] == start
    _, everything = call("GET", f"/v1/automations/{OVERDUE}/stats")
    assert everything["totals"]["sent"] == 8


def test_stats_by_day_give_every_day_of_the_range(stack: Stack) -> None:
    # Given an automation counted ten days ago and today
    create(example(OVERDUE))
    today = stack.clock.now()
    stats.increment(stack.settings.workspace, OVERDUE, today - timedelta(days=10), {"sent": 7}, step="reminder")
    stats.increment(stack.settings.workspace, OVERDUE, today, {"sent": 1, "delivered": 1}, step="reminder")
    # When the stats of the last three days are read by day
    start = (today - timedelta(days=2)).date()
    query = {"from": start.isoformat(), "to": today.date().isoformat(), "interval": "day"}
    status, body = call("GET", f"/v1/automations/{OVERDUE}/stats", query=query)
    # Then each day of the range has its figures, days with nothing counted included
    assert status == 200, body
    assert [d["day"] for d in body["days"]] == [(start + timedelta(days=n)).isoformat() for n in range(3)]
    assert [d["sent"] for d in body["days"]] == [0, 0, 1]
    assert body["days"][-1]["rates"]["delivery_rate"] == 1.0 and body["totals"]["sent"] == 1
    # And without a range, the series runs from the first day counted to today
    _, everything = call("GET", f"/v1/automations/{OVERDUE}/stats", query={"interval": "day"})
    assert len(everything["days"]) == 11 and everything["days"][0]["sent"] == 7
    # And without interval there is no series; an unknown interval is refused
    _, plain = call("GET", f"/v1/automations/{OVERDUE}/stats")
    assert plain.get("days") is None
    status, refused = call("GET", f"/v1/automations/{OVERDUE}/stats", query={"interval": "week"})
    assert status == 422, refused


def test_stats_of_a_step_from_an_earlier_version_are_kept(stack: Stack) -> None:
    create(example(OVERDUE))
    stats.increment(stack.settings.workspace, OVERDUE, stack.clock.now(), {"sent": 2}, step="old-step")
    _, body = call("GET", f"/v1/automations/{OVERDUE}/stats")
    assert body["steps"][-1]["step"] == "old-step" and body["steps"][-1]["kind"] is None
    assert body["steps"][-1]["sent"] == 2


def test_stats_refuse_bad_dates(stack: Stack) -> None:
    create(example(OVERDUE))
    for query in [{"from": "2026-13-01"}, {"from": "2026-11-02", "to": "2026-11-01"}]:
        status, body = call("GET", f"/v1/automations/{OVERDUE}/stats", query=query)
        assert (status, body["errors"][0]["loc"]) == (422, "query.from"), body


# --- runs ---------------------------------------------------------------------------------------------------


def test_runs_newest_first_by_automation_and_by_person(stack: Stack) -> None:
    # Given three runs: two for Ana (c_42), one for Bo, over two automations
    create(example(OVERDUE))
    create(example("invoice-paid-thank-you"))
    first = post_event(stack, sample_event(OVERDUE))[0]
    stack.clock.offset = timedelta(minutes=5)
    bo = {"id": "c_43", "email": "bo@example.com"}
    second = post_event(stack, sample_event(OVERDUE, id="evt_bo", contact=bo, data={"invoice": {"id": "inv_8"}}))[0]
    stack.clock.offset = timedelta(minutes=10)
    third = post_event(stack, sample_event("invoice-paid-thank-you"))[0]
    # When the runs are listed
    _, by_automation = call("GET", "/v1/runs", query={"automation_id": OVERDUE})
    _, by_person = call("GET", "/v1/runs", query={"person": "c_42"})
    _, both = call("GET", "/v1/runs", query={"person": "c_42", "automation_id": OVERDUE})
    _, limited = call("GET", "/v1/runs", query={"automation_id": OVERDUE, "limit": "1"})
    # Then each list is newest first
    assert [r["id"] for r in by_automation["runs"]] == [second, first]
    assert [r["id"] for r in by_person["runs"]] == [third, first]
    assert [r["id"] for r in both["runs"]] == [first]
    assert [r["id"] for r in limited["runs"]] == [second]
    # And Ana's reminder says why it ended: her invoice was paid
    run = by_automation["runs"][1]
    assert (run["status"], run["person"], run["event"]["type"]) == ("cancelled", "c_42", "invoice.overdue")
    assert run["end_reason"].startswith("cancelled by invoice.paid")
    assert by_automation["runs"][0]["status"] == "waiting"


def test_runs_need_an_automation_or_a_person(stack: Stack) -> None:
    status, body = call("GET", "/v1/runs")
    assert status == 422 and body["errors"][0]["loc"] == "query"
    status, body = call("GET", "/v1/runs", query={"automation_id": OVERDUE, "limit": "0"})
    assert status == 422 and body["errors"][0]["loc"] == "query.limit"


def test_a_runs_timeline_tells_every_decision_with_its_reason(stack: Stack) -> None:
    # Given a run that waited three days, took a branch and requested an email
    create(example(OVERDUE))
    [run_id] = post_event(stack, sample_event(OVERDUE))
    stack.clock.offset = timedelta(days=3)
    [schedule] = stack.schedules()
    EVALUATE.handler(schedule["Input"], LambdaContextStub())
    # When its timeline is read
    status, run = call("GET", f"/v1/runs/{run_id}")
    # Then every decision is there, in order, with time, step, reason and details
    assert status == 200 and run["status"] == "completed"
    kinds = [d["kind"] for d in run["timeline"]]
    assert kinds == ["started", "wait", "resumed", "branch", "email", "finished"]
    branch = run["timeline"][3]
    assert branch["step"] == "still-unpaid" and branch["reason"].startswith("condition held")
    assert branch["details"]["checks"]
    assert run["timeline"][1]["details"]["due_at"].startswith("2026-11-27T10:00:00")
    assert datetime.fromisoformat(run["timeline"][0]["at"]) == stack.clock.moment
    assert run["context"]["contact"]["first_name"] == "Ana"
    assert run["emails"] == 1 and run["end_reason"] == "reached the end of the automation"


# --- templates ----------------------------------------------------------------------------------------------


def test_templates_are_the_examples_with_title_description_and_category(stack: Stack) -> None:
    status, body = call("GET", "/v1/templates")
    assert status == 200
    templates = {t["id"]: t for t in body["templates"]}
    assert set(templates) == {p.stem for p in EXAMPLES.glob("*.yaml")}
    for template in templates.values():
        assert template["title"] and template["description"] and template["category"]
        assert template["definition"]["status"] == "draft"
        assert template["sample_event"]["type"] == template["trigger"]
    _, invoices = call("GET", "/v1/templates", query={"category": "Invoices and payments"})
    assert OVERDUE in {t["id"] for t in invoices["templates"]}
    assert all(t["category"] == "Invoices and payments" for t in invoices["templates"])


def test_creating_from_a_template_yields_a_draft(stack: Stack) -> None:
    # When a template is used twice, and once with an id and a name
    status, first = call("POST", "/v1/automations", {"template": OVERDUE})
    _, second = call("POST", "/v1/automations", {"template": OVERDUE})
    _, named = call("POST", "/v1/automations", {"template": OVERDUE, "id": "late-payers", "name": "Late payers"})
    # Then each is a draft of its own
    assert status == 201
    assert (first["id"], first["status"]) == (OVERDUE, "draft")
    assert second["id"] == f"{OVERDUE}-2"
    assert (named["id"], named["name"], named["status"]) == ("late-payers", "Late payers", "draft")
    status, body = call("POST", "/v1/automations", {"template": OVERDUE, "colour": "blue"})
    assert status == 422 and body["errors"][0]["loc"] == "body.colour"


# --- contacts -----------------------------------------------------------------------------------------------


def test_a_contact_shows_suppressions_unsubscribes_and_runs(stack: Stack) -> None:
    # Given Ana's run, a complaint from her address, and an unsubscribe of Bo's
    create(example(OVERDUE))
    [run_id] = post_event(stack, sample_event(OVERDUE))
    store = stack.deps.suppressions
    now = stack.clock.now()
    complaint = Suppression.new(
        "Ana@Example.com", "complaint", reason="complaint: abuse", source="ses", automation_id=OVERDUE, now=now
    )
    store.add_new(complaint, now=now, counts={})
    unsubscribe = Suppression.new(
        "bo@example.com", "unsubscribe", reason="one-click", source="link", automation_id=None, now=now
    )
    store.add_new(unsubscribe, now=now, counts={})
    # When her contact is read (by person id), and Bo's (by address)
    status, ana = call("GET", "/v1/contacts/c_42")
    _, bo = call("GET", "/v1/contacts/bo%40example.com")
    # Then each shows what their addresses still receive, with reasons and times
    assert status == 200
    assert ana["addresses"] == [
        {
            "address": "ana@example.com",
            "receives": {"promotional": False, "transactional": False, "business_critical": False},
        }
    ]
    [suppression] = ana["suppressions"]
    assert (suppression["kind"], suppression["scope"]) == ("complaint", "all")
    assert suppression["reason"] == "complaint: abuse"
    assert datetime.fromisoformat(suppression["at"]) == now
    assert [r["id"] for r in ana["runs"]] == [run_id]
    assert bo["person"] == "bo@example.com" and bo["suppressions"] == []
    assert bo["unsubscribed"][0]["kind"] == "unsubscribe"
    assert bo["addresses"][0]["receives"] == {"promotional": False, "transactional": True, "business_critical": True}


def test_an_unknown_contact_has_nothing_recorded(stack: Stack) -> None:
    status, body = call("GET", "/v1/contacts/c_nobody")
    assert status == 200
    assert body == {
        "person": "c_nobody",
        "profile": None,
        "addresses": [],
        "suppressions": [],
        "unsubscribed": [],
        "runs": [],
    }


# --- preview, test email -----------------------------------------------------------------------------------


def test_preview_renders_every_email_and_the_branch_each_condition_takes(stack: Stack) -> None:
    # Given the overdue reminder, and a small invoice of a client who is not a VIP
    create(example(OVERDUE))
    small = sample_event(OVERDUE, contact={"id": "c_9", "email": "bo@example.com", "first_name": "Bo"})
    small["data"]["invoice"]["total"] = 90
    del small["type"]
    # When it is previewed (the event's type defaults to the trigger's)
    status, body = call("POST", f"/v1/automations/{OVERDUE}/preview", small)
    # Then the sample's path takes the else branch, and every email is rendered
    assert status == 200, body
    assert body["trigger"]["matched"] is True
    steps = {s["id"]: s for s in body["steps"]}
    assert (steps["still-unpaid"]["result"], steps["still-unpaid"]["branch"]) == (False, "else")
    assert steps["reminder"]["email"]["subject"] == "A friendly reminder about invoice 2026-117"
    assert "Hi Bo" in steps["reminder-with-owner"]["email"]["html"]
    assert [e["step"] for e in body["emails"]] == ["reminder"]
    # And nothing was stored or queued
    assert call("GET", "/v1/runs", query={"person": "c_9"})[1]["runs"] == []
    assert stack.queued_emails() == []
    # And {"event": ...} is accepted too, and so is no sample at all
    assert call("POST", f"/v1/automations/{OVERDUE}/preview", {"event": small})[0] == 200
    status, bare = call("POST", f"/v1/automations/{OVERDUE}/preview")
    assert status == 200 and bare["trigger"]["matched"] is False and "person" in bare["trigger"]["reason"]


def test_preview_refuses_an_invalid_sample_event(stack: Stack) -> None:
    create(example(OVERDUE))
    status, body = call("POST", f"/v1/automations/{OVERDUE}/preview", {"type": "invoice overdue!", "colour": 1})
    assert status == 422 and body["message"] == "invalid sample event"
    assert {e["loc"] for e in body["errors"]} >= {"type", "colour"}


def test_a_test_email_goes_to_the_given_address_marked_as_a_test(stack: Stack) -> None:
    from tests.support.email import nonzero, sent_messages, verify_sender

    # Given the overdue reminder and a verified sender
    verify_sender()
    create(example(OVERDUE))
    # When a test of its 'reminder' email is sent to the operator
    event = sample_event(OVERDUE)
    body = {"to": "me@acme.example", "event": event, "step": "reminder"}
    status, result = call("POST", f"/v1/automations/{OVERDUE}/test-email", body)
    # Then one email went out to that address only, marked as a test, and nothing was counted
    assert status == 202, result
    assert (result["test"], result["step"], result["to"]) == (True, "reminder", "me@acme.example")
    [sent] = sent_messages()
    assert sent["To"] == "me@acme.example"
    assert sent["Subject"] == "[Test] A friendly reminder about invoice 2026-117"
    assert nonzero(stats.read(stack.settings.workspace, OVERDUE)["-"]) == {}


def test_a_test_email_refuses_bad_requests(stack: Stack) -> None:
    create(example(OVERDUE))
    path = f"/v1/automations/{OVERDUE}/test-email"
    status, body = call("POST", path, {"to": "not an address"})
    assert status == 422 and body["errors"][0]["loc"] == "body.to"
    status, body = call("POST", path, {"to": "me@acme.example", "step": "step-1"})
    assert status == 422 and "not a send_email step" in body["message"]


# --- documents ----------------------------------------------------------------------------------------------

SECTION_5 = {
    ("/v1/automations", "get"),
    ("/v1/automations", "post"),
    ("/v1/automations/{automation_id}", "get"),
    ("/v1/automations/{automation_id}", "put"),
    ("/v1/automations/{automation_id}", "patch"),
    ("/v1/automations/{automation_id}", "delete"),
    ("/v1/automations/{automation_id}/activate", "post"),
    ("/v1/automations/{automation_id}/deactivate", "post"),
    ("/v1/automations/{automation_id}/duplicate", "post"),
    ("/v1/automations/{automation_id}/versions", "get"),
    ("/v1/automations/{automation_id}/stats", "get"),
    ("/v1/automations/{automation_id}/preview", "post"),
    ("/v1/automations/{automation_id}/test-email", "post"),
    ("/v1/runs", "get"),
    ("/v1/runs/{run_id}", "get"),
    ("/v1/templates", "get"),
    ("/v1/contacts/{person}", "get"),
}


def test_the_openapi_document_is_valid_and_describes_every_route(stack: Stack) -> None:
    status, document = call("GET", "/v1/openapi.json")
    assert status == 200
    validate(document)
    assert document["openapi"].startswith("3.")
    routes = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes >= SECTION_5
    api_key = document["components"]["securitySchemes"]["apiKey"]
    assert api_key == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert document["security"] == [{"apiKey": []}]
    for path, method in SECTION_5:
        answers = document["paths"][path][method]["responses"]
        [ok] = [code for code in answers if code.startswith("2")]
        assert answers[ok]["content"]["application/json"]["schema"], (path, method)
    created = document["paths"]["/v1/automations"]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AutomationSummary"}
    assert created["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    stats_op = document["paths"]["/v1/automations/{automation_id}/stats"]["get"]
    assert {p["name"] for p in stats_op["parameters"]} == {"automation_id", "from", "to", "interval"}
    assert "404" in stats_op["responses"]


def test_the_swagger_page_and_the_language_schema_are_served(stack: Stack) -> None:
    status, page = call("GET", "/v1/swagger")
    assert status == 200 and "<html" in page.lower() and "swagger" in page.lower()
    status, schema = call("GET", "/v1/schema")
    assert status == 200 and schema["$id"].endswith("automation.schema.json")


def test_dates_in_answers_are_iso_8601(stack: Stack) -> None:
    body = create(example(OVERDUE))
    assert date.fromisoformat(body["created_at"][:10]) == stack.clock.now().date()


# --- the CLI against the handlers -------------------------------------------------------------------------


def handler_transport(
    method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float
) -> tuple[int, bytes]:
    """The CLI's HTTP, answered by the real handlers (manage_api, and ingest_trigger for /v1/events)."""
    parts = urlsplit(url)
    request = load_event("apigw_post_event.json")
    query = dict(parse_qsl(parts.query)) or None
    request.update(
        httpMethod=method,
        path=unquote(parts.path),
        resource=parts.path,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=data.decode() if data is not None else None,
    )
    request["headers"]["x-api-key"] = headers["x-api-key"]
    target = INGEST if parts.path == "/v1/events" else API
    response = target.handler(request, LambdaContextStub())
    return int(response["statusCode"]), response["body"].encode()


def test_the_cli_applies_sends_and_reads_through_the_api(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from automations_cli import app
    from automations_cli import client as cli_client
    from typer.testing import CliRunner

    monkeypatch.setattr(cli_client, "transport", handler_transport)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def cli(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        # The handlers' own log and metric lines share stdout here: the CLI's answer starts on a line of its own.
        lines = result.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line in ("{", "["))
        return json.loads("\n".join(lines[start:]))

    # Given the examples applied from their directory
    applied = cli("apply", str(EXAMPLES))
    assert {r["action"] for r in applied} == {"created"}
    assert len(applied) == len(list(EXAMPLES.glob("*.yaml")))
    # When they are applied again, then nothing changes
    assert {r["action"] for r in cli("apply", str(EXAMPLES))} == {"unchanged"}
    # When one of them changes, then only that one gets a new version
    changed = example(OVERDUE)
    changed["steps"][0] = {"delay": "4d"}
    (tmp_path / f"{OVERDUE}.yaml").write_text(yaml.safe_dump(changed))
    [update] = cli("apply", str(tmp_path / f"{OVERDUE}.yaml"))
    assert (update["action"], update["version"]) == ("updated", 2)
    # When an event is sent, its run and timeline can be read, and the stats count it
    [event] = cli("send", str(EXAMPLE_EVENTS / f"{OVERDUE}.json"))["events"]
    [run_id] = event["runs"]
    assert [r["id"] for r in cli("runs", "--automation", OVERDUE)["runs"]] == [run_id]
    run = cli("run", run_id)
    assert [d["kind"] for d in run["timeline"]] == ["started", "wait"] and run["version"] == 2
    assert cli("stats", OVERDUE)["totals"]["runs_started"] == 1
    # And the rich views render without error
    for args in (["list"], ["show", OVERDUE], ["stats", OVERDUE], ["run", run_id], ["templates"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert "wait" in runner.invoke(app, ["run", run_id]).stdout
