"""What the engine asks the world to do. The services apply them through ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations.engine.state import RunStatus


@dataclass(frozen=True)
class ScheduleStep:
    """Call the run back at ``due_at`` for ``step`` (a one-time schedule); ``replace`` moves the step's call-back
    if it has one already (``reschedule_on``), else one that exists is kept (a retried pass)."""

    workspace: str
    run_id: str
    step: str
    due_at: datetime
    replace: bool = False


@dataclass(frozen=True)
class CancelSchedule:
    """Drop the pending call-back of a run that waits on ``step``."""

    workspace: str
    run_id: str
    step: str


@dataclass(frozen=True)
class EmailRequest:
    """One email of one step, rendered; each recipient gets its own message."""

    workspace: str
    automation_id: str
    version: int
    run_id: str
    step: str
    type: str
    recipients: tuple[str, ...]
    subject: str
    html: str
    text: str
    from_name: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    person: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    unsubscribe: bool = False
    test: bool = False

    def as_message(self) -> dict[str, Any]:
        """The JSON body of the email queue's message: everything the sender needs, nothing to look up."""
        return {
            "workspace": self.workspace,
            "automation_id": self.automation_id,
            "version": self.version,
            "run_id": self.run_id,
            "step": self.step,
            "type": self.type,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "from_name": self.from_name,
            "from_address": self.from_address,
            "reply_to": self.reply_to,
            "person": self.person,
            "headers": dict(self.headers),
            "unsubscribe": self.unsubscribe,
            "test": self.test,
        }


@dataclass(frozen=True)
class ContactUpdate:
    """Change the person's contact profile, once per run and step (``ledger_key``); its changes become
    ``contact.<change>`` events of ``depth``. ``on_failure`` says whether the run ends when it cannot be made."""

    workspace: str
    run_id: str
    step: str
    person: str
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()
    add_points: int = 0
    add_badges: tuple[str, ...] = ()
    set_fields: dict[str, str | None] = field(default_factory=dict)
    set_attributes: dict[str, Any] = field(default_factory=dict)
    unset_attributes: tuple[str, ...] = ()
    depth: int = 1
    on_failure: str = "stop"

    @property
    def ledger_key(self) -> str:
        return f"{self.run_id}:{self.step}"


@dataclass(frozen=True)
class ActionRequest:
    """An action whose result the steps after it read (``steps.<step>``): done by the services, which then resume
    the run with its result (:func:`automations.engine.resume`). ``values`` are the action's rendered fields."""

    workspace: str
    run_id: str
    step: str
    kind: str  # create_task | issue_coupon
    values: dict[str, Any]
    person: str | None = None
    automation_id: str = ""

    @property
    def claimant(self) -> str:
        """What makes the action once per run and step (a coupon's claimant, a task's id)."""
        return f"{self.run_id}:{self.step}"


@dataclass(frozen=True)
class BusEvent:
    """An event to put on the stack's bus (``put_event``), with an id of its own run and step."""

    workspace: str
    run_id: str
    step: str
    detail_type: str
    data: dict[str, Any]
    contact: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class WebhookCall:
    """A webhook of one step, rendered: the run waits on the step until the call is delivered or fails for good
    (the webhook function then goes on with :func:`automations.engine.resume`). ``body`` is the JSON text sent."""

    workspace: str
    automation_id: str
    run_id: str
    step: str
    url: str
    method: str
    headers: dict[str, str]
    body: str

    @property
    def message_id(self) -> str:
        """The delivery's id, the same on every attempt: ``webhook-id`` and ``Idempotency-Key``."""
        return f"{self.run_id}:{self.step}"

    def as_message(self) -> dict[str, Any]:
        """The JSON body of the webhook queue's message."""
        return {
            "workspace": self.workspace,
            "automation_id": self.automation_id,
            "run_id": self.run_id,
            "step": self.step,
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "body": self.body,
        }


@dataclass(frozen=True)
class Finish:
    """The run ended; ``status`` and ``reason`` are recorded on it."""

    workspace: str
    run_id: str
    status: RunStatus
    reason: str


Effect = ScheduleStep | CancelSchedule | EmailRequest | ContactUpdate | ActionRequest | BusEvent | WebhookCall | Finish
