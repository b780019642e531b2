"""The sparse index of runs that have not ended: a run is in it while it waits, and leaves it when it ends, so
deactivating a busy automation reads its waiting runs, never its months of ended ones."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
from automations.adapters.dynamodb.runs import DynamoRunStore
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


def test_the_index_holds_the_runs_keys_only_and_a_run_is_read_whole(stack: Stack) -> None:
    # Given a waiting run
    activate(stack, AUTOMATION)
    post(sample(AUTOMATION, "evt_keys", data__invoice__id="inv_keys"))
    client = boto3.client("dynamodb", region_name=REGION)
    # Then each of the runs' indexes holds its keys and nothing else (a save that keeps them writes no entry)
    for index in ("waiting", "by_automation", "by_person"):
        [entry] = client.scan(TableName=stack.settings.runs_table, IndexName=index)["Items"]
        assert set(entry) <= {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"}, index
    # And the readers of the indexes give the whole run, as stored
    [stored] = stack.deps.runs.waiting_of(AUTOMATION)
    assert stored == stack.deps.runs.get(stored.state.id)
    assert list(stack.deps.runs.by_automation(AUTOMATION)) == [stored.state]


def test_a_run_stored_before_states_were_packed_is_read_and_packed_by_its_next_save(stack: Stack) -> None:
    # Given a waiting run whose state is plain JSON (as a run was stored before states were packed)
    activate(stack, AUTOMATION)
    post(sample(AUTOMATION, "evt_plain", data__invoice__id="inv_plain"))
    [stored] = stack.deps.runs.waiting_of(AUTOMATION)
    client = boto3.client("dynamodb", region_name=REGION)
    [item] = client.scan(TableName=stack.settings.runs_table)["Items"]
    assert "packed" in item and "state" not in item
    del item["packed"]
    item["state"] = {"S": json.dumps(stored.state.model_dump(mode="json"))}
    client.put_item(TableName=stack.settings.runs_table, Item=item)
    # Then it reads as it was
    assert stack.deps.runs.get(stored.state.id) == stored
    # And ending it stores it packed
    lifecycle.deactivate(stack.deps, AUTOMATION, stack.clock.now())
    [item] = client.scan(TableName=stack.settings.runs_table)["Items"]
    assert "state" not in item and len(item["packed"]["B"]) > 0
    assert stack.deps.runs.get(stored.state.id).state.status.value == "cancelled"


def test_with_plain_states_a_run_is_saved_as_code_from_before_packed_states_reads_it(stack: Stack) -> None:
    # Given a waiting run, and the runs saved plain (RUN_STATE_FORMAT=plain, the first deploy of an upgrade)
    activate(stack, AUTOMATION)
    post(sample(AUTOMATION, "evt_plain_save", data__invoice__id="inv_plain_save"))
    [stored] = stack.deps.runs.waiting_of(AUTOMATION)
    plain = dataclasses.replace(stack.deps, runs=DynamoRunStore(stack.settings.workspace, packed=False))
    # When its next save ends it
    lifecycle.deactivate(plain, AUTOMATION, stack.clock.now())
    # Then it is stored as plain JSON alone, which code from before packed states reads
    client = boto3.client("dynamodb", region_name=REGION)
    [item] = client.scan(TableName=stack.settings.runs_table)["Items"]
    assert "packed" not in item
    assert json.loads(item["state"]["S"])["status"] == "cancelled"
    # And this code reads it too
    assert stack.deps.runs.get(stored.state.id).state.status.value == "cancelled"
