"""In-memory fakes of every port (:mod:`automations.ports`), for services tested in milliseconds.

Each keeps its adapter's conditional semantics: a run is created only when no lock holds (and says which),
saved only at the revision and position read; an event id is stored once; a message is claimed once unless
it was released as ``retrying``, and a provider's event applies to it once, only to the record as it was read;
counters ``ADD``; schedules go by name; a task is made once by its id; a coupon code is claimed once, and a
claimant that claims again gets its code again. ``tests/contract`` runs the same suite against each fake and its
adapter, so that they cannot drift. A lock per fake makes each operation atomic, as
a conditional write is.

:class:`Fakes` builds all of them for one workspace, the stores sharing one :class:`FakeStatsStore` (runs,
messages and suppressions count in the same write, as their adapters do), and the message store writing a
provider event's suppressions to the suppression store in the same write.
"""

from __future__ import annotations

import builtins
import itertools
import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from automations import ses_records
from automations.adapters import ses
from automations.adapters.dynamodb.automations import routes_of
from automations.adapters.dynamodb.runs import ended_counter, run_key_expiry
from automations.adapters.dynamodb.tables import COUNTERS
from automations.engine.effects import EmailRequest, WebhookCall
from automations.engine.state import RunState, RunStatus
from automations.ports import (
    REPUTATION_COUNTERS,
    SENT_RANK,
    SENT_STATUS,
    TOUCH_INTERVAL,
    WHOLE,
    AccessPorts,
    ApiKey,
    AutomationInfo,
    BusEntry,
    ConflictError,
    EmailRecord,
    EventReads,
    FeedbackUpdate,
    Locks,
    NotFoundError,
    OutgoingEmail,
    Ports,
    PreparedEmail,
    RouteInfo,
    SendError,
    SendRejectedError,
    SendTransientError,
    Silence,
    SkippedError,
    StepCount,
    StoredEvent,
    StoredKey,
    StoredRun,
    Suppression,
    VersionInfo,
    WebhookResponse,
    WebhookSecret,
    Workspace,
    normalize_address,
)
from automations.ports.profiles import apply_patch, merge_event_contact
from automations.ports.values import (
    ContactChange,
    ContactListing,
    ContactPatch,
    ContactProfile,
    CouponCounts,
    Task,
    TaskListing,
    check_claimant,
    check_codes,
    check_ledger_key,
    check_person,
    check_pool,
    check_task,
    check_task_status,
    contact_cursor,
    is_task_id,
    json_value,
    task_cursor,
    task_order,
)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _json(value: Any) -> Any:
    """A copy as stored: what a JSON attribute gives back (no object shared with the caller)."""
    return json.loads(json.dumps(value))


class _Atomic:
    """Each operation holds the fake's lock: atomic, as a conditional write or a transaction is."""

    def __init__(self) -> None:
        self._lock = threading.RLock()


# --- statistics -------------------------------------------------------------------------------------------


class FakeStatsStore(_Atomic):
    """Counters per (automation, day, step); ``-`` is the automation as a whole."""

    def __init__(self) -> None:
        super().__init__()
        self.counters: dict[tuple[str, str, str], dict[str, int]] = {}

    @staticmethod
    def check(counts: Mapping[str, int]) -> None:
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise KeyError(f"unknown counters: {sorted(unknown)}")

    def _add(self, automation_id: str, moment: datetime, counts: Mapping[str, int], step: str | None) -> None:
        bucket = self.counters.setdefault((automation_id, moment.date().isoformat(), step or WHOLE), {})
        for name, value in counts.items():
            if value:
                bucket[name] = bucket.get(name, 0) + value

    def increment(
        self,
        automation_id: str,
        moment: datetime,
        counts: Mapping[str, int],
        step: str | None = None,
        *,
        whole: bool = True,
    ) -> None:
        self.check(counts)
        with self._lock:
            targets = ((None, step) if whole else (step,)) if step is not None else (None,)
            for target in targets:
                self._add(automation_id, moment, counts, target)

    def count_with(self, automation_id: str, step: str | None, now: datetime, counts: Mapping[str, int]) -> None:
        """The counters a store's write adds in its own transaction (the automation's and the step's)."""
        if not any(counts.values()):
            return
        self.increment(automation_id, now, counts, step or None)

    def read(self, automation_id: str, start: date | None = None, end: date | None = None) -> dict[str, dict[str, int]]:
        low = (start or date(2000, 1, 1)).isoformat()
        high = (end or date(2999, 12, 31)).isoformat()
        totals: dict[str, dict[str, int]] = {}
        with self._lock:
            for (automation, day, step), bucket in sorted(self.counters.items()):
                if automation != automation_id or not low <= day <= high:
                    continue
                summed = totals.setdefault(step, dict.fromkeys(COUNTERS, 0))
                for name, value in bucket.items():
                    summed[name] += value
        totals.setdefault(WHOLE, dict.fromkeys(COUNTERS, 0))
        return totals

    def reputation(self, automation_id: str, start: date) -> dict[str, int]:
        totals = self.read(automation_id, start)[WHOLE]
        return {name: totals[name] for name in REPUTATION_COUNTERS}

    def daily(
        self, automation_id: str, start: date | None = None, end: date | None = None
    ) -> dict[str, dict[str, int]]:
        low = (start or date(2000, 1, 1)).isoformat()
        high = (end or date(2999, 12, 31)).isoformat()
        days: dict[str, dict[str, int]] = {}
        with self._lock:
            for (automation, day, step), bucket in sorted(self.counters.items()):
                if automation != automation_id or step != WHOLE or not low <= day <= high:
                    continue
                summed = days.setdefault(day, dict.fromkeys(COUNTERS, 0))
                for name, value in bucket.items():
                    summed[name] += value
        return days


# --- automations ------------------------------------------------------------------------------------------


