"""What a handler logs and counts: its structured log lines (Powertools' JSON) and its metrics (CloudWatch EMF)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from automations.observability import logger


class LogLines:
    """The structured lines the handlers log (Powertools' JSON, one object a line)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.strip()]

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("message") == message]


@contextmanager
def captured_log_lines() -> Iterator[LogLines]:
    """The lines the package's logger writes while the block runs."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    captured = LogLines()
    previous = handler.setStream(captured.buffer)
    try:
        yield captured
    finally:
        handler.setStream(previous)


def metric_counts(printed: str) -> dict[str, float]:
    """Every metric of the EMF blobs a handler printed (``capsys.readouterr().out``), summed by name."""
    totals: dict[str, float] = {}
    for line in printed.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    return totals
