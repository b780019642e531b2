"""Evaluating conditions against a run's context: dotted paths, typed comparisons, missing fields."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automations.language.instants import parse_instant
from automations.language.model import All, AnyOf, Condition, Leaf

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>", "__bool__": lambda self: False})()


def resolve(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``data.items.0.id``), or ``MISSING``. ``None`` counts as missing."""
    current: Any = context
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return MISSING if current is None else current


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if not (isinstance(value, float) and math.isnan(value)) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) or math.isinf(number) else number
    return None


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Both sides as numbers, else as instants, else as strings of the same kind; None when incomparable."""
    if (isinstance(left, int | float) and not isinstance(left, bool)) or (
        isinstance(right, int | float) and not (isinstance(right, bool))
    ):
        a, b = _number(left), _number(right)
        return (a, b) if a is not None and b is not None else None
    a_t, b_t = parse_instant(left), parse_instant(right)
    if a_t is not None and b_t is not None:
        return a_t, b_t
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    return None


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or (isinstance(left, bool) and isinstance(right, bool) and left == right)
    pair = _comparable(left, right)
    if pair is not None:
        return bool(pair[0] == pair[1])
    return bool(left == right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(_equal(element, item) for element in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    if isinstance(container, Mapping) and isinstance(item, str):
        return item in container
    return False


def _is_empty(value: Any) -> bool:
    return value is MISSING or value == "" or (isinstance(value, list | dict) and not value)


def _order(left: Any, right: Any, op: str) -> bool:
    pair = _comparable(left, right)
    if pair is None:
        return False
    a, b = pair
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def compare(actual: Any, op: str, expected: Any) -> bool:
    """One operator applied to a resolved field value (``MISSING`` when absent)."""
    if op == "not_exists":
        return actual is MISSING
    if op == "is_empty":
        return _is_empty(actual)
    if actual is MISSING:
        return False
    if op == "exists":
        return True
    if op == "is_not_empty":
        return not _is_empty(actual)
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op in {"gt", "gte", "lt", "lte"}:
        return _order(actual, expected, op)
    if op in {"in", "not_in"}:
        candidates = actual if isinstance(actual, list) else [actual]
        found = any(_contains(expected, candidate) for candidate in candidates)
        return found if op == "in" else not found
    if op == "contains":
        return _contains(actual, expected)
    if op == "not_contains":
        return not _contains(actual, expected)
    if op == "starts_with":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    if op == "ends_with":
        return isinstance(actual, str) and isinstance(expected, str) and actual.endswith(expected)
    if op in {"before", "after"}:
        a, b = parse_instant(actual), parse_instant(expected)
        if a is None or b is None:
            return False
        return a < b if op == "before" else a > b
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True)
class Check:
    """One leaf as evaluated: what was compared, for the run's decision log."""

    field: str
    op: str
    expected: Any
    actual: Any
    result: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "op": self.op,
            "value": self.expected,
            "actual": None if self.actual is MISSING else self.actual,
            "missing": self.actual is MISSING,
            "result": self.result,
        }


def evaluate_leaf(leaf: Leaf, context: Mapping[str, Any]) -> Check:
    actual = resolve(context, leaf.field)
    return Check(leaf.field, leaf.op, leaf.value, actual, compare(actual, leaf.op, leaf.value))


def explain(condition: Condition, context: Mapping[str, Any]) -> tuple[bool, list[Check]]:
    """The result of a condition and every leaf that was evaluated to reach it (short-circuiting)."""
    checks: list[Check] = []

    def walk(node: Condition) -> bool:
        if isinstance(node, All):
            return all(walk(child) for child in node.all)
        if isinstance(node, AnyOf):
            return any(walk(child) for child in node.any)
        check = evaluate_leaf(node, context)
        checks.append(check)
        return check.result

    return walk(condition), checks


def evaluate(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Whether the condition holds for the context."""
    return explain(condition, context)[0]
