"""The ports: what the services ask of storage, schedules, queues, the email provider, secrets and the clock.

Each is a :class:`typing.Protocol` over domain values (:mod:`automations.ports.values`, the engine's
:class:`~automations.engine.state.RunState`). Every rule that must hold under concurrency is stated here as
the port's own promise (a conditional write, never a read then a write), so an adapter and its in-memory
fake keep the same one; ``tests/contract`` runs one suite against both.

Stores are bound to one workspace: every key they read or write is that workspace's.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Literal, Protocol

from automations.engine.effects import EmailRequest, WebhookCall
from automations.engine.state import RunState
from automations.ports.values import (
    ApiKey,
    AutomationInfo,
    BusEntry,
    ContactChange,
    ContactPatch,
    ContactProfile,
    CouponCounts,
    EmailRecord,
    EventReads,
    FeedbackUpdate,
    Locks,
    OutgoingEmail,
    PreparedEmail,
    RouteInfo,
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
)


class AutomationStore(Protocol):
    """Automations: a head per automation, immutable versions, and routes for the active ones.

    The head and the routes change in one transaction: an active automation is routed at its current
    version, an inactive or draft one not at all.
    """

    def head(self, automation_id: str) -> AutomationInfo:
        """The automation's head, read consistently; ``NotFoundError`` when there is none."""
        ...

    def heads(self) -> list[AutomationInfo]:
        """Every automation of the workspace, by id."""
        ...

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        """A version's definition; ``NotFoundError`` when missing. Versions never change, so the answer may come
        from a cache and be shared: the caller copies it before changing it."""
        ...

    def versions(self, automation_id: str) -> list[VersionInfo]:
        """Every stored version of an automation, oldest first (none for an unknown id)."""
        ...

    def routes_for(self, event_type: str, *, fresh: bool = False) -> list[RouteInfo]:
        """The active automations listening to an event type, each with its role and current version.

        May answer from a cache a few seconds old (the adapter's ``cache_seconds``) unless ``fresh``; a write
        through this store forgets the cache.
        """
        ...

    def forget_routes(self) -> None:
        """Drop the cached routes: the next :meth:`routes_for` reads them again."""
        ...

    def create(self, definition: dict[str, Any], now: datetime) -> AutomationInfo:
        """Version 1 of a new automation (and its routes when it is created active), all or nothing.

        ``ConflictError`` when the id exists already.
        """
        ...

    def replace(self, definition: dict[str, Any], now: datetime, *, expected_version: int | None = None) -> int:
        """Store a new immutable version and move the head to it; returns the new version number.

        The head moves only if it is still at the version read (``ConflictError`` otherwise, and when it is not
        at ``expected_version``); ``NotFoundError`` for an unknown id. The definition's ``status`` (or the
        head's, when it has none) decides the routes: the old version's routes go, the new one's come.
        """
        ...

    def set_status(self, automation_id: str, status: str, now: datetime, reason: str | None = None) -> AutomationInfo:
        """Activate or deactivate: the head (with ``reason``) and the routes change together, or not at all.

        ``ConflictError`` when the head changed since it was read; ``NotFoundError`` for an unknown id.
        """
        ...

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> AutomationInfo:
        """Change the head's name (and its description unless None); versions keep theirs. ``NotFoundError``."""
        ...

    def delete(self, automation_id: str) -> None:
        """Remove the head and the routes (together, if the head did not change), then the versions.

        ``NotFoundError`` for an unknown id.
        """
        ...


