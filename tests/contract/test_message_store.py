"""MessageStore: a (run, step, recipient) is claimed once before the provider is called, and moved on only by
the attempt that owns it; outcomes are counted in the same write."""

from __future__ import annotations

from datetime import timedelta

from automations.ports import SENT_RANK, WHOLE, EmailRecord, Ports, Suppression, message_id_for

from tests.contract.conftest import START, Backend

LATER = START + timedelta(seconds=2)


def record(ports: Ports, address: str = "ana@example.com", **changes: object) -> EmailRecord:
    fields: dict[str, object] = {
        "automation_id": "welcome",
        "version": 3,
        "run_id": "run_1",
        "step": "hello",
        "address": address,
        "type_": "promotional",
        "state": "sending",
        "now": START,
        "person": "p1",
        "subject": "Hi Ana",
        "attempt": "attempt-1",
    }
    fields.update(changes)
    return EmailRecord.new(ports.messages.workspace, **fields)  # type: ignore[arg-type]


def counted(ports: Ports, name: str, step: str = WHOLE) -> int:
    return ports.stats.read("welcome")[step][name]


def test_a_record_is_named_by_its_run_step_and_recipient(backend: Backend, ports: Ports) -> None:
    new = record(ports)

    assert new.message_id == message_id_for(backend.workspace, "run_1", "hello", "ana@example.com")
    assert record(ports, " ANA@example.com").message_id == new.message_id
    assert record(ports, "bo@example.com").message_id != new.message_id
    assert (new.workspace, new.state, new.created_at, new.updated_at, new.test) == (
        backend.workspace,
        "sending",
        START,
        START,
        False,
    )


def test_a_record_is_claimed_once(ports: Ports) -> None:
    new = record(ports)

    assert ports.messages.claim(new)
    assert not ports.messages.claim(record(ports, attempt="attempt-2"))

    assert ports.messages.get("run_1", "hello", new.message_id) == new
    assert ports.messages.get("run_1", "other", new.message_id) is None


def test_a_claim_released_as_retrying_is_claimed_again(ports: Ports) -> None:
    first = record(ports)
    ports.messages.claim(first)

    assert ports.messages.finish(first, state="retrying", now=LATER, attempt="attempt-1", reason="throttled")
    found = ports.messages.get("run_1", "hello", first.message_id)
    assert found is not None and (found.state, found.reason, found.updated_at) == ("retrying", "throttled", LATER)

    second = record(ports, attempt="attempt-2")
    assert ports.messages.claim(second)
    assert ports.messages.get("run_1", "hello", first.message_id) == second


def test_only_the_attempt_that_owns_a_record_moves_it(ports: Ports) -> None:
    new = record(ports)
    ports.messages.claim(new)

    assert not ports.messages.finish(new, state="failed", now=LATER, attempt="attempt-2")
    assert not ports.messages.finish(new, state="unknown", now=LATER, expected_state="retrying")
    assert not ports.messages.mark_sent(new, "ses-1", "attempt-2", LATER)
    assert ports.messages.get("run_1", "hello", new.message_id) == new
    assert not ports.messages.finish(record(ports, "bo@example.com"), state="failed", now=LATER)  # never stored


def test_a_sent_record_is_found_by_the_providers_id(ports: Ports) -> None:
    new = record(ports, reason="waiting for its turn")
    ports.messages.claim(new)

    assert ports.messages.mark_sent(new, "ses-1", "attempt-1", LATER)

    sent = ports.messages.get("run_1", "hello", new.message_id)
    assert sent is not None
    assert (sent.state, sent.ses_message_id, sent.sent_at, sent.updated_at, sent.reason) == (
        "sent",
        "ses-1",
        LATER,
        LATER,
        None,
    )
    assert ports.messages.by_ses_id("ses-1") == sent
    assert ports.messages.by_ses_id("ses-2") is None
    assert not ports.messages.claim(record(ports, attempt="attempt-2"))


