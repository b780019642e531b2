"""The domain values that ports take and return: plain dataclasses (and the engine's RunState), never storage items."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from automations.addresses import is_address
from automations.addresses import normalize_address as normalize_address
from automations.engine.email import SUPPRESSION_SCOPES, scope_blocks
from automations.engine.state import RunState
from automations.errors import FieldError
from automations.ids import derived_id
from automations.ports.errors import InvalidInputError

#: The bucket of :meth:`StatsStore.read <automations.ports.StatsStore.read>` that counts the automation as a whole.
WHOLE = "-"

#: What a suppression covers, by its kind (the engine's email rules).
SCOPES = SUPPRESSION_SCOPES

#: The counters :class:`StatsStore <automations.ports.StatsStore>` keeps per automation, per step and per day.
COUNTERS = (
    "runs_started",
    "runs_completed",
    "runs_cancelled",
    "runs_failed",
    "skipped_filter",
    "skipped_frequency",
    "skipped_run_key",
    "sent",
    "delivered",
    "opened",
    "opened_unique",
    "clicked",
    "clicked_unique",
    "bounced_hard",
    "bounced_soft",
    "complained",
    "rejected",
    "delayed",
    "unsubscribed",
    "suppressed",
    "send_failed",
    "send_unknown",
    "rendering_failed",
)

_UNSAFE_IN_NAME = re.compile(r"[^0-9A-Za-z_.-]")


def message_id_for(workspace: str, run_id: str, step: str, address: str) -> str:
    """The same id for the same (run, step, recipient): what makes a retried send land on its record."""
    return derived_id("msg", workspace, run_id, step, normalize_address(address))


def schedule_name(kind: str, *parts: str) -> str:
    """A :class:`Scheduler <automations.ports.Scheduler>` schedule's name: deterministic (so a retried creation
    conflicts instead of making a twin), at most 64 characters of ``[0-9A-Za-z_.-]``.

    A name that had to be shortened or had characters replaced ends with a digest of the parts, so that
    ``ana+yoga@example.com`` and ``ana-yoga@example.com`` never share a schedule.
    """
    raw = "-".join([kind, *parts])
    readable = _UNSAFE_IN_NAME.sub("-", raw)
    if len(readable) <= 64 and readable == raw:
        return readable
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{readable[:43]}-{digest}"


# --- automations ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomationInfo:
    """An automation's head: its name, status and current version (the definition lives in its versions)."""

    id: str
    name: str
    status: str  # draft | active | inactive
    version: int
    trigger_event: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of an automation's definition."""

    automation_id: str
    version: int
    definition: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class RouteInfo:
    """An active automation listening to an event type, as its trigger or as one of its ``cancel_on``."""

    automation_id: str
    role: str  # "trigger" | "cancel"
    version: int


# --- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """A trigger event as received: ``received`` until its runs are started, then ``processed``."""

    id: str
    type: str
    body: dict[str, Any]
    received_at: datetime
    status: str = "received"
    runs: tuple[str, ...] = ()

    @classmethod
    def new(cls, body: Mapping[str, Any], now: datetime, status: str) -> StoredEvent:
        """An event to store: its id and type are the body's own."""
        return cls(id=str(body["id"]), type=str(body["type"]), body=dict(body), received_at=now, status=status)


# --- runs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    """A run's state and its revision: a save succeeds only at the revision it read."""

    state: RunState
    revision: int


@dataclass(frozen=True)
class Locks:
    """The conditional claims a new run makes together with its first write."""

    frequency_until: datetime | None = None  # claim the person's window until then (None: no window)
    frequency_forever: bool = False
    run_key: str | None = None  # only for a run that goes on waiting: one that ended at once holds no key


@dataclass(frozen=True)
class Silence:
    """An ``after_silence`` countdown: the person's latest event and when the silence after it is over.

    ``due_at`` is kept to the second (rounded down).
    """

    event_id: str
    due_at: datetime
    event: dict[str, Any]


