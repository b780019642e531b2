"""The domain values that ports take and return: plain dataclasses (and the engine's RunState), never storage items."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from automations.addresses import is_address
from automations.addresses import normalize_address as normalize_address
from automations.engine.email import SUBSCRIPTION_TYPES, SUPPRESSION_SCOPES, scope_blocks
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
    "skipped_no_person",
    "skipped_no_run_key",
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
    "actions_done",
    "actions_failed",
    "actions_retried",
)


@dataclass(frozen=True)
class StepCount:
    """One more of a counter of a step's own statistics (as :meth:`StatsStore.increment
    <automations.ports.StatsStore.increment>` with ``whole=False`` adds it), in the same write as a store's change."""

    automation_id: str
    step: str
    counter: str


#: The counters the sender's reputation is judged by (:meth:`StatsStore.reputation
#: <automations.ports.StatsStore.reputation>`): what was sent, and what of it was delivered, bounced or complained of.
REPUTATION_COUNTERS = ("sent", "delivered", "bounced_hard", "bounced_soft", "complained")

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
    """An active automation listening to an event type: as its trigger, one of its ``cancel_on`` or one of its
    ``reschedule_on``."""

    automation_id: str
    role: str  # "trigger" | "cancel" | "reschedule"
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


@dataclass(frozen=True)
class EventReads:
    """What ingest reads before it processes events, in one request per hundred keys: the people's profiles
    (those that exist), the runs holding run keys (by (automation, key); a free key is absent) and the running
    countdowns (by (automation, person); none is absent)."""

    profiles: dict[str, ContactProfile] = field(default_factory=dict)
    holders: dict[tuple[str, str], str] = field(default_factory=dict)
    countdowns: dict[tuple[str, str], Silence] = field(default_factory=dict)


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

#: The status a record gets when the provider accepts its email (:meth:`MessageStore.mark_sent
#: <automations.ports.MessageStore.mark_sent>`), and its rank: the lowest, so that every provider event ranks above.
SENT_STATUS = "sent"
SENT_RANK = 10


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
    ``unsubscribe`` (scope ``promotional``, or ``non_essential`` when only essential mail may go)."""

    address: str
    kind: str
    scope: str
    reason: str
    source: str
    automation_id: str | None
    at: datetime

    @classmethod
    def new(
        cls,
        address: str,
        kind: str,
        *,
        reason: str,
        source: str,
        automation_id: str | None,
        now: datetime,
        scope: str | None = None,
    ) -> Suppression:
        """A suppression of a normalized address, its scope following its kind unless given, its reason cut to 500
        characters."""
        return cls(
            address=normalize_address(address),
            kind=kind,
            scope=scope or SCOPES[kind],
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


# --- contacts -----------------------------------------------------------------------------------------------

#: The most labels a profile holds, and the longest label.
MAX_LABELS = 100
MAX_LABEL_LENGTH = 100
#: The most labels one change adds and removes together (they are written at once, with the profile).
MAX_LABEL_CHANGES = 90
#: The most badges a profile holds, and the longest badge.
MAX_BADGES = 100
MAX_BADGE_LENGTH = 100
#: The longest attribute name, and the most an attributes map takes (compact JSON, in UTF-8 bytes).
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTES_BYTES = 16 * 1024
#: The most points a profile holds: the largest integer every JSON reader keeps exact.
MAX_POINTS = 2**53 - 1
#: The longest person id (an event's ``contact.id``), and the longest ledger key.
MAX_PERSON_LENGTH = 256
MAX_LEDGER_KEY_LENGTH = 512
#: The longest search text, and the most contacts one page of a listing holds.
MAX_QUERY_LENGTH = 100
MAX_CONTACTS_PAGE = 100

#: The profile fields an event's ``contact`` carries (and a patch sets).
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "timezone", "locale")
#: Every field a patch sets (``None`` clears it).
SETTABLE_FIELDS = (*CONTACT_FIELDS, "lead_status")
#: The kinds of mail a contact subscribes to (both, unless it said otherwise).
SUBSCRIPTIONS = SUBSCRIPTION_TYPES
#: Names no attribute takes: the profile's own fields (and ``id``).
RESERVED_NAMES = frozenset(
    {
        "id",
        "workspace",
        *SETTABLE_FIELDS,
        "labels",
        "points",
        "badges",
        "subscriptions",
        "attributes",
        "created_at",
        "updated_at",
        "version",
    }
)

#: What one change of a profile is; each becomes a ``contact.<kind>`` event.
ContactChangeKind = Literal["label_added", "label_removed", "points_changed", "badge_added", "lead_status_changed"]
CHANGE_KINDS: tuple[ContactChangeKind, ...] = (
    "label_added",
    "label_removed",
    "points_changed",
    "badge_added",
    "lead_status_changed",
)

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_LENGTHS = {"phone": 64, "first_name": 256, "last_name": 256, "lead_status": 64}


def _text(value: object, longest: int) -> str | None:
    """The value trimmed when it is a string of 1 to ``longest`` characters without control characters."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not 0 < len(text) <= longest or _CONTROL.search(text):
        return None
    return text


