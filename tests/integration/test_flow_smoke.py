"""The whole flow once: an automation activated, an event over API Gateway, the delay fired, an email queued."""

from __future__ import annotations

import json
from datetime import timedelta

from automations.services import lifecycle

from tests.conftest import EXAMPLES, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler


def test_overdue_invoice_from_api_gateway_to_queued_email(stack: Stack) -> None:
    # Given the overdue-invoice example, active
    lifecycle.create(stack.deps, (EXAMPLES / "overdue-invoice-reminder.yaml").read_text(), stack.clock.now())
    ingest = load_handler("ingest_trigger")
    evaluate = load_handler("evaluate_step")
    # When the app posts an overdue invoice through API Gateway
    response = ingest.handler(load_event("apigw_post_event.json"), LambdaContextStub())
    # Then it is accepted, a run started and waits on a schedule three days out
    assert response["statusCode"] == 202
    body = json.loads(response["body"])
    [result] = body["events"]
    assert result["status"] == "accepted" and len(result["runs"]) == 1
    [schedule] = stack.schedules()
    assert schedule["ScheduleExpression"] == "at(2026-11-27T10:00:00)"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert stack.queued_emails() == []
    # When the schedule fires three days later
    stack.clock.offset = timedelta(days=3)
    out = evaluate.handler(schedule["Input"], LambdaContextStub())
    # Then the run went on and queued the reminder for the client and the owner
    assert out["status"] == "advanced", out
    [email] = stack.queued_emails()
    assert email["recipients"] == ["ana@example.com", "owner@acme.example"]
    assert email["subject"] == "Invoice 2026-117 is overdue"
    run = stack.deps.runs.get(result["runs"][0]).state
    assert run.status.value == "completed"
