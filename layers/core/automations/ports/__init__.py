"""The ports the services speak to (DESIGN.md §2): protocols over domain values, their values and their errors.

Adapters (:mod:`automations.adapters`) implement them over AWS; ``tests/support/fakes.py`` implements each in
memory; :mod:`automations.bootstrap` is the one place that builds the adapters into :class:`Ports`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from automations.ports.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SendError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
    SkippedError,
    TransientError,
    UnknownWorkspaceError,
    is_transient,
)
from automations.ports.protocols import (
    AutomationStore,
    Clock,
    ContactStore,
    CounterStore,
    CouponStore,
    EmailQueue,
    EmailSender,
    EventBus,
    EventStore,
    KeyStore,
    MessageStore,
    RunStore,
    Scheduler,
    Secrets,
    StatsStore,
    SuppressionStore,
    TaskStore,
    WebhookClient,
    WebhookQueue,
    WebhookSecretStore,
    WorkspaceStore,
)
from automations.ports.values import (
    BUS_SOURCE,
    CONTACT_FIELDS,
    COUNTERS,
    REPUTATION_COUNTERS,
    ROOT,
    SCOPES,
    SENT_RANK,
    SENT_STATUS,
    TASK_STATUSES,
    TOUCH_INTERVAL,
    WHOLE,
    WORKSPACE_ID,
    ApiKey,
    AutomationInfo,
    BusEntry,
    Confirmation,
    ContactChange,
    ContactListing,
    ContactPatch,
    ContactProfile,
    CouponCounts,
    EmailRecord,
    EventReads,
    FeedbackUpdate,
    FirstTime,
    Locks,
    OutgoingEmail,
    PreparedEmail,
    RouteInfo,
    RunningCount,
    Scope,
    Silence,
    StepCount,
    StoredEvent,
    StoredKey,
    StoredRun,
    Suppression,
    Task,
    VersionInfo,
    WebhookResponse,
    WebhookSecret,
    Workspace,
    message_id_for,
    normalize_address,
    parse_scopes,
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
    contacts: ContactStore
    tasks: TaskStore
    coupons: CouponStore
    webhook_secrets: WebhookSecretStore
    scheduler: Scheduler
    bus: EventBus
    email_queue: EmailQueue
    email_sender: EmailSender
    webhook_queue: WebhookQueue
    webhooks: WebhookClient
    secrets: Secrets
    clock: Clock
    #: Whether a failure raised behind these ports is transient (a retry of the whole request may cure it): the
    #: adapters' own classification of their clients' exceptions; :func:`is_transient` for ports that raise
    #: :class:`TransientError`.
    is_transient: Callable[[BaseException], bool] = field(default=is_transient, kw_only=True)


@dataclass
class AccessPorts:
    """The stores of keys and workspaces, which span workspaces (a presented key names its own), and the clock:
    what the access service and the authorizer receive; and the secrets, where the root key is read (by ARN)."""

    keys: KeyStore
    workspaces: WorkspaceStore
    clock: Clock
    secrets: Secrets | None = None
    #: The ARN of the secret whose value is the stack's root key ("": the stack has no root key).
    root_secret_arn: str = ""


__all__ = [
    "BUS_SOURCE",
    "CONTACT_FIELDS",
    "COUNTERS",
    "REPUTATION_COUNTERS",
    "ROOT",
    "SCOPES",
    "SENT_RANK",
    "SENT_STATUS",
    "TASK_STATUSES",
    "TOUCH_INTERVAL",
    "WHOLE",
    "WORKSPACE_ID",
    "AccessPorts",
    "ApiKey",
    "AutomationInfo",
    "AutomationStore",
    "BusEntry",
    "Clock",
    "Confirmation",
    "ConflictError",
    "ContactChange",
    "ContactListing",
    "ContactPatch",
    "ContactProfile",
    "ContactStore",
    "CounterStore",
    "CouponCounts",
    "CouponStore",
    "EmailQueue",
    "EmailRecord",
    "EmailSender",
    "EventBus",
    "EventReads",
    "EventStore",
    "FeedbackUpdate",
    "FirstTime",
    "InvalidInputError",
    "KeyStore",
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
    "Scope",
    "Secrets",
    "SendError",
    "SendOutcomeUnknownError",
    "SendRejectedError",
    "SendTransientError",
    "Silence",
    "SkippedError",
    "StatsStore",
    "StepCount",
    "StoredEvent",
    "StoredKey",
    "StoredRun",
    "Suppression",
    "SuppressionStore",
    "Task",
    "TaskStore",
    "TransientError",
    "UnknownWorkspaceError",
    "VersionInfo",
    "WebhookClient",
    "WebhookQueue",
    "WebhookResponse",
    "WebhookSecret",
    "WebhookSecretStore",
    "Workspace",
    "WorkspaceStore",
    "is_transient",
    "message_id_for",
    "normalize_address",
    "parse_scopes",
    "schedule_name",
]
