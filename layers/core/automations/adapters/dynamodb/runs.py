"""The run store: runs, with their locks (frequency windows and run keys, in the state table) and the run
counters of the statistics, each change in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.events import event_key
from automations.adapters.dynamodb.stats import add_actions, counter_item
from automations.adapters.dynamodb.tables import EventItem, RunItem, StateItem, state_key
from automations.adapters.dynamodb.writes import connection, epoch, save_if
from automations.engine.state import RunState, RunStatus
from automations.ports import Locks, NotFoundError, SkippedError, StepCount, StoredRun

ENDED_RUN_RETENTION = timedelta(days=400)

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
        item.expires_at = epoch(state.ended_at + ENDED_RUN_RETENTION)
    return item


@dataclass
class DynamoRunStore:
    """:class:`automations.ports.RunStore` of one workspace."""

    workspace: str

    def get(self, run_id: str) -> StoredRun:
        try:
            item = RunItem.get(*run_key_of(self.workspace, run_id), consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"run {run_id!r} not found") from None
        return StoredRun(RunState.model_validate(item.state), int(item.revision))

    def create(
        self, state: RunState, locks: Locks, now: datetime, *, processed: tuple[str, Sequence[str]] | None = None
    ) -> None:
        """Write a new run, its locks and its counter (and an event's processed mark) in one transaction;
        ``SkippedError`` if a lock holds."""
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
        item = _run_item(state, 0)
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
                if processed is not None:  # the transaction's last item, with no condition
                    event_id, runs = processed
                    event = EventItem(*event_key(self.workspace, event_id))
                    tx.update(event, actions=[EventItem.status.set("processed"), EventItem.runs.set(list(runs))])  # type: ignore[arg-type]
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
            if not failed:
                raise
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
        item = _run_item(state, revision + 1)
        condition = RunItem.revision == revision
        if position is not None:
            condition = condition & (RunItem.position == position)
        ended = state.status.ended
        lock = None
        if state.run_key is not None and (ended or state.status is RunStatus.WAITING):
            lock = StateItem(*state_key(self.workspace, "runkey", state.automation_id, state.run_key))
        if not ended and lock is None and count is None:
            return save_if(item, condition)
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