def contact_field(name: str, value: object) -> str | None:
    """A settable field's value as a profile keeps it (trimmed; ``None`` clears the field); ``InvalidInputError``
    naming the field when it cannot be one.

    ``email`` is an email address; ``timezone`` an IANA time zone (``Europe/Zurich``); ``locale`` a language tag
    (``de-CH``); ``phone`` and ``lead_status`` 1 to 64 characters, names 1 to 256.
    """
    if name not in SETTABLE_FIELDS:
        known = ", ".join(SETTABLE_FIELDS)
        raise InvalidInputError([FieldError(name, f"not a field of the profile (one of: {known})")])
    if value is None:
        return None
    if name == "email":
        if not is_address(value):
            raise InvalidInputError([FieldError(name, f"not an email address: {value!r}")])
        return value.strip()
    if name == "timezone":
        zone = _text(value, 64)
        try:
            if zone is None:
                raise ValueError(zone)
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInputError([FieldError(name, f"unknown time zone {value!r}")]) from None
        return zone
    if name == "locale":
        tag = _text(value, 35)
        if tag is None or not _LANGUAGE_TAG.fullmatch(tag):
            raise InvalidInputError([FieldError(name, "expected a language tag such as 'en' or 'de-CH'")])
        return tag
    text = _text(value, _FIELD_LENGTHS[name])
    if text is None:
        longest = _FIELD_LENGTHS[name]
        raise InvalidInputError(
            [FieldError(name, f"must be 1 to {longest} characters without control characters (null clears it)")]
        )
    return text


def attribute_name_error(name: object) -> str | None:
    """Why a name cannot name an attribute (None when it can): 1 to 64 of letters, digits, ``_`` and ``-``,
    starting with a letter or ``_``, and not one of the profile's own fields."""
    if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
        return "an attribute name is 1 to 64 of A-Z, a-z, 0-9, '_' and '-', starting with a letter or '_'"
    if name in RESERVED_NAMES:
        return f"{name!r} is a field of the profile, not an attribute"
    return None


def json_value(value: object) -> Any:
    """The value as JSON gives it back (lists for tuples, no object shared with the caller); ``ValueError`` when
    it is not a JSON value (NaN and infinities included)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        raise ValueError("not a JSON value") from None


def json_size(value: object) -> int:
    """The size of a JSON value as stored: compact JSON, in UTF-8 bytes."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def attributes_size(attributes: Mapping[str, Any]) -> int:
    """What an attributes map takes (as :func:`json_size` counts it), summed entry by entry."""
    if not attributes:
        return 2
    return 1 + sum(json_size(name) + 1 + json_size(value) + 1 for name, value in attributes.items())


