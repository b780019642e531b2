"""The DynamoDB tables as pynamodb models. Keys always start with the workspace id.

The table names come from the settings (:func:`bind`), so the same models serve AWS, moto and the local
stack. Every table has a ``pk``/``sk`` key; what each item is lives in the key's prefix:

- automations: ``{ws}#automations / {id}`` (head: status, current version), ``{ws}#automation#{id} /
  v#{n:08d}`` (an immutable version), ``{ws}#route#{event type} / {id}#{trigger|cancel}`` (what to query
  when an event of that type arrives: only for active automations).
- events: ``{ws}#event#{id} / event``.
- runs: ``{ws}#run#{id} / run``, indexed by automation and by person, newest first, and (sparse index
  ``waiting``) by automation while the run has not ended.
- state: locks and counters: ``freq#``, ``runkey#``, ``nth#`` and ``silence#`` items, expiring by TTL.
- messages: ``{ws}#run#{run} / msg#{step}#{message id}``, one per email and recipient, indexed by SES id.
- contacts: ``{ws}#contact#{address} / suppressed#{kind}``: hard bounces, complaints, unsubscribes.
  Profiles: ``{ws}#person#{id} / profile``, indexed by workspace (``by_workspace``: ``{ws}#people / {id}``,
  projecting the search fields only), with ``{ws}#person#{id} / ledger#{key}`` (a step's change applied,
  expiring by TTL), and ``{ws}#label#{label} / {id}`` per label of a profile, written with it.
- keys: ``key#{sha256 of the secret} / key`` (never the secret), indexed by workspace (``by_workspace``:
  ``{ws}#keys / {key id}``), and ``{ws}#admins / admins``: the number of the workspace's active admin keys.
- workspaces: ``workspaces / {id}``, one item per workspace (the only keys that do not start with one).
- actions: what actions make and use. Tasks: ``{ws}#task#{id} / task``, indexed newest first by workspace
  (``by_workspace``: ``{ws}#tasks / {created}#{id}``) and by workspace and status (``by_status``:
  ``{ws}#tasks#{status} / {created}#{id}``). Coupon pools: ``{ws}#pool#{pool} / unused#{code}`` for a code
  left to claim, ``claimed#{code}`` (with its claimant) once claimed and ``by#{claimant}`` (with its code);
  ``{ws}#pools / {pool}`` counts the pool's codes left and claimed.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, ClassVar

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import BINARY
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from automations.ports.values import COUNTERS as PORT_COUNTERS
from automations.settings import Settings


class _Base(Model):
    class Meta:
        abstract = True
        table_name = "unbound"
        region = "us-east-1"
        max_retry_attempts = 5
        base_backoff_ms = 25

    setting: ClassVar[str] = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AutomationHead(_Base):
    """The current state of one automation: status and current version (one per automation)."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "automations_table"
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    trigger_event = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    status_reason = UnicodeAttribute(null=True)


class AutomationVersion(_Base):
    """One immutable version of a definition."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "automations_table"
    version = NumberAttribute()
    definition = JSONAttribute()
    created_at = UTCDateTimeAttribute()


class Route(_Base):
    """An active automation listening to an event type: as its trigger, a ``cancel_on`` or a ``reschedule_on``."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "automations_table"
    automation_id = UnicodeAttribute()
    role = UnicodeAttribute()
    version = NumberAttribute()


class EventItem(_Base):
    """A trigger event as received, kept whether or not it matched anything."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "events_table"
    type = UnicodeAttribute()
    body = JSONAttribute()
    received_at = UTCDateTimeAttribute()
    status = UnicodeAttribute(default="received")
    runs = ListAttribute(of=UnicodeAttribute, null=True)
    expires_at = NumberAttribute(null=True)


class PackedJSONAttribute(Attribute[Any]):
    """JSON stored compressed (zlib, as a binary): a run's state is its item's bulk, and a run's every write is
    priced by the item's size (a ~2.3 KB state packs into ~0.8 KB)."""

    attr_type = BINARY

    def serialize(self, value: Any) -> bytes:
        return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)

    def deserialize(self, value: bytes) -> Any:
        return json.loads(zlib.decompress(value))


