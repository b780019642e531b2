"""Creating the template's resources in moto (tests and the local stack), named as the settings say."""

from __future__ import annotations

from typing import Any

from automations.local.template import resources_of, setting_for_resource
from automations.settings import Settings


def table_definitions(template: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """``create_table`` arguments for every DynamoDB table of the template, with the settings' names."""
    out = []
    for logical_id, resource in resources_of(template, "AWS::DynamoDB::Table").items():
        setting = setting_for_resource(template, logical_id)
        if setting is None:
            raise LookupError(f"no environment variable names table {logical_id}")
        props = resource["Properties"]
        spec: dict[str, Any] = {
            "TableName": getattr(settings, setting),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ttl = props.get("TimeToLiveSpecification")
        out.append({"create": spec, "ttl": ttl})
    return out


def create_tables(template: dict[str, Any], settings: Settings, dynamodb: Any) -> list[str]:
    """Create the tables (idempotent) and their TTL settings; returns their names."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = []
    for definition in table_definitions(template, settings):
        spec = definition["create"]
        names.append(spec["TableName"])
        if spec["TableName"] in existing:
            continue
        dynamodb.create_table(**spec)
        if definition["ttl"]:
            dynamodb.update_time_to_live(TableName=spec["TableName"], TimeToLiveSpecification=definition["ttl"])
    return names
