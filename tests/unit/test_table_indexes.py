"""The indexes the code queries are the template's: every index of a table model exists on its table in the
template, with the same keys and projection (the local stack and the tests create the tables from the template)."""

from __future__ import annotations

from typing import Any

import pytest
from automations.adapters.dynamodb.tables import MODELS
from automations_local.template import load_template, resources_of, setting_for_resource
from pynamodb.indexes import GlobalSecondaryIndex

from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's tables' properties, by the setting that names the table."""
    return {
        str(setting_for_resource(template, logical_id)): resource["Properties"]
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
