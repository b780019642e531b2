"""The indexes the code queries are the template's: every index of a table model exists on its table in the
template, with the same keys and projection (the local stack and the tests create the tables from the template,
its parameters at their defaults). The runs' indexes take their projection from a parameter: keys only by
default, as the models say, and ``ALL`` for a stack deployed before, whose indexes keep it; the code reads both."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from automations.adapters.dynamodb.tables import MODELS, RunItem
from automations.services import lifecycle
from automations.services.event_input import accept, events_from_body
from automations_local.cfn import Intrinsics
from automations_local.provision import table_definitions
from automations_local.template import load_template, resources_of, setting_for_resource
from pynamodb.indexes import GlobalSecondaryIndex

from tests.conftest import TEMPLATE
from tests.support import aws
from tests.support.flows import activate, sample
from tests.support.settings import settings_with

#: The parameter that sets the projection of the runs' three indexes.
PROJECTION = "RunsIndexProjection"
RUNS_INDEXES = ("by_automation", "by_person", "waiting")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's tables' properties, by the setting that names the table, with the parameters they refer to at
    their defaults (the ones the indexes use; a table's name, built from the stage, is left as it is)."""
    intrinsics = Intrinsics(template)
    return {
        str(setting_for_resource(template, logical_id)): {
            name: value if name == "TableName" else intrinsics.resolve(value)
            for name, value in resource["Properties"].items()
        }
        for logical_id, resource in resources_of(template, "AWS::DynamoDB::Table").items()
    }


def _model_indexes() -> list[Any]:
    return [
        pytest.param(model.setting, value, id=f"{model.__name__}.{value.Meta.index_name}")
        for model in MODELS
        for value in vars(model).values()
        if isinstance(value, GlobalSecondaryIndex)
    ]


@pytest.mark.parametrize(("setting", "index"), _model_indexes())
def test_each_index_of_a_model_is_on_its_table_in_the_template(
    template: dict[str, Any], setting: str, index: Any
) -> None:
    table = _tables(template)[setting]
    found = {entry["IndexName"]: entry for entry in table.get("GlobalSecondaryIndexes", [])}
    meta = index.Meta
    entry = found[meta.index_name]
    keys = {key["KeyType"]: key["AttributeName"] for key in entry["KeySchema"]}
    model = {
        "HASH" if attribute.is_hash_key else "RANGE": name
        for name, attribute in meta.attributes.items()
        if attribute.is_hash_key or attribute.is_range_key
    }
    assert keys == model
    projection = meta.projection
    assert entry["Projection"]["ProjectionType"] == projection.projection_type
    assert sorted(entry["Projection"].get("NonKeyAttributes", [])) == sorted(projection.non_key_attributes or [])
    defined = {definition["AttributeName"] for definition in table["AttributeDefinitions"]}
    assert set(keys.values()) <= defined


def test_the_contacts_table_expires_the_ledger(template: dict[str, Any]) -> None:
    assert _tables(template)["contacts_table"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }


def test_the_runs_indexes_take_their_projection_from_a_parameter_that_allows_all(template: dict[str, Any]) -> None:
    # A stack deployed before the indexes held keys only keeps ALL: CloudFormation cannot change their projection
    parameter = template["Parameters"][PROJECTION]
    assert set(parameter["AllowedValues"]) == {"KEYS_ONLY", "ALL"}
    assert parameter["Default"] == "KEYS_ONLY"
    assert "ALL" in parameter["Description"]
    indexes = template["Resources"]["RunsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert {index["IndexName"]: index["Projection"] for index in indexes} == {
        name: {"ProjectionType": {"Ref": PROJECTION}} for name in RUNS_INDEXES
    }
    # The default is what the models declare
    assert {getattr(RunItem, attribute).Meta.projection.projection_type for attribute in RUNS_INDEXES} == {
        parameter["Default"]
    }


@pytest.mark.parametrize("projection", ["KEYS_ONLY", "ALL"])
def test_the_tables_are_created_with_the_projection_given(template: dict[str, Any], projection: str) -> None:
    settings = settings_with(runs_table="test-runs")
    [runs] = [
        d["create"]
        for d in table_definitions(template, settings, {PROJECTION: projection})
        if d["create"]["TableName"] == "test-runs"
    ]
    assert {index["IndexName"]: index["Projection"] for index in runs["GlobalSecondaryIndexes"]} == {
        name: {"ProjectionType": projection} for name in RUNS_INDEXES
    }


def test_the_runs_are_read_and_ended_through_indexes_that_project_all(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the runs table of a stack deployed before the indexes held keys only
    before = copy.deepcopy(template)
    before["Parameters"][PROJECTION]["Default"] = "ALL"
    monkeypatch.setattr(aws, "load_template", lambda path: before)
    automation = "overdue-invoice-reminder"
    with aws.aws_stack(monkeypatch, datetime(2026, 11, 24, 10, 0, tzinfo=UTC)) as stack:
        client = boto3.client("dynamodb", region_name=aws.REGION)
        described = client.describe_table(TableName=stack.settings.runs_table)["Table"]
        assert {i["Projection"]["ProjectionType"] for i in described["GlobalSecondaryIndexes"]} == {"ALL"}
        # When events start two waiting runs
        activate(stack, automation)
        for invoice in ("inv_1", "inv_2"):
            body = json.dumps(sample(automation, f"evt_{invoice}", data__invoice__id=invoice))
            accept(stack.deps, events_from_body(body, stack.deps.settings.max_event_bytes), stack.clock.now())
        # Then the listings and the waiting runs read them whole, as stored
        waiting = list(stack.deps.runs.waiting_of(automation))
        assert len(waiting) == 2
        assert all(stored == stack.deps.runs.get(stored.state.id) for stored in waiting)
        assert sorted(run.id for run in stack.deps.runs.by_automation(automation)) == sorted(
            stored.state.id for stored in waiting
        )
        # And deactivating the automation ends them
        lifecycle.deactivate(stack.deps, automation, stack.clock.now())
        assert list(stack.deps.runs.waiting_of(automation)) == []
        assert {run.status.value for run in stack.deps.runs.by_automation(automation)} == {"cancelled"}
