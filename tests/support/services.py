"""The services on the in-memory fakes: a workspace a unit test drives by hand, in milliseconds.

:class:`World` holds the fakes and the services' :class:`~automations.services.deps.Deps` over them; its
methods do what the entry points do (create an automation, post events, let time pass and fire the schedules
that fall due), so that a test reads as the story it checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from automations.engine import RunState
from automations.events import parse_events
from automations.ports import WHOLE
from automations.services import lifecycle
from automations.services.deps import Deps
from automations.services.ingest import EventResult, ingest, silence_over
from automations.services.runner import StepResult, evaluate_step
from automations.settings import Settings

from tests.support.fakes import Fakes
from tests.support.settings import settings_with

SENDER = "hello@acme.example"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/automations-email"

#: An email to the event's contact: the step most automations of these tests end with.
WELCOME: dict[str, Any] = {
    "id": "welcome",
    "send_email": {
        "to": {"trigger_contact": True},
        "subject": "Hello {{ contact.first_name | default('there') }}",
        "html": "<p>Hello</p>",
    },
}


def automation(automation_id: str, event: str, *steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An active automation of ``event`` (person: ``contact.id``) with these steps (one email by default)."""
    return {
        "id": automation_id,
        "name": automation_id.replace("-", " ").capitalize(),
        "status": "active",
        "trigger": {"event": event},
        "person": "contact.id",
        "steps": list(steps) or [WELCOME],
        **fields,
    }


def event(
    event_type: str, event_id: str, person: str = "c_1", *, at: datetime | None = None, **data: Any
) -> dict[str, Any]:
    """A trigger event for a person (``{person}@example.com``) with ``data``."""
    body: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "contact": {"id": person, "email": f"{person}@example.com", "first_name": person.upper()},
        "data": data,
    }
    if at is not None:
        body["occurred_at"] = at.isoformat()
    return body


@dataclass
class World:
    """One workspace on the fakes, and the services' dependencies over them."""

    fakes: Fakes = field(default_factory=Fakes)
    settings: Settings = field(default_factory=lambda: settings_with(sender_address=SENDER, email_queue_url=QUEUE))
    deps: Deps = field(init=False)

    def __post_init__(self) -> None:
        self.deps = Deps.of(
            self.fakes.ports, self.settings, ports_of=self.fakes.ports_of, workspace_store=self.fakes.workspaces
        )

    @property
    def now(self) -> datetime:
        return self.fakes.clock.now()

    def create(self, definition: dict[str, Any]) -> str:
        """Store an automation as the management API does (active ones checked and routed); its id."""
        return lifecycle.create(self.deps, definition, self.now).id

    def post(self, *bodies: dict[str, Any]) -> list[EventResult]:
        """Ingest valid trigger events, as one request, now."""
        return ingest(self.deps, parse_events({"events": list(bodies)}), self.now)

    def runs_of(self, result: EventResult) -> list[RunState]:
        return [self.deps.runs.get(run_id).state for run_id in result.runs]

    def run(self, run_id: str) -> RunState:
        return self.deps.runs.get(run_id).state

    def later(self, delta: timedelta) -> list[StepResult]:
        """Let time pass, then fire every schedule due by then (the ones their firing makes due too)."""
        self.fakes.clock.advance(delta)
        results: list[StepResult] = []
        while due := self.fakes.scheduler.due(self.now):
            results += [self.fire(payload) for _, payload in due]
        return results

    def fire(self, payload: dict[str, Any]) -> StepResult:
        """What ``evaluate_step`` does with a schedule's payload, now."""
        if payload["kind"] == "silence":
            return silence_over(self.deps, payload, self.now)
        return evaluate_step(self.deps, payload, self.now)

    def schedules(self) -> dict[str, tuple[datetime, dict[str, Any]]]:
        """The pending schedules by name: when each fires, and its payload."""
        return dict(self.fakes.scheduler.schedules)

    def emails(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """The emails queued since the last look, as (automation, step, recipients); taken off the queue."""
        return [(m["automation_id"], m["step"], tuple(m["recipients"])) for m in self.fakes.email_queue.drain()]

    def counters(self, automation_id: str) -> dict[str, int]:
        """The automation's counters as a whole, every day summed; only the ones that are not 0."""
        return {name: value for name, value in self.deps.stats.read(automation_id)[WHOLE].items() if value}
