"""The ports the services speak to (DESIGN.md §2): protocols over domain values, their values and their errors.

Adapters (:mod:`automations.adapters`) implement them over AWS; ``tests/support/fakes.py`` implements each in
memory; :mod:`automations.bootstrap` is the one place that builds the adapters into :class:`Ports`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from automations.ports.errors import (
    ConflictError,
    NotFoundError,
    SendError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
    SkippedError,
    TransientError,
    is_transient,
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
    COUNTERS,
    SCOPES,
    WHOLE,
    AutomationInfo,
    Confirmation,
    EmailRecord,
    FeedbackUpdate,
    FirstTime,
    Locks,
    OutgoingEmail,
    PreparedEmail,
    RouteInfo,
    RunningCount,
    Silence,
    StoredEvent,
    StoredRun,
    Suppression,
    VersionInfo,
    message_id_for,
    normalize_address,
    schedule_name,
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
    #: Whether a failure raised behind these ports is transient (a retry of the whole request may cure it): the
    #: adapters' own classification of their clients' exceptions; :func:`is_transient` for ports that raise
    #: :class:`TransientError`.
    is_transient: Callable[[BaseException], bool] = field(default=is_transient, kw_only=True)


__all__ = [
    "COUNTERS",
    "SCOPES",
    "WHOLE",
    "AutomationInfo",
    "AutomationStore",
    "Clock",
    "Confirmation",
    "ConflictError",
    "CounterStore",
    "EmailQueue",
    "EmailRecord",
    "EmailSender",
    "EventStore",
    "FeedbackUpdate",
    "FirstTime",
    "Locks",
    "MessageStore",
    "NotFoundError",
    "OutgoingEmail",
    "Ports",
    "PreparedEmail",
    "RouteInfo",
    "RunStore",
    "RunningCount",
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
    "TransientError",
    "VersionInfo",
    "is_transient",
    "message_id_for",
    "normalize_address",
    "schedule_name",
]