def check_person(person: object) -> str:
    """A person id as stores take it: 1 to 256 characters; ``InvalidInputError`` naming ``person`` otherwise."""
    if not isinstance(person, str) or not 0 < len(person) <= MAX_PERSON_LENGTH:
        raise InvalidInputError([FieldError("person", f"a person id is 1 to {MAX_PERSON_LENGTH} characters")])
    return person


def check_ledger_key(key: object) -> str:
    """A ledger key (``run:step``): 1 to 512 characters; ``InvalidInputError`` naming ``ledger_key`` otherwise."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_LEDGER_KEY_LENGTH:
        raise InvalidInputError([FieldError("ledger_key", f"a ledger key is 1 to {MAX_LEDGER_KEY_LENGTH} characters")])
    return key


def contact_cursor(person: str) -> str:
    """The cursor of the page that follows ``person`` (opaque to callers)."""
    return base64.urlsafe_b64encode(person.encode()).decode().rstrip("=")


def _cursor_after(cursor: str) -> str:
    try:
        person = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        person = ""
    if not person or len(person) > MAX_PERSON_LENGTH or contact_cursor(person) != cursor:
        raise InvalidInputError([FieldError("cursor", "not a cursor of this listing")])
    return person


@dataclass(frozen=True)
class ContactListing:
    """What one page of a contact listing asks for: the contacts after ``after`` (by person id), with ``label``
    and matching ``query`` (see :meth:`ContactProfile.matches`), at most ``limit`` of them."""

    label: str | None
    query: str | None
    limit: int
    after: str | None

    @classmethod
    def parse(cls, *, label: str | None, query: str | None, limit: int, cursor: str | None) -> ContactListing:
        """The listing asked for; ``InvalidInputError`` naming each of ``label``, ``q``, ``limit`` and ``cursor``
        that cannot be accepted. A blank query (or label) asks for nothing."""
        errors = []
        if label is not None and label.strip():
            label = _text(label, MAX_LABEL_LENGTH)
            if label is None:
                errors.append(FieldError("label", f"a label is 1 to {MAX_LABEL_LENGTH} characters"))
        else:
            label = None
        if query is not None and query.strip():
            query = _text(query, MAX_QUERY_LENGTH)
            if query is None:
                errors.append(FieldError("q", f"a search is 1 to {MAX_QUERY_LENGTH} characters"))
        else:
            query = None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_CONTACTS_PAGE:
            errors.append(FieldError("limit", f"a page holds 1 to {MAX_CONTACTS_PAGE} contacts"))
        after = None
        if cursor:
            try:
                after = _cursor_after(cursor)
            except InvalidInputError as exc:
                errors.extend(exc.errors)
        if errors:
            raise InvalidInputError(errors)
        return cls(label, query.casefold() if query else None, limit, after)


def _default_subscriptions() -> dict[str, bool]:
    return dict.fromkeys(SUBSCRIPTIONS, True)


@dataclass(frozen=True, kw_only=True)
class ContactProfile:
    """One person of a workspace as the product knows them (DESIGN.md §3, "The contact profile").

    ``labels`` and ``badges`` are sets, kept sorted; ``points`` never go below 0; ``version`` counts the
    profile's writes (0: not stored yet), and a write succeeds only at the version it read.
    """

    workspace: str
    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    locale: str | None = None
    labels: tuple[str, ...] = ()
    points: int = 0
    badges: tuple[str, ...] = ()
    lead_status: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, bool] = field(default_factory=_default_subscriptions)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @classmethod
    def new(cls, workspace: str, person: str, now: datetime) -> ContactProfile:
        """A profile with nothing known yet but its person, not stored (version 0)."""
        return cls(workspace=workspace, id=person, created_at=now, updated_at=now)

    def search_terms(self) -> tuple[str, str, str]:
        """What a search matches the start of (case-folded, ``""`` when unknown): the email address, the name
        (first, then last) and the last name."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return ((self.email or "").casefold(), name.casefold(), (self.last_name or "").casefold())

    def matches(self, query: str) -> bool:
        """Whether a search finds the profile: its email address, first name, full name or last name starts with
        ``query``, whatever the case."""
        wanted = query.strip().casefold()
        return any(term.startswith(wanted) for term in self.search_terms() if term)

    def as_dict(self) -> dict[str, Any]:
        """The profile as JSON (the API's form): lists for the sets, ISO-8601 times."""
        return {
            "id": self.id,
            **{name: getattr(self, name) for name in CONTACT_FIELDS},
            "labels": list(self.labels),
            "points": self.points,
            "badges": list(self.badges),
            "lead_status": self.lead_status,
            "attributes": json_value(self.attributes),
            "subscriptions": dict(self.subscriptions),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


@dataclass(frozen=True)
class ContactChange:
    """One change a patch made to a profile: it becomes a ``contact.<kind>`` event (:attr:`event_type`) whose
    data is :meth:`as_data`.

    ``label`` for ``label_added`` and ``label_removed``; ``delta`` and the new total ``points`` for
    ``points_changed``; ``badge`` for ``badge_added``; ``old_status`` and ``new_status`` (either may be None:
    no status) for ``lead_status_changed``.
    """

    kind: ContactChangeKind
    label: str | None = None
    delta: int | None = None
    points: int | None = None
    badge: str | None = None
    old_status: str | None = None
    new_status: str | None = None

    @property
    def event_type(self) -> str:
        return f"contact.{self.kind}"

    def as_data(self) -> dict[str, Any]:
        """The change's own values, as its event's data."""
        if self.kind in ("label_added", "label_removed"):
            return {"label": self.label}
        if self.kind == "points_changed":
            return {"delta": self.delta, "points": self.points}
        if self.kind == "badge_added":
            return {"badge": self.badge}
        return {"old_status": self.old_status, "new_status": self.new_status}


def _names(
    values: Iterable[object], loc: str, longest: int, most: int, what: str, errors: list[FieldError]
) -> tuple[str, ...]:
    """Labels or badges, trimmed, each once, sorted; every bad one an error at ``loc[i]``."""
    if isinstance(values, str | bytes):
        errors.append(FieldError(loc, f"expected a list of {what}s"))
        return ()
    found: set[str] = set()
    for index, value in enumerate(values):
        text = _text(value, longest)
        if text is None:
            errors.append(FieldError(f"{loc}[{index}]", f"a {what} is 1 to {longest} characters"))
        else:
            found.add(text)
    if len(found) > most:
        errors.append(FieldError(loc, f"at most {most} {what}s"))
    return tuple(sorted(found))


@dataclass(frozen=True)
class ContactPatch:
    """What one change does to a profile: fields set (``None`` clears one), labels added and removed, points
    added (negative: taken), badges added, attributes set and unset, subscriptions set.

    Checked and normalized when made (``InvalidInputError`` naming every field that cannot be accepted):
    texts trimmed, labels and badges each once and sorted, attribute values as JSON gives them back. What
    depends on the profile (no more than 100 labels, points not below 0, attributes within 16 KB) is checked
    when the patch is applied (:func:`automations.ports.profiles.apply_patch`).
    """

    set_fields: Mapping[str, str | None] = field(default_factory=dict)
    labels_add: Sequence[str] = ()
    labels_remove: Sequence[str] = ()
    points_add: int = 0
    #: Points taken beyond the balance stop it at 0 (an automation's change) instead of refusing the patch.
    floor_points: bool = False
    badges_add: Sequence[str] = ()
    attributes_set: Mapping[str, Any] = field(default_factory=dict)
    attributes_unset: Sequence[str] = ()
    subscriptions: Mapping[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        fields: dict[str, str | None] = {}
        for name, value in dict(self.set_fields).items():
            try:
                fields[name] = contact_field(name, value)
            except InvalidInputError as exc:
                errors.extend(exc.errors)
        labels_add = _names(self.labels_add, "labels_add", MAX_LABEL_LENGTH, MAX_LABELS, "label", errors)
        labels_remove = _names(self.labels_remove, "labels_remove", MAX_LABEL_LENGTH, MAX_LABELS, "label", errors)
        for label in sorted(set(labels_add) & set(labels_remove)):
            errors.append(FieldError("labels_remove", f"label {label!r} is both added and removed"))
        if isinstance(self.points_add, bool) or not isinstance(self.points_add, int):
            errors.append(FieldError("points", "points are a whole number"))
        elif abs(self.points_add) > MAX_POINTS:
            errors.append(FieldError("points", f"at most {MAX_POINTS} points at once"))
        badges = _names(self.badges_add, "badges_add", MAX_BADGE_LENGTH, MAX_BADGES, "badge", errors)
        attributes: dict[str, Any] = {}
        for name, value in dict(self.attributes_set).items():
            problem = attribute_name_error(name)
            if problem:
                errors.append(FieldError(f"attributes_set.{name}", problem))
                continue
            try:
                attributes[name] = json_value(value)
            except ValueError as exc:
                errors.append(FieldError(f"attributes_set.{name}", str(exc)))
        if attributes and attributes_size(attributes) > MAX_ATTRIBUTES_BYTES:
            errors.append(FieldError("attributes_set", f"attributes take at most {MAX_ATTRIBUTES_BYTES} bytes"))
        unset: list[str] = []
        if isinstance(self.attributes_unset, str | bytes):
            errors.append(FieldError("attributes_unset", "expected a list of attribute names"))
        else:
            for index, name in enumerate(self.attributes_unset):
                problem = attribute_name_error(name)
                if problem:
                    errors.append(FieldError(f"attributes_unset[{index}]", problem))
                elif name in attributes:
                    errors.append(FieldError(f"attributes_unset[{index}]", f"attribute {name!r} is both set and unset"))
                elif name not in unset:
                    unset.append(name)
        subscriptions: dict[str, bool] = {}
        for name, wanted in dict(self.subscriptions).items():
            if name not in SUBSCRIPTIONS:
                errors.append(FieldError(f"subscriptions.{name}", f"one of: {', '.join(SUBSCRIPTIONS)}"))
            elif not isinstance(wanted, bool):
                errors.append(FieldError(f"subscriptions.{name}", "true or false"))
            else:
                subscriptions[name] = wanted
        if errors:
            raise InvalidInputError(errors)
        object.__setattr__(self, "set_fields", fields)
        object.__setattr__(self, "labels_add", labels_add)
        object.__setattr__(self, "labels_remove", labels_remove)
        object.__setattr__(self, "badges_add", badges)
        object.__setattr__(self, "attributes_set", attributes)
        object.__setattr__(self, "attributes_unset", tuple(sorted(unset)))
        object.__setattr__(self, "subscriptions", subscriptions)

    @property
    def empty(self) -> bool:
        """Whether the patch asks for nothing."""
        return not (
            self.set_fields
            or self.labels_add
            or self.labels_remove
            or self.points_add
            or self.badges_add
            or self.attributes_set
            or self.attributes_unset
            or self.subscriptions
        )


#: The source of every event the product puts on the bus.
BUS_SOURCE = "automations"


@dataclass(frozen=True)
class BusEntry:
    """An event to put on the stack's bus: its type (EventBridge's ``DetailType``) and its detail, which carries
    the event's ``id`` and its ``workspace``; the source is the product's (:data:`BUS_SOURCE`)."""

    detail_type: str
    detail: Mapping[str, Any]

    @classmethod
    def trigger(
        cls,
        detail_type: str,
        *,
        id: str,
        workspace: str,
        occurred_at: datetime,
        data: Mapping[str, Any],
        contact: Mapping[str, Any] | None = None,
    ) -> BusEntry:
        """A trigger event as ingest reads it from the bus (``detail``: id, workspace, occurred_at, data and,
        when there is one, contact), so that an automation can start on what the product puts there."""
        detail: dict[str, Any] = {
            "id": id,
            "workspace": workspace,
            "occurred_at": occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": dict(data),
        }
        if contact:
            detail["contact"] = dict(contact)
        return cls(detail_type, detail)

    def as_entry(self, bus_name: str) -> dict[str, Any]:
        """The entry of a ``PutEvents`` request."""
        return {
            "Source": BUS_SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":"), ensure_ascii=False, default=str),
            "EventBusName": bus_name,
        }


