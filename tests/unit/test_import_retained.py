"""The files that re-attach a stage's retained tables and secret to a new stack (CloudFormation IMPORT)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from automations_local.template import load_template, resources_of

from scripts import import_retained
from tests.conftest import TEMPLATE

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:UnsubscribeSecret-AbCdEf"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_the_import_template_holds_the_retained_resources_as_the_stack_declares_them(template: dict[str, Any]) -> None:
    body, to_import = import_retained.import_files(template, "prod", SECRET)
    tables = resources_of(template, "AWS::DynamoDB::Table")
    # Exactly the tables and the secret, each as infra/template.yaml declares it (import needs Retain)
    assert set(body["Resources"]) == {*tables, "UnsubscribeSecret"}
    for logical_id, resource in body["Resources"].items():
        assert resource == template["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "Retain"
    # The parameters the resources refer to, as the stack declares them (the stage; the runs' index projection)
    assert body["Parameters"] == {name: template["Parameters"][name] for name in ("Stage", "RunsIndexProjection")}
    # And each is identified by its physical name in that stage (the secret by its ARN)
    identifiers = {entry["LogicalResourceId"]: entry["ResourceIdentifier"] for entry in to_import}
    assert identifiers["RunsTable"] == {"TableName": "automations-prod-runs"}
    assert identifiers["UnsubscribeSecret"] == {"Id": SECRET}
    assert len(identifiers) == len(tables) + 1


def test_without_the_secret_only_the_tables_are_imported(template: dict[str, Any]) -> None:
    body, to_import = import_retained.import_files(template, "prod")
    assert "UnsubscribeSecret" not in body["Resources"]
    assert {entry["ResourceType"] for entry in to_import} == {"AWS::DynamoDB::Table"}


def test_the_command_writes_the_files_and_prints_the_change_set_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert import_retained.main(["--stage", "prod", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "template.json").read_text())["Resources"]
    assert json.loads((tmp_path / "resources.json").read_text())
    printed = capsys.readouterr().out
    assert "--change-set-type IMPORT" in printed and "--stack-name automations-prod" in printed
    assert "ParameterKey=Stage,ParameterValue=prod" in printed
    with pytest.raises(SystemExit):
        import_retained.main(["--stage", "Prod_1", "--out", str(tmp_path)])
