"""EventStore: each event id stored once, however often it comes; processed events keep their runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from automations.ports import Ports, StoredEvent

from tests.contract.conftest import START


def body(event_id: str, event_type: str = "contact.created") -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "contact": {"id": "c1", "email": "ana@example.com"}, "data": {"n": 1}}


def test_new_events_are_stored_in_one_go_and_read_back(ports: Ports) -> None:
    events = [
        StoredEvent.new(body("e1"), START, "received"),
        StoredEvent.new(body("e2", "invoice.paid"), START, "processed"),
    ]

    assert ports.events.put_new(events) == [True, True]

    assert ports.events.get("e1") == StoredEvent("e1", "contact.created", body("e1"), START, "received", ())
    assert ports.events.get("e2") == StoredEvent("e2", "invoice.paid", body("e2", "invoice.paid"), START, "processed")
    assert ports.events.get("e3") is None


def test_an_id_seen_before_is_answered_false_and_left_as_it_was(ports: Ports) -> None:
    ports.events.put_new([StoredEvent.new(body("e1"), START, "received")])
    later = START + timedelta(minutes=1)
    again = {**body("e1"), "data": {"n": 2}}

    stored = ports.events.put_new(
        [StoredEvent.new(again, later, "processed"), StoredEvent.new(body("e2"), later, "received")]
    )

    assert stored == [False, True]
    first = ports.events.get("e1")
    assert first is not None and (first.body, first.received_at, first.status) == (body("e1"), START, "received")
    assert ports.events.put_new([StoredEvent.new(body("e2"), later, "received")]) == [False]
    assert ports.events.put_new([]) == []


def test_processed_events_keep_the_runs_they_started(ports: Ports) -> None:
    ports.events.put_new([StoredEvent.new(body(f"e{n}"), START, "received") for n in range(3)])

    ports.events.mark_processed([("e0", ["run_a", "run_b"]), ("e1", [])])
    ports.events.mark_processed([("e2", ("run_c",))])

    found = [ports.events.get(f"e{n}") for n in range(3)]
    assert [(e.status, e.runs) for e in found if e is not None] == [
        ("processed", ("run_a", "run_b")),
        ("processed", ()),
        ("processed", ("run_c",)),
    ]
