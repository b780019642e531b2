"""The stack's EventBridge bus: ``PutEvents``, ten entries per request; an entry EventBridge refuses makes the
whole put fail (transient: putting every entry again is safe, ingest takes an event id once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automations.adapters.failures import CloudUnavailableError
from automations.ports import BusEntry

#: EventBridge's most entries per PutEvents request.
BATCH = 10


class BusNotConfiguredError(RuntimeError):
    """The function has no bus to put events on (EVENT_BUS_NAME is not set)."""


@dataclass
class EventBridgeBus:
    """:class:`automations.ports.EventBus` on the bus named ``bus_name`` (its client made on first use)."""

    make_client: Callable[[], Any]
    bus_name: str
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.make_client()
        return self._client

    def put(self, entries: Sequence[BusEntry]) -> None:
        items = list(entries)
        if items and not self.bus_name:
            raise BusNotConfiguredError("no event bus is configured (EVENT_BUS_NAME)")
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            answer = self.client.put_events(Entries=[entry.as_entry(self.bus_name) for entry in chunk])
            failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
            if answer.get("FailedEntryCount") or failed:
                codes = sorted({str(e.get("ErrorCode")) for e in failed})
                raise CloudUnavailableError(f"{len(failed)} of {len(chunk)} bus events not put: {', '.join(codes)}")