# --- email ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailRecord:
    """One email to one recipient, found by (run, step, message id) or by the provider's message id.

    ``state`` is the sending lifecycle (sending, retrying, sent, unknown, failed, skipped; ``unrecorded`` for an
    email known only from the provider's events); ``status`` is what the provider reported last, by precedence
    (``status_rank``), and ``seen`` holds the digests of the provider's events already counted for it.
    """

    workspace: str
    message_id: str
    run_id: str
    step: str
    automation_id: str
    version: int
    address: str
    type: str
    state: str
    created_at: datetime
    updated_at: datetime
    person: str | None = None
    subject: str | None = None
    test: bool = False
    reason: str | None = None
    attempt: str | None = None
    ses_message_id: str | None = None
    sent_at: datetime | None = None
    status: str | None = None
    status_rank: int | None = None
    status_at: str | None = None
    delivered_at: str | None = None
    opened_at: str | None = None
    clicked_at: str | None = None
    opens: int = 0
    clicks: int = 0
    bounce_type: str | None = None
    seen: frozenset[str] = frozenset()

    @classmethod
    def new(
        cls,
        workspace: str,
        *,
        automation_id: str,
        version: int,
        run_id: str,
        step: str,
        address: str,
        type_: str,
        state: str,
        now: datetime,
        person: str | None = None,
        subject: str | None = None,
        test: bool = False,
        reason: str | None = None,
        attempt: str | None = None,
    ) -> EmailRecord:
        """The record of a (run, step, recipient), not stored yet: its message id is derived from them."""
        return cls(
            workspace=workspace,
            message_id=message_id_for(workspace, run_id, step, address),
            run_id=run_id,
            step=step,
            automation_id=automation_id,
            version=version,
            address=address,
            type=type_,
            state=state,
            created_at=now,
            updated_at=now,
            person=person,
            subject=subject,
            test=test,
            reason=reason,
            attempt=attempt,
        )


#: The record's times that a provider event sets once (the first delivery, open, click), and its running counts.
FirstTime = Literal["delivered_at", "opened_at", "clicked_at"]
RunningCount = Literal["opens", "clicks"]


@dataclass(frozen=True)
class Confirmation:
    """The provider's own event confirms a send that a crash left open (``sending`` or ``unknown``): the record
    becomes ``sent``, under the provider's message id, if it is still in ``from_state``."""

    ses_message_id: str
    from_state: str
    reason: str


@dataclass(frozen=True)
class FeedbackUpdate:
    """What one of the provider's events does to its email record, written all at once or not at all
    (:meth:`MessageStore.apply_feedback <automations.ports.MessageStore.apply_feedback>`).

    It is written only while ``digest`` is not among the record's ``seen`` (it joins them) and the record is as
    it was read: absent when ``create`` is given, present otherwise; in ``confirm.from_state`` when ``confirm`` is
    given; at rank ``expected_rank`` (None: no status yet) when ``status`` is given; without its ``first`` time
    when that is given. ``counts`` go to the automation's and the step's counters, and ``suppressions`` are
    recorded (or kept as they are, as :meth:`SuppressionStore.upsert` does), in the same write.
    """

    digest: str
    automation_id: str
    step: str
    now: datetime
    at: str = ""  # the event's own time, as the provider wrote it: the status's, and the first time's
    counts: Mapping[str, int] = field(default_factory=dict)
    create: EmailRecord | None = None  # no record was found: this one is written (with the changes below)
    confirm: Confirmation | None = None
    status: str | None = None  # the new status, replacing a lower one
    rank: int | None = None
    expected_rank: int | None = None
    first: FirstTime | None = None  # set to ``at``
    total: RunningCount | None = None  # one more
    bounce_type: str | None = None
    suppressions: tuple[Suppression, ...] = ()


@dataclass(frozen=True)
class Suppression:
    """An address that must not get some mail: ``kind`` is ``bounce`` or ``complaint`` (scope ``all``) or
    ``unsubscribe`` (scope ``promotional``)."""

    address: str
    kind: str
    scope: str
    reason: str
    source: str
    automation_id: str | None
    at: datetime

    @classmethod
    def new(
        cls, address: str, kind: str, *, reason: str, source: str, automation_id: str | None, now: datetime
    ) -> Suppression:
        """A suppression of a normalized address, its scope following its kind, its reason cut to 500 characters."""
        return cls(
            address=normalize_address(address),
            kind=kind,
            scope=SCOPES[kind],
            reason=reason[:500],
            source=source,
            automation_id=automation_id,
            at=now,
        )

    def blocks(self, email_type: str) -> bool:
        """Whether it keeps an email of this type from the address."""
        return scope_blocks(self.scope, email_type)


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to one recipient, ready for the sender."""

    from_address: str
    to: str
    subject: str
    html: str
    text: str
    from_name: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    configuration_set: str | None = None


@dataclass(frozen=True)
class PreparedEmail:
    """An email the sender accepted as sendable: ``request`` is what its :meth:`submit` sends, as it built it."""

    email: OutgoingEmail
    request: Mapping[str, Any]


# --- access -------------------------------------------------------------------------------------------------


class Scope(StrEnum):
    """What a key may do (DESIGN.md §5). ``admin`` manages the workspace's keys and webhook secret."""

    EVENTS_WRITE = "events:write"
    AUTOMATIONS_READ = "automations:read"
    AUTOMATIONS_WRITE = "automations:write"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    ADMIN = "admin"


