"""The clock: the one place that reads the time. The local stack can move it forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, plus an offset that only the local stack ever sets."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> datetime:
        self.offset += delta
        return self.now()


clock = Clock()
