"""The run store: runs, with their locks (frequency windows and run keys, in the state table) and the run
counters of the statistics, each change in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.contacts import person_pk, profile_of
from automations.adapters.dynamodb.counters import silence_of
from automations.adapters.dynamodb.events import event_item, event_key
from automations.adapters.dynamodb.stats import add_actions, counter_item
from automations.adapters.dynamodb.tables import ContactItem, EventItem, RunItem, StateItem, state_key
from automations.adapters.dynamodb.writes import connection, epoch, pause, save_if
from automations.engine.state import RunState, RunStatus
from automations.ports import EventReads, Locks, NotFoundError, SkippedError, StepCount, StoredEvent, StoredRun
from automations.ports.values import check_person

ENDED_RUN_RETENTION = timedelta(days=400)
#: The keys of one BatchGetItem at most.
_BATCH_READ = 100

#: A run key's lock expires this long after the run's next due time (or its start, for a run not waiting):
#: a safety net for a run that never ends, which otherwise would hold its key forever. Scheduler retries a
#: late delivery for up to a day, so a waiting run always moves its lock on before it expires.
RUN_KEY_MARGIN = timedelta(days=2)
#: DynamoDB's TTL removes an expired lock some time after its expiry; the checks honour ``until`` already.
LOCK_TTL_GRACE_SECONDS = 86_400


def run_key_of(workspace: str, run_id: str) -> tuple[str, str]:
    return f"{workspace}#run#{run_id}", "run"


def run_key_expiry(state: RunState, now: datetime) -> datetime:
    """When a run's key lock stops holding if the run never moves again."""
    return max(now, state.due_at or now) + RUN_KEY_MARGIN


def ended_counter(status: RunStatus) -> str:
    """The counter (``runs_<this>``) that a run ending with this status adds to."""
    return {
        RunStatus.COMPLETED: "completed",
        RunStatus.SKIPPED: "completed",
        RunStatus.CANCELLED: "cancelled",
        RunStatus.FAILED: "failed",
    }.get(status, "completed")


def _run_item(state: RunState, revision: int, packed: bool = True) -> RunItem:
    """The item of a run's state: the state packed (compressed) in ``packed``, or, with ``packed`` false, as plain
    JSON in ``state`` (what code from before packed states reads: see :class:`DynamoRunStore`)."""
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
        gsi1pk=f"{state.workspace}#automation#{state.automation_id}",
        gsi1sk=f"{started}#{state.id}",
    )
    if packed:
        item.packed = state.model_dump(mode="json")
    else:
        item.state = state.model_dump(mode="json")
    if state.person is not None:
        item.gsi2pk = f"{state.workspace}#person#{state.person}"
        item.gsi2sk = f"{started}#{state.id}"
    if not state.status.ended:
        # In the sparse "waiting" index until it ends: every save writes the whole item, so the run's last
        # save (ended) leaves the index.
        item.gsi3pk = item.gsi1pk
        item.gsi3sk = item.gsi1sk
    if state.status.ended and state.ended_at is not None:
        item.expires_at = epoch(state.ended_at + ENDED_RUN_RETENTION)
    return item


def state_of(item: RunItem) -> RunState:
    """A stored run's state: packed (compressed), or plain JSON on a run last written before states were packed
    (its next save packs it)."""
    return RunState.model_validate(item.packed if item.packed is not None else item.state)


