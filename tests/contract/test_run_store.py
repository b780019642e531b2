"""RunStore: a run is created with its locks or not at all, saved only where it was read, and counted."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from automations.engine.state import Decision, RunState, RunStatus
from automations.ports import (
    WHOLE,
    InvalidInputError,
    Locks,
    NotFoundError,
    Ports,
    Silence,
    SkippedError,
    StepCount,
    StoredEvent,
    StoredRun,
)

from tests.contract.conftest import START, Backend

DAY = timedelta(days=1)


def make_run(
    workspace: str,
    run_id: str,
    *,
    automation: str = "welcome",
    person: str | None = "p1",
    status: RunStatus = RunStatus.WAITING,
    position: str | None = "wait",
    due_at: datetime | None = START + DAY,
    started_at: datetime = START,
    run_key: str | None = None,
) -> RunState:
    return RunState(
        id=run_id,
        workspace=workspace,
        automation_id=automation,
        version=1,
        person=person,
        run_key=run_key,
        status=status,
        position=position if status is RunStatus.WAITING else None,
        due_at=due_at if status is RunStatus.WAITING else None,
        started_at=started_at,
        updated_at=started_at,
        ended_at=None if not status.ended else started_at,
        context={"event": {"id": f"evt_{run_id}", "type": "contact.created"}, "contact": {"id": person}},
        visited=["start"],
        log=[Decision(at=started_at, kind="started", reason="matched trigger", step="start")],
    )


@pytest.fixture
def run(backend: Backend) -> Callable[..., RunState]:
    """Runs of the test's workspace (a run belongs to the workspace of the store that keeps it)."""
    return functools.partial(make_run, backend.workspace)


def ended(state: RunState, now: datetime, status: RunStatus = RunStatus.COMPLETED) -> RunState:
    return state.model_copy(
        update={"status": status, "position": None, "due_at": None, "ended_at": now, "updated_at": now}
    )


def counted(ports: Ports, name: str, automation: str = "welcome") -> int:
    return ports.stats.read(automation)[WHOLE][name]


def test_a_new_run_is_stored_at_revision_0_and_counted(ports: Ports, run: Callable[..., RunState]) -> None:
    state = run("r1")

    ports.runs.create(state, Locks(), START)

    assert ports.runs.get("r1") == StoredRun(state, 0)
    assert counted(ports, "runs_started") == 1
    with pytest.raises(NotFoundError):
        ports.runs.get("r2")


