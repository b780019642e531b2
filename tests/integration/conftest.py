"""Integration fixtures: a moto account with the template's resources, and the handlers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
import botocore.session
import pytest

from tests.support.aws import Stack, aws_stack
from tests.support.iam import RequestLog
from tests.support.recorder import AwsTap

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_LOADER = functools.cache(botocore.loaders.create_loader)

#: Every AWS request the handlers made in this session's integration tests, for the permissions proof.
HANDLER_REQUESTS = RequestLog()
#: Lines for the end of the run: what the fault injection and the permissions proof covered.
SUMMARY: list[str] = []
#: Injection points played, and how many of them ended consistent (all scenarios of the run).
FAULT_POINTS = {"points": 0, "consistent": 0}
#: Runs after every other integration test, so that it sees their requests.
LAST = "test_every_request_the_integration_tests_made_is_allowed"


@pytest.fixture(autouse=True)
def _one_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test speed only: every botocore session (pynamodb makes one per model and per stack) shares one
    loader of AWS's JSON service models, read once per test run instead of once per client."""
    monkeypatch.setattr(botocore.session, "create_loader", _LOADER)


@pytest.fixture(autouse=True)
def aws_tap(monkeypatch: pytest.MonkeyPatch) -> AwsTap:
    """The AWS requests of the handlers (``functions/<name>/app.py`` on the stack), each kept for the
    permissions proof; a test may also fail one of them (see :class:`~tests.support.recorder.Fault`)."""
    tap = AwsTap()
    tap.on_request.append(HANDLER_REQUESTS.record)
    tap.install(monkeypatch)
    return tap


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with aws_stack(monkeypatch, START) as created:
        yield created


@pytest.fixture
def summary() -> Callable[[str], None]:
    """Add a line to the summary shown at the end of the run."""
    return SUMMARY.append


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.name == LAST]
    items[:] = [item for item in items if item.name != LAST] + last


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("fault injection and permissions")
        if FAULT_POINTS["points"]:
            terminalreporter.write_line(
                f"fault injection: {FAULT_POINTS['points']} points, {FAULT_POINTS['consistent']} consistent"
            )
        for line in SUMMARY:
            terminalreporter.write_line(line)