# --- tasks ----------------------------------------------------------------------------------------------------

#: What a task is: still to do, or done.
TaskStatus = Literal["open", "done"]
TASK_STATUSES: tuple[TaskStatus, ...] = ("open", "done")
#: A task's id: 1 to 128 of letters, digits, ``_``, ``.``, ``:`` and ``-``, starting with a letter or a digit.
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
#: The longest title, description and assignee of a task.
MAX_TASK_TITLE = 500
MAX_TASK_DESCRIPTION = 10_000
MAX_ASSIGNEE_LENGTH = 320
#: The most tasks one page of a listing holds.
MAX_TASKS_PAGE = 100

_ORDER = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)#(.+)")


@dataclass(frozen=True)
class Task:
    """A task for a person of the business (DESIGN.md §3, ``create_task``): what to do, for whom and by when,
    and the run and step that made it (None for each when no automation did). ``status`` is ``open`` until
    someone marks it ``done``."""

    workspace: str
    id: str
    title: str
    description: str | None
    assignee: str | None
    due_at: datetime | None
    status: TaskStatus
    person: str | None
    automation_id: str | None
    run_id: str | None
    step: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The task as JSON (the API's form): ISO-8601 times."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "assignee": self.assignee,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "status": self.status,
            "person": self.person,
            "automation_id": self.automation_id,
            "run_id": self.run_id,
            "step": self.step,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _storable(text: str) -> bool:
    """Whether a text can be stored (UTF-8 has no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_text(value: object, longest: int) -> tuple[str | None, bool]:
    """An optional text as a task keeps it (blank is None), and whether it fits in ``longest`` characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, True
    if not isinstance(value, str):
        return None, False
    return value, len(value) <= longest and _storable(value)


def check_task_status(status: object) -> TaskStatus:
    """A task's status (``open`` or ``done``); ``InvalidInputError`` naming ``status`` otherwise."""
    for known in TASK_STATUSES:
        if status == known:
            return known
    raise InvalidInputError([FieldError("status", f"one of: {', '.join(TASK_STATUSES)}")])


def is_task_id(task_id: object) -> bool:
    """Whether a value can be a task's id (:data:`TASK_ID`)."""
    return isinstance(task_id, str) and TASK_ID.fullmatch(task_id) is not None


def check_task(task: Task) -> Task:
    """A task as stores keep it: its optional texts blank are None, its times in UTC; ``InvalidInputError``
    naming every field that cannot be accepted (``id``, ``title``, ``description``, ``assignee``, ``status``)."""
    errors: list[FieldError] = []
    if not is_task_id(task.id):
        errors.append(FieldError("id", "1 to 128 of A-Z, a-z, 0-9, '_', '.', ':' and '-', from a letter or digit"))
    title = task.title
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TASK_TITLE or not _storable(title):
        errors.append(FieldError("title", f"a title is 1 to {MAX_TASK_TITLE} characters"))
    description, fits = _optional_text(task.description, MAX_TASK_DESCRIPTION)
    if not fits:
        errors.append(FieldError("description", f"at most {MAX_TASK_DESCRIPTION} characters"))
    assignee, fits = _optional_text(task.assignee, MAX_ASSIGNEE_LENGTH)
    if not fits:
        errors.append(FieldError("assignee", f"at most {MAX_ASSIGNEE_LENGTH} characters"))
    if task.status not in TASK_STATUSES:
        errors.append(FieldError("status", f"one of: {', '.join(TASK_STATUSES)}"))
    if errors:
        raise InvalidInputError(errors)
    return replace(
        task,
        description=description,
        assignee=assignee,
        due_at=task.due_at.astimezone(UTC) if task.due_at is not None else None,
        created_at=task.created_at.astimezone(UTC),
        updated_at=task.updated_at.astimezone(UTC),
    )


def task_order(task: Task) -> str:
    """Where a task sorts in a listing (newest first: by creation, then id, descending)."""
    return f"{task.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}#{task.id}"


def task_cursor(task: Task) -> str:
    """The cursor of the page that follows ``task`` (opaque to callers)."""
    return task_cursor_of(task_order(task))


def task_cursor_of(order: str) -> str:
    """The cursor of the page that follows a place in a listing (:func:`task_order`)."""
    return base64.urlsafe_b64encode(order.encode()).decode().rstrip("=")


def _task_cursor_before(cursor: str) -> str:
    try:
        order = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        order = ""
    found = _ORDER.fullmatch(order)
    if found is None or not is_task_id(found.group(2)) or task_cursor_of(order) != cursor:
        raise InvalidInputError([FieldError("cursor", "not a cursor of this listing")])
    return order


@dataclass(frozen=True)
class TaskListing:
    """What one page of a task listing asks for: the tasks that sort after ``before`` (newest first, see
    :func:`task_order`) with ``status`` and ``assignee`` (exactly), at most ``limit`` of them."""

    status: TaskStatus | None
    assignee: str | None
    limit: int
    before: str | None

    @classmethod
    def parse(cls, *, status: str | None, assignee: str | None, limit: int, cursor: str | None) -> TaskListing:
        """The listing asked for; ``InvalidInputError`` naming each of ``status``, ``assignee``, ``limit`` and
        ``cursor`` that cannot be accepted. A blank status or assignee asks for every one."""
        errors: list[FieldError] = []
        wanted: TaskStatus | None = None
        if status is not None and status.strip():
            try:
                wanted = check_task_status(status)
            except InvalidInputError as exc:
                errors.extend(exc.errors)
        who, fits = _optional_text(assignee, MAX_ASSIGNEE_LENGTH)
        if not fits:
            errors.append(FieldError("assignee", f"at most {MAX_ASSIGNEE_LENGTH} characters"))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_TASKS_PAGE:
            errors.append(FieldError("limit", f"a page holds 1 to {MAX_TASKS_PAGE} tasks"))
        before = None
        if cursor:
            try:
                before = _task_cursor_before(cursor)
            except InvalidInputError as exc:
                errors.extend(exc.errors)
        if errors:
            raise InvalidInputError(errors)
        return cls(wanted, who, limit, before)

    def wants(self, task: Task) -> bool:
        """Whether the task belongs on this listing (its place aside)."""
        return (self.status is None or task.status == self.status) and (
            self.assignee is None or task.assignee == self.assignee
        )


# --- coupon pools ---------------------------------------------------------------------------------------------

#: A coupon pool's name: a slug of 1 to 64 of a-z, 0-9, ``_`` and ``-``, starting with a letter or a digit.
COUPON_POOL = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: The longest code, and the most codes one load takes.
MAX_COUPON_CODE = 128
MAX_CODES_PER_LOAD = 1000
#: The longest claimant (``run:step``), in UTF-8 bytes.
MAX_CLAIMANT_BYTES = 512


@dataclass(frozen=True)
class CouponCounts:
    """A pool's codes: how many are left to claim, and how many were claimed."""

    pool: str
    left: int
    claimed: int

    def as_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "left": self.left, "claimed": self.claimed}