# The runs' indexes hold keys only: their keys never change while a run lives (``waiting``'s are removed when it
# ends), so a run's saves write none of their entries; the readers (listings, ending waiting runs) take the
# runs' keys from them and read the runs themselves with BatchGetItem. Projecting ALL of a run (~2 KB) cost
# every save of every run 2 WRU or more per index.
class RunsByAutomation(GlobalSecondaryIndex["RunItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_automation"
        projection = KeysOnlyProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class RunsByPerson(GlobalSecondaryIndex["RunItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_person"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class WaitingRuns(GlobalSecondaryIndex["RunItem"]):  # type: ignore[no-untyped-call]
    """Sparse: only runs that have not ended carry its keys (set while waiting or running, removed at the end)."""

    class Meta:
        index_name = "waiting"
        projection = KeysOnlyProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class RunItem(_Base):
    """A run: its engine state as JSON, plus the fields that conditions and indexes need."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "runs_table"
    automation_id = UnicodeAttribute()
    version = NumberAttribute()
    status = UnicodeAttribute()
    position = UnicodeAttribute(null=True)
    person = UnicodeAttribute(null=True)
    run_key = UnicodeAttribute(null=True)
    revision = NumberAttribute(default=0)
    #: The engine's state, packed; ``state`` (plain JSON) only on a run last written before it was packed.
    packed = PackedJSONAttribute(null=True)
    state = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    by_automation = RunsByAutomation()
    by_person = RunsByPerson()
    waiting = WaitingRuns()


class StateItem(_Base):
    """A lock or a counter: frequency windows, run keys, nth counters, after_silence countdowns."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "state_table"
    counter = NumberAttribute(null=True)
    run_id = UnicodeAttribute(null=True)
    until = NumberAttribute(null=True)
    data = JSONAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def state_key(workspace: str, kind: str, automation_id: str, value: str) -> tuple[str, str]:
    """The key of a lock or a counter of the state table: ``{ws}#{kind}#{automation}#{value} / {kind}``."""
    return f"{workspace}#{kind}#{automation_id}#{value}", kind


#: The counters kept per automation, per step and per day (see :mod:`automations.adapters.dynamodb.stats`).
COUNTERS = PORT_COUNTERS


class StatsItem(_Base):
    """Counters of one automation (or one of its steps) for one day, in one of several shards."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "stats_table"
    automation_id = UnicodeAttribute()
    step = UnicodeAttribute()
    day = UnicodeAttribute()
    runs_started = NumberAttribute(null=True)
    runs_completed = NumberAttribute(null=True)
    runs_cancelled = NumberAttribute(null=True)
    runs_failed = NumberAttribute(null=True)
    skipped_filter = NumberAttribute(null=True)
    skipped_frequency = NumberAttribute(null=True)
    skipped_run_key = NumberAttribute(null=True)
    skipped_no_person = NumberAttribute(null=True)
    skipped_no_run_key = NumberAttribute(null=True)
    sent = NumberAttribute(null=True)
    delivered = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    opened_unique = NumberAttribute(null=True)
    clicked = NumberAttribute(null=True)
    clicked_unique = NumberAttribute(null=True)
    bounced_hard = NumberAttribute(null=True)
    bounced_soft = NumberAttribute(null=True)
    complained = NumberAttribute(null=True)
    rejected = NumberAttribute(null=True)
    delayed = NumberAttribute(null=True)
    unsubscribed = NumberAttribute(null=True)
    suppressed = NumberAttribute(null=True)
    send_failed = NumberAttribute(null=True)
    send_unknown = NumberAttribute(null=True)
    rendering_failed = NumberAttribute(null=True)
    actions_done = NumberAttribute(null=True)
    actions_failed = NumberAttribute(null=True)
    actions_retried = NumberAttribute(null=True)


MODELS: list[type[_Base]] = [
    AutomationHead,
    AutomationVersion,
    Route,
    EventItem,
    RunItem,
    StateItem,
    StatsItem,
]


_shared: dict[tuple[str, str | None], Connection] = {}


def shared_connection(region: str, host: str | None) -> Connection:
    """One pynamodb connection per region and endpoint, for every model and every transaction.

    A connection makes its own botocore session and client on first use (tens of milliseconds of loading
    service models); sharing one spares that per model. Its session and client are per thread.
    """
    found = _shared.get((region, host))
    if found is None:
        found = _shared[(region, host)] = Connection(region=region, host=host)
    return found


def bind(settings: Settings, models: list[type[Any]] | None = None) -> None:
    """Point the models at the stack's tables (and at the moto server when an endpoint is set)."""
    shared = shared_connection(settings.region, settings.endpoint_url)
    for model in models or MODELS:
        meta: Any = model.Meta
        meta.table_name = getattr(settings, model.setting)
        meta.region = settings.region
        meta.host = settings.endpoint_url
        model._connection = None
        table = model._get_connection()
        own = table.connection.get_meta_table(meta.table_name)
        try:
            shared.add_meta_table(own)
        except ValueError:  # known already: the models of one table share its key schema, and their indexes add up
            _add_indexes(shared.get_meta_table(meta.table_name), own)
        table.connection = shared


def _add_indexes(known: MetaTable, model: MetaTable) -> None:
    """Make a model's indexes (and the attributes that key them) known on its table's schema."""
    for part, name in (("GlobalSecondaryIndexes", "IndexName"), ("AttributeDefinitions", "AttributeName")):
        entries = known.data.setdefault(part, [])
        names = {entry[name] for entry in entries}
        entries.extend(entry for entry in model.data.get(part) or [] if entry[name] not in names)


class MessagesBySesId(GlobalSecondaryIndex["MessageItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_ses_id"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class MessageItem(_Base):
    """One email to one recipient: ``{ws}#run#{run} / msg#{step}#{message id}``, found by run or by SES id.

    ``state`` is the sending lifecycle (sending, retrying, sent, unknown, failed, skipped); ``status`` is what
    SES reported last, by precedence (sent < delayed < delivered < opened < clicked < rejected < bounced <
    complained), and ``seen`` holds the digests of the SES events already counted for it.
    """

    class Meta(_Base.Meta):
        abstract = False

    setting = "messages_table"
    automation_id = UnicodeAttribute()
    version = NumberAttribute(default=0)
    run_id = UnicodeAttribute()
    step = UnicodeAttribute()
    message_id = UnicodeAttribute()
    address = UnicodeAttribute()
    type = UnicodeAttribute(default="transactional")
    person = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    test = BooleanAttribute(default=False)
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    attempt = UnicodeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    status_rank = NumberAttribute(null=True)
    status_at = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    opened_at = UnicodeAttribute(null=True)
    clicked_at = UnicodeAttribute(null=True)
    opens = NumberAttribute(null=True)
    clicks = NumberAttribute(null=True)
    bounce_type = UnicodeAttribute(null=True)
    seen = UnicodeSetAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    by_ses_id = MessagesBySesId()


class SuppressionItem(_Base):
    """An address that must not get some mail: ``{ws}#contact#{address} / suppressed#{kind}``.

    ``kind`` is ``bounce`` or ``complaint`` (every type of mail) or ``unsubscribe`` (``scope``: promotional mail
    only, or ``non_essential``: promotional and transactional mail).
    """

    class Meta(_Base.Meta):
        abstract = False

    setting = "contacts_table"
    address = UnicodeAttribute()
    kind = UnicodeAttribute()
    scope = UnicodeAttribute()
    reason = UnicodeAttribute()
    source = UnicodeAttribute()
    automation_id = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


MODELS.extend([MessageItem, SuppressionItem])


class KeysByWorkspace(GlobalSecondaryIndex["KeyItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_workspace"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class KeyItem(_Base):
    """A key: ``key#{sha256 of its secret} / key``, found by workspace and id through ``by_workspace``."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "keys_table"
    key_id = UnicodeAttribute()
    workspace = UnicodeAttribute()
    name = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)
    created_at = UTCDateTimeAttribute()
    last_used_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_workspace = KeysByWorkspace()


class AdminCountItem(_Base):
    """``{ws}#admins / admins``: how many active admin keys the workspace has."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "keys_table"
    admins = NumberAttribute(default=0)


class WorkspaceItem(_Base):
    """A workspace: ``workspaces / {id}``."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "workspaces_table"
    name = UnicodeAttribute()
    sender_address = UnicodeAttribute()
    sender_name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    locale = UnicodeAttribute()
    brand_name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    hard_bounce_rate_limit = NumberAttribute(null=True)
    complaint_rate_limit = NumberAttribute(null=True)


MODELS.extend([KeyItem, AdminCountItem, WorkspaceItem])


class ContactsByWorkspace(GlobalSecondaryIndex["ContactItem"]):  # type: ignore[no-untyped-call]
    """Every profile of a workspace by person id, with the fields a search matches (case-folded); a profile's
    other changes (labels, points...) never write it."""

    class Meta:
        index_name = "by_workspace"
        projection = IncludeProjection(["search_email", "search_name", "search_last"])

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ContactItem(_Base):
    """A contact profile: ``{ws}#person#{id} / profile``; ``version`` counts its writes (each one conditional on
    the version read), ``attrs`` holds the attributes map as JSON."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "contacts_table"
    person = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    labels = ListAttribute(of=UnicodeAttribute, default=list)
    points = NumberAttribute(default=0)
    badges = ListAttribute(of=UnicodeAttribute, default=list)
    lead_status = UnicodeAttribute(null=True)
    attrs = JSONAttribute(null=True)
    promotional = BooleanAttribute(default=True)
    transactional = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = NumberAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    search_email = UnicodeAttribute(null=True)
    search_name = UnicodeAttribute(null=True)
    search_last = UnicodeAttribute(null=True)
    by_workspace = ContactsByWorkspace()


class ContactLabelItem(_Base):
    """A profile's label: ``{ws}#label#{label} / {id}``, written and removed with the profile."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "contacts_table"


class ContactLedgerItem(_Base):
    """A change applied once: ``{ws}#person#{id} / ledger#{key}`` (``key`` is ``run:step``), expiring by TTL."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "contacts_table"
    at = UTCDateTimeAttribute()
    expires_at = NumberAttribute()


MODELS.extend([ContactItem, ContactLabelItem, ContactLedgerItem])


class TasksByWorkspace(GlobalSecondaryIndex["TaskItem"]):  # type: ignore[no-untyped-call]
    """Every task of a workspace, by creation then id (queried newest first)."""

    class Meta:
        index_name = "by_workspace"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class TasksByStatus(GlobalSecondaryIndex["TaskItem"]):  # type: ignore[no-untyped-call]
    """The tasks of a workspace in one status, by creation then id (queried newest first)."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class TaskItem(_Base):
    """A task: ``{ws}#task#{id} / task``, listed through ``by_workspace`` and ``by_status``."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "actions_table"
    task_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    assignee = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute()
    person = UnicodeAttribute(null=True)
    automation_id = UnicodeAttribute(null=True)
    run_id = UnicodeAttribute(null=True)
    step = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_workspace = TasksByWorkspace()
    by_status = TasksByStatus()


class CouponItem(_Base):
    """A code of a pool: ``{ws}#pool#{pool} / unused#{code}`` (left to claim), ``claimed#{code}`` (with its
    claimant), and a claimant's ``by#{claimant}`` (with its code)."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "actions_table"
    code = UnicodeAttribute()
    claimant = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


class CouponPoolItem(_Base):
    """A pool's counts: ``{ws}#pools / {pool}``, changed in the same transactions as its codes."""

    class Meta(_Base.Meta):
        abstract = False

    setting = "actions_table"
    left = NumberAttribute(default=0)
    claimed = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)


MODELS.extend([TaskItem, CouponItem, CouponPoolItem])
