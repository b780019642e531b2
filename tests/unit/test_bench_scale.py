"""The scale simulation of ``make bench`` drives the services through the fakes: no automation may fail in it,
or its projected figures would count work that never happened."""

from __future__ import annotations

from typing import Any

import pytest
from automations.observability import logger

from scripts.bench_scale import simulate


def test_a_small_simulation_runs_every_automation_without_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[str] = []

    def record(message: object, *args: Any, **kwargs: Any) -> None:
        failures.append(str(message))

    monkeypatch.setattr(logger, "exception", record)
    monkeypatch.setattr(logger, "error", record)
    outcome = simulate(40)
    assert failures == []
    assert outcome.events > 0
    assert outcome.emails > 0