def check_pool(pool: object) -> str:
    """A pool's name (:data:`COUPON_POOL`); ``InvalidInputError`` naming ``pool`` otherwise."""
    if not isinstance(pool, str) or not COUPON_POOL.fullmatch(pool):
        raise InvalidInputError(
            [FieldError("pool", "a slug: 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit")]
        )
    return pool


def check_codes(codes: Sequence[object]) -> tuple[str, ...]:
    """The codes of one load, each once, in the order given; ``InvalidInputError`` naming ``codes`` (not a list,
    none, or more than :data:`MAX_CODES_PER_LOAD`) and ``codes[i]`` for each that is not 1 to
    :data:`MAX_COUPON_CODE` printable characters."""
    if isinstance(codes, str | bytes) or not isinstance(codes, Sequence):
        raise InvalidInputError([FieldError("codes", "expected a list of codes")])
    if not codes:
        raise InvalidInputError([FieldError("codes", "give at least one code")])
    if len(codes) > MAX_CODES_PER_LOAD:
        raise InvalidInputError([FieldError("codes", f"at most {MAX_CODES_PER_LOAD} codes at once")])
    errors = [
        FieldError(f"codes[{index}]", f"a code is 1 to {MAX_COUPON_CODE} printable characters")
        for index, code in enumerate(codes)
        if not isinstance(code, str) or not 0 < len(code) <= MAX_COUPON_CODE or not code.isprintable()
    ]
    if errors:
        raise InvalidInputError(errors)
    return tuple(dict.fromkeys(str(code) for code in codes))


