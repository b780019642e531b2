"""The dependencies a service needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from automations.adapters import tables
from automations.adapters.clock import Clock, clock
from automations.adapters.queue import EmailQueue
from automations.adapters.scheduler import Scheduler
from automations.adapters.store import AutomationStore, CounterStore, EventStore, RunStore
from automations.language.loader import load_definition
from automations.language.model import Automation
from automations.settings import Settings


@dataclass
class Deps:
    settings: Settings
    automations: AutomationStore
    events: EventStore
    runs: RunStore
    counters: CounterStore
    scheduler: Scheduler
    email_queue: EmailQueue
    clock: Clock
    clients: dict[str, Any] = field(default_factory=dict)
    _parsed: dict[tuple[str, int], Automation] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, *, the_clock: Clock | None = None) -> Deps:
        tables.bind(settings)
        kwargs: dict[str, Any] = {"region_name": settings.region}
        if settings.endpoint_url:
            kwargs["endpoint_url"] = settings.endpoint_url
        clients = {name: boto3.client(name, **kwargs) for name in ("scheduler", "sqs")}
        ws = settings.workspace
        return cls(
            settings=settings,
            automations=AutomationStore(ws, cache_seconds=settings.automation_cache_seconds),
            events=EventStore(ws),
            runs=RunStore(ws),
            counters=CounterStore(ws),
            scheduler=Scheduler(clients["scheduler"], settings),
            email_queue=EmailQueue(clients["sqs"], settings.email_queue_url),
            clock=the_clock or clock,
            clients=clients,
        )

    def definition(self, automation_id: str, version: int) -> Automation:
        """A version as a validated model; parsed once per process (versions never change)."""
        key = (automation_id, version)
        found = self._parsed.get(key)
        if found is None:
            found = load_definition(self.automations.version(automation_id, version))
            if len(self._parsed) > 256:
                self._parsed.clear()
            self._parsed[key] = found
        return found


_current: Deps | None = None


def get_deps() -> Deps:
    """The process's dependencies, built on first use (not at import) from the settings read once."""
    global _current
    if _current is None:
        from automations.settings import get_settings

        _current = Deps.from_settings(get_settings())
    return _current


def reset_deps() -> None:
    """Forget the process's dependencies (tests and the local stack rebuild them with new settings)."""
    global _current
    _current = None
    from automations.settings import get_settings

    get_settings.cache_clear()
