"""CounterStore: ``nth`` counts each event once in a row; an ``after_silence`` countdown only moves later."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from automations.ports import Ports, Silence, SkippedError, StoredEvent

from tests.contract.conftest import START


def event(event_id: str) -> dict[str, object]:
    return {"id": event_id, "type": "contact.visited", "contact": {"id": "p1"}}


def test_each_event_counts_once_per_person_and_automation(ports: Ports) -> None:
    counts = [ports.counters.bump("tenth", "p1", event_id) for event_id in ("e1", "e2", "e2", "e3")]

    assert counts == [1, 2, 2, 3]
    assert ports.counters.bump("tenth", "p2", "e1") == 1
    assert ports.counters.bump("other", "p1", "e4") == 1


def test_a_countdown_is_started_read_and_cleared(ports: Ports) -> None:
    due = START + timedelta(days=3, microseconds=500)

    assert ports.counters.silence("miss-you", "p1") is None
    assert ports.counters.set_silence("miss-you", "p1", event("e1"), due)

    assert ports.counters.silence("miss-you", "p1") == Silence("e1", due.replace(microsecond=0), event("e1"))
    assert not ports.counters.clear_silence("miss-you", "p1", "e0")
    assert ports.counters.silence("miss-you", "p1") is not None
    assert ports.counters.clear_silence("miss-you", "p1", "e1")
    assert ports.counters.silence("miss-you", "p1") is None
    assert not ports.counters.clear_silence("miss-you", "p1", "e1")


def test_a_later_event_restarts_the_countdown_and_an_older_one_never_shortens_it(ports: Ports) -> None:
    ports.counters.set_silence("miss-you", "p1", event("e2"), START + timedelta(days=5))

    assert not ports.counters.set_silence("miss-you", "p1", event("e1"), START + timedelta(days=4))
    silence = ports.counters.silence("miss-you", "p1")
    assert silence is not None and silence.event_id == "e2"

    assert ports.counters.set_silence("miss-you", "p1", event("e3"), START + timedelta(days=5))  # the same time
    assert ports.counters.set_silence("miss-you", "p1", event("e4"), START + timedelta(days=6))
    assert ports.counters.silence("miss-you", "p1") == Silence(
        "e4", datetime(2026, 11, 30, 10, 0, tzinfo=UTC), event("e4")
    )
    assert ports.counters.silence("miss-you", "p2") is None


def test_a_restart_says_whether_the_countdown_was_started_or_moved(ports: Ports) -> None:
    assert ports.counters.set_silence("miss-you", "p1", event("e1"), START + timedelta(days=3)) == "started"
    assert ports.counters.set_silence("miss-you", "p1", event("e1"), START + timedelta(days=3)) == "moved"  # a retry
    assert ports.counters.set_silence("miss-you", "p1", event("e2"), START + timedelta(days=4)) == "moved"
    assert ports.counters.set_silence("miss-you", "p1", event("e0"), START + timedelta(days=2)) is None
    assert ports.counters.clear_silence("miss-you", "p1", "e2")
    assert ports.counters.set_silence("miss-you", "p1", event("e5"), START + timedelta(days=9)) == "started"


def stored(event_id: str, status: str = "received") -> StoredEvent:
    return StoredEvent.new(event(event_id), START, status)


def test_a_countdown_can_store_its_event_in_the_same_write(ports: Ports) -> None:
    three, four = START + timedelta(days=3), START + timedelta(days=4)

    started = ports.counters.restart_silence("miss-you", "p1", event("e1"), three, stored=stored("e1"), current=None)
    current = ports.counters.silence("miss-you", "p1")
    moved = ports.counters.restart_silence(
        "miss-you", "p1", event("e2"), four, stored=stored("e2", "processed"), current=current
    )

    assert (started, moved) == ("started", "moved")
    assert ports.counters.silence("miss-you", "p1") == Silence("e2", four, event("e2"))
    assert ports.events.get("e1") == stored("e1")
    assert ports.events.get("e2") == stored("e2", "processed")


def test_an_older_event_stores_itself_and_leaves_the_countdown(ports: Ports) -> None:
    five = START + timedelta(days=5)
    ports.counters.set_silence("miss-you", "p1", event("e2"), five)
    current = ports.counters.silence("miss-you", "p1")

    for read in (current, None):  # as read, or read before the later event came
        older = f"e1-{read is None}"
        restarted = ports.counters.restart_silence(
            "miss-you", "p1", event(older), START + timedelta(days=4), stored=stored(older), current=read
        )
        assert restarted is None
        assert ports.events.get(older) == stored(older)
    assert ports.counters.silence("miss-you", "p1") == Silence("e2", five, event("e2"))


def test_a_countdown_whose_event_was_stored_before_writes_nothing(ports: Ports) -> None:
    ports.events.put_new([stored("e1")])
    later = replace(stored("e1"), received_at=START + timedelta(hours=1), status="processed")

    for current in (None, Silence("e0", START + timedelta(days=9), event("e0"))):
        with pytest.raises(SkippedError) as refused:
            ports.counters.restart_silence(
                "miss-you", "p1", event("e1"), START + timedelta(days=3), stored=later, current=current
            )
        assert refused.value.reason == "stored"
    assert ports.counters.silence("miss-you", "p1") is None
    assert ports.events.get("e1") == stored("e1")
