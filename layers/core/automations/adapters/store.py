"""Data access over the pynamodb models: automations, events, runs, locks and counters.

Every rule that must hold under concurrency is a conditional write here, never a read then a write:
event ids, run ids, frequency windows, run keys, the run's position and the automation's version.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from automations.adapters.stats import add_actions, counter_item
from automations.adapters.tables import (
    AutomationHead,
    AutomationVersion,
    EventItem,
    Route,
    RunItem,
    StateItem,
    shared_connection,
)
from automations.engine.state import RunState, RunStatus

# The errors and values of the ports, kept importable from here.
from automations.ports import ConflictError as ConflictError
from automations.ports import Locks as Locks
from automations.ports import NotFoundError as NotFoundError
from automations.ports import RouteInfo as RouteInfo
from automations.ports import SkippedError as SkippedError
from automations.ports import StoredRun as StoredRun

EVENT_RETENTION = timedelta(days=400)
ENDED_RUN_RETENTION = timedelta(days=400)

#: A run key's lock expires this long after the run's next due time (or its start, for a run not waiting):
#: a safety net for a run that never ends, which otherwise would hold its key forever. Scheduler retries a
#: late delivery for up to a day, so a waiting run always moves its lock on before it expires.
RUN_KEY_MARGIN = timedelta(days=2)
#: DynamoDB's TTL removes an expired lock some time after its expiry; the checks honour ``until`` already.
LOCK_TTL_GRACE_SECONDS = 86_400


def _conditional_failed(exc: Exception) -> bool:
    code = getattr(exc, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


def _save_if(item: Any, condition: Any) -> bool:
    """Put an item under a condition; False when the condition did not hold (nothing written)."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def _delete_if(item: Any, condition: Any) -> bool:
    """Delete an item under a condition; False when the condition did not hold (nothing deleted)."""
    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def connection() -> Connection:
    """The connection transactions go through: the one the models share."""
    meta: Any = RunItem.Meta
    return shared_connection(meta.region, meta.host)


# --- automations --------------------------------------------------------------------------------------------


def head_key(workspace: str, automation_id: str) -> tuple[str, str]:
    return f"{workspace}#automations", automation_id


def version_key(workspace: str, automation_id: str, version: int) -> tuple[str, str]:
    return f"{workspace}#automation#{automation_id}", f"v#{version:08d}"


def route_key(workspace: str, event_type: str, automation_id: str, role: str) -> tuple[str, str]:
    return f"{workspace}#route#{event_type}", f"{automation_id}#{role}"