def test_a_mark_counts_sent_once_with_its_status(ports: Ports) -> None:
    new = record(ports)
    ports.messages.claim(new)

    assert ports.messages.mark_sent(new, "ses-1", "attempt-1", LATER)
    assert not ports.messages.mark_sent(new, "ses-1", "attempt-1", LATER)  # retried: its condition fails

    found = ports.messages.get("run_1", "hello", new.message_id)
    assert found is not None
    assert (found.status, found.status_rank, found.status_at) == ("sent", SENT_RANK, "2026-11-24T10:00:02.000Z")
    assert counted(ports, "sent") == counted(ports, "sent", "hello") == 1
    assert ports.stats.reputation("welcome", START.date())["sent"] == 1


def test_a_record_given_up_as_unknown_before_its_mark_is_settled_by_it(ports: Ports) -> None:
    # A concurrent delivery of the same request gave it up as unknown (counted so) while SES took it
    given_up = record(ports)
    ports.messages.claim(given_up)
    assert ports.messages.finish(
        given_up, state="unknown", now=LATER, expected_state="sending", counts={"send_unknown": 1}
    )

    assert ports.messages.mark_sent(given_up, "ses-1", "attempt-1", LATER)
    assert not ports.messages.mark_sent(given_up, "ses-1", "attempt-1", LATER)

    found = ports.messages.get("run_1", "hello", given_up.message_id)
    assert found is not None and (found.state, found.ses_message_id, found.status) == ("sent", "ses-1", "sent")
    assert (counted(ports, "sent"), counted(ports, "send_unknown")) == (1, 0)


def test_a_record_settled_by_the_providers_event_is_not_marked_again(ports: Ports) -> None:
    settled = record(ports)
    ports.messages.claim(settled)
    assert ports.messages.finish(settled, state="sent", now=LATER, expected_state="sending")  # as an event does

    assert not ports.messages.mark_sent(settled, "ses-1", "attempt-1", LATER)

    found = ports.messages.get("run_1", "hello", settled.message_id)
    assert found is not None and (found.state, found.ses_message_id, found.status) == ("sent", None, None)
    assert counted(ports, "sent") == 0


def test_a_test_email_is_marked_without_counts(ports: Ports) -> None:
    new = record(ports, test=True)
    ports.messages.claim(new)

    assert ports.messages.mark_sent(new, "ses-1", "attempt-1", LATER)

    found = ports.messages.get("run_1", "hello", new.message_id)
    assert found is not None and (found.state, found.status) == ("sent", "sent")
    assert counted(ports, "sent") == 0


def test_a_dangling_claim_is_settled_once_with_its_count(ports: Ports) -> None:
    new = record(ports)
    ports.messages.claim(new)
    reason = "x" * 1500

    assert ports.messages.finish(
        new, state="unknown", now=LATER, expected_state="sending", reason=reason, counts={"send_unknown": 1}
    )
    assert not ports.messages.finish(
        new, state="unknown", now=LATER, expected_state="sending", reason=reason, counts={"send_unknown": 1}
    )

    found = ports.messages.get("run_1", "hello", new.message_id)
    assert found is not None and found.state == "unknown" and found.reason == "x" * 1000
    assert counted(ports, "send_unknown") == 1
    assert counted(ports, "send_unknown", "hello") == 1


def test_an_outcome_is_recorded_and_counted_once(ports: Ports) -> None:
    skipped = record(ports, state="skipped", reason="unsubscribed", attempt=None)

    assert ports.messages.record_outcome(skipped, {"suppressed": 1}, START)
    assert not ports.messages.record_outcome(skipped, {"suppressed": 1}, START)
    assert not ports.messages.claim(record(ports))

    assert ports.messages.get("run_1", "hello", skipped.message_id) == skipped
    assert counted(ports, "suppressed") == 1
    assert counted(ports, "suppressed", "hello") == 1


