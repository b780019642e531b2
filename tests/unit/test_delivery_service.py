"""Delivering queued emails on the in-memory ports: each (run, step, recipient) reaches the provider at most once,
a suppressed address gets nothing, and every outcome is recorded (and counted) with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from automations.ports import (
    EmailRecord,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
    Suppression,
    TransientError,
)
from automations.services import sending

from tests.support.mail import Mailroom, request


@pytest.fixture
def room() -> Mailroom:
    return Mailroom()


def suppress(room: Mailroom, kind: str, address: str = "ana@example.com", scope: str | None = None) -> None:
    room.deps.suppressions.upsert(
        Suppression.new(
            address, kind, reason=f"{kind} (test)", source="ses", automation_id=None, now=room.now, scope=scope
        )
    )


# --- suppressions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "email_type", "state"),
    [
        ("bounce", "business_critical", "skipped"),
        ("complaint", "transactional", "skipped"),
        ("unsubscribe", "promotional", "skipped"),
        ("unsubscribe", "transactional", "sent"),
    ],
)
def test_a_suppressed_address_gets_no_email_of_the_types_it_covers(
    room: Mailroom, kind: str, email_type: str, state: str
) -> None:
    # Given Ana's address suppressed
    suppress(room, kind)
    # When an email of a type is sent to her
    [delivery] = room.send(request(type=email_type))
    # Then the suppression decides, with the reason recorded and counted
    assert delivery.state == state
    if state == "skipped":
        assert delivery.reason == sending.SKIP_REASONS[kind]
        assert room.sent_to() == []
        assert room.record().state == "skipped"
        assert room.counted() == room.counted(step="hello") == {"suppressed": 1}
    else:
        assert room.sent_to() == ["ana@example.com"]


@pytest.mark.parametrize(
    ("email_type", "state"),
    [("promotional", "skipped"), ("transactional", "skipped"), ("business_critical", "sent")],
)
def test_essential_only_stops_all_but_business_critical_email(room: Mailroom, email_type: str, state: str) -> None:
    # Given Ana's address kept at essential email only
    suppress(room, "unsubscribe", scope="non_essential")
    # When an email of a type is sent to her
    [delivery] = room.send(request(type=email_type))
    # Then only business-critical email goes; the others are skipped with the level's reason
    assert delivery.state == state
    if state == "skipped":
        assert delivery.reason == sending.UNSUBSCRIBE_REASONS["non_essential"]
        assert room.counted() == {"suppressed": 1}
    else:
        assert room.sent_to() == ["ana@example.com"]


def test_a_skipped_email_is_counted_once_when_its_message_comes_again(room: Mailroom) -> None:
    suppress(room, "bounce")
    room.send(request())
    [again] = room.send(request())
    assert (again.state, again.reason) == ("done", "already skipped")
    assert room.counted() == {"suppressed": 1}


# --- at most once ------------------------------------------------------------------------------------------


def test_an_email_is_claimed_before_it_is_sent_and_sent_once(room: Mailroom) -> None:
    # Given an email to two recipients, the second written twice (in two spellings)
    email = request(recipients=("ana@example.com", "bo@example.com", " Bo@example.com"))
    # When its queue message is delivered twice
    first = room.send(email)
    second = room.send(email)
    # Then each recipient got it once, under the provider's id (the same address twice is one claim)
    assert [d.state for d in first] == ["sent", "sent", "done"]
    assert [(d.state, d.reason) for d in second] == [("done", "already sent")] * 3
    assert room.sent_to() == ["ana@example.com", "bo@example.com"]
    record = room.record()
    assert (record.state, record.ses_message_id, record.sent_at, record.subject) == (
        "sent",
        first[0].ses_message_id,
        room.now,
        "Hello Ana",
    )
    assert room.deps.messages.by_ses_id(str(first[0].ses_message_id)) == record
    assert (record.status, record.status_rank) == ("sent", 10)
    # And each is counted sent once, when the provider took it (in the write that marks it)
    assert room.counted() == room.counted(step="hello") == {"sent": 2}


def test_a_failure_the_provider_may_recover_from_releases_the_claim_for_the_retry(room: Mailroom) -> None:
    # Given a provider throttling the first send
    room.fakes.email_sender.failures.append(SendTransientError("TooManyRequestsException", "slow down"))
    email = request(recipients=("ana@example.com", "bo@example.com"))
    # When the request is sent
    with pytest.raises(sending.TransientSendError) as raised:
        room.send(email)
    # Then nothing went out, and the record says it will be retried
    assert raised.value.deliveries == []
    assert room.sent_to() == []
    assert (room.record().state, room.record().reason) == ("retrying", "TooManyRequestsException: slow down")
    # When the queue delivers the message again
    deliveries = room.send(email)
    # Then both go out, once each
    assert [d.state for d in deliveries] == ["sent", "sent"]
    assert room.sent_to() == ["ana@example.com", "bo@example.com"]
    assert room.counted() == {"sent": 2}


def test_a_message_coming_back_is_kept_away_for_its_backoff(room: Mailroom) -> None:
    # Given a received queue message whose email the provider could not take now
    room.deps.email_queue.send([request()])
    [(body, receipt)] = room.fakes.email_queue.receive()
    room.fakes.email_sender.failures.append(SendTransientError("Throttling", "later"))
    with pytest.raises(sending.TransientSendError):
        room.send(sending.request_from_body(body))
    # When it is postponed at its third receive
    delay = sending.postpone(room.deps, receipt, 3)
    # Then it stays away for about two minutes
    assert 96 <= delay <= 120
    assert room.fakes.email_queue.postponed == [(receipt, delay, None)]
    assert room.fakes.email_queue.receive() == []


def test_a_message_that_cannot_be_postponed_comes_back_after_the_queues_own_timeout(room: Mailroom) -> None:
    assert sending.postpone(room.deps, "receipt-of-nothing", 1) == 0


def test_a_refused_email_fails_with_the_providers_reason(room: Mailroom) -> None:
    room.fakes.email_sender.failures.append(SendRejectedError("MessageRejected", "Email address is not verified."))
    [delivery] = room.send(request())
    assert delivery.state == "failed"
    assert delivery.reason == "refused by SES: MessageRejected: Email address is not verified."
    assert (room.record().state, room.record().reason) == ("failed", delivery.reason)
    assert room.counted() == room.counted(step="hello") == {"send_failed": 1}
    [again] = room.send(request())
    assert (again.state, room.sent_to(), room.counted()) == ("done", [], {"send_failed": 1})


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"recipients": ("not-an-address@",)}, "InvalidAddress"),
        ({"from_address": "ceo@acme.example"}, "SenderNotAllowed"),
    ],
)
def test_an_email_no_provider_could_take_fails_before_any_claim(
    room: Mailroom, changes: dict[str, object], code: str
) -> None:
    [delivery] = room.send(request(**changes))
    assert delivery.state == "failed" and delivery.reason is not None and code in delivery.reason
    assert room.sent_to() == []
    assert room.counted() == {"send_failed": 1}


def test_without_a_sender_address_an_email_without_from_fails() -> None:
    room = Mailroom(settings=Mailroom().settings.model_copy(update={"sender_address": ""}))
    [delivery] = room.send(request())
    assert delivery.state == "failed" and "NoSender" in str(delivery.reason)


def test_an_email_whose_reply_was_lost_is_unknown_and_never_sent_again(room: Mailroom) -> None:
    # Given a send whose reply is lost (the provider may have taken it)
    room.fakes.email_sender.failures.append(SendOutcomeUnknownError("ReadTimeoutError", "read timed out"))
    # When the request is sent, then delivered again
    [delivery] = room.send(request())
    [again] = room.send(request())
    # Then it is unknown, counted so, and not sent again
    assert delivery.state == "unknown" and "not sent again" in str(delivery.reason)
    assert (again.state, again.reason) == ("done", "already unknown")
    assert room.fakes.email_sender.sent == []
    assert room.counted() == {"send_unknown": 1}


def test_a_claim_left_sending_by_a_crash_is_settled_as_unknown_without_sending(room: Mailroom) -> None:
    # Given a claim a crashed attempt left behind (it may have called the provider)
    left: EmailRecord = EmailRecord.new(
        room.deps.messages.workspace,
        automation_id="welcome",
        version=1,
        run_id="run_1",
        step="hello",
        address="ana@example.com",
        type_="transactional",
        state="sending",
        now=room.now,
        attempt="crashed",
    )
    room.deps.messages.claim(left)
    # When the queue delivers the message again
    [delivery] = room.send(request())
    # Then the email is not sent again: it is unknown, counted once
    assert delivery.state == "unknown"
    assert room.sent_to() == []
    assert room.counted() == {"send_unknown": 1}
    assert room.send(request())[0].state == "done"
    assert room.counted() == {"send_unknown": 1}


def test_a_claim_whose_reply_was_lost_still_sends_once(room: Mailroom, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a store whose claim is written, but whose reply is lost once
    claim = room.fakes.messages.claim_unless_suppressed
    lost = [TransientError("the reply was lost")]

    def claim_then_lose_the_reply(record: EmailRecord) -> tuple[bool, Suppression | None]:
        written = claim(record)
        if lost:
            raise lost.pop()
        return written

    monkeypatch.setattr(room.fakes.messages, "claim_unless_suppressed", claim_then_lose_the_reply)
    # When the email is sent (and its message delivered again)
    [delivery] = room.send(request())
    [again] = room.send(request())
    # Then this attempt recognises its own claim: the email is sent once, never marked unknown
    assert delivery.state == "sent"
    assert again.state == "done"
    assert room.sent_to() == ["ana@example.com"]
    assert room.counted() == {"sent": 1}


def test_a_mark_whose_reply_was_lost_counts_sent_once(room: Mailroom, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a store whose mark is written (with its count), but whose reply is lost, and then retried
    mark = room.fakes.messages.mark_sent
    lost = [TransientError("the reply was lost")]
    marks: list[bool] = []

    def mark_then_lose_the_reply(*args: Any) -> bool:
        marks.append(mark(*args))
        if lost:
            marks.append(mark(*args))  # the client's own retry of the write: its condition fails
            raise lost.pop()
        return marks[-1]

    monkeypatch.setattr(room.fakes.messages, "mark_sent", mark_then_lose_the_reply)
    # When the email is sent, the request fails, and its message is delivered again
    with pytest.raises(TransientError):
        room.send(request())
    [again] = room.send(request())
    # Then the second mark changed nothing: sent once, counted once
    assert marks == [True, False]
    assert (again.state, again.reason) == ("done", "already sent")
    assert room.sent_to() == ["ana@example.com"]
    assert room.record().state == "sent"
    assert room.counted() == room.counted(step="hello") == {"sent": 1}


def test_a_claim_that_failed_before_it_was_written_fails_the_request(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(record: EmailRecord) -> tuple[bool, Suppression | None]:
        raise TransientError("the store cannot be reached")

    monkeypatch.setattr(room.fakes.messages, "claim_unless_suppressed", unreachable)
    with pytest.raises(TransientError):
        room.send(request())
    assert room.sent_to() == []


def test_test_emails_are_recorded_and_never_counted(room: Mailroom) -> None:
    suppress(room, "bounce", "bo@example.com")
    room.fakes.email_sender.failures.append(SendRejectedError("MessageRejected", "no"))
    deliveries = room.send(request(recipients=("ana@example.com", "bo@example.com", "cy@example.com"), test=True))
    assert [d.state for d in deliveries] == ["failed", "skipped", "sent"]
    assert room.record().test and room.counted() == {}
    [prepared] = room.fakes.email_sender.sent
    assert prepared.email.tags["test"] == "true"


# --- the email itself --------------------------------------------------------------------------------------


def test_a_promotional_email_carries_its_recipients_own_unsubscribe_link(room: Mailroom) -> None:
    room.send(request(type="promotional", recipients=("ana@example.com", "bo@example.com")))
    ana, bo = (prepared.email for prepared in room.fakes.email_sender.sent)
    assert ana.headers["List-Unsubscribe"] != bo.headers["List-Unsubscribe"]
    assert ana.headers["List-Unsubscribe"].startswith("<https://api.acme.example/u/")
    assert ana.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = ana.headers["List-Unsubscribe"][1:-1]
    assert link in ana.text and "ana@example.com" not in link
    assert ana.tags["message"] == room.record().message_id
    assert (ana.from_address, ana.configuration_set) == ("hello@acme.example", None)


def test_a_transactional_email_has_no_unsubscribe_headers(room: Mailroom) -> None:
    room.send(request(headers={"List-Unsubscribe": "<mailto:x@y.z>", "X-Campaign": "spring"}))
    [prepared] = room.fakes.email_sender.sent
    assert dict(prepared.email.headers) == {"X-Campaign": "spring"}


# --- within the invocation's time --------------------------------------------------------------------------


def test_a_recipient_is_taken_only_while_its_send_can_finish(room: Mailroom) -> None:
    # Given an invocation with time for one recipient only
    needed = sending.reserve_seconds(room.deps.email_sender)
    left = iter([needed + 1, needed - 1])
    email = request(recipients=("ana@example.com", "bo@example.com"))
    # When the request is sent
    with pytest.raises(sending.OutOfTimeError) as raised:
        sending.send_request(room.deps, email, room.now, time_left=lambda: next(left))
    # Then the first is sent, and the second was never claimed
    assert [d.state for d in raised.value.deliveries] == ["sent"]
    assert room.sent_to() == ["ana@example.com"]
    with pytest.raises(AssertionError, match="no record"):
        room.record(address="bo@example.com")
    # And the retry goes straight to the second
    assert [d.state for d in room.send(email)] == ["done", "sent"]


def test_sends_are_spaced_by_the_instances_share_of_the_rate(room: Mailroom) -> None:
    waits: list[float] = []
    pace = sending.Pacer(5.0, clock=lambda: 100.0, sleep=waits.append)
    sending.send_request(
        room.deps, request(recipients=("a@example.com", "b@example.com", "c@example.com")), room.now, pace=pace
    )
    assert waits == pytest.approx([0.2, 0.4])
    assert len(room.sent_to()) == 3


def test_the_account_rate_is_shared_by_the_instances_and_read_again_when_unknown() -> None:
    room = Mailroom(settings=Mailroom().settings.model_copy(update={"max_send_rate": 0.0, "sending_concurrency": 2}))
    room.fakes.email_sender.send_rate = 14.0
    pacer = sending.pacer(room.deps)
    assert pacer is not None and pacer.rate == 7.0
    assert sending.pacer(room.deps) is pacer
    # Another sender whose account's rate cannot be read paces at the sandbox's rate, read again soon
    other = Mailroom(settings=room.settings)
    other.fakes.email_sender.send_rate = None
    fallback = sending.pacer(other.deps)
    assert fallback is not None and fallback.rate == sending.FALLBACK_SEND_RATE / 2
    pacing = sending.current_pacing()
    assert pacing is not None and pacing.fresh_for == sending.RATE_RETRY_SECONDS


def test_without_a_rate_setting_nothing_is_paced(room: Mailroom) -> None:
    assert room.settings.max_send_rate is None
    assert sending.pacer(room.deps) is None


# --- the run's timeline ------------------------------------------------------------------------------------


def test_a_runs_emails_are_listed_with_their_state(room: Mailroom) -> None:
    suppress(room, "unsubscribe", "bo@example.com")
    room.send(request(type="promotional", recipients=("ana@example.com", "bo@example.com")))
    views = {view["address"]: view for view in sending.messages_of_run(room.deps, "run_1")}
    assert (views["ana@example.com"]["state"], views["bo@example.com"]["state"]) == ("sent", "skipped")
    assert views["ana@example.com"]["sent_at"] == room.now.isoformat() and views["ana@example.com"]["opens"] == 0
    assert sending.is_suppressed(room.deps, "Bo@Example.com", "promotional") == "unsubscribe (test)"
    assert sending.is_suppressed(room.deps, "bo@example.com", "transactional") is None
