"""SES's events on the in-memory ports: each one is applied to its email once, in any order, with its counters,
its suppressions and the reputation guard; test emails are tracked, never counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from automations.ports import EmailRecord, SendOutcomeUnknownError
from automations.services import lifecycle
from automations.services.feedback import guard

from tests.support.mail import Mailroom, mail_settings, request
from tests.support.services import automation


@pytest.fixture
def room() -> Mailroom:
    return Mailroom()


def sent(room: Mailroom, **changes: Any) -> EmailRecord:
    """One email of ``welcome`` sent to Ana (its record holds the provider's id)."""
    [delivery] = room.send(request(**changes))
    assert delivery.state == "sent"
    return room.record()


# --- each event --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "detail", "counts", "status"),
    [
        ("Send", {}, {}, "sent"),
        ("Delivery", {}, {"delivered": 1}, "delivered"),
        ("Open", {}, {"opened": 1, "opened_unique": 1}, "opened"),
        ("Click", {}, {"clicked": 1, "clicked_unique": 1}, "clicked"),
        ("Bounce", {}, {"bounced_hard": 1}, "bounced"),
        ("Bounce", {"bounceType": "Transient", "bounceSubType": "MailboxFull"}, {"bounced_soft": 1}, "soft_bounced"),
        ("Bounce", {"bounceSubType": "OnAccountSuppressionList"}, {"suppressed": 1}, "suppressed"),
        ("Complaint", {}, {"complained": 1}, "complained"),
        ("Reject", {}, {"rejected": 1}, "rejected"),
        ("DeliveryDelay", {}, {"delayed": 1}, "delayed"),
    ],
)
def test_each_event_moves_its_email_and_counts(
    room: Mailroom, kind: str, detail: dict[str, Any], counts: dict[str, int], status: str
) -> None:
    # Given an email sent to Ana
    email = sent(room)
    # When SES publishes one event about it
    [result] = room.feed(room.ses_event(email, kind, **detail))
    # Then its record and the automation's (and the step's) counters follow (``sent`` counted when SES took it;
    # SES's Send event counts nothing more)
    assert (result.status, result.event_type, result.counts) == ("counted", kind, counts)
    assert room.record().status == status
    assert room.counted() == room.counted(step="hello") == {"sent": 1, **counts}


def test_a_rendering_failure_is_counted_from_ses_s_own_sample(room: Mailroom) -> None:
    email = sent(room)
    [result] = room.feed(room.sample_event("ses_rendering_failure.json", email))
    assert (result.status, room.record().status) == ("counted", "rendering_failed")
    assert result.counts == {"rendering_failed": 1}
    assert room.counted() == {"sent": 1, "rendering_failed": 1}


def test_a_delivery_sets_the_time_it_happened(room: Mailroom) -> None:
    email = sent(room)
    room.feed(room.ses_event(email, "Delivery"))
    found = room.record()
    assert found.delivered_at is not None and found.delivered_at == found.status_at
    assert found.delivered_at.startswith(room.now.date().isoformat())


# --- once, in any order ------------------------------------------------------------------------------------


def test_an_event_delivered_twice_counts_once(room: Mailroom) -> None:
    email = sent(room)
    delivery = room.ses_event(email, "Delivery")
    first, second = room.feed(delivery, delivery)
    assert (first.status, second.status, second.reason) == ("counted", "duplicate", "already counted")
    assert room.counted() == {"sent": 1, "delivered": 1}
    assert len(room.record().seen) == 1


def test_statuses_only_move_up_whatever_the_order(room: Mailroom) -> None:
    # Given an email whose Open and Click arrive before its Send and Delivery, and a second Open
    email = sent(room)
    room.fakes.clock.advance(timedelta(seconds=5))
    second_open = room.ses_event(email, "Open")
    room.feed(room.ses_event(email, "Click"), second_open)
    room.fakes.clock.moment = email.created_at
    room.feed(room.ses_event(email, "Open"), room.ses_event(email, "Send"), room.ses_event(email, "Delivery"))
    # Then the email stays at its highest status, its first times and running counts are kept
    found = room.record()
    assert (found.status, found.opens, found.clicks) == ("clicked", 2, 1)
    assert found.opened_at is not None and found.clicked_at is not None and found.delivered_at is not None
    assert room.counted() == {
        "sent": 1,
        "delivered": 1,
        "opened": 2,
        "opened_unique": 1,
        "clicked": 1,
        "clicked_unique": 1,
    }


def test_a_bounce_after_an_open_still_wins(room: Mailroom) -> None:
    email = sent(room)
    room.feed(room.ses_event(email, "Open"), room.ses_event(email, "Bounce"), room.ses_event(email, "Click"))
    assert room.record().status == "bounced"


