"""Reading infra/template.yaml, CloudFormation tags included, so local resources match the deployed ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from automations.settings import ENVIRONMENT


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref X`` becomes ``{"Ref": "X"}``)."""


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)  # type: ignore[no-untyped-call]


def load_template(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return data


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of one type, by logical id."""
    return {name: resource for name, resource in template.get("Resources", {}).items() if resource.get("Type") == kind}


def global_environment(template: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return env


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """Globals' variables merged with the function's own."""
    resource = template["Resources"][logical_id]
    own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {**global_environment(template), **own}


def setting_for_resource(template: dict[str, Any], logical_id: str) -> str | None:
    """The settings field that holds a resource's name: the variable set to ``!Ref`` it, in Globals."""
    for variable, value in global_environment(template).items():
        if value == {"Ref": logical_id} and variable in ENVIRONMENT:
            return ENVIRONMENT[variable]
    for function in resources_of(template, "AWS::Serverless::Function"):
        for variable, value in function_environment(template, function).items():
            if value in ({"Ref": logical_id}, {"Fn::GetAtt": [logical_id, "QueueUrl"]}) and variable in ENVIRONMENT:
                return ENVIRONMENT[variable]
    return None