class FakeAutomationStore(_Atomic):
    def __init__(self, workspace: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.heads_by_id: dict[str, AutomationInfo] = {}
        self.definitions: dict[tuple[str, int], VersionInfo] = {}
        self.routes: dict[str, dict[tuple[str, str], RouteInfo]] = defaultdict(dict)

    def head(self, automation_id: str) -> AutomationInfo:
        found = self.heads_by_id.get(automation_id)
        if found is None:
            raise NotFoundError(f"automation {automation_id!r} not found")
        return found

    def heads(self) -> list[AutomationInfo]:
        return [self.heads_by_id[key] for key in sorted(self.heads_by_id)]

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        found = self.definitions.get((automation_id, version))
        if found is None:
            raise NotFoundError(f"automation {automation_id!r} has no version {version}")
        definition: dict[str, Any] = _json(found.definition)
        return definition

    def versions(self, automation_id: str) -> list[VersionInfo]:
        return [info for (key, _), info in sorted(self.definitions.items()) if key == automation_id]

    def routes_for(self, event_type: str, *, fresh: bool = False) -> list[RouteInfo]:
        found = self.routes.get(event_type, {})
        return [found[key] for key in sorted(found, key=lambda k: f"{k[0]}#{k[1]}")]

    def forget_routes(self) -> None:
        """Nothing is cached: every read is fresh."""

    def _rewrite_routes(self, old: dict[str, Any] | None, new: dict[str, Any], status: str, version: int) -> None:
        keep = routes_of(new) if status == "active" else []
        if old is not None:
            for event_type, role in routes_of(old):
                if (event_type, role) not in keep:
                    self.routes[event_type].pop((old["id"], role), None)
        for event_type, role in keep:
            self.routes[event_type][(new["id"], role)] = RouteInfo(new["id"], role, version)

    def create(self, definition: dict[str, Any], now: datetime) -> AutomationInfo:
        automation_id = definition["id"]
        with self._lock:
            if automation_id in self.heads_by_id:
                raise ConflictError(f"automation {automation_id!r} already exists")
            head = AutomationInfo(
                id=automation_id,
                name=definition["name"],
                status=definition.get("status", "draft"),
                version=1,
                trigger_event=definition["trigger"]["event"],
                description=definition.get("description"),
                created_at=_utc(now),
                updated_at=_utc(now),
            )
            self.heads_by_id[automation_id] = head
            self.definitions[(automation_id, 1)] = VersionInfo(automation_id, 1, _json(definition), _utc(now))
            if head.status == "active":
                self._rewrite_routes(None, definition, "active", 1)
            return head

    def replace(self, definition: dict[str, Any], now: datetime, *, expected_version: int | None = None) -> int:
        automation_id = definition["id"]
        with self._lock:
            head = self.head(automation_id)
            current = head.version
            if expected_version is not None and expected_version != current:
                raise ConflictError(f"automation {automation_id!r} is at version {current}, not {expected_version}")
            new = current + 1
            old_definition = self.version(automation_id, current)
            status = definition.get("status", head.status)
            self.definitions[(automation_id, new)] = VersionInfo(automation_id, new, _json(definition), _utc(now))
            self.heads_by_id[automation_id] = replace(
                head,
                version=new,
                name=definition["name"],
                status=status,
                trigger_event=definition["trigger"]["event"],
                description=definition.get("description"),
                updated_at=_utc(now),
            )
            self._rewrite_routes(old_definition if head.status == "active" else None, definition, status, new)
            return new

    def set_status(self, automation_id: str, status: str, now: datetime, reason: str | None = None) -> AutomationInfo:
        with self._lock:
            head = self.head(automation_id)
            definition = self.version(automation_id, head.version)
            changed = replace(head, status=status, status_reason=reason, updated_at=_utc(now))
            self.heads_by_id[automation_id] = changed
            self._rewrite_routes(definition if head.status == "active" else None, definition, status, head.version)
            return changed

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> AutomationInfo:
        with self._lock:
            head = self.head(automation_id)
            changed = replace(head, name=name, updated_at=_utc(now))
            if description is not None:
                changed = replace(changed, description=description)
            self.heads_by_id[automation_id] = changed
            return changed

    def delete(self, automation_id: str) -> None:
        with self._lock:
            head = self.head(automation_id)
            definition = self.version(automation_id, head.version)
            del self.heads_by_id[automation_id]
            for event_type, role in routes_of(definition):
                self.routes[event_type].pop((automation_id, role), None)
            for key in [key for key in self.definitions if key[0] == automation_id]:
                del self.definitions[key]


# --- events -------------------------------------------------------------------------------------------------


class FakeEventStore(_Atomic):
    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, StoredEvent] = {}

    def put_new(self, events: Sequence[StoredEvent]) -> list[bool]:
        stored: list[bool] = []
        with self._lock:
            for event in events:
                if event.id in self.events:
                    stored.append(False)
                    continue
                self.events[event.id] = replace(event, body=_json(event.body), received_at=_utc(event.received_at))
                stored.append(True)
        return stored

    def get(self, event_id: str) -> StoredEvent | None:
        return self.events.get(event_id)

    def mark_processed(self, done: Sequence[tuple[str, Sequence[str]]]) -> None:
        with self._lock:
            for event_id, runs in done:
                found = self.events.get(event_id)
                if found is not None:
                    self.events[event_id] = replace(found, status="processed", runs=tuple(runs))


# --- runs ---------------------------------------------------------------------------------------------------


@dataclass
class _Lock:
    run_id: str
    until: int | None  # epoch seconds; None: held until deleted


@dataclass
class _Run:
    state: dict[str, Any]  # as stored: the JSON of the RunState
    revision: int
    automation_id: str
    person: str | None
    status: str
    position: str | None
    order: str  # the index's sort key: started_at, then id