def test_a_run_is_created_once(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r1"), Locks(), START)

    with pytest.raises(SkippedError) as refused:
        ports.runs.create(run("r1", person="p2"), Locks(), START)

    assert refused.value.reason == "exists"
    assert ports.runs.get("r1").state.person == "p1"
    assert counted(ports, "runs_started") == 1


def test_a_new_run_can_mark_its_event_processed_in_the_same_write(ports: Ports, run: Callable[..., RunState]) -> None:
    received = StoredEvent.new({"id": "evt_r1", "type": "contact.created"}, START, "received")
    ports.events.put_new([received])

    ports.runs.create(run("r1"), Locks(run_key="k"), START, processed=("evt_r1", ("r0", "r1")))
    with pytest.raises(SkippedError):  # refused: the event is left as it is
        ports.runs.create(run("r2"), Locks(run_key="k"), START, processed=("evt_r1", ("r2",)))

    assert ports.events.get("evt_r1") == replace(received, status="processed", runs=("r0", "r1"))
    assert ports.runs.get("r1").revision == 0 and counted(ports, "runs_started") == 1


def test_a_new_run_can_store_its_event_in_the_same_write(ports: Ports, run: Callable[..., RunState]) -> None:
    first = StoredEvent.new({"id": "evt_r1", "type": "contact.created"}, START, "received")
    second = StoredEvent.new({"id": "evt_r2", "type": "contact.created"}, START, "received")

    ports.runs.create(run("r1"), Locks(), START, stored=first)  # stored as it is
    ports.runs.create(run("r2"), Locks(), START, stored=second, processed=("evt_r2", ("r0", "r2")))

    assert ports.events.get("evt_r1") == first
    assert ports.events.get("evt_r2") == replace(second, status="processed", runs=("r0", "r2"))
    assert ports.runs.get("r2").revision == 0 and counted(ports, "runs_started") == 2


def test_a_run_whose_event_was_stored_before_is_not_created(ports: Ports, run: Callable[..., RunState]) -> None:
    received = StoredEvent.new({"id": "evt_r1", "type": "contact.created"}, START, "received")
    ports.events.put_new([received])
    again = replace(received, received_at=START + DAY)

    with pytest.raises(SkippedError) as refused:
        ports.runs.create(run("r1", run_key="k"), Locks(run_key="k", frequency_until=START + DAY), START, stored=again)

    assert refused.value.reason == "stored"
    with pytest.raises(NotFoundError):
        ports.runs.get("r1")
    assert ports.runs.run_for_key("welcome", "k") is None
    assert counted(ports, "runs_started") == 0
    assert ports.events.get("evt_r1") == received
    # The run's lock is free: nothing of the refused creation holds it
    ports.runs.create(run("r2", run_key="k"), Locks(run_key="k", frequency_until=START + DAY), START)


def test_a_stored_event_is_said_before_a_run_that_exists_too(ports: Ports, run: Callable[..., RunState]) -> None:
    received = StoredEvent.new({"id": "evt_r1", "type": "contact.created"}, START, "received")
    ports.runs.create(run("r1"), Locks(), START, stored=received)

    with pytest.raises(SkippedError) as refused:  # a retry of the same creation: the event is what it finds
        ports.runs.create(run("r1"), Locks(), START, stored=received, processed=("evt_r1", ("r1",)))

    assert refused.value.reason == "stored"
    assert ports.events.get("evt_r1") == received
    assert counted(ports, "runs_started") == 1


def test_ingest_reads_profiles_run_keys_and_countdowns_together(ports: Ports, run: Callable[..., RunState]) -> None:
    ana = ports.contacts.upsert_from_event("p1", {"id": "p1", "email": "ana@example.com"}, START)
    ports.runs.create(run("r1", run_key="inv_1"), Locks(run_key="inv_1"), START)
    ports.runs.create(run("r2", run_key="inv_2"), Locks(run_key="inv_2"), START)
    ports.runs.save(ended(ports.runs.get("r2").state, START), 0, position="wait", now=START)
    visit = {"id": "e1", "type": "contact.visited", "contact": {"id": "p1"}}
    ports.counters.set_silence("miss-you", "p1", visit, START + 3 * DAY)

    reads = ports.runs.read_for_events(
        ["p1", "p2"],
        [("welcome", "inv_1"), ("welcome", "inv_2"), ("welcome", "inv_3"), ("other", "inv_1")],
        [("miss-you", "p1"), ("miss-you", "p2")],
    )

    assert reads.profiles == {"p1": ana}
    assert reads.holders == {("welcome", "inv_1"): "r1"}  # an ended run's key is free, as is a key never held
    assert reads.countdowns == {("miss-you", "p1"): Silence("e1", START + 3 * DAY, visit)}
    assert ports.runs.read_for_events([]) == ports.runs.read_for_events([], [("welcome", "inv_3")])
    with pytest.raises(InvalidInputError):
        ports.runs.read_for_events(["x" * 1000], [("welcome", "inv_1")])


def test_a_run_that_ended_at_once_is_counted_with_its_ending(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r1", status=RunStatus.COMPLETED), Locks(), START)
    ports.runs.create(run("r2", status=RunStatus.FAILED), Locks(), START)

    assert [counted(ports, name) for name in ("runs_started", "runs_completed", "runs_failed")] == [2, 1, 1]


def test_the_frequency_window_refuses_the_persons_next_run_until_it_is_over(
    ports: Ports, run: Callable[..., RunState]
) -> None:
    window = Locks(frequency_until=START + DAY)
    ports.runs.create(run("r1"), window, START)

    with pytest.raises(SkippedError) as refused:
        ports.runs.create(run("r2"), Locks(frequency_until=START + 2 * DAY), START + timedelta(hours=1))
    assert refused.value.reason == "frequency"
    ports.runs.create(run("r3", person="p2"), window, START)  # another person has a window of their own
    ports.runs.create(run("r4"), Locks(frequency_until=START + 3 * DAY), START + DAY + timedelta(seconds=1))

    assert counted(ports, "runs_started") == 3
    with pytest.raises(NotFoundError):
        ports.runs.get("r2")


def test_once_per_person_holds_forever(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r1"), Locks(frequency_forever=True), START)

    for later in (START + DAY, START + 1000 * DAY):
        with pytest.raises(SkippedError) as refused:
            ports.runs.create(run(f"r{later.day}"), Locks(frequency_forever=True), later)
        assert refused.value.reason == "frequency"
    with pytest.raises(SkippedError):  # a window is no way around it either
        ports.runs.create(run("r9"), Locks(frequency_until=START + 1001 * DAY), START + 1000 * DAY)


def test_a_run_key_is_held_by_one_run_until_it_ends(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r1", run_key="inv_1"), Locks(run_key="inv_1"), START)

    assert ports.runs.run_for_key("welcome", "inv_1") == "r1"
    with pytest.raises(SkippedError) as refused:
        ports.runs.create(run("r2", person="p2", run_key="inv_1"), Locks(run_key="inv_1"), START)
    assert refused.value.reason == "run_key"
    ports.runs.create(run("r3", run_key="inv_2"), Locks(run_key="inv_2"), START)
    ports.runs.create(run("r4", automation="other", run_key="inv_1"), Locks(run_key="inv_1"), START)

    later = START + timedelta(hours=1)
    assert ports.runs.save(ended(ports.runs.get("r1").state, later), 0, position="wait", now=later)

    assert ports.runs.run_for_key("welcome", "inv_1") is None
    ports.runs.create(run("r2", person="p2", run_key="inv_1"), Locks(run_key="inv_1"), later)
    assert ports.runs.run_for_key("welcome", "inv_1") == "r2"


def test_a_run_key_whose_lock_expired_is_taken_over(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r1", due_at=START + DAY, run_key="k"), Locks(run_key="k"), START)
    # The lock holds until two days past the run's due time.
    with pytest.raises(SkippedError):
        ports.runs.create(run("r2", run_key="k"), Locks(run_key="k"), START + 3 * DAY - timedelta(seconds=1))

    ports.runs.create(run("r2", run_key="k"), Locks(run_key="k"), START + 3 * DAY + timedelta(seconds=1))

    assert ports.runs.run_for_key("welcome", "k") == "r2"


def test_a_run_that_goes_on_waiting_moves_its_run_keys_expiry_with_it(
    ports: Ports, run: Callable[..., RunState]
) -> None:
    state = run("r1", due_at=START + DAY, run_key="k")
    ports.runs.create(state, Locks(run_key="k"), START)
    later = START + DAY
    moved = state.model_copy(update={"position": "again", "due_at": START + 10 * DAY, "updated_at": later})

    assert ports.runs.save(moved, 0, position="wait", now=later)

    with pytest.raises(SkippedError) as refused:
        ports.runs.create(run("r2", run_key="k"), Locks(run_key="k"), START + 5 * DAY)
    assert refused.value.reason == "run_key"


def test_a_lock_taken_over_is_left_to_its_new_run_when_the_old_one_ends(
    ports: Ports, run: Callable[..., RunState]
) -> None:
    old = run("r1", due_at=START + DAY, run_key="k")
    ports.runs.create(old, Locks(run_key="k"), START)
    takeover = START + 4 * DAY
    ports.runs.create(run("r2", due_at=takeover + DAY, run_key="k"), Locks(run_key="k"), takeover)

    assert ports.runs.save(ended(old, takeover, RunStatus.CANCELLED), 0, position="wait", now=takeover)

    assert ports.runs.get("r1").state.status is RunStatus.CANCELLED
    assert ports.runs.run_for_key("welcome", "k") == "r2"
    assert counted(ports, "runs_cancelled") == 1


def test_a_save_lands_only_at_the_revision_and_position_read(ports: Ports, run: Callable[..., RunState]) -> None:
    state = run("r1")
    ports.runs.create(state, Locks(), START)
    later = START + DAY
    moved = state.model_copy(update={"position": "next", "due_at": START + 2 * DAY, "updated_at": later})

    assert not ports.runs.save(moved, 1, position="wait", now=later)
    assert not ports.runs.save(moved, 0, position="elsewhere", now=later)
    assert ports.runs.get("r1") == StoredRun(state, 0)

    assert ports.runs.save(moved, 0, position="wait", now=later)
    assert ports.runs.get("r1") == StoredRun(moved, 1)
    assert not ports.runs.save(moved, 0, position="wait", now=later)  # a second delivery of the same step
    assert ports.runs.save(ended(moved, later), 1, position=None, now=later)  # None: wherever it waits
    assert ports.runs.get("r1").revision == 2
    assert counted(ports, "runs_completed") == 1
    assert not ports.runs.save(run("r9"), 0, position=None, now=later)  # never created


def test_runs_are_listed_newest_first_by_automation_and_by_person(ports: Ports, run: Callable[..., RunState]) -> None:
    for n, (automation, person) in enumerate(
        [("welcome", "p1"), ("welcome", "p2"), ("other", "p1"), ("welcome", "p1")]
    ):
        ports.runs.create(
            run(f"r{n}", automation=automation, person=person, started_at=START + n * DAY), Locks(), START
        )
    ports.runs.create(run("r9", person=None, started_at=START + 9 * DAY), Locks(), START)

    assert [s.id for s in ports.runs.by_automation("welcome")] == ["r9", "r3", "r1", "r0"]
    assert [s.id for s in ports.runs.by_automation("welcome", limit=2)] == ["r9", "r3"]
    assert [s.id for s in ports.runs.by_person("p1")] == ["r3", "r2", "r0"]
    assert [s.id for s in ports.runs.by_person("p1", limit=1)] == ["r3"]
    assert list(ports.runs.by_person("nobody")) == []
    assert next(ports.runs.by_person("p2")) == ports.runs.get("r1").state


def test_waiting_of_lists_the_runs_that_have_not_ended_oldest_first(ports: Ports, run: Callable[..., RunState]) -> None:
    ports.runs.create(run("r2", started_at=START + DAY), Locks(), START)
    ports.runs.create(run("r1", status=RunStatus.RUNNING), Locks(), START)
    ports.runs.create(run("r3", status=RunStatus.COMPLETED), Locks(), START)
    ports.runs.create(run("r4", started_at=START + 2 * DAY), Locks(), START)
    ports.runs.create(run("r5", automation="other"), Locks(), START)
    ports.runs.save(ended(ports.runs.get("r4").state, START), 0, position="wait", now=START)

    waiting = list(ports.runs.waiting_of("welcome"))

    assert [(stored.state.id, stored.revision) for stored in waiting] == [("r1", 0), ("r2", 0)]
    assert waiting[1].state == run("r2", started_at=START + DAY)


def test_a_save_counts_its_steps_action_in_the_same_write(ports: Ports, run: Callable[..., RunState]) -> None:
    state = run("r1")
    ports.runs.create(state, Locks(), START)
    later = START + DAY
    moved = state.model_copy(update={"position": "next", "due_at": START + 2 * DAY, "updated_at": later})
    retried = StepCount("welcome", "wait", "actions_retried")

    assert not ports.runs.save(moved, 1, position="wait", now=later, count=retried)  # not saved: not counted
    assert ports.runs.save(moved, 0, position="wait", now=later, count=retried)
    assert ports.runs.save(
        ended(moved, later), 1, position="next", now=later, count=StepCount("welcome", "next", "actions_done")
    )

    steps = ports.stats.read("welcome")
    assert (steps["wait"]["actions_retried"], steps["next"]["actions_done"]) == (1, 1)
    assert (steps[WHOLE]["actions_retried"], steps[WHOLE]["actions_done"], steps[WHOLE]["runs_completed"]) == (0, 0, 1)
