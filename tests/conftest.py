"""Shared fixtures: the repository's paths and its example automations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The example automations and their sample events: the template catalog the package ships (one copy only).
CATALOG = ROOT / "layers" / "core" / "automations" / "catalog"
EXAMPLES = CATALOG / "automations"
EXAMPLE_EVENTS = CATALOG / "events"
EVENTS = ROOT / "tests" / "events"
TEMPLATE = ROOT / "infra" / "template.yaml"


def load_event(name: str) -> dict[str, Any]:
    """An AWS-shaped sample event from ``tests/events``."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture
def root() -> Path:
    return ROOT