@dataclass
class DynamoRunStore:
    """:class:`automations.ports.RunStore` of one workspace.

    ``packed``: whether saves store the state packed (the ``RUN_STATE_FORMAT`` setting, ``packed`` by default).
    Runs are read in either form; a stack that upgrades from code that reads plain states only saves them plain
    until every function runs this code, so that no older invocation (or a rolled back deploy) meets a packed run.
    """

    workspace: str
    packed: bool = True

    def get(self, run_id: str) -> StoredRun:
        try:
            item = RunItem.get(*run_key_of(self.workspace, run_id), consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"run {run_id!r} not found") from None
        return StoredRun(state_of(item), int(item.revision))

    def create(
        self,
        state: RunState,
        locks: Locks,
        now: datetime,
        *,
        processed: tuple[str, Sequence[str]] | None = None,
        stored: StoredEvent | None = None,
    ) -> None:
        """Write a new run, its locks and its counter (and an event's processed mark, or the event itself) in one
        transaction; ``SkippedError`` if a lock holds."""
        with_locks: list[tuple[str, StateItem, Any]] = []
        if locks.frequency_until is not None or locks.frequency_forever:
            lock = StateItem(*state_key(self.workspace, "freq", state.automation_id, state.person or "-"))
            lock.run_id = state.id
            if locks.frequency_until is not None:
                lock.until = epoch(locks.frequency_until)
                lock.expires_at = epoch(locks.frequency_until) + 3600
            condition = StateItem.pk.does_not_exist()
            if not locks.frequency_forever:
                condition = condition | (StateItem.until < epoch(now))
            with_locks.append(("frequency", lock, condition))
        if locks.run_key is not None:
            lock = StateItem(*state_key(self.workspace, "runkey", state.automation_id, locks.run_key))
            lock.run_id = state.id
            lock.until = epoch(run_key_expiry(state, now))
            lock.expires_at = lock.until + LOCK_TTL_GRACE_SECONDS
            # A lock past its expiry is a safety net that gave way: a run that never ended no longer holds it.
            condition = StateItem.pk.does_not_exist() | (StateItem.run_id == state.id) | (StateItem.until < epoch(now))
            with_locks.append(("run_key", lock, condition))
        item = _run_item(state, 0, self.packed)
        ended = state.status.ended
        stats = counter_item(state.workspace, state.automation_id, now)
        counts = {"runs_started": 1}
        if ended:
            counts[f"runs_{ended_counter(state.status)}"] = 1
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=RunItem.pk.does_not_exist())
                for _, lock, condition in with_locks:
                    tx.save(lock, condition=condition)
                tx.update(stats, actions=add_actions(counts, stats))
                if stored is not None:  # the transaction's last put: the event, only if its id is new
                    if processed is not None:
                        stored = replace(stored, status="processed", runs=tuple(processed[1]))
                    tx.save(event_item(self.workspace, stored), condition=EventItem.pk.does_not_exist())
                elif processed is not None:  # the transaction's last item, with no condition
                    event_id, runs = processed
                    event = EventItem(*event_key(self.workspace, event_id))
                    tx.update(event, actions=[EventItem.status.set("processed"), EventItem.runs.set(list(runs))])  # type: ignore[arg-type]
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
            if not failed:
                raise
            if stored is not None and failed[-1] == len(with_locks) + 1:
                raise SkippedError("stored") from None  # the event was stored before: nothing written
            if failed[0] == 0:
                raise SkippedError("exists") from None
            raise SkippedError(with_locks[failed[0] - 1][0]) from None

    def save(
        self, state: RunState, revision: int, *, position: str | None, now: datetime, count: StepCount | None = None
    ) -> bool:
        """Store an advanced run if still at ``revision`` and waiting on ``position``; False otherwise.

        A run that ends is stored, counted and freed of its run key in one transaction: a crash leaves all
        of it or none of it, and the retry of the step that ended it finds the run as it was. A run that
        goes on waiting moves its run key's expiry past its new due time in the same transaction; so does
        ``count`` go to its step's statistics.
        """
        item = _run_item(state, revision + 1, self.packed)
        condition = RunItem.revision == revision
        if position is not None:
            condition = condition & (RunItem.position == position)
        ended = state.status.ended
        lock = None
        if state.run_key is not None and (ended or state.status is RunStatus.WAITING):
            lock = StateItem(*state_key(self.workspace, "runkey", state.automation_id, state.run_key))
        if not ended and lock is None and count is None:
            return save_if(item, condition)
        # A transaction only here, where it guards something (each of its items costs twice a plain write):
        # split, a fault between the run and its counter would lose the count, or double it on the retry (the
        # counters cannot tell a retry from a new end), and a run key's lock could outlive the run it guards.
        counts = {f"runs_{ended_counter(state.status)}": 1} if ended else {}
        for with_lock in (True, False) if lock is not None else (False,):
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.save(item, condition=condition)
                    if counts:
                        stats = counter_item(state.workspace, state.automation_id, now)
                        tx.update(stats, actions=add_actions(counts, stats))
                    if count is not None:
                        of_step = counter_item(state.workspace, count.automation_id, now, count.step)
                        tx.update(of_step, actions=add_actions({count.counter: 1}, of_step))
                    if with_lock and lock is not None:
                        if ended:
                            tx.delete(lock, condition=StateItem.run_id == state.id)
                        else:
                            until = epoch(run_key_expiry(state, now))
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
            lock = StateItem.get(*state_key(self.workspace, "runkey", automation_id, run_key), consistent_read=True)
        except DoesNotExist:
            return None
        return lock.run_id

    def read_for_events(
        self,
        people: Sequence[str],
        run_keys: Sequence[tuple[str, str]] = (),
        countdowns: Sequence[tuple[str, str]] = (),
    ) -> EventReads:
        """Profiles, run keys' locks and countdowns in one BatchGetItem per hundred keys (across the contacts and
        the state tables), the keys it leaves unprocessed asked again."""
        for person in people:
            check_person(person)
        contacts: str = ContactItem.Meta.table_name
        states: str = StateItem.Meta.table_name
        keys: dict[tuple[str, str, str], None] = {}
        for person in people:
            keys[(contacts, person_pk(self.workspace, person), "profile")] = None
        for automation_id, key in run_keys:
            keys[(states, *state_key(self.workspace, "runkey", automation_id, key))] = None
        for automation_id, person in countdowns:
            keys[(states, *state_key(self.workspace, "silence", automation_id, person))] = None
        found: dict[tuple[str, str, str], dict[str, Any]] = {}
        wanted = list(keys)
        for start in range(0, len(wanted), _BATCH_READ):
            request: dict[str, Any] = {}
            for table, pk, sk in wanted[start : start + _BATCH_READ]:
                entry = request.setdefault(table, {"Keys": [], "ConsistentRead": True})
                entry["Keys"].append({"pk": {"S": pk}, "sk": {"S": sk}})
            attempt = 0
            while request:
                reply = connection().client.batch_get_item(RequestItems=request)
                for table, items in reply.get("Responses", {}).items():
                    for item in items:
                        found[(table, item["pk"]["S"], item["sk"]["S"])] = item
                request = reply.get("UnprocessedKeys") or {}
                if request:
                    pause(attempt)
                    attempt += 1
        reads = EventReads()
        for person in people:
            raw = found.get((contacts, person_pk(self.workspace, person), "profile"))
            if raw is not None:
                reads.profiles[person] = profile_of(self.workspace, ContactItem.from_raw_data(raw))
        for automation_id, key in run_keys:
            raw = found.get((states, *state_key(self.workspace, "runkey", automation_id, key)))
            if raw is not None and "run_id" in raw:
                reads.holders[(automation_id, key)] = raw["run_id"]["S"]
        for automation_id, person in countdowns:
            raw = found.get((states, *state_key(self.workspace, "silence", automation_id, person)))
            if raw is not None:
                reads.countdowns[(automation_id, person)] = silence_of(StateItem.from_raw_data(raw))
        return reads

    def by_automation(self, automation_id: str, limit: int = 50) -> Iterator[RunState]:
        keys = RunItem.by_automation.query(
            f"{self.workspace}#automation#{automation_id}", scan_index_forward=False, limit=limit
        )
        for item in _runs_of(keys, chunk=limit, consistent=False):
            yield state_of(item)

    def by_person(self, person: str, limit: int = 50) -> Iterator[RunState]:
        keys = RunItem.by_person.query(f"{self.workspace}#person#{person}", scan_index_forward=False, limit=limit)
        for item in _runs_of(keys, chunk=limit, consistent=False):
            yield state_of(item)

    def waiting_of(self, automation_id: str) -> Iterator[StoredRun]:
        """Runs of an automation that have not ended (for deactivation and deletion), from the sparse index
        that holds only those: a busy automation's ended runs are never read.

        The index holds keys only; the runs are read consistently (their revision is the one a save to end
        them must find), and one that has ended since the index was read is left out.

        A run stored before the index existed is not in it; when its schedule fires, evaluate_step finds its
        automation inactive (or gone) and ends it with that reason.
        """
        keys = RunItem.waiting.query(f"{self.workspace}#automation#{automation_id}")
        for item in _runs_of(keys, chunk=_BATCH_GET, consistent=True):
            if item.status in (RunStatus.WAITING.value, RunStatus.RUNNING.value):
                yield StoredRun(state_of(item), int(item.revision))


#: BatchGetItem takes up to 100 keys a request.
_BATCH_GET = 100


def _runs_of(keys: Iterable[RunItem], *, chunk: int, consistent: bool) -> Iterator[RunItem]:
    """The runs whose keys an index query gives (the runs' indexes project keys only), in the index's order,
    read ``chunk`` at a time with BatchGetItem as the caller goes on; a run gone meanwhile (its TTL) is left out."""
    chunk = max(1, min(chunk, _BATCH_GET))
    batch: list[tuple[str, str]] = []

    def read(batch: list[tuple[str, str]]) -> Iterator[RunItem]:
        found = {(item.pk, item.sk): item for item in RunItem.batch_get(batch, consistent_read=consistent)}
        return (found[key] for key in batch if key in found)

    for entry in keys:
        key = (entry.pk, entry.sk)
        if key not in batch:
            batch.append(key)
        if len(batch) >= chunk:
            yield from read(batch)
            batch = []
    if batch:
        yield from read(batch)
