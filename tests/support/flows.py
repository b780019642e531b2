"""Building trigger events for the tests from the examples' sample events."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import EXAMPLE_EVENTS


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