class FakeRunStore(_Atomic):
    """Runs by id; a run is kept under its own workspace (as the adapter's key is), read in the store's."""

    def __init__(self, workspace: str, stats: FakeStatsStore, events: FakeEventStore | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.stats = stats
        self.events = events if events is not None else FakeEventStore()
        self.runs: dict[tuple[str, str], _Run] = {}
        self.locks: dict[tuple[str, str, str], _Lock] = {}
        #: What :meth:`read_for_events` reads besides the locks (set by :class:`Fakes`).
        self.contacts: FakeContactStore | None = None
        self.counters: FakeCounterStore | None = None

    @staticmethod
    def _row(state: RunState, revision: int) -> _Run:
        return _Run(
            state=state.model_dump(mode="json"),
            revision=revision,
            automation_id=state.automation_id,
            person=state.person,
            status=state.status.value,
            position=state.position,
            order=f"{state.started_at.isoformat()}#{state.id}",
        )

    def get(self, run_id: str) -> StoredRun:
        found = self.runs.get((self.workspace, run_id))
        if found is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return StoredRun(RunState.model_validate(found.state), found.revision)

    def create(
        self,
        state: RunState,
        locks: Locks,
        now: datetime,
        *,
        processed: tuple[str, Sequence[str]] | None = None,
        stored: StoredEvent | None = None,
    ) -> None:
        moment = _epoch(now)
        claims: list[tuple[tuple[str, str, str], _Lock]] = []
        with self._lock, self.events._lock:
            if stored is not None and stored.id in self.events.events:
                raise SkippedError("stored")
            if (state.workspace, state.id) in self.runs:
                raise SkippedError("exists")
            if locks.frequency_until is not None or locks.frequency_forever:
                key = ("freq", state.automation_id, state.person or "-")
                held = self.locks.get(key)
                if held is not None and (locks.frequency_forever or held.until is None or held.until >= moment):
                    raise SkippedError("frequency")
                until = None if locks.frequency_until is None else _epoch(locks.frequency_until)
                claims.append((key, _Lock(state.id, until)))
            if locks.run_key is not None:
                key = ("runkey", state.automation_id, locks.run_key)
                held = self.locks.get(key)
                expired = held is not None and held.until is not None and held.until < moment
                if held is not None and held.run_id != state.id and not expired:
                    raise SkippedError("run_key")
                claims.append((key, _Lock(state.id, _epoch(run_key_expiry(state, now)))))
            counts = {"runs_started": 1}
            if state.status.ended:
                counts[f"runs_{ended_counter(state.status)}"] = 1
            self.stats.check(counts)
            self.runs[(state.workspace, state.id)] = self._row(state, 0)
            self.locks.update(claims)
            self.stats.increment(state.automation_id, now, counts)
            if stored is not None:
                self.events.put_new([stored])
            if processed is not None:
                self.events.mark_processed([processed])

    def save(
        self, state: RunState, revision: int, *, position: str | None, now: datetime, count: StepCount | None = None
    ) -> bool:
        if count is not None:
            self.stats.check({count.counter: 1})
        with self._lock:
            stored = self.runs.get((state.workspace, state.id))
            if stored is None or stored.revision != revision:
                return False
            if position is not None and stored.position != position:
                return False
            ended = state.status.ended
            self.runs[(state.workspace, state.id)] = self._row(state, revision + 1)
            if ended:
                self.stats.increment(state.automation_id, now, {f"runs_{ended_counter(state.status)}": 1})
            if count is not None:
                self.stats.increment(count.automation_id, now, {count.counter: 1}, step=count.step, whole=False)
            if state.run_key is not None and (ended or state.status is RunStatus.WAITING):
                key = ("runkey", state.automation_id, state.run_key)
                held = self.locks.get(key)
                if held is not None and held.run_id == state.id:  # else another run took it: left be
                    if ended:
                        del self.locks[key]
                    else:
                        held.until = _epoch(run_key_expiry(state, now))
            return True

    def run_for_key(self, automation_id: str, run_key: str) -> str | None:
        held = self.locks.get(("runkey", automation_id, run_key))
        return None if held is None else held.run_id

    def read_for_events(
        self,
        people: Sequence[str],
        run_keys: Sequence[tuple[str, str]] = (),
        countdowns: Sequence[tuple[str, str]] = (),
    ) -> EventReads:
        reads = EventReads(profiles=self.contacts.get_many(people) if self.contacts is not None else {})
        for automation_id, key in run_keys:
            holder = self.run_for_key(automation_id, key)
            if holder is not None:
                reads.holders[(automation_id, key)] = holder
        for automation_id, person in countdowns:
            found = self.counters.silence(automation_id, person) if self.counters is not None else None
            if found is not None:
                reads.countdowns[(automation_id, person)] = found
        return reads

    def _newest(self, keep: Any, limit: int) -> Iterator[RunState]:
        mine = (row for (workspace, _), row in self.runs.items() if workspace == self.workspace)
        rows = sorted((row for row in mine if keep(row)), key=lambda row: row.order, reverse=True)
        for row in rows[:limit]:
            yield RunState.model_validate(row.state)

    def by_automation(self, automation_id: str, limit: int = 50) -> Iterator[RunState]:
        return self._newest(lambda row: row.automation_id == automation_id, limit)

    def by_person(self, person: str, limit: int = 50) -> Iterator[RunState]:
        return self._newest(lambda row: row.person == person, limit)

    def waiting_of(self, automation_id: str) -> Iterator[StoredRun]:
        active = (RunStatus.WAITING.value, RunStatus.RUNNING.value)
        rows = sorted(
            (
                row
                for (workspace, _), row in self.runs.items()
                if workspace == self.workspace and row.automation_id == automation_id and row.status in active
            ),
            key=lambda row: row.order,
        )
        for row in rows:
            yield StoredRun(RunState.model_validate(row.state), row.revision)


# --- counters and countdowns --------------------------------------------------------------------------------


class FakeCounterStore(_Atomic):
    def __init__(self, events: FakeEventStore | None = None) -> None:
        super().__init__()
        self.events = events if events is not None else FakeEventStore()
        self.counts: dict[tuple[str, str], tuple[int, str]] = {}
        self.silences: dict[tuple[str, str], Silence] = {}

    def bump(self, automation_id: str, person: str, event_id: str) -> int:
        with self._lock:
            count, last = self.counts.get((automation_id, person), (0, ""))
            if last != event_id:
                count, last = count + 1, event_id
                self.counts[(automation_id, person)] = (count, last)
            return count

    def silence(self, automation_id: str, person: str) -> Silence | None:
        return self.silences.get((automation_id, person))

    def set_silence(
        self, automation_id: str, person: str, event: dict[str, Any], due_at: datetime
    ) -> Literal["started", "moved"] | None:
        due = datetime.fromtimestamp(_epoch(due_at), UTC)
        with self._lock:
            found = self.silences.get((automation_id, person))
            if found is not None and found.due_at > due:
                return None
            self.silences[(automation_id, person)] = Silence(str(event["id"]), due, _json(event))
            return "started" if found is None else "moved"

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
        with self._lock, self.events._lock:
            if stored.id in self.events.events:
                raise SkippedError("stored")
            due = datetime.fromtimestamp(_epoch(due_at), UTC)
            found = self.silences.get((automation_id, person))
            self.events.put_new([stored])
            if found is not None and found.due_at > due:
                return None
            self.silences[(automation_id, person)] = Silence(str(event["id"]), due, _json(event))
            return "moved" if current is not None else "started"

    def clear_silence(self, automation_id: str, person: str, event_id: str) -> bool:
        with self._lock:
            found = self.silences.get((automation_id, person))
            if found is None or found.event_id != event_id:
                return False
            del self.silences[(automation_id, person)]
            return True


# --- messages and suppressions ------------------------------------------------------------------------------


class FakeMessageStore(_Atomic):
    """Records by (run, step, message id); a provider event's suppressions go to ``suppressions`` in its write."""

    def __init__(self, workspace: str, stats: FakeStatsStore, suppressions: FakeSuppressionStore | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.stats = stats
        self.suppressions = suppressions if suppressions is not None else FakeSuppressionStore(stats)
        self.records: dict[tuple[str, str, str], EmailRecord] = {}
        self.by_ses: dict[str, tuple[str, str, str]] = {}

    @staticmethod
    def _key(record: EmailRecord) -> tuple[str, str, str]:
        return record.run_id, record.step, record.message_id

    def get(self, run_id: str, step: str, message_id: str) -> EmailRecord | None:
        return self.records.get((run_id, step, message_id))

    def of_run(self, run_id: str) -> list[EmailRecord]:
        found = [record for key, record in self.records.items() if key[0] == run_id]
        return sorted(found, key=lambda record: f"msg#{record.step}#{record.message_id}")

    def by_ses_id(self, ses_message_id: str) -> EmailRecord | None:
        key = self.by_ses.get(ses_message_id)
        return None if key is None else self.records.get(key)

    def _put_if_free(self, record: EmailRecord) -> bool:
        key = self._key(record)
        found = self.records.get(key)
        if found is not None and found.state != "retrying":
            return False
        # A put replaces the whole record: what was indexed of the released one goes with it.
        self.by_ses = {ses_id: indexed for ses_id, indexed in self.by_ses.items() if indexed != key}
        self.records[key] = replace(record, workspace=self.workspace)
        return True

    def claim(self, record: EmailRecord) -> bool:
        with self._lock:
            return self._put_if_free(record)

    def claim_unless_suppressed(self, record: EmailRecord) -> tuple[bool, Suppression | None]:
        with self._lock, self.suppressions._lock:
            found = self.records.get(self._key(record))
            if found is not None and found.state != "retrying":
                return False, None
            blocking = self.suppressions.blocking(record.address, record.type)
            if blocking is not None:
                return False, blocking
            return self._put_if_free(record), None

    def record_outcome(self, record: EmailRecord, counts: Mapping[str, int], now: datetime) -> bool:
        self.stats.check(counts)
        with self._lock:
            if not self._put_if_free(record):
                return False
            self.stats.count_with(record.automation_id, record.step, now, counts)
            return True

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
        self.stats.check(counts or {})
        with self._lock:
            found = self.records.get(self._key(record))
            if found is None:
                return False
            if expected_state is not None and found.state != expected_state:
                return False
            if attempt is not None and found.attempt != attempt:
                return False
            changed = replace(found, state=state, updated_at=_utc(now))
            if reason is not None:
                changed = replace(changed, reason=reason[:1000])
            self.records[self._key(record)] = changed
            self.stats.count_with(record.automation_id, record.step, now, counts or {})
            return True

    def mark_sent(self, record: EmailRecord, ses_message_id: str, attempt: str, now: datetime) -> bool:
        with self._lock:
            key = self._key(record)
            found = self.records.get(key)
            if found is None or found.attempt != attempt or found.state not in ("sending", "unknown"):
                return False
            counts = {"sent": 1, "send_unknown": -1} if found.state == "unknown" else {"sent": 1}
            status = (found.status, found.status_rank, found.status_at)
            if found.status_rank is None:
                status = (SENT_STATUS, SENT_RANK, ses_records.iso(now))
            self.records[key] = replace(
                found,
                state="sent",
                ses_message_id=ses_message_id,
                sent_at=_utc(now),
                updated_at=_utc(now),
                reason=None,
                status=status[0],
                status_rank=status[1],
                status_at=status[2],
            )
            self.by_ses = {ses_id: indexed for ses_id, indexed in self.by_ses.items() if indexed != key}
            self.by_ses[ses_message_id] = key
            self.stats.count_with(record.automation_id, record.step, now, {} if record.test else counts)
            return True

    def apply_feedback(self, run_id: str, step: str, message_id: str, update: FeedbackUpdate) -> bool:
        self.stats.check(update.counts)
        key = (run_id, step, message_id)
        with self._lock:
            found = self.records.get(key)
            if update.create is not None:
                if found is not None:
                    return False
                found = replace(update.create, workspace=self.workspace, created_at=_utc(update.create.created_at))
            if found is None or update.digest in found.seen:
                return False
            changes: dict[str, Any] = {"seen": found.seen | {update.digest}, "updated_at": _utc(update.now)}
            if update.confirm is not None:
                if found.state != update.confirm.from_state:
                    return False
                changes.update(state="sent", reason=update.confirm.reason, ses_message_id=update.confirm.ses_message_id)
            if update.status is not None:
                if found.status_rank != update.expected_rank:
                    return False
                changes.update(status=update.status, status_rank=update.rank, status_at=update.at)
            if update.first is not None:
                if getattr(found, update.first) is not None:
                    return False
                changes[update.first] = update.at
            if update.total is not None:
                changes[update.total] = getattr(found, update.total) + 1
            if update.bounce_type is not None:
                changes["bounce_type"] = update.bounce_type
            self.records[key] = replace(found, **changes)
            if update.confirm is not None:
                self.by_ses = {ses_id: indexed for ses_id, indexed in self.by_ses.items() if indexed != key}
                self.by_ses[update.confirm.ses_message_id] = key
            self.stats.count_with(update.automation_id, update.step, update.now, update.counts)
            for suppression in update.suppressions:
                self.suppressions.upsert(suppression)
            return True


class FakeSuppressionStore(_Atomic):
    def __init__(self, stats: FakeStatsStore) -> None:
        super().__init__()
        self.stats = stats
        self.suppressions: dict[tuple[str, str], Suppression] = {}

    def of(self, address: str) -> list[Suppression]:
        wanted = normalize_address(address)
        return [self.suppressions[key] for key in sorted(self.suppressions) if key[0] == wanted]

    def blocking(self, address: str, email_type: str) -> Suppression | None:
        return next((found for found in self.of(address) if found.blocks(email_type)), None)

    def add_new(
        self, suppression: Suppression, *, now: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> bool:
        self.stats.check(counts)
        key = (normalize_address(suppression.address), suppression.kind)
        with self._lock:
            if key in self.suppressions:
                return False
            self.suppressions[key] = replace(suppression, at=_utc(suppression.at))
            if suppression.automation_id:
                self.stats.count_with(suppression.automation_id, step, now, counts)
            return True

    def upsert(self, suppression: Suppression) -> None:
        key = (normalize_address(suppression.address), suppression.kind)
        with self._lock:
            found = self.suppressions.get(key)
            if found is None:
                self.suppressions[key] = replace(suppression, at=_utc(suppression.at))
                return
            self.suppressions[key] = replace(
                found,
                address=suppression.address,
                kind=suppression.kind,
                scope=suppression.scope,
                automation_id=found.automation_id or suppression.automation_id,
            )

    def put(self, suppression: Suppression) -> None:
        key = (normalize_address(suppression.address), suppression.kind)
        with self._lock:
            self.suppressions[key] = replace(suppression, at=_utc(suppression.at))

    def remove(self, address: str, kind: str) -> bool:
        with self._lock:
            return self.suppressions.pop((normalize_address(address), kind), None) is not None


# --- schedules, the queue, the sender, secrets, the clock -----------------------------------------------------


def _to_the_second(moment: datetime) -> datetime:
    """A schedule's time: UTC, rounded up to the next second (it never fires early)."""
    utc = _utc(moment)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc


class FakeScheduler(_Atomic):
    def __init__(self) -> None:
        super().__init__()
        self.schedules: dict[str, tuple[datetime, dict[str, Any]]] = {}

    def create(self, name: str, due_at: datetime, payload: dict[str, Any]) -> bool:
        with self._lock:
            if name in self.schedules:
                return False
            self.schedules[name] = (_to_the_second(due_at), _json(payload))
            return True

    def replace(self, name: str, due_at: datetime, payload: dict[str, Any], *, existing: bool = False) -> None:
        with self._lock:
            self.schedules[name] = (_to_the_second(due_at), _json(payload))

    def delete(self, name: str) -> bool:
        with self._lock:
            return self.schedules.pop(name, None) is not None

    def due(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Fire the schedules due at ``now``: each is removed (as after its one call), oldest first."""
        with self._lock:
            fired = sorted((due, name) for name, (due, _) in self.schedules.items() if due <= now)
            return [(name, self.schedules.pop(name)[1]) for _, name in fired]


class _FakeQueue:
    """A queue's message bodies (through JSON). :meth:`receive` takes the messages as a consumer does (each with a
    receipt); a postponed one comes back at once when postponed for 0 seconds, and otherwise stays away (this
    queue has no clock): :attr:`postponed`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.postponed: list[tuple[str, int, str | None]] = []
        self._receipts = itertools.count(1)
        self._lock = threading.Lock()

    def _put(self, bodies: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self.messages.extend(_json(body) for body in bodies)

    def drain(self) -> list[dict[str, Any]]:
        """Every queued message body, removed from the queue."""
        with self._lock:
            taken, self.messages = self.messages, []
            return taken

    def receive(self) -> list[tuple[dict[str, Any], str]]:
        """Every visible message with its receipt; they stay in flight until postponed back (or forever)."""
        with self._lock:
            taken, self.messages = self.messages, []
            received = [(body, f"receipt-{next(self._receipts)}") for body in taken]
            self.in_flight.update((receipt, body) for body, receipt in received)
            return received

    def postpone(self, receipt: str, seconds: int, source: str | None = None) -> None:
        with self._lock:
            body = self.in_flight.get(receipt)
            if body is None:
                raise NotFoundError(f"no message in flight with receipt {receipt!r}")
            self.postponed.append((receipt, seconds, source))
            if seconds <= 0:
                self.messages.append(self.in_flight.pop(receipt))


class FakeEmailQueue(_FakeQueue):
    """Queued email requests (``EmailRequest.as_message()``); sends inside :meth:`buffered` are held until it ends."""

    def __init__(self) -> None:
        super().__init__()
        self._held = threading.local()

    @contextmanager
    def buffered(self) -> Iterator[None]:
        if getattr(self._held, "requests", None) is not None:
            yield
            return
        self._held.requests = []
        try:
            yield
        finally:
            held, self._held.requests = self._held.requests, None
            self.send(held)

    def send(self, requests: Sequence[EmailRequest]) -> None:
        held: list[EmailRequest] | None = getattr(self._held, "requests", None)
        if held is not None:
            held.extend(requests)
            return
        self._put(request.as_message() for request in requests)


class FakeWebhookQueue(_FakeQueue):
    """Queued webhook calls (``WebhookCall.as_message()``)."""

    def send(self, calls: Sequence[WebhookCall]) -> None:
        self._put(call.as_message() for call in calls)


@dataclass
class FakeWebhookClient:
    """Records each request (:attr:`requests`: url, method, headers, body) and answers the next of
    :attr:`answers` (a 200 with ``{"ok": true}`` when none is left)."""

    answers: list[WebhookResponse] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def post(self, url: str, headers: Mapping[str, str], body: bytes, *, method: str = "POST") -> WebhookResponse:
        with self._lock:
            self.requests.append({"url": url, "method": method, "headers": dict(headers), "body": bytes(body)})
            if self.answers:
                return self.answers.pop(0)
            return WebhookResponse("delivered", 200, {"ok": True}, True)


@dataclass
class FakeWebhookSecretStore:
    """A workspace's webhook signing secret in memory."""

    workspace: str
    secret: WebhookSecret | None = None

    def get(self, *, fresh: bool = False) -> WebhookSecret | None:
        return self.secret

    def create(self, secret: WebhookSecret) -> WebhookSecret:
        if self.secret is None:
            self.secret = secret
        return self.secret

    def put(self, secret: WebhookSecret) -> None:
        self.secret = secret


class FakeEventBus:
    """The events put on the bus, in order (``PutEvents`` entries, their detail parsed)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put(self, entries: Sequence[BusEntry]) -> None:
        with self._lock:
            for entry in entries:
                item = entry.as_entry("fake-bus")
                self.events.append({**item, "Detail": json.loads(item["Detail"])})


@dataclass
class FakeEmailSender:
    """Prepares as SES's adapter does (same checks, same MIME); sends to :attr:`sent`.

    ``verified`` (when set) are the identities that may send, as SES's: an address, or a whole domain.
    ``failures`` are raised by the next sends, one each, before anything is sent.
    """

    verified: set[str] | None = None
    sent: list[PreparedEmail] = field(default_factory=list)
    failures: list[SendError] = field(default_factory=list)
    call_seconds: float = ses.CALL_SECONDS
    #: The account's sending rate (emails per second); None: the provider cannot tell (it raises).
    send_rate: float | None = 1.0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepare(self, email: OutgoingEmail, now: datetime) -> PreparedEmail:
        return PreparedEmail(email, ses.prepare(email, now))

    def submit(self, prepared: PreparedEmail) -> str:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            sender = prepared.email.from_address.strip()
            if self.verified is not None and not {sender, sender.rpartition("@")[2]} & self.verified:
                raise SendRejectedError("MessageRejected", f"Did not have authority to send from email {sender}")
            self.sent.append(prepared)
            return f"fake-{next(self._ids):08d}"

    def max_send_rate(self) -> float:
        if self.send_rate is None:
            raise SendTransientError("AccessDenied", "the account's quota cannot be read")
        return self.send_rate


@dataclass
class FakeSecrets:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, arn: str) -> str:
        found = self.values.get(arn)
        if found is None:
            raise NotFoundError(f"no secret {arn!r}")
        return found


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 10, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> datetime:
        self.moment += delta
        return self.moment


class FakeKeyStore(_Atomic):
    """Keys by the hash of their secret; revoking the last active admin key of a workspace is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, ApiKey] = {}

    def _find(self, workspace: str, key_id: str) -> tuple[str, ApiKey] | None:
        return next(((h, k) for h, k in self.keys.items() if k.workspace == workspace and k.id == key_id), None)

    def create(self, key: ApiKey, secret_hash: str) -> None:
        with self._lock:
            if secret_hash in self.keys or self._find(key.workspace, key.id) is not None:
                raise ConflictError(f"key {key.id!r} exists already")
            self.keys[secret_hash] = key

    def by_hash(self, secret_hash: str) -> StoredKey | None:
        found = self.keys.get(secret_hash)
        return StoredKey(found, secret_hash) if found is not None else None

    def get(self, workspace: str, key_id: str) -> ApiKey | None:
        found = self._find(workspace, key_id)
        return found[1] if found else None

    def of_workspace(self, workspace: str) -> list[ApiKey]:
        return sorted((k for k in self.keys.values() if k.workspace == workspace), key=lambda k: k.id)

    def revoke(self, workspace: str, key_id: str, now: datetime) -> ApiKey:
        with self._lock:
            found = self._find(workspace, key_id)
            if found is None:
                raise NotFoundError(f"no key {key_id!r}")
            secret_hash, key = found
            if not key.active:
                return key
            admins = [k for k in self.keys.values() if k.workspace == workspace and k.is_admin and k.active]
            if key.is_admin and len(admins) <= 1:
                raise ConflictError(f"key {key_id!r} is the last active admin key of workspace {workspace!r}")
            self.keys[secret_hash] = replace(key, revoked_at=_utc(now))
            return self.keys[secret_hash]

    def touch(self, secret_hash: str, now: datetime) -> bool:
        with self._lock:
            key = self.keys.get(secret_hash)
            if key is None or (key.last_used_at is not None and key.last_used_at > now - TOUCH_INTERVAL):
                return False
            self.keys[secret_hash] = replace(key, last_used_at=_utc(now))
            return True


class FakeWorkspaceStore(_Atomic):
    def __init__(self) -> None:
        super().__init__()
        self.workspaces: dict[str, Workspace] = {}

    def create(self, workspace: Workspace) -> None:
        with self._lock:
            if workspace.id in self.workspaces:
                raise ConflictError(f"workspace {workspace.id!r} exists already")
            self.workspaces[workspace.id] = replace(workspace, created_at=_utc(workspace.created_at))

    def get(self, workspace_id: str) -> Workspace | None:
        return self.workspaces.get(workspace_id)

    def all(self) -> list[Workspace]:
        return [self.workspaces[name] for name in sorted(self.workspaces)]


# --- contact profiles ---------------------------------------------------------------------------------------


def _stored(profile: ContactProfile) -> ContactProfile:
    """A copy as stored: UTC times, and no object shared with the caller."""
    return replace(
        profile,
        attributes=json_value(profile.attributes),
        subscriptions=dict(profile.subscriptions),
        created_at=profile.created_at.astimezone(UTC),
        updated_at=profile.updated_at.astimezone(UTC),
    )


class ContactBook(_Atomic):
    """Every workspace's profiles, by (workspace, person), and ledger keys, by (workspace, person, key)."""

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[tuple[str, str], ContactProfile] = {}
        self.ledger: set[tuple[str, str, str]] = set()


class FakeContactStore:
    """The contact profiles of one workspace, in a :class:`ContactBook`."""

    def __init__(
        self,
        workspace: str,
        book: ContactBook | None = None,
        stats: FakeStatsStore | None = None,
        events: FakeEventStore | None = None,
    ) -> None:
        self.workspace = workspace
        self.book = book if book is not None else ContactBook()
        self.stats = stats if stats is not None else FakeStatsStore()
        self.events = events if events is not None else FakeEventStore()

    def get(self, person: str) -> ContactProfile | None:
        check_person(person)
        with self.book._lock:
            found = self.book.profiles.get((self.workspace, person))
            return _stored(found) if found is not None else None

    def apply(
        self,
        person: str,
        patch: ContactPatch,
        now: datetime,
        *,
        ledger_key: str | None = None,
        count: StepCount | None = None,
    ) -> tuple[ContactProfile, builtins.list[ContactChange]]:
        check_person(person)
        if ledger_key is not None:
            check_ledger_key(ledger_key)
        elif count is not None:
            raise ValueError("a count goes with a ledger key")
        if count is not None:
            self.stats.check({count.counter: 1})
        with self.book._lock:
            current = self.get(person)
            if ledger_key is not None and (self.workspace, person, ledger_key) in self.book.ledger:
                return (current or ContactProfile.new(self.workspace, person, now)), []
            changed, changes = apply_patch(current, patch, now, workspace=self.workspace, person=person)
            if ledger_key is not None:
                self.book.ledger.add((self.workspace, person, ledger_key))
                if count is not None:
                    self.stats.increment(count.automation_id, now, {count.counter: 1}, step=count.step, whole=False)
            self.book.profiles[(self.workspace, person)] = _stored(changed)
            return changed, changes

    def upsert_from_event(self, person: str, event_contact: Mapping[str, Any], now: datetime) -> ContactProfile:
        check_person(person)
        with self.book._lock:
            current = self.get(person)
            patch = merge_event_contact(current, event_contact)
            changed, _ = apply_patch(current, patch, now, workspace=self.workspace, person=person)
            self.book.profiles[(self.workspace, person)] = _stored(changed)
            return changed

    def get_many(self, people: Sequence[str]) -> dict[str, ContactProfile]:
        found = {}
        for person in people:
            profile = self.get(person)
            if profile is not None:
                found[person] = profile
        return found

    def upsert_with_event(
        self,
        event: StoredEvent,
        person: str,
        event_contact: Mapping[str, Any],
        now: datetime,
        *,
        current: ContactProfile | None,
    ) -> tuple[ContactProfile, bool]:
        check_person(person)
        with self.book._lock, self.events._lock:
            current = self.get(person)
            patch = merge_event_contact(current, event_contact)
            changed, _ = apply_patch(current, patch, now, workspace=self.workspace, person=person)
            if current is not None and changed.version == current.version:
                return changed, False
            if event.id in self.events.events:
                raise SkippedError("exists")
            self.events.put_new([event])
            self.book.profiles[(self.workspace, person)] = _stored(changed)
            return changed, True

    def list(
        self, *, label: str | None = None, query: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[ContactProfile], str | None]:
        listing = ContactListing.parse(label=label, query=query, limit=limit, cursor=cursor)
        with self.book._lock:
            found = [
                _stored(profile)
                for (workspace, person), profile in sorted(self.book.profiles.items())
                if workspace == self.workspace
                and (listing.after is None or person > listing.after)
                and (listing.label is None or listing.label in profile.labels)
                and (listing.query is None or profile.matches(listing.query))
            ]
        page = found[: listing.limit]
        return page, contact_cursor(page[-1].id) if len(found) > listing.limit else None

    def delete(self, person: str) -> bool:
        check_person(person)
        with self.book._lock:
            return self.book.profiles.pop((self.workspace, person), None) is not None


# --- tasks and coupon pools ------------------------------------------------------------------------------------


class TaskBook(_Atomic):
    """Every workspace's tasks, by (workspace, id)."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: dict[tuple[str, str], Task] = {}


class FakeTaskStore:
    """The tasks of one workspace, in a :class:`TaskBook`; each made once by its id."""

    def __init__(self, workspace: str, book: TaskBook | None = None) -> None:
        self.workspace = workspace
        self.book = book if book is not None else TaskBook()

    def create(self, task: Task) -> Task:
        task = check_task(replace(task, workspace=self.workspace))
        with self.book._lock:
            return self.book.tasks.setdefault((self.workspace, task.id), task)

    def get(self, task_id: str) -> Task | None:
        if not is_task_id(task_id):
            return None
        return self.book.tasks.get((self.workspace, task_id))

    def list(
        self, *, status: str | None = None, assignee: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[Task], str | None]:
        listing = TaskListing.parse(status=status, assignee=assignee, limit=limit, cursor=cursor)
        with self.book._lock:
            mine = [task for (workspace, _), task in self.book.tasks.items() if workspace == self.workspace]
        found = [
            task
            for task in sorted(mine, key=task_order, reverse=True)
            if listing.wants(task) and (listing.before is None or task_order(task) < listing.before)
        ]
        page = found[: listing.limit]
        return page, task_cursor(page[-1]) if len(found) > listing.limit else None

    def set_status(self, task_id: str, status: str, now: datetime) -> Task:
        wanted = check_task_status(status)
        with self.book._lock:
            found = self.get(task_id)
            if found is None:
                raise NotFoundError(f"no task {task_id!r}")
            if found.status != wanted:
                found = replace(found, status=wanted, updated_at=_utc(now))
                self.book.tasks[(self.workspace, task_id)] = found
            return found


@dataclass
class _Pool:
    unused: dict[str, None] = field(default_factory=dict)  # codes left to claim, in the order loaded
    claimed: dict[str, str] = field(default_factory=dict)  # code -> claimant
    by: dict[str, str] = field(default_factory=dict)  # claimant -> code


class CouponBook(_Atomic):
    """Every workspace's coupon pools, by (workspace, pool)."""

    def __init__(self) -> None:
        super().__init__()
        self.pools: dict[tuple[str, str], _Pool] = {}


class FakeCouponStore:
    """The coupon pools of one workspace, in a :class:`CouponBook`: a claimant gets the first code left, once."""

    def __init__(self, workspace: str, book: CouponBook | None = None) -> None:
        self.workspace = workspace
        self.book = book if book is not None else CouponBook()

    def load(self, pool: str, codes: Sequence[str], now: datetime) -> int:
        pool = check_pool(pool)
        wanted = check_codes(codes)
        with self.book._lock:
            found = self.book.pools.setdefault((self.workspace, pool), _Pool())
            new = [code for code in wanted if code not in found.unused and code not in found.claimed]
            found.unused.update(dict.fromkeys(new))
            return len(new)

    def claim(self, pool: str, claimant: str, now: datetime) -> str | None:
        pool = check_pool(pool)
        claimant = check_claimant(claimant)
        with self.book._lock:
            found = self.book.pools.get((self.workspace, pool))
            if found is None:
                return None
            if claimant in found.by:
                return found.by[claimant]
            if not found.unused:
                return None
            code = next(iter(found.unused))
            del found.unused[code]
            found.claimed[code] = claimant
            found.by[claimant] = code
            return code

    def counts(self, pool: str) -> CouponCounts:
        pool = check_pool(pool)
        with self.book._lock:
            found = self.book.pools.get((self.workspace, pool)) or _Pool()
            return CouponCounts(pool=pool, left=len(found.unused), claimed=len(found.claimed))

    def pools(self) -> builtins.list[CouponCounts]:
        with self.book._lock:
            mine = sorted(pool for workspace, pool in self.book.pools if workspace == self.workspace)
        return [self.counts(pool) for pool in mine]


# --- all of them ----------------------------------------------------------------------------------------------


@dataclass
class Fakes:
    """Every port of one workspace in memory; :attr:`ports` is what a service receives."""

    workspace: str = "default"
    clock: FakeClock = field(default_factory=FakeClock)
    stats: FakeStatsStore = field(default_factory=FakeStatsStore)
    automations: FakeAutomationStore = field(init=False)
    events: FakeEventStore = field(default_factory=FakeEventStore)
    runs: FakeRunStore = field(init=False)
    counters: FakeCounterStore = field(default_factory=FakeCounterStore)
    messages: FakeMessageStore = field(init=False)
    suppressions: FakeSuppressionStore = field(init=False)
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    email_queue: FakeEmailQueue = field(default_factory=FakeEmailQueue)
    webhook_queue: FakeWebhookQueue = field(default_factory=FakeWebhookQueue)
    webhooks: FakeWebhookClient = field(default_factory=FakeWebhookClient)
    bus: FakeEventBus = field(default_factory=FakeEventBus)
    email_sender: FakeEmailSender = field(default_factory=FakeEmailSender)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    keys: FakeKeyStore = field(default_factory=FakeKeyStore)
    workspaces: FakeWorkspaceStore = field(default_factory=FakeWorkspaceStore)
    contacts: FakeContactStore = field(init=False)
    tasks: FakeTaskStore = field(init=False)
    coupons: FakeCouponStore = field(init=False)
    webhook_secrets: FakeWebhookSecretStore = field(init=False)
    #: The stack's workspaces (this one included), each with stores of its own and the rest shared.
    stack: dict[str, Fakes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.automations = FakeAutomationStore(self.workspace)
        self.runs = FakeRunStore(self.workspace, self.stats, self.events)
        self.counters.events = self.events
        self.suppressions = FakeSuppressionStore(self.stats)
        self.messages = FakeMessageStore(self.workspace, self.stats, self.suppressions)
        self.contacts = FakeContactStore(self.workspace, stats=self.stats, events=self.events)
        self.runs.contacts, self.runs.counters = self.contacts, self.counters
        self.tasks = FakeTaskStore(self.workspace)
        self.coupons = FakeCouponStore(self.workspace)
        self.webhook_secrets = FakeWebhookSecretStore(self.workspace)
        self.stack.setdefault(self.workspace, self)

    def in_workspace(self, workspace: str) -> Fakes:
        """The fakes of another workspace of the same stack: its own stores, this one's clock, scheduler, queue,
        sender, secrets, keys and workspaces."""
        found = self.stack.get(workspace)
        if found is None:
            found = Fakes(
                workspace=workspace,
                clock=self.clock,
                scheduler=self.scheduler,
                bus=self.bus,
                email_queue=self.email_queue,
                webhook_queue=self.webhook_queue,
                webhooks=self.webhooks,
                email_sender=self.email_sender,
                secrets=self.secrets,
                keys=self.keys,
                workspaces=self.workspaces,
                stack=self.stack,
            )
        return found

    def ports_of(self, workspace: str) -> Ports:
        """:attr:`ports` of a workspace of the stack (what :class:`Deps` asks for another workspace's ports)."""
        return self.in_workspace(workspace).ports

    @property
    def ports(self) -> Ports:
        return Ports(
            automations=self.automations,
            events=self.events,
            runs=self.runs,
            counters=self.counters,
            messages=self.messages,
            suppressions=self.suppressions,
            stats=self.stats,
            contacts=self.contacts,
            tasks=self.tasks,
            coupons=self.coupons,
            webhook_secrets=self.webhook_secrets,
            scheduler=self.scheduler,
            bus=self.bus,
            email_queue=self.email_queue,
            email_sender=self.email_sender,
            webhook_queue=self.webhook_queue,
            webhooks=self.webhooks,
            secrets=self.secrets,
            clock=self.clock,
        )

    @property
    def access(self) -> AccessPorts:
        """The stores of keys and workspaces (which span workspaces) and the clock."""
        return AccessPorts(keys=self.keys, workspaces=self.workspaces, clock=self.clock)