# --- suppressions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "suppression"), [("Bounce", "bounce"), ("Complaint", "complaint")])
def test_a_hard_bounce_or_a_complaint_stops_every_type_of_mail(room: Mailroom, kind: str, suppression: str) -> None:
    # Given an email that hard-bounced (or was reported as spam)
    email = sent(room)
    room.feed(room.ses_event(email, kind))
    # Then the address is suppressed, with the reason and the automation
    [found] = room.deps.suppressions.of("ana@example.com")
    assert (found.kind, found.scope, found.source, found.automation_id) == (suppression, "all", "ses", "welcome")
    # And no type of mail goes to it any more
    for n, email_type in enumerate(("business_critical", "transactional", "promotional")):
        [delivery] = room.send(request(f"run_{n + 2}", type=email_type))
        assert delivery.state == "skipped"
    assert room.sent_to() == ["ana@example.com"]


def test_a_soft_bounce_suppresses_nothing(room: Mailroom) -> None:
    email = sent(room)
    room.feed(room.ses_event(email, "Bounce", bounceType="Transient", bounceSubType="General"))
    assert room.deps.suppressions.of("ana@example.com") == []
    assert room.record().bounce_type == "Transient/General"


def test_an_unsubscribe_reported_by_ses_stops_promotional_mail_counted_once(room: Mailroom) -> None:
    email = sent(room, type="promotional")
    subscription = room.sample_event("ses_subscription.json", email)
    first, again = room.feed(subscription, subscription)
    assert (first.status, again.status) == ("counted", "duplicate")
    assert [s.kind for s in room.deps.suppressions.of("ana@example.com")] == ["unsubscribe"]
    assert room.counted() == room.counted(step="hello") == {"sent": 1, "unsubscribed": 1}
    assert room.send(request("run_2", type="promotional"))[0].state == "skipped"
    assert room.send(request("run_3"))[0].state == "sent"


# --- test emails, settling, ignoring -----------------------------------------------------------------------


def test_a_test_email_is_tracked_but_never_counted(room: Mailroom) -> None:
    email = sent(room, test=True)
    results = room.feed(
        room.ses_event(email, "Send"), room.ses_event(email, "Delivery"), room.ses_event(email, "Bounce")
    )
    assert [(r.status, r.counts, r.deactivated) for r in results] == [("counted", {}, None)] * 3
    assert room.record().status == "bounced"
    assert room.counted() == {}


def test_an_email_whose_send_reply_was_lost_is_settled_by_ses_s_send_event(room: Mailroom) -> None:
    # Given an email whose send may have reached SES (counted as unknown)
    room.fakes.email_sender.failures.append(SendOutcomeUnknownError("ReadTimeoutError", "read timed out"))
    room.send(request())
    unknown = room.record()
    assert room.counted() == {"send_unknown": 1}
    # When SES's Send event for it arrives (it did take it)
    [result] = room.feed(room.ses_event(replace(unknown, ses_message_id="ses-confirmed"), "Send"))
    # Then the email is sent under SES's id, and no longer counted as unknown
    found = room.record()
    assert (found.state, found.ses_message_id) == ("sent", "ses-confirmed")
    assert found.reason is not None and "Send event" in found.reason
    assert result.counts == {"sent": 1, "send_unknown": -1}
    assert room.counted() == {"sent": 1}
    assert room.deps.messages.by_ses_id("ses-confirmed") == found


def test_ses_s_send_event_counts_nothing(room: Mailroom) -> None:
    # Given an email SES took, counted ``sent`` by the sender's mark
    email = sent(room)
    assert (room.counted(), room.record().status, room.record().status_rank) == ({"sent": 1}, "sent", 10)
    # When SES's Send event for it still arrives (a stack being upgraded), twice
    first, again = room.feed(room.ses_event(email, "Send"), room.ses_event(email, "Send"))
    # Then it counts nothing and leaves the status as it was
    assert [(r.status, r.counts) for r in (first, again)] == [("counted", {}), ("duplicate", {})]
    assert room.counted() == room.counted(step="hello") == {"sent": 1}
    assert room.record().status == "sent"


