"""The sparse index of runs that have not ended: a run is in it while it waits, and leaves it when it ends, so
deactivating a busy automation reads its waiting runs, never its months of ended ones."""

from __future__ import annotations

import json
from typing import Any

import boto3
from automations.services import lifecycle

from tests.conftest import load_event
from tests.support.aws import REGION, LambdaContextStub, Stack, load_handler
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")
AUTOMATION = "overdue-invoice-reminder"


def post(event: dict[str, Any]) -> None:
    request = load_event("apigw_post_event.json")
    request["body"] = json.dumps(event)
    assert INGEST.handler(request, LambdaContextStub())["statusCode"] == 202


def indexed(stack: Stack) -> list[str]:
    """The run ids the "waiting" index holds, read as DynamoDB holds them."""
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.scan(TableName=stack.settings.runs_table, IndexName="waiting")["Items"]
    return sorted(item["pk"]["S"].rsplit("#", 1)[-1] for item in items)


def test_a_run_is_in_the_waiting_index_until_it_ends(stack: Stack) -> None:
    # Given two waiting runs of an automation, and one that a cancelling event ended
    activate(stack, AUTOMATION)
    for invoice in ("inv_1", "inv_2", "inv_3"):
        post(sample(AUTOMATION, f"evt_{invoice}", data__invoice__id=invoice))
    post(sample(AUTOMATION, "evt_paid", type="invoice.paid", data__invoice__id="inv_3"))
    runs = {run.id: run for run in stack.deps.runs.by_automation(AUTOMATION)}
    waiting = sorted(run_id for run_id, run in runs.items() if not run.status.ended)
    assert len(runs) == 3 and len(waiting) == 2
    # Then only the waiting runs are in the index, and they are what deactivation reads
    assert indexed(stack) == waiting
    assert sorted(stored.state.id for stored in stack.deps.runs.waiting_of(AUTOMATION)) == waiting
    # When the automation is deactivated, its waiting runs end, and the index is empty
    lifecycle.deactivate(stack.deps, AUTOMATION, stack.clock.now())
    assert indexed(stack) == []
    assert list(stack.deps.runs.waiting_of(AUTOMATION)) == []
    assert {run.status.value for run in stack.deps.runs.by_automation(AUTOMATION)} == {"cancelled"}
