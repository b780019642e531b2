"""The ports the services speak to (DESIGN.md §2): protocols over domain values, their values and their errors.

Adapters (:mod:`automations.adapters`) implement them over AWS; ``tests/support/fakes.py`` implements each in
memory; :mod:`automations.bootstrap` is the one place that builds the adapters into :class:`Ports`.
"""

from __future__ import annotations

from dataclasses import dataclass

from automations.ports.errors import (
    ConflictError,
    NotFoundError,
    SendError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
    SkippedError,
)
from automations.ports.protocols import (
    AutomationStore,
    Clock,
    CounterStore,
    EmailQueue,
    EmailSender,
    EventStore,
    MessageStore,
    RunStore,
    Scheduler,
    Secrets,
    StatsStore,
    SuppressionStore,
)
from automations.ports.values import (
    SCOPES,
    WHOLE,
    AutomationInfo,
    EmailRecord,
    Locks,
    OutgoingEmail,
    PreparedEmail,
    RouteInfo,
    Silence,
    StoredEvent,
    StoredRun,
    Suppression,
    VersionInfo,
    message_id_for,
    normalize_address,
)


@dataclass
class Ports:
    """Every port of one workspace, as the services receive them."""

    automations: AutomationStore
    events: EventStore
    runs: RunStore
    counters: CounterStore
    messages: MessageStore
    suppressions: SuppressionStore
    stats: StatsStore
    scheduler: Scheduler
    email_queue: EmailQueue
    email_sender: EmailSender
    secrets: Secrets
    clock: Clock


__all__ = [
    "SCOPES",
    "WHOLE",
    "AutomationInfo",
    "AutomationStore",
    "Clock",
    "ConflictError",
    "CounterStore",
    "EmailQueue",
    "EmailRecord",
    "EmailSender",
    "EventStore",
    "Locks",
    "MessageStore",
    "NotFoundError",
    "OutgoingEmail",
    "Ports",
    "PreparedEmail",
    "RouteInfo",
    "RunStore",
    "Scheduler",
    "Secrets",
    "SendError",
    "SendOutcomeUnknownError",
    "SendRejectedError",
    "SendTransientError",
    "Silence",
    "SkippedError",
    "StatsStore",
    "StoredEvent",
    "StoredRun",
    "Suppression",
    "SuppressionStore",
    "VersionInfo",
    "message_id_for",
    "normalize_address",
]
