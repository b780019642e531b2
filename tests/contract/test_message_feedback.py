"""MessageStore.apply_feedback: each provider event is applied to its record once, all of it or none of it (the
seen digest, the status moving only up, the first times, the running counts, the counters and the suppressions),
and only to the record as it was read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from automations.ports import SENT_RANK, WHOLE, Confirmation, EmailRecord, FeedbackUpdate, Ports, Suppression

from tests.contract.conftest import START, Backend

LATER = START + timedelta(minutes=5)


def sent(ports: Ports, **changes: object) -> EmailRecord:
    """A record claimed and sent (the provider's ids are unique: the moto backend's index spans workspaces): at
    status ``sent`` (rank 10), counted ``sent`` once by its mark."""
    fields: dict[str, object] = {
        "automation_id": "welcome",
        "version": 3,
        "run_id": "run_1",
        "step": "hello",
        "address": "ana@example.com",
        "type_": "promotional",
        "state": "sending",
        "now": START,
        "attempt": "attempt-1",
    }
    fields.update(changes)
    record = EmailRecord.new(ports.messages.workspace, **fields)  # type: ignore[arg-type]
    assert ports.messages.claim(record)
    assert ports.messages.mark_sent(record, f"ses-{record.message_id}", "attempt-1", START)
    found = ports.messages.get(record.run_id, record.step, record.message_id)
    assert found is not None
    return found


def update(digest: str, **changes: object) -> FeedbackUpdate:
    """An event's update, read against a sent record (a new status replaces its mark's) unless told otherwise."""
    fields: dict[str, object] = {"digest": digest, "automation_id": "welcome", "step": "hello", "now": LATER}
    if "status" in changes and "create" not in changes:
        fields["expected_rank"] = SENT_RANK
    fields.update(changes)
    return FeedbackUpdate(**fields)  # type: ignore[arg-type]


def apply(ports: Ports, record: EmailRecord, change: FeedbackUpdate) -> bool:
    return ports.messages.apply_feedback(record.run_id, record.step, record.message_id, change)


def reread(ports: Ports, record: EmailRecord) -> EmailRecord:
    found = ports.messages.get(record.run_id, record.step, record.message_id)
    assert found is not None
    return found


def counted(ports: Ports, step: str = WHOLE) -> dict[str, int]:
    return {name: value for name, value in ports.stats.read("welcome")[step].items() if value}


def test_an_event_is_applied_once_with_its_counts(ports: Ports) -> None:
    record = sent(ports)
    delivery = update(
        "d1", at="2026-11-24T10:00:02Z", counts={"delivered": 1}, status="delivered", rank=30, first="delivered_at"
    )

    assert apply(ports, record, delivery)
    assert not apply(ports, reread(ports, record), replace(delivery, expected_rank=30))  # the same event again

    found = reread(ports, record)
    assert (found.status, found.status_rank, found.status_at, found.delivered_at) == (
        "delivered",
        30,
        "2026-11-24T10:00:02Z",
        "2026-11-24T10:00:02Z",
    )
    assert (found.seen, found.updated_at, found.state) == (frozenset({"d1"}), LATER, "sent")
    assert counted(ports) == counted(ports, "hello") == {"sent": 1, "delivered": 1}


def test_an_event_read_against_an_older_record_is_not_applied(ports: Ports) -> None:
    record = sent(ports)
    first_open = update("o1", at="t1", counts={"opened": 1}, status="opened", rank=40, first="opened_at")
    assert apply(ports, record, first_open)

    # read before the Open was applied: the status it expected to replace is no longer there
    stale = update("c1", at="t2", counts={"clicked": 1}, status="clicked", rank=50, expected_rank=SENT_RANK)
    assert not apply(ports, record, stale)
    assert not apply(ports, record, update("o2", at="t3", first="opened_at", counts={"opened_unique": 1}))
    assert apply(ports, record, replace(stale, expected_rank=40))
    assert apply(ports, record, update("o3", at="t4", total="opens"))

    found = reread(ports, record)
    assert (found.status, found.status_at, found.opened_at, found.opens, found.clicks) == ("clicked", "t2", "t1", 1, 0)
    assert found.seen == frozenset({"o1", "c1", "o3"})
    assert counted(ports) == {"sent": 1, "opened": 1, "clicked": 1}


def test_running_counts_and_the_bounce_type_are_kept(ports: Ports) -> None:
    record = sent(ports)

    for n in range(3):
        assert apply(ports, record, update(f"click-{n}", total="clicks", counts={"clicked": 1}))
    assert apply(ports, record, update("soft", bounce_type="Transient/MailboxFull", counts={"bounced_soft": 1}))

    found = reread(ports, record)
    assert (found.clicks, found.opens, found.bounce_type) == (3, 0, "Transient/MailboxFull")
    assert counted(ports) == {"sent": 1, "clicked": 3, "bounced_soft": 1}


def test_a_hard_bounce_suppresses_in_the_same_write(ports: Ports) -> None:
    record = sent(ports)
    bounce = Suppression.new(
        "Ana@Example.com", "bounce", reason="hard bounce", source="ses", automation_id="welcome", now=LATER
    )
    change = update("b1", status="bounced", rank=90, counts={"bounced_hard": 1}, suppressions=(bounce,))

    assert apply(ports, record, change)
    assert not apply(ports, record, replace(change, digest="b2", suppressions=(replace(bounce, reason="again"),)))

    assert ports.suppressions.of("ana@example.com") == [bounce]
    assert ports.suppressions.blocking("ana@example.com", "business_critical") == bounce
    assert counted(ports) == {"sent": 1, "bounced_hard": 1}


def test_a_refused_event_writes_nothing_at_all(ports: Ports) -> None:
    record = sent(ports)
    assert apply(ports, record, update("d1", status="delivered", rank=30))
    complaint = Suppression.new("ana@example.com", "complaint", reason="c", source="ses", automation_id=None, now=LATER)

    refused = update("c1", status="complained", rank=100, counts={"complained": 1}, suppressions=(complaint,))
    assert not apply(ports, record, refused)  # expects the mark's status: there is another one now

    assert ports.suppressions.of("ana@example.com") == []
    assert counted(ports) == {"sent": 1}
    assert reread(ports, record).seen == frozenset({"d1"})


def test_a_send_left_open_is_confirmed_by_the_providers_event(ports: Ports) -> None:
    record = EmailRecord.new(
        ports.messages.workspace,
        automation_id="welcome",
        version=3,
        run_id="run_1",
        step="hello",
        address="ana@example.com",
        type_="promotional",
        state="sending",
        now=START,
        attempt="attempt-1",
    )
    ports.messages.claim(record)
    assert ports.messages.finish(
        record, state="unknown", now=START, expected_state="sending", counts={"send_unknown": 1}
    )
    confirm = Confirmation(f"ses-{record.message_id}", "unknown", "confirmed by the provider's Send event")

    assert not apply(ports, record, update("s0", confirm=replace(confirm, from_state="sending")))
    assert apply(ports, record, update("s1", confirm=confirm, counts={"sent": 1, "send_unknown": -1}))

    found = reread(ports, record)
    assert (found.state, found.ses_message_id, found.reason) == ("sent", confirm.ses_message_id, confirm.reason)
    assert ports.messages.by_ses_id(confirm.ses_message_id) == found
    assert counted(ports) == {"sent": 1}


def test_an_event_of_an_email_without_a_record_makes_one(backend: Backend, ports: Ports) -> None:
    unrecorded = EmailRecord.new(
        backend.workspace,
        automation_id="welcome",
        version=0,
        run_id="run_9",
        step="hello",
        address="ana@example.com",
        type_="transactional",
        state="unrecorded",
        now=LATER,
        test=True,
    )
    change = update("d1", at="t1", create=unrecorded, status="delivered", rank=30, first="delivered_at")

    assert apply(ports, unrecorded, change)
    assert not apply(ports, unrecorded, replace(change, digest="d2"))  # it exists now

    found = reread(ports, unrecorded)
    assert (found.state, found.address, found.test, found.automation_id, found.created_at) == (
        "unrecorded",
        "ana@example.com",
        True,
        "welcome",
        LATER,
    )
    assert (found.status, found.delivered_at, found.seen) == ("delivered", "t1", frozenset({"d1"}))
    never_stored = replace(unrecorded, run_id="run_none")
    assert not apply(ports, never_stored, update("x1", status="sent", rank=10))  # a record is not made without create


def test_an_events_counts_keep_the_reputation_in_the_same_write(ports: Ports) -> None:
    record = sent(ports)
    bounce = update("d-bounce", counts={"bounced_hard": 1}, status="bounced", rank=90, at="2026-11-24T10:05:00Z")

    assert ports.stats.reputation("welcome", START.date())["sent"] == 1  # the mark's, in its own write
    assert apply(ports, record, update("d-unknown", counts={"sent": 1}))  # one settled by its event
    assert apply(ports, reread(ports, record), bounce)
    assert not apply(ports, reread(ports, record), bounce)  # applied once

    window = ports.stats.reputation("welcome", START.date())
    assert (window["sent"], window["bounced_hard"], window["complained"]) == (2, 1, 0)
