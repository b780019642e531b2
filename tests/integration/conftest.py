"""Integration fixtures: a moto account with the template's resources, and the handlers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.aws import Stack, aws_stack

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with aws_stack(monkeypatch, START) as created:
        yield created