def check_claimant(claimant: object) -> str:
    """Who claims a code (``run:step``): 1 to :data:`MAX_CLAIMANT_BYTES` bytes of UTF-8; ``InvalidInputError``
    naming ``claimant`` otherwise."""
    size = len(claimant.encode()) if isinstance(claimant, str) and _storable(claimant) else 0
    if not 0 < size <= MAX_CLAIMANT_BYTES:
        raise InvalidInputError([FieldError("claimant", f"a claimant is 1 to {MAX_CLAIMANT_BYTES} bytes of UTF-8")])
    return str(claimant)


#: What came of one webhook request: delivered (2xx), worth trying again (5xx, 429, network), or failed.
WebhookOutcome = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class WebhookResponse:
    """What came of one webhook request.

    ``status`` is the HTTP status when one was received (else ``None``); ``body`` the response body, parsed
    when it is whole JSON, else its text (UTF-8, undecodable bytes replaced), ``None`` when empty or when
    nothing was received; ``headers`` the kept response headers; ``reason`` says why it was not delivered
    (empty when it was)."""

    outcome: WebhookOutcome
    status: int | None = None
    body: Any = None
    is_json: bool = False
    truncated: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    refused: bool = False

    @property
    def ok(self) -> bool:
        """A 2xx status was received."""
        return self.outcome == "delivered"

    @property
    def retryable(self) -> bool:
        """Worth trying again later: 5xx, 429, a timeout, a connection or TLS failure, a name not resolved."""
        return self.outcome == "retry"


