"""Building automations and trigger events for the tests from the examples."""

from __future__ import annotations

import json
from typing import Any

import yaml
from automations.services import lifecycle

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES
from tests.support.aws import Stack


def definition(example: str, **changes: Any) -> dict[str, Any]:
    """An example definition, with some top-level fields changed."""
    found: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    found.update(changes)
    return found


def activate(stack: Stack, example: str, **changes: Any) -> str:
    """Create an example automation as an active one (with some top-level fields changed); its id."""
    created = definition(example, **changes)
    lifecycle.create(stack.deps, created, stack.clock.now())
    return str(created["id"])


def sample(example: str, event_id: str, **fields: Any) -> dict[str, Any]:
    """An example event with a new id; ``fields`` set dotted paths (``data__invoice__id="inv_9"``)."""
    event: dict[str, Any] = json.loads((EXAMPLE_EVENTS / f"{example}.json").read_text())
    event["id"] = event_id
    for dotted, value in fields.items():
        *parents, leaf = dotted.split("__")
        target = event
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return event
