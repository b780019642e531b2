"""Just enough of CloudFormation's intrinsic functions to read the template's names and settings locally.

``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` (with the template's ``Conditions``), ``Fn::Equals``,
``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Fn::Join``, ``Fn::Select`` and ``{{resolve:...}}`` dynamic references.
A reference to something the local stack did not create raises :class:`UnresolvedError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.errors import AutomationsError

ACCOUNT = "123456789012"
NO_VALUE = object()

_SUB = re.compile(r"\$\{(!?)([^}]+)\}")
_DYNAMIC = re.compile(r"\{\{resolve:([^}]+)\}\}")


class UnresolvedError(AutomationsError):
    """A reference that the local stack cannot resolve (a resource it does not create)."""


@dataclass
class Intrinsics:
    """Resolves the template's values, given the parameters and the physical ids of the created resources."""

    template: dict[str, Any]
    region: str = "us-east-1"
    stack_name: str = "automations-local"
    parameters: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    dynamic: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        for name, spec in self.template.get("Parameters", {}).items():
            if name not in self.parameters and "Default" in spec:
                self.parameters[name] = spec["Default"]

    # --- references ---------------------------------------------------------------------------------------

    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:stack/{self.stack_name}/local",
            "AWS::NoValue": NO_VALUE,
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.template.get("Parameters", {}):
            raise UnresolvedError(f"Ref {name}: a parameter without a default, and no value was given")
        raise UnresolvedError(f"Ref {name}: not created by the local stack")

    def get_att(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        kind = self.template.get("Resources", {}).get(name, {}).get("Type")
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{self.stack_name}-{name}"
        raise UnresolvedError(f"Fn::GetAtt {name}.{attribute}: not created by the local stack")

    # --- conditions ---------------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        conditions: Mapping[str, Any] = self.template.get("Conditions", {})
        if name not in conditions:
            raise UnresolvedError(f"condition {name} is not defined")
        return bool(self.resolve(conditions[name]))

    # --- values -------------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function applied (recursively)."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if isinstance(value, str):
            return self._dynamic(value)
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, arg)] = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda arg: self.ref(str(arg)),
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Equals": lambda arg: self.resolve(arg[0]) == self.resolve(arg[1]),
            "Fn::Not": lambda arg: not self.resolve(arg[0]),
            "Fn::And": lambda arg: all(self.resolve(a) for a in arg),
            "Fn::Or": lambda arg: any(self.resolve(a) for a in arg),
            "Condition": lambda arg: self.condition(str(arg)),
            "Fn::Join": lambda arg: str(self.resolve(arg[0])).join(str(v) for v in self.resolve(arg[1])),
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
        }

    def _get_att(self, arg: Any) -> Any:
        name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
        return self.get_att(str(name), str(attribute))

    def _if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return "${" + match.group(2) + "}"
            name = match.group(2).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return self._dynamic(_SUB.sub(replace, text))

    def _dynamic(self, text: str) -> str:
        if "{{resolve:" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            if self.dynamic is None:
                raise UnresolvedError(f"dynamic reference {match.group(0)}: no resolver")
            return self.dynamic(match.group(1))

        return _DYNAMIC.sub(replace, text)