#: How long the secret before a rotation still signs webhooks beside the new one.
WEBHOOK_ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class WebhookSecret:
    """A workspace's webhook signing secret: ``current`` signs every webhook; after a rotation the ``previous``
    one signs too until ``rotated_at`` + :data:`WEBHOOK_ROTATION_OVERLAP`, so that a receiver holding either
    verifies them while it switches."""

    current: str
    created_at: datetime
    previous: str | None = None
    rotated_at: datetime | None = None

    def rotation_ends_at(self) -> datetime | None:
        if self.previous is None or self.rotated_at is None:
            return None
        return self.rotated_at + WEBHOOK_ROTATION_OVERLAP

    def signing(self, now: datetime) -> list[str]:
        """The secrets that sign a webhook at ``now``: the current one, then the previous one during a rotation."""
        ends = self.rotation_ends_at()
        if self.previous is not None and ends is not None and now < ends:
            return [self.current, self.previous]
        return [self.current]

    def rotated(self, new: str, now: datetime) -> WebhookSecret:
        return WebhookSecret(current=new, created_at=now, previous=self.current, rotated_at=now)

    def as_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "created_at": self.created_at.isoformat(),
            "previous": self.previous,
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookSecret:
        rotated = data.get("rotated_at")
        return cls(
            current=str(data["current"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            previous=str(data["previous"]) if data.get("previous") else None,
            rotated_at=datetime.fromisoformat(str(rotated)) if rotated else None,
        )