class EventStore(Protocol):
    """Trigger events as received, each id stored once."""

    def put_new(self, events: Sequence[StoredEvent]) -> list[bool]:
        """Store the events whose ids are new, in one go (at most 100); per event, True when it was stored and
        False when its id was seen before (that one is left as it was)."""
        ...

    def get(self, event_id: str) -> StoredEvent | None:
        """The stored event, read consistently."""
        ...

    def mark_processed(self, done: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Mark stored events ``processed``, each with the ids of the runs it started."""
        ...


class RunStore(Protocol):
    """Runs, with their locks (frequency windows and run keys) and the run counters of the statistics."""

    def get(self, run_id: str) -> StoredRun:
        """The run and its revision, read consistently; ``NotFoundError`` when there is none."""
        ...

    def create(
        self,
        state: RunState,
        locks: Locks,
        now: datetime,
        *,
        processed: tuple[str, Sequence[str]] | None = None,
        stored: StoredEvent | None = None,
    ) -> None:
        """Write a new run (revision 0), its locks and its counters (``runs_started``, and the ending's when it
        ended at once) in one transaction, or nothing; with ``processed`` (an event's id and its runs), that
        stored event is marked processed with those runs in the same transaction. With ``stored`` (an event not
        stored yet, whose id ``processed`` names if given), the event is stored in the same transaction instead,
        only if its id is new: ``processed`` with those runs, or as it is without ``processed``.

        ``SkippedError`` says why nothing was written: ``stored`` (an event of ``stored``'s id was stored before;
        said first, whatever else failed), ``exists`` (the run id is stored already), ``frequency`` (the person's
        window for the automation is held, until ``frequency_until`` or forever) or ``run_key`` (another run holds
        the key and its lock has not expired; the run's own lock does not stop it).
        """
        ...

    def save(
        self, state: RunState, revision: int, *, position: str | None, now: datetime, count: StepCount | None = None
    ) -> bool:
        """Store an advanced run if it is still at ``revision`` and (unless None) waiting on ``position``;
        False, with nothing written (nor counted), otherwise. The stored revision becomes ``revision + 1``;
        ``count`` is added to its step's statistics in the same write.

        A run that ends is counted and freed of its run key in the same transaction; a run that goes on waiting
        moves its run key's expiry past its new due time. A run key held by another run (its lock expired and
        was taken) is left as it is.
        """
        ...

    def run_for_key(self, automation_id: str, run_key: str) -> str | None:
        """The run holding a run key's lock (even one past its expiry that nobody took), if any."""
        ...

    def read_for_events(
        self,
        people: Sequence[str],
        run_keys: Sequence[tuple[str, str]] = (),
        countdowns: Sequence[tuple[str, str]] = (),
    ) -> EventReads:
        """What ingest needs before it processes events, read consistently together (one request per hundred
        keys, across tables): the profiles of ``people`` (as :meth:`ContactStore.get_many`), the run holding each
        run key of ``run_keys`` ((automation, key), as :meth:`run_for_key`) and the running countdown of each
        (automation, person) of ``countdowns`` (as :meth:`CounterStore.silence`). ``InvalidInputError`` for a
        person id no profile can have."""
        ...

    def by_automation(self, automation_id: str, limit: int = 50) -> Iterator[RunState]:
        """Runs of an automation, newest first (by start, then id), at most ``limit``."""
        ...

    def by_person(self, person: str, limit: int = 50) -> Iterator[RunState]:
        """Runs of a person across automations, newest first, at most ``limit``."""
        ...

    def waiting_of(self, automation_id: str) -> Iterator[StoredRun]:
        """Runs of an automation that have not ended (running or waiting), oldest first."""
        ...


class CounterStore(Protocol):
    """Per-person counters and countdowns of an automation: ``nth`` and ``after_silence``."""

    def bump(self, automation_id: str, person: str, event_id: str) -> int:
        """Count one more event for the person, atomically; the same event id twice in a row counts once.
        Returns the count."""
        ...

    def silence(self, automation_id: str, person: str) -> Silence | None:
        """The person's running countdown, read consistently."""
        ...

    def set_silence(
        self, automation_id: str, person: str, event: dict[str, Any], due_at: datetime
    ) -> Literal["started", "moved"] | None:
        """Restart the countdown from ``event`` (its ``id`` names it), in one write: ``started`` when the person had
        none, ``moved`` when one ran (from an earlier event, or from this one: a retry); None, with nothing
        changed, when it already runs from an event due later (a late older event never shortens the silence)."""
        ...

    def restart_silence(
        self,
        automation_id: str,
        person: str,
        event: dict[str, Any],
        due_at: datetime,
        *,
        stored: StoredEvent,
        current: Silence | None,
    ) -> Literal["started", "moved"] | None:
        """:meth:`set_silence` with ``stored`` (an event not stored yet) stored in the same write, only if its id is
        new; ``current`` is the countdown as read before (None: none ran), which tells ``started`` from ``moved``.
        None when the countdown runs from an event due later: the event is then stored alone. ``SkippedError``
        (``stored``), with nothing written, when an event of that id was stored before."""
        ...

    def clear_silence(self, automation_id: str, person: str, event_id: str) -> bool:
        """Drop the countdown if it is still the one of ``event_id``; False if a newer event replaced it (or none)."""
        ...


class MessageStore(Protocol):
    """One record per email and recipient: what makes each (run, step, recipient) reach the provider at most once.

    ``counts`` go to the statistics of the record's automation and of its step in the same transaction as the
    record's change, so a retry can neither lose nor double them. Records are made by :meth:`EmailRecord.new`
    with this store's ``workspace``.
    """

    workspace: str

    def get(self, run_id: str, step: str, message_id: str) -> EmailRecord | None:
        """A record, read consistently."""
        ...

    def of_run(self, run_id: str) -> list[EmailRecord]:
        """Every record of a run, by step, then message id."""
        ...

    def by_ses_id(self, ses_message_id: str) -> EmailRecord | None:
        """The record the provider's message id was recorded on (:meth:`mark_sent`)."""
        ...

    def claim(self, record: EmailRecord) -> bool:
        """Write the record (state ``sending``) unless one exists; a released ``retrying`` one is overwritten.
        False, with nothing written, when it existed."""
        ...

    def claim_unless_suppressed(self, record: EmailRecord) -> tuple[bool, Suppression | None]:
        """:meth:`claim`, in one write with the check that no suppression of the record's address (kind
        ``bounce``, ``complaint`` or ``unsubscribe``) blocks its type: ``(True, None)`` claimed; ``(False, None)``
        a record existed (whatever the suppressions); ``(False, suppression)`` nothing written, that suppression
        blocks it."""
        ...

    def record_outcome(self, record: EmailRecord, counts: Mapping[str, int], now: datetime) -> bool:
        """Write a final record (``skipped``, ``failed``) with its counts, under :meth:`claim`'s condition; False
        (nothing written, nothing counted) when one existed."""
        ...

    def finish(
        self,
        record: EmailRecord,
        *,
        state: str,
        now: datetime,
        expected_state: str | None = None,
        attempt: str | None = None,
        reason: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> bool:
        """Move a stored record to ``state`` (``reason`` cut to 1000 characters) with its counts, if it is still in
        ``expected_state`` and owned by ``attempt`` (each when given); False, nothing changed, otherwise."""
        ...

    def mark_sent(self, record: EmailRecord, ses_message_id: str, attempt: str, now: datetime) -> bool:
        """The provider took it: state ``sent``, its message id (found by :meth:`by_ses_id` from then on), no
        reason, status :data:`~automations.ports.SENT_STATUS` (at :data:`~automations.ports.SENT_RANK`, timed
        ``now`` as the provider writes times) unless it has one, and ``sent`` counted (not for a test record) in
        the same write; only if ``attempt`` owns the record and it is still ``sending``, or ``unknown`` (given up
        by a concurrent delivery of the same request: its ``send_unknown`` is taken back). False, nothing changed
        nor counted, otherwise: a second mark, or a record the provider's own event settled first (counting it)."""
        ...

    def apply_feedback(self, run_id: str, step: str, message_id: str, update: FeedbackUpdate) -> bool:
        """Apply one provider event to a record, with its counts and suppressions, in one transaction (what must
        still hold is :class:`~automations.ports.values.FeedbackUpdate`'s). False, with nothing written, when the
        event was applied before or the record changed since it was read: read it again."""
        ...


class SuppressionStore(Protocol):
    """Addresses that must not get mail, one suppression per address and kind (addresses normalized)."""

    def of(self, address: str) -> list[Suppression]:
        """The address's suppressions, read consistently, by kind."""
        ...

    def blocking(self, address: str, email_type: str) -> Suppression | None:
        """The first suppression that keeps an email of ``email_type`` from ``address``, if any."""
        ...

    def add_new(
        self, suppression: Suppression, *, now: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> bool:
        """Record a suppression of a kind the address did not have, with ``counts`` for its automation (and step)
        in the same transaction; False (nothing written or counted) when it had it."""
        ...

    def upsert(self, suppression: Suppression) -> None:
        """Record a suppression, or keep the one there: its first reason, source, time and automation stay."""
        ...

    def put(self, suppression: Suppression) -> None:
        """Record a suppression in place of the one of its kind the address had (a new scope, reason, source,
        time and automation), counting nothing."""
        ...

    def remove(self, address: str, kind: str) -> bool:
        """Remove the address's suppression of this kind; False when it had none."""
        ...


class StatsStore(Protocol):
    """Counters per automation, per step and per day (the names of :data:`~automations.ports.values.COUNTERS`)."""

    def increment(
        self,
        automation_id: str,
        moment: datetime,
        counts: Mapping[str, int],
        step: str | None = None,
        *,
        whole: bool = True,
    ) -> None:
        """Add to counters (``ADD``: atomic, may be negative) of the automation on ``moment``'s day, and of the step
        when given (the step's alone with ``whole=False``: one request); ``KeyError`` for an unknown counter name,
        with nothing added."""
        ...

    def read(self, automation_id: str, start: date | None = None, end: date | None = None) -> dict[str, dict[str, int]]:
        """Counters summed over the days from ``start`` to ``end`` (inclusive, each optional): one bucket per step
        and :data:`~automations.ports.values.WHOLE` for the automation (always there), each with every counter."""
        ...

    def reputation(self, automation_id: str, start: date) -> dict[str, int]:
        """The automation's :data:`~automations.ports.values.REPUTATION_COUNTERS` (as a whole) summed over the days
        from ``start`` on, as :meth:`read` sums them, in one read: whatever adds to them (:meth:`increment`, a
        store's write with its counts) keeps that running total in the same write."""
        ...

    def daily(
        self, automation_id: str, start: date | None = None, end: date | None = None
    ) -> dict[str, dict[str, int]]:
        """The automation's counters (every one) of each day from ``start`` to ``end`` (inclusive, each optional)
        that has any, by day (``YYYY-MM-DD``), oldest first."""
        ...


class Scheduler(Protocol):
    """One-time schedules that call the stack back at a time with a payload, by name (names are deterministic,
    so a retried creation finds its twin)."""

    def create(self, name: str, due_at: datetime, payload: dict[str, Any]) -> bool:
        """Create a schedule (due to the second, rounded up); False, nothing changed, when the name exists."""
        ...

    def replace(self, name: str, due_at: datetime, payload: dict[str, Any], *, existing: bool = False) -> None:
        """Create the schedule, or move an existing one to a new time and payload; ``existing`` says it is likely
        there (it is moved first, and created only when it is not), which saves a request."""
        ...

    def delete(self, name: str) -> bool:
        """Delete a schedule; False when it was already gone (fired, or deleted before)."""
        ...


class EmailQueue(Protocol):
    """The queue of email requests that the sender consumes, one message per request."""

    def send(self, requests: Sequence[EmailRequest]) -> None:
        """Queue the requests (inside :meth:`buffered`: hold them until the block ends); raises when any of them
        could not be queued."""
        ...

    def buffered(self) -> AbstractContextManager[None]:
        """A block whose sends are held and queued together at its end, even when the block fails (the runs that
        asked for them are stored already). Blocks nest: the outermost one queues."""
        ...

    def postpone(self, receipt: str, seconds: int, source: str | None = None) -> None:
        """Keep a received message away for ``seconds`` before it is received again (the queue's retries and its
        dead-letter queue still count it). ``receipt`` names the receipt (SQS's receipt handle); ``source`` is the
        queue the message came from (its ARN), when it may not be this one. Raises when it cannot be postponed."""
        ...


class WebhookQueue(Protocol):
    """The queue of webhook calls that the webhook function consumes, one message per call."""

    def send(self, calls: Sequence[WebhookCall]) -> None:
        """Queue the calls; raises when any of them could not be queued (queueing them again is safe: each call
        is made for its run only while the run waits on its step)."""
        ...

    def postpone(self, receipt: str, seconds: int, source: str | None = None) -> None:
        """Keep a received message away for ``seconds`` (as :meth:`EmailQueue.postpone`)."""
        ...


class WebhookClient(Protocol):
    """Sends one webhook request; never raises for the URL, the network or the receiver."""

    def post(self, url: str, headers: Mapping[str, str], body: bytes, *, method: str = "POST") -> WebhookResponse:
        """One request, and what came of it (delivered, retry, or failed with the reason)."""
        ...


class WebhookSecretStore(Protocol):
    """The workspace's webhook signing secret (DESIGN.md §3: Standard Webhooks ``whsec_`` secrets)."""

    workspace: str

    def get(self, *, fresh: bool = False) -> WebhookSecret | None:
        """The secret, None when the workspace has none yet; a value read a short while ago may be answered
        unless ``fresh``."""
        ...

    def create(self, secret: WebhookSecret) -> WebhookSecret:
        """Store the workspace's first secret; when another was stored meanwhile, that one is answered."""
        ...

    def put(self, secret: WebhookSecret) -> None:
        """Replace the secret (a rotation)."""
        ...


class EventBus(Protocol):
    """The stack's event bus: what the product puts there reaches the rules on it (ingest_trigger's among them,
    so that a ``contact.<change>`` event can start other automations)."""

    def put(self, entries: Sequence[BusEntry]) -> None:
        """Put the entries on the bus (ten per request); raises when any of them could not be put, after which
        putting them all again is safe: each carries its own id in its detail, and ingest takes an id once."""
        ...


class EmailSender(Protocol):
    """The email provider: one attempt per call, so that an email reaches it at most once."""

    @property
    def call_seconds(self) -> float:
        """The longest one :meth:`submit` takes, from the call to its answer or its error."""
        ...

    def max_send_rate(self) -> float:
        """The account's maximum sending rate, in emails per second; raises when the provider cannot tell."""
        ...

    def prepare(self, email: OutgoingEmail, now: datetime) -> PreparedEmail:
        """Check and build the email (``now`` is its Date); ``SendRejectedError`` when it can never be sent (an
        unusable address)."""
        ...

    def submit(self, prepared: PreparedEmail) -> str:
        """Send a prepared email; returns the provider's message id.

        ``SendTransientError``: not taken, a later attempt may succeed. ``SendRejectedError``: refused for good.
        ``SendOutcomeUnknownError``: it may have been taken (the reply was lost); never send it again.
        """
        ...


class Secrets(Protocol):
    """Secret values by ARN (cached for a while by the adapter)."""

    def get(self, arn: str) -> str:
        """The secret's string value; ``NotFoundError`` when there is no such secret."""
        ...


class Clock(Protocol):
    """The one place that reads the time."""

    def now(self) -> datetime:
        """The time now, in UTC."""
        ...


class KeyStore(Protocol):
    """The keys of every workspace, found by the SHA-256 hash of their secret (never the secret itself).

    Unlike the other stores it is not bound to one workspace: a presented key names its workspace. The number of
    a workspace's active admin keys changes in the same write as the key, so a workspace never loses its last
    one, even to two revocations at once.
    """

    def create(self, key: ApiKey, secret_hash: str) -> None:
        """Store a new key under its secret's hash; ``ConflictError`` when the hash or the id is taken."""
        ...

    def by_hash(self, secret_hash: str) -> StoredKey | None:
        """The key whose secret has this hash (revoked ones too), read consistently."""
        ...

    def get(self, workspace: str, key_id: str) -> ApiKey | None:
        """A workspace's key by id (revoked ones too)."""
        ...

    def of_workspace(self, workspace: str) -> list[ApiKey]:
        """Every key of a workspace (revoked ones too), by id."""
        ...

    def revoke(self, workspace: str, key_id: str, now: datetime) -> ApiKey:
        """Revoke a key (a revoked one stays as it was); answers the key as it is now.

        ``NotFoundError`` for an unknown id; ``ConflictError`` when it is the workspace's last active admin key
        (nothing written).
        """
        ...

    def touch(self, secret_hash: str, now: datetime) -> bool:
        """Set the key's ``last_used_at`` to ``now`` unless it was set less than ``TOUCH_INTERVAL`` (a minute)
        before: a conditional write, so concurrent requests write it once. True when it was written."""
        ...


class WorkspaceStore(Protocol):
    """The workspaces of the stack."""

    def create(self, workspace: Workspace) -> None:
        """Store a new workspace; ``ConflictError`` when its id exists already (nothing changed)."""
        ...

    def get(self, workspace_id: str) -> Workspace | None:
        """A workspace by id, read consistently."""
        ...

    def all(self) -> list[Workspace]:
        """Every workspace, by id."""
        ...


class ContactStore(Protocol):
    """The contact profiles of one workspace, one per person (DESIGN.md §3, "The contact profile").

    Every change is a read, the rules of :mod:`automations.ports.profiles`, and a write that succeeds only if the
    profile is still at the version read (tried again a few times when another change came first): concurrent
    changes of one profile never lose each other. Listings go by person id.
    """

    workspace: str

    def get(self, person: str) -> ContactProfile | None:
        """The person's profile, read consistently; None when there is none."""
        ...

    def apply(
        self,
        person: str,
        patch: ContactPatch,
        now: datetime,
        *,
        ledger_key: str | None = None,
        count: StepCount | None = None,
    ) -> tuple[ContactProfile, builtins.list[ContactChange]]:
        """Apply a patch to the person's profile (made when there is none): the profile after it, and the changes
        it made (:func:`~automations.ports.profiles.apply_patch`); a patch that changes nothing writes nothing.

        With ``ledger_key`` (``run:step``), the key is recorded in the same write, and a key recorded before
        changes nothing: the answer is the profile as it is, with no changes (points are never awarded twice
        for one step of one run); ``count`` (given with a ledger key only, else ``ValueError``) is added to its
        step's statistics in the write that records the key, so never twice either. ``InvalidInputError`` naming
        the field when the patch would break the profile's bounds (nothing written); ``ConflictError`` when other
        changes kept winning.
        """
        ...

    def upsert_from_event(self, person: str, event_contact: Mapping[str, Any], now: datetime) -> ContactProfile:
        """Merge what an event's ``contact`` carries into the person's profile (made when there is none):
        :func:`~automations.ports.profiles.merge_event_contact`. Answers the profile after it."""
        ...

    def get_many(self, people: Sequence[str]) -> dict[str, ContactProfile]:
        """The profiles of these people that exist, by person id, read consistently (one request per hundred
        people); ``InvalidInputError`` for a person id no profile can have."""
        ...

    def upsert_with_event(
        self,
        event: StoredEvent,
        person: str,
        event_contact: Mapping[str, Any],
        now: datetime,
        *,
        current: ContactProfile | None,
    ) -> tuple[ContactProfile, bool]:
        """:meth:`upsert_from_event` from ``current`` (the profile as :meth:`get_many` read it, None for none; read
        again only when another change came first), with ``event`` stored in the profile's own write, only if its
        id is new. Answers the profile after it, and whether the event was stored with it (False: the profile
        changed nothing and nothing was written). ``SkippedError("exists")`` when an event of that id was stored
        before: nothing changed."""
        ...

    def list(
        self, *, label: str | None = None, query: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[ContactProfile], str | None]:
        """One page of profiles by person id: those with ``label``, those a search ``query`` finds
        (:meth:`ContactProfile.matches`: the start of the email address, first, full or last name, whatever the
        case), at most ``limit`` (1 to 100); and the cursor of the next page (None on the last one).
        ``InvalidInputError`` naming ``label``, ``q``, ``limit`` or ``cursor``."""
        ...

    def delete(self, person: str) -> bool:
        """Remove the person's profile (and its label memberships); False when there was none. The keys the
        ledger recorded stay until they expire, so a retried step still changes nothing."""
        ...


class TaskStore(Protocol):
    """The tasks of one workspace (DESIGN.md §3, ``create_task``), listed newest first.

    A task is made once by its id: a step retried makes the same id, and finds the task it made before.
    """

    workspace: str

    def create(self, task: Task) -> Task:
        """Store a new task (a conditional write on its id) and answer it as stored
        (:func:`~automations.ports.values.check_task`); when a task with that id exists, answer that one
        unchanged and write nothing. ``InvalidInputError`` naming each field that cannot be accepted."""
        ...

    def get(self, task_id: str) -> Task | None:
        """A task by id, read consistently; None when there is none (or the id cannot be a task's)."""
        ...

    def list(
        self, *, status: str | None = None, assignee: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[Task], str | None]:
        """One page of tasks, newest first (by creation, then id): those with ``status`` and (exactly) ``assignee``
        when given, at most ``limit`` (1 to 100); and the cursor of the next page (None on the last one).
        ``InvalidInputError`` naming ``status``, ``assignee``, ``limit`` or ``cursor``."""
        ...

    def set_status(self, task_id: str, status: str, now: datetime) -> Task:
        """Mark a task ``open`` or ``done`` (``updated_at`` becomes ``now``; a task already in that status is left
        as it is) and answer it. ``NotFoundError`` for an unknown id; ``InvalidInputError`` naming ``status``."""
        ...


class CouponStore(Protocol):
    """The coupon pools of one workspace: codes loaded by operators, each claimed at most once (DESIGN.md §3,
    ``issue_coupon``).

    A claim is a conditional write: two claimants never get the same code, and a claimant (a run's step) that
    claims again gets the code it got before. Each pool counts its codes left and claimed in the same writes.
    """

    workspace: str

    def load(self, pool: str, codes: Sequence[str], now: datetime) -> int:
        """Add codes to a pool (made by its first load): how many were added. Codes the pool has already (left or
        claimed) and repeats are ignored. ``InvalidInputError`` naming ``pool`` (not a slug), ``codes`` (none,
        or more than 1000) or ``codes[i]`` (not 1 to 128 printable characters)."""
        ...

    def claim(self, pool: str, claimant: str, now: datetime) -> str | None:
        """Claim one code of the pool that nobody claimed, for ``claimant`` (``run:step``): its code. The same
        claimant gets the same code on every call; None when the pool has no code left (or no such pool).
        ``InvalidInputError`` naming ``pool`` or ``claimant``; a :class:`~automations.ports.TransientError` when
        other claims kept taking the codes tried (a later call may succeed)."""
        ...

    def counts(self, pool: str) -> CouponCounts:
        """The pool's codes left and claimed (both 0 for a pool never loaded). ``InvalidInputError`` naming
        ``pool``."""
        ...

    def pools(self) -> builtins.list[CouponCounts]:
        """Every pool of the workspace with its counts, by name."""
        ...
