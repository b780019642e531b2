"""Clock: the time in UTC, never going back."""

from __future__ import annotations

from datetime import timedelta

from automations.ports import Ports


def test_the_time_is_utc_and_never_goes_back(ports: Ports) -> None:
    first = ports.clock.now()
    second = ports.clock.now()

    assert first.utcoffset() == timedelta(0)
    assert second >= first
