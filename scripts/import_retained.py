"""Re-attach a stage's retained resources to a new stack: the files of a CloudFormation IMPORT change set.

The tables (and, when its ARN is given, the unsubscribe secret) outlive ``sam delete``: deploying the same
stage again fails with "already exists". CloudFormation can adopt them instead, with a change set of type
IMPORT whose template holds exactly the resources to import, as infra/template.yaml declares them::

    python -m scripts.import_retained --stage prod --out .aws-sam/import [--secret-arn ARN]

writes ``template.json`` (the import template) and ``resources.json`` (each resource's identifier), and prints
the ``aws cloudformation`` commands that create the stack from them; ``sam deploy`` of the whole template on
that stack then adds everything else (docs/operations.md, "Deploying a stage again").
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from automations_local.cfn import Intrinsics
from automations_local.template import load_template, resources_of

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"


def import_files(
    template: dict[str, Any], stage: str, secret_arn: str | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """The import template and the resources to import, for one stage."""
    intrinsics = Intrinsics(template, parameters={"Stage": stage})
    resources: dict[str, Any] = {}
    to_import: list[dict[str, Any]] = []
    for logical_id, table in resources_of(template, "AWS::DynamoDB::Table").items():
        resources[logical_id] = table
        name = str(intrinsics.resolve(table["Properties"]["TableName"]))
        to_import.append(
            {
                "ResourceType": "AWS::DynamoDB::Table",
                "LogicalResourceId": logical_id,
                "ResourceIdentifier": {"TableName": name},
            }
        )
    if secret_arn:
        logical_id = "UnsubscribeSecret"  # the key of every unsubscribe link already mailed
        resources[logical_id] = resources_of(template, "AWS::SecretsManager::Secret")[logical_id]
        to_import.append(
            {
                "ResourceType": "AWS::SecretsManager::Secret",
                "LogicalResourceId": logical_id,
                "ResourceIdentifier": {"Id": secret_arn},
            }
        )
    for logical_id, resource in resources.items():
        if resource.get("DeletionPolicy") != "Retain":
            raise ValueError(f"{logical_id} is not retained: it cannot have outlived a stack")
    # Every parameter the imported resources refer to (the stage; the runs' indexes' projection), as declared
    referred = {"Stage"} | set(_refs(resources)) & set(template["Parameters"])
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{template.get('Description', '')} (retained resources, imported)",
        "Parameters": {name: template["Parameters"][name] for name in sorted(referred)},
        "Resources": resources,
    }
    return body, to_import


def _refs(value: Any) -> list[str]:
    """The names a value refers to with ``Ref`` (and ``${Name}`` in ``Fn::Sub``)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return [str(value["Ref"])]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.findall(r"\$\{([^}!.]+)\}", value["Fn::Sub"])
        return [name for item in value.values() for name in _refs(item)]
    if isinstance(value, list):
        return [name for item in value for name in _refs(item)]
    return []


def commands(stack: str, stage: str, out: Path) -> list[str]:
    name = "import-retained"
    base = f"aws cloudformation {{}} --stack-name {shlex.quote(stack)}"
    return [
        base.format("create-change-set")
        + f" --change-set-name {name} --change-set-type IMPORT"
        + f" --template-body file://{out / 'template.json'} --resources-to-import file://{out / 'resources.json'}"
        + f" --parameters ParameterKey=Stage,ParameterValue={shlex.quote(stage)}",
        base.format("wait change-set-create-complete") + f" --change-set-name {name}",
        base.format("execute-change-set") + f" --change-set-name {name}",
        base.format("wait stack-import-complete"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.import_retained", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="the stage whose resources outlived their stack")
    parser.add_argument("--stack-name", default=None, help="the new stack (default: automations-<stage>)")
    parser.add_argument(
        "--secret-arn", default=None, help="the retained unsubscribe secret's ARN (links sent keep working)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".aws-sam" / "import", help="where to write the files")
    args = parser.parse_args(argv)
    template = load_template(TEMPLATE)
    pattern = str(template["Parameters"]["Stage"]["AllowedPattern"])
    if not re.fullmatch(pattern, args.stage):
        parser.error(f"--stage must match {pattern}")
    body, to_import = import_files(template, args.stage, args.secret_arn)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "template.json").write_text(json.dumps(body, indent=1) + "\n")
    (args.out / "resources.json").write_text(json.dumps(to_import, indent=1) + "\n")
    stack = args.stack_name or f"automations-{args.stage}"
    sys.stdout.write("\n".join(commands(stack, args.stage, args.out)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