def test_a_test_email_is_recorded_without_counts(ports: Ports) -> None:
    failed = record(ports, state="failed", reason="no sender", test=True, attempt=None)

    assert ports.messages.record_outcome(failed, {}, START)

    assert ports.messages.get("run_1", "hello", failed.message_id) == failed
    assert ports.stats.read("welcome") == {WHOLE: ports.stats.read("nothing")[WHOLE]}


def test_a_runs_records_are_listed_by_step(ports: Ports) -> None:
    for step, address in (("b-step", "ana@example.com"), ("a-step", "bo@example.com"), ("a-step", "cy@example.com")):
        ports.messages.claim(record(ports, address, step=step))
    ports.messages.claim(record(ports, run_id="run_2"))

    found = ports.messages.of_run("run_1")

    assert [(r.step, r.address) for r in found][-1] == ("b-step", "ana@example.com")
    assert sorted(r.address for r in found[:2]) == ["bo@example.com", "cy@example.com"]
    assert [r.message_id for r in found[:2]] == sorted(r.message_id for r in found[:2])
    assert ports.messages.of_run("run_3") == []


def suppressed(kind: str, address: str = "Ana@Example.com", scope: str | None = None) -> Suppression:
    return Suppression.new(
        address, kind, reason=f"{kind} (test)", source="ses", automation_id="welcome", now=START, scope=scope
    )


def test_a_claim_with_no_suppression_in_the_way_is_a_claim(ports: Ports) -> None:
    new = record(ports)

    assert ports.messages.claim_unless_suppressed(new) == (True, None)
    assert ports.messages.claim_unless_suppressed(record(ports, attempt="attempt-2")) == (False, None)
    assert ports.messages.get("run_1", "hello", new.message_id) == new


def test_a_suppression_that_blocks_the_type_stops_the_claim_and_says_which(ports: Ports) -> None:
    ports.suppressions.put(suppressed("unsubscribe"))
    ports.suppressions.put(suppressed("bounce", "bo@example.com"))
    ana, bo = record(ports), record(ports, "bo@example.com", type_="transactional")

    claimed, blocking = ports.messages.claim_unless_suppressed(ana)
    assert (claimed, blocking is not None and blocking.kind) == (False, "unsubscribe")
    claimed, blocking = ports.messages.claim_unless_suppressed(bo)
    assert (claimed, blocking is not None and blocking.kind) == (False, "bounce")
    assert ports.messages.get("run_1", "hello", ana.message_id) is None
    assert ports.messages.get("run_1", "hello", bo.message_id) is None


def test_a_suppression_of_a_scope_that_lets_the_type_through_does_not_stop_the_claim(ports: Ports) -> None:
    ports.suppressions.put(suppressed("unsubscribe"))  # promotional mail only
    ports.suppressions.put(suppressed("unsubscribe", "bo@example.com", scope="non_essential"))
    transactional = record(ports, type_="transactional")
    critical = record(ports, "bo@example.com", type_="business_critical")

    assert ports.messages.claim_unless_suppressed(transactional) == (True, None)
    assert ports.messages.claim_unless_suppressed(critical) == (True, None)
    other = record(ports, "bo@example.com", run_id="run_2", type_="transactional")
    claimed, blocking = ports.messages.claim_unless_suppressed(other)
    assert not claimed and blocking is not None and blocking.scope == "non_essential"


def test_an_existing_record_wins_over_a_suppression(ports: Ports) -> None:
    first = record(ports)
    assert ports.messages.claim(first)
    ports.suppressions.put(suppressed("complaint"))

    assert ports.messages.claim_unless_suppressed(record(ports, attempt="attempt-2")) == (False, None)
    assert ports.messages.finish(first, state="retrying", now=LATER, attempt="attempt-1")
    claimed, blocking = ports.messages.claim_unless_suppressed(record(ports, attempt="attempt-2"))
    assert not claimed and blocking is not None and blocking.kind == "complaint"
    found = ports.messages.get("run_1", "hello", first.message_id)
    assert found is not None and found.state == "retrying"
