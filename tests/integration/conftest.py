"""Integration fixtures: a moto account with the template's resources, and the handlers."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime

import botocore.loaders
import botocore.session
import pytest

from tests.support.aws import Stack, aws_stack

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_LOADER = functools.cache(botocore.loaders.create_loader)


@pytest.fixture(autouse=True)
def _one_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test speed only: every botocore session (pynamodb makes one per model and per stack) shares one
    loader of AWS's JSON service models, read once per test run instead of once per client."""
    monkeypatch.setattr(botocore.session, "create_loader", _LOADER)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with aws_stack(monkeypatch, START) as created:
        yield created