def test_an_email_whose_mark_crashed_is_counted_sent_once_by_its_delivery(
    room: Mailroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an email SES took, the sender stopping before its mark (the record left ``sending``, nothing counted)
    def crash(*args: Any) -> bool:
        raise TimeoutError("the function timed out")

    monkeypatch.setattr(room.deps.messages, "mark_sent", crash)
    with pytest.raises(TimeoutError):
        room.send(request())
    monkeypatch.undo()
    left = room.record()
    assert (left.state, room.counted()) == ("sending", {})
    # When its Delivery arrives (twice), and the queue message comes back
    delivery = room.ses_event(replace(left, ses_message_id="ses-took-it"), "Delivery")
    first, again = room.feed(delivery, delivery)
    [retried] = room.send(request())
    # Then it is settled as sent and counted once
    found = room.record()
    assert (found.state, found.ses_message_id, found.status) == ("sent", "ses-took-it", "delivered")
    assert (first.counts, again.status, retried.state) == ({"sent": 1, "delivered": 1}, "duplicate", "done")
    assert room.counted() == room.counted(step="hello") == {"sent": 1, "delivered": 1}
    assert room.sent_to() == ["ana@example.com"]


def test_an_event_of_an_email_with_no_record_makes_one(room: Mailroom) -> None:
    email = sent(room)
    stranger = replace(email, run_id="run_gone", message_id="msg_gone")
    [result] = room.feed(room.ses_event(stranger, "Delivery"))
    assert result.status == "counted"
    found = room.deps.messages.get("run_gone", "hello", "msg_gone")
    assert found is not None and (found.state, found.status, found.address) == (
        "unrecorded",
        "delivered",
        email.address,
    )


def test_events_of_other_senders_or_workspaces_are_ignored(room: Mailroom) -> None:
    email = sent(room)
    foreign = room.sample_event("ses_delivery_foreign.json", replace(email, ses_message_id="ses-not-ours"))
    other = room.ses_event(email, "Delivery").replace('"workspace": ["default"]', '"workspace": ["elsewhere"]')
    results = room.feed(foreign, other)
    assert [r.status for r in results] == ["ignored", "ignored"]
    assert room.counted() == {"sent": 1} and room.record().status == "sent"


def test_an_event_with_only_ses_s_own_tags_is_found_by_ses_s_message_id(room: Mailroom) -> None:
    email = sent(room)
    [result] = room.feed(room.sample_event("ses_delivery_foreign.json", email))
    assert (result.status, result.message_id, room.record().status) == ("counted", email.message_id, "delivered")


# --- the reputation guard ----------------------------------------------------------------------------------


def guarded() -> Mailroom:
    """A mailroom whose limits one bounce reaches, with ``welcome`` active."""
    room = Mailroom(settings=mail_settings(min_sends_for_reputation=1))
    room.create(automation("welcome", "lead.created"))
    return room


def test_the_reputation_guard_deactivates_an_automation_that_bounces_too_much() -> None:
    # Given an active automation whose one email hard-bounces, at limits that one bounce reaches
    room = guarded()
    email = sent(room)
    # When SES reports the bounce
    [result] = room.feed(room.ses_event(email, "Bounce"))
    # Then the automation is deactivated, with the reason
    assert result.deactivated is not None and "hard-bounce rate 100.00%" in result.deactivated
    head = room.deps.automations.head("welcome")
    assert (head.status, head.status_reason) == ("inactive", result.deactivated)


def test_complaints_deactivate_too_but_deliveries_do_not() -> None:
    room = guarded()
    email = sent(room)
    [delivered] = room.feed(room.ses_event(email, "Delivery"))
    assert delivered.deactivated is None and room.deps.automations.head("welcome").status == "active"
    [complained] = room.feed(room.ses_event(email, "Complaint"))
    assert complained.deactivated is not None and "complaint rate" in complained.deactivated


def test_a_redelivered_bounce_runs_the_guard_that_failed_the_first_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bounce counted, then the guard failing (the function errs; SNS delivers the event again)
    room = guarded()
    email = sent(room)
    bounce = room.ses_event(email, "Bounce")
    real_guard = guard.guard_reputation
    failures = [TimeoutError("the automation store did not answer")]

    def flaky_guard(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_guard(*args)

    monkeypatch.setattr(guard, "guard_reputation", flaky_guard)
    with pytest.raises(TimeoutError):
        room.feed(bounce)
    assert room.deps.automations.head("welcome").status == "active"
    # When SNS delivers it again
    [result] = room.feed(bounce)
    # Then it counts nothing more, and the guard runs
    assert (result.status, room.counted()) == ("duplicate", {"sent": 1, "bounced_hard": 1})
    assert room.deps.automations.head("welcome").status == "inactive"


def test_an_inactive_automation_is_left_as_it_is() -> None:
    room = guarded()
    lifecycle.deactivate(room.deps, "welcome", room.now, "paused")
    email = sent(room)
    [result] = room.feed(room.ses_event(email, "Bounce"))
    assert result.deactivated is None
    assert room.deps.automations.head("welcome").status_reason == "paused"
