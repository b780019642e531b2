"""Secrets: a secret's value by its ARN."""

from __future__ import annotations

import pytest
from automations.ports import NotFoundError, Ports

from tests.contract.conftest import Backend


def test_a_secret_is_read_by_its_arn(backend: Backend, ports: Ports) -> None:
    arn = backend.add_secret("unsubscribe", "s3cret ✓")

    assert ports.secrets.get(arn) == "s3cret ✓"
    assert ports.secrets.get(arn) == "s3cret ✓"


def test_an_unknown_secret_is_not_found(backend: Backend, ports: Ports) -> None:
    arn = backend.add_secret("known", "x")

    with pytest.raises(NotFoundError):
        ports.secrets.get(arn.replace("known", "unknown"))