#: What only the stack's root key may do (create and list workspaces): never a scope a key can carry.
ROOT = "root"

#: The shortest time between two writes of a key's ``last_used_at``.
TOUCH_INTERVAL = timedelta(minutes=1)

#: A workspace id: 1 to 40 of a-z, 0-9 and "-", not starting or ending with "-".
WORKSPACE_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


def parse_scopes(values: Iterable[object]) -> tuple[Scope, ...]:
    """The scopes named, each once, in the order of :class:`Scope`; ``InvalidInputError`` naming ``scopes`` for an
    empty list or a name that is not a scope."""
    if isinstance(values, str | bytes):
        raise InvalidInputError([FieldError("scopes", "expected a list of scopes")])
    named = list(values)
    known = {scope.value for scope in Scope}
    unknown = [repr(value) for value in named if value not in known]
    if unknown:
        allowed = ", ".join(scope.value for scope in Scope)
        raise InvalidInputError([FieldError("scopes", f"unknown scope {', '.join(unknown)} (one of: {allowed})")])
    if not named:
        raise InvalidInputError([FieldError("scopes", "give at least one scope")])
    return tuple(scope for scope in Scope if scope.value in named)


@dataclass(frozen=True)
class ApiKey:
    """A key of one workspace, as stored and shown: never its secret (the store keeps only the secret's hash)."""

    id: str
    workspace: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        # The scopes as :func:`parse_scopes` gives them (each once, in the order of Scope), so equal keys compare
        # equal whichever order their scopes were named in; an unknown one is refused.
        object.__setattr__(self, "scopes", parse_scopes(self.scopes))

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspace": self.workspace,
            "name": self.name,
            "scopes": [scope.value for scope in self.scopes],
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class StoredKey:
    """A key and the SHA-256 hash (hex) of its secret, as the store answers a lookup by hash."""

    key: ApiKey
    secret_hash: str = field(repr=False)


@dataclass(frozen=True)
class Workspace:
    """A workspace: its own sender, default time zone and locale, and the brand shown on the preferences page."""

    id: str
    name: str
    sender_address: str
    sender_name: str
    timezone: str
    locale: str
    brand_name: str
    created_at: datetime
    #: The reputation limits of the workspace's automations (None: the stack's): an automation whose hard
    #: bounce or complaint rate passes one is deactivated.
    hard_bounce_rate_limit: float | None = None
    complaint_rate_limit: float | None = None

    @classmethod
    def new(
        cls,
        *,
        id: str,
        name: str,
        sender_address: str,
        sender_name: str,
        timezone: str,
        locale: str,
        brand_name: str,
        now: datetime,
        hard_bounce_rate_limit: float | None = None,
        complaint_rate_limit: float | None = None,
    ) -> Workspace:
        """A workspace to create; ``InvalidInputError`` naming every field that cannot be accepted."""
        errors = []
        if not WORKSPACE_ID.fullmatch(id):
            errors.append(FieldError("id", "a slug: 1 to 40 of a-z, 0-9 and '-', not starting or ending with '-'"))
        for loc, value in (("name", name), ("sender_name", sender_name), ("brand_name", brand_name)):
            if not value.strip() or len(value) > 100:
                errors.append(FieldError(loc, "must be 1 to 100 characters"))
        if not is_address(sender_address):
            errors.append(FieldError("sender_address", f"not an email address: {sender_address!r}"))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(FieldError("timezone", f"unknown time zone {timezone!r}"))
        if not re.fullmatch(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", locale):
            errors.append(FieldError("locale", "expected a language tag such as 'en' or 'pt-BR'"))
        for loc, limit in (
            ("hard_bounce_rate_limit", hard_bounce_rate_limit),
            ("complaint_rate_limit", complaint_rate_limit),
        ):
            if limit is not None and not 0 < limit <= 1:
                errors.append(FieldError(loc, "a rate above 0 and at most 1 (0.05 is 5%)"))
        if errors:
            raise InvalidInputError(errors)
        return cls(
            id,
            name.strip(),
            sender_address.strip(),
            sender_name.strip(),
            timezone,
            locale,
            brand_name.strip(),
            now,
            hard_bounce_rate_limit,
            complaint_rate_limit,
        )