def routes_of(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """(event type, role) pairs an active definition listens to."""
    pairs = [(definition["trigger"]["event"], "trigger")]
    for cancel in definition.get("cancel_on", []):
        pair = (cancel["event"], "cancel")
        if pair not in pairs:
            pairs.append(pair)
    return pairs


@dataclass
class AutomationStore:
    """Automations: a head per automation, immutable versions, and routes for the active ones."""

    workspace: str
    cache_seconds: float = 5.0
    _versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    _routes: dict[str, tuple[float, list[RouteInfo]]] = field(default_factory=dict)

    # reads
    def head(self, automation_id: str) -> AutomationHead:
        try:
            return AutomationHead.get(*head_key(self.workspace, automation_id), consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"automation {automation_id!r} not found") from None

    def heads(self) -> list[AutomationHead]:
        return list(AutomationHead.query(f"{self.workspace}#automations"))

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        """A version's definition; versions never change, so they are cached without expiry."""
        key = (automation_id, version)
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        try:
            item = AutomationVersion.get(*version_key(self.workspace, automation_id, version))
        except DoesNotExist:
            raise NotFoundError(f"automation {automation_id!r} has no version {version}") from None
        definition: dict[str, Any] = item.definition
        if len(self._versions) > 512:
            self._versions.clear()
        self._versions[key] = definition
        return definition

    def versions(self, automation_id: str) -> list[AutomationVersion]:
        return list(AutomationVersion.query(f"{self.workspace}#automation#{automation_id}"))

    def routes_for(self, event_type: str, *, fresh: bool = False) -> list[RouteInfo]:
        """Active automations for an event type: one query, cached for a few seconds."""
        cached = self._routes.get(event_type)
        if cached and not fresh and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        found = [
            RouteInfo(item.automation_id, item.role, int(item.version))
            for item in Route.query(f"{self.workspace}#route#{event_type}")
        ]
        self._routes[event_type] = (time.monotonic(), found)
        return found

    def forget_routes(self) -> None:
        self._routes.clear()

    # writes
    def create(self, definition: dict[str, Any], now: datetime) -> AutomationHead:
        """Version 1 of a new automation (and its routes when it is created active)."""
        automation_id = definition["id"]
        head = AutomationHead(
            *head_key(self.workspace, automation_id),
            name=definition["name"],
            status=definition.get("status", "draft"),
            version=1,
            trigger_event=definition["trigger"]["event"],
            description=definition.get("description"),
            created_at=now,
            updated_at=now,
        )
        version = AutomationVersion(
            *version_key(self.workspace, automation_id, 1), version=1, definition=definition, created_at=now
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(head, condition=AutomationHead.pk.does_not_exist())
                tx.save(version, condition=AutomationVersion.pk.does_not_exist())
                if head.status == "active":
                    for route in self._route_items(definition, 1):
                        tx.save(route)
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} already exists") from None
            raise
        self.forget_routes()
        return head

    def replace(self, definition: dict[str, Any], now: datetime, *, expected_version: int | None = None) -> int:
        """A new immutable version; the head moves to it only if nobody else moved it first."""
        automation_id = definition["id"]
        head = self.head(automation_id)
        current = int(head.version)
        if expected_version is not None and expected_version != current:
            raise ConflictError(f"automation {automation_id!r} is at version {current}, not {expected_version}")
        new = current + 1
        old_definition = self.version(automation_id, current)
        status = definition.get("status", head.status)
        version = AutomationVersion(
            *version_key(self.workspace, automation_id, new),
            version=new,
            definition=definition,
            created_at=now,
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(
                    head,
                    actions=[
                        AutomationHead.version.set(new),
                        AutomationHead.name.set(definition["name"]),
                        AutomationHead.status.set(status),
                        AutomationHead.trigger_event.set(definition["trigger"]["event"]),
                        AutomationHead.description.set(definition.get("description")),  # type: ignore[arg-type]
                        AutomationHead.updated_at.set(now),
                    ],
                    condition=AutomationHead.version == current,
                )
                tx.save(version, condition=AutomationVersion.pk.does_not_exist())
                self._rewrite_routes(tx, old_definition if head.status == "active" else None, definition, status, new)
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise
        self.forget_routes()
        return new

    def set_status(self, automation_id: str, status: str, now: datetime, reason: str | None = None) -> AutomationHead:
        """Activate or deactivate: the head and the routes change together, or not at all."""
        head = self.head(automation_id)
        definition = self.version(automation_id, int(head.version))
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(
                    head,
                    actions=[
                        AutomationHead.status.set(status),
                        AutomationHead.status_reason.set(reason),  # type: ignore[arg-type]
                        AutomationHead.updated_at.set(now),
                    ],
                    condition=(AutomationHead.version == head.version) & (AutomationHead.status == head.status),
                )
                self._rewrite_routes(
                    tx, definition if head.status == "active" else None, definition, status, int(head.version)
                )
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise
        self.forget_routes()
        head.status = status
        head.status_reason = reason
        head.updated_at = now
        return head

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> AutomationHead:
        head = self.head(automation_id)
        actions: list[Any] = [AutomationHead.name.set(name), AutomationHead.updated_at.set(now)]
        if description is not None:
            actions.append(AutomationHead.description.set(description))
        head.update(actions=actions)
        return head

    def delete(self, automation_id: str) -> None:
        """Remove the automation, its routes and its versions."""
        head = self.head(automation_id)
        definition = self.version(automation_id, int(head.version))
        with TransactWrite(connection=connection()) as tx:
            tx.delete(head, condition=AutomationHead.version == head.version)
            for event_type, role in routes_of(definition):
                tx.delete(Route(*route_key(self.workspace, event_type, automation_id, role)))
        for item in self.versions(automation_id):
            item.delete()
        # Over a copy of the keys: other threads of the process may cache versions meanwhile.
        for key in [key for key in list(self._versions) if key[0] == automation_id]:
            self._versions.pop(key, None)
        self.forget_routes()

    def _route_items(self, definition: dict[str, Any], version: int) -> list[Route]:
        return [
            Route(
                *route_key(self.workspace, event_type, definition["id"], role),
                automation_id=definition["id"],
                role=role,
                version=version,
            )
            for event_type, role in routes_of(definition)
        ]

    def _rewrite_routes(
        self, tx: TransactWrite, old: dict[str, Any] | None, new: dict[str, Any], status: str, version: int
    ) -> None:
        keep = self._route_items(new, version) if status == "active" else []
        kept = {(r.pk, r.sk) for r in keep}
        for route in keep:
            tx.save(route)
        if old is not None:
            for event_type, role in routes_of(old):
                key = route_key(self.workspace, event_type, old["id"], role)
                if key not in kept:
                    tx.delete(Route(*key))


# --- events -------------------------------------------------------------------------------------------------


def event_key(workspace: str, event_id: str) -> tuple[str, str]:
    return f"{workspace}#event#{event_id}", "event"


@dataclass
class EventStore:
    workspace: str

    def item(self, body: dict[str, Any], now: datetime, status: str) -> EventItem:
        return EventItem(
            *event_key(self.workspace, body["id"]),
            type=body["type"],
            body=body,
            received_at=now,
            status=status,
            expires_at=_epoch(now + EVENT_RETENTION),
        )

    def put_new(self, items: Sequence[EventItem]) -> list[bool]:
        """Store events that are new; True for each stored, False for each id seen before.

        A batch is one transaction (up to 100 items); when some ids exist already, the new ones are
        stored one by one, each with its own condition.
        """
        if not items:
            return []
        if len(items) > 1:
            try:
                with TransactWrite(connection=connection()) as tx:
                    for item in items:
                        tx.save(item, condition=EventItem.pk.does_not_exist())
                return [True] * len(items)
            except TransactWriteError as exc:
                if not _conditional_failed(exc):
                    raise
        return [self._put_one(item) for item in items]

    def _put_one(self, item: EventItem) -> bool:
        return _save_if(item, EventItem.pk.does_not_exist())

    def get(self, event_id: str) -> EventItem | None:
        try:
            return EventItem.get(*event_key(self.workspace, event_id), consistent_read=True)
        except DoesNotExist:
            return None

    def mark_processed(self, event_id: str, runs: list[str]) -> None:
        item = EventItem(*event_key(self.workspace, event_id))
        item.update(actions=[EventItem.status.set("processed"), EventItem.runs.set(runs)])  # type: ignore[arg-type]

    def mark_processed_many(self, done: Sequence[tuple[str, list[str]]]) -> None:
        """Mark events processed with their runs: one request for one event, one per hundred otherwise."""
        if len(done) == 1:
            self.mark_processed(*done[0])
            return
        for batch in chunks(done, 100):
            with TransactWrite(connection=connection()) as tx:
                for event_id, runs in batch:
                    item = EventItem(*event_key(self.workspace, event_id))
                    tx.update(
                        item,
                        actions=[EventItem.status.set("processed"), EventItem.runs.set(runs)],
                    )


# --- runs, locks and counters -------------------------------------------------------------------------------


def run_key_of(workspace: str, run_id: str) -> tuple[str, str]:
    return f"{workspace}#run#{run_id}", "run"


def lock_key(workspace: str, kind: str, automation_id: str, value: str) -> tuple[str, str]:
    return f"{workspace}#{kind}#{automation_id}#{value}", kind


def _run_item(state: RunState, revision: int) -> RunItem:
    started = state.started_at.isoformat()
    item = RunItem(
        *run_key_of(state.workspace, state.id),
        automation_id=state.automation_id,
        version=state.version,
        status=state.status.value,
        position=state.position,
        person=state.person,
        run_key=state.run_key,
        revision=revision,
        state=state.model_dump(mode="json"),
        gsi1pk=f"{state.workspace}#automation#{state.automation_id}",
        gsi1sk=f"{started}#{state.id}",
    )
    if state.person is not None:
        item.gsi2pk = f"{state.workspace}#person#{state.person}"
        item.gsi2sk = f"{started}#{state.id}"
    if not state.status.ended:
        # In the sparse "waiting" index until it ends: every save writes the whole item, so the run's last
        # save (ended) leaves the index.
        item.gsi3pk = item.gsi1pk
        item.gsi3sk = item.gsi1sk
    if state.status.ended and state.ended_at is not None:
        item.expires_at = _epoch(state.ended_at + ENDED_RUN_RETENTION)
    return item


def run_key_expiry(state: RunState, now: datetime) -> datetime:
    """When a run's key lock stops holding if the run never moves again."""
    return max(now, state.due_at or now) + RUN_KEY_MARGIN


@dataclass
class RunStore:
    workspace: str

    def get(self, run_id: str) -> StoredRun:
        try:
            item = RunItem.get(*run_key_of(self.workspace, run_id), consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"run {run_id!r} not found") from None
        return StoredRun(RunState.model_validate(item.state), int(item.revision))

    def create(self, state: RunState, locks: Locks, now: datetime) -> None:
        """Write a new run, its locks and its counter in one transaction; ``SkippedError`` if a lock holds."""
        with_locks: list[tuple[str, StateItem, Any]] = []
        if locks.frequency_until is not None or locks.frequency_forever:
            lock = StateItem(*lock_key(self.workspace, "freq", state.automation_id, state.person or "-"))
            lock.run_id = state.id
            if locks.frequency_until is not None:
                lock.until = _epoch(locks.frequency_until)
                lock.expires_at = _epoch(locks.frequency_until) + 3600
            condition = StateItem.pk.does_not_exist()
            if not locks.frequency_forever:
                condition = condition | (StateItem.until < _epoch(now))
            with_locks.append(("frequency", lock, condition))
        if locks.run_key is not None:
            lock = StateItem(*lock_key(self.workspace, "runkey", state.automation_id, locks.run_key))
            lock.run_id = state.id
            lock.until = _epoch(run_key_expiry(state, now))
            lock.expires_at = lock.until + LOCK_TTL_GRACE_SECONDS
            # A lock past its expiry is a safety net that gave way: a run that never ended no longer holds it.
            condition = StateItem.pk.does_not_exist() | (StateItem.run_id == state.id) | (StateItem.until < _epoch(now))
            with_locks.append(("run_key", lock, condition))
        item = _run_item(state, 0)
        ended = state.status.ended
        stats = counter_item(state.workspace, state.automation_id, now)
        counts = {"runs_started": 1}
        if ended:
            counts[f"runs_{_ended_counter(state.status)}"] = 1
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=RunItem.pk.does_not_exist())
                for _, lock, condition in with_locks:
                    tx.save(lock, condition=condition)
                tx.update(stats, actions=add_actions(counts, stats))
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
            if not failed:
                raise
            if failed[0] == 0:
                raise SkippedError("exists") from None
            raise SkippedError(with_locks[failed[0] - 1][0]) from None

    def save(self, state: RunState, revision: int, *, position: str | None, now: datetime) -> bool:
        """Store an advanced run if still at ``revision`` and waiting on ``position``; False otherwise.

        A run that ends is stored, counted and freed of its run key in one transaction: a crash leaves all
        of it or none of it, and the retry of the step that ended it finds the run as it was. A run that
        goes on waiting moves its run key's expiry past its new due time in the same transaction.
        """
        item = _run_item(state, revision + 1)
        condition = RunItem.revision == revision
        if position is not None:
            condition = condition & (RunItem.position == position)
        ended = state.status.ended
        lock = None
        if state.run_key is not None and (ended or state.status is RunStatus.WAITING):
            lock = StateItem(*lock_key(self.workspace, "runkey", state.automation_id, state.run_key))
        if not ended and lock is None:
            return _save_if(item, condition)
        counts = {f"runs_{_ended_counter(state.status)}": 1} if ended else {}
        for with_lock in (True, False) if lock is not None else (False,):
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.save(item, condition=condition)
                    if counts:
                        stats = counter_item(state.workspace, state.automation_id, now)
                        tx.update(stats, actions=add_actions(counts, stats))
                    if with_lock and lock is not None:
                        if ended:
                            tx.delete(lock, condition=StateItem.run_id == state.id)
                        else:
                            until = _epoch(run_key_expiry(state, now))
                            tx.update(
                                lock,
                                actions=[
                                    StateItem.until.set(until),
                                    StateItem.expires_at.set(until + LOCK_TTL_GRACE_SECONDS),
                                ],
                                condition=StateItem.run_id == state.id,
                            )
            except TransactWriteError as exc:
                reasons = getattr(exc, "cancellation_reasons", None) or []
                failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
                if not failed:
                    raise
                # A transaction lists its deletes, then its puts, then its updates: the run's put comes
                # after the lock's delete when there is one.
                if (1 if with_lock and ended else 0) in failed:
                    return False
                continue  # the run key is no longer this run's (its lock expired and was taken): leave it be
            return True
        return False  # pragma: no cover - the loop without the lock either returns or raises

    def run_for_key(self, automation_id: str, run_key: str) -> str | None:
        """The active run holding a run key, if any."""
        try:
            lock = StateItem.get(*lock_key(self.workspace, "runkey", automation_id, run_key), consistent_read=True)
        except DoesNotExist:
            return None
        return lock.run_id

    def by_automation(self, automation_id: str, limit: int = 50) -> Iterator[RunState]:
        for item in RunItem.by_automation.query(
            f"{self.workspace}#automation#{automation_id}", scan_index_forward=False, limit=limit
        ):
            yield RunState.model_validate(item.state)

    def by_person(self, person: str, limit: int = 50) -> Iterator[RunState]:
        for item in RunItem.by_person.query(f"{self.workspace}#person#{person}", scan_index_forward=False, limit=limit):
            yield RunState.model_validate(item.state)

    def waiting_of(self, automation_id: str) -> Iterator[StoredRun]:
        """Runs of an automation that have not ended (for deactivation and deletion), from the sparse index
        that holds only those: a busy automation's ended runs are never read.

        A run stored before the index existed is not in it; when its schedule fires, evaluate_step finds its
        automation inactive (or gone) and ends it with that reason.
        """
        for item in RunItem.waiting.query(
            f"{self.workspace}#automation#{automation_id}",
            filter_condition=RunItem.status.is_in(RunStatus.WAITING.value, RunStatus.RUNNING.value),
        ):
            yield StoredRun(RunState.model_validate(item.state), int(item.revision))


def _ended_counter(status: RunStatus) -> str:
    return {
        RunStatus.COMPLETED: "completed",
        RunStatus.SKIPPED: "completed",
        RunStatus.CANCELLED: "cancelled",
        RunStatus.FAILED: "failed",
    }.get(status, "completed")


@dataclass
class CounterStore:
    """Per-person counters and countdowns: ``nth`` and ``after_silence``."""

    workspace: str

    def bump(self, automation_id: str, person: str, event_id: str) -> int:
        """Count one more event for the person, atomically, at most once per event id."""
        item = StateItem(*lock_key(self.workspace, "nth", automation_id, person))
        try:
            item.update(
                actions=[StateItem.counter.add(1), StateItem.run_id.set(event_id)],
                condition=StateItem.run_id.does_not_exist() | (StateItem.run_id != event_id),
            )
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise
            item.refresh(consistent_read=True)
        return int(item.counter or 0)

    def silence(self, automation_id: str, person: str) -> StateItem | None:
        try:
            return StateItem.get(*lock_key(self.workspace, "silence", automation_id, person), consistent_read=True)
        except DoesNotExist:
            return None

    def set_silence(self, automation_id: str, person: str, event: dict[str, Any], due_at: datetime) -> bool:
        """Remember the person's latest event; the countdown restarts from it.

        False (and nothing changed) when the countdown already runs from a later event: an older event
        that arrives late never shortens the silence.
        """
        item = StateItem(*lock_key(self.workspace, "silence", automation_id, person))
        item.run_id = event["id"]
        item.until = _epoch(due_at)
        item.data = event
        item.expires_at = _epoch(due_at + timedelta(days=30))
        return _save_if(item, StateItem.pk.does_not_exist() | (StateItem.until <= _epoch(due_at)))

    def clear_silence(self, automation_id: str, person: str, event_id: str) -> bool:
        """Drop the countdown if it is still the one for ``event_id``; False if a newer event replaced it."""
        item = StateItem(*lock_key(self.workspace, "silence", automation_id, person))
        return _delete_if(item, StateItem.run_id == event_id)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
