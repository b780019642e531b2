"""The dependencies a service needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automations.adapters.clock import Clock
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
        """Built by :func:`automations.bootstrap.build_deps`, the one place that builds adapters."""
        from automations.bootstrap import build_deps

        return build_deps(settings, the_clock=the_clock)

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
