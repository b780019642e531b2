"""Reading SES records: each documented shape means one effect; digests; the reputation thresholds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from automations.ports import EmailRecord, FeedbackUpdate
from automations.services.feedback import (
    RANKS,
    UnprocessableFeedbackError,
    digest_of,
    effect_of,
    parse,
    reputation_problem,
    tags_of,
    update_for,
)
from automations.services.feedback.records import Target

from tests.conftest import load_event
from tests.support.settings import settings_with

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "counts", "status", "suppress"),
    [
        ("ses_send.json", {}, "sent", None),  # ``sent`` is counted when SES takes the email, not by this event
        ("ses_delivery.json", {"delivered": 1}, "delivered", None),
        ("ses_open.json", {"opened": 1}, "opened", None),
        ("ses_click.json", {"clicked": 1}, "clicked", None),
        ("ses_bounce_permanent.json", {"bounced_hard": 1}, "bounced", "bounce"),
        ("ses_bounce_transient.json", {"bounced_soft": 1}, "soft_bounced", None),
        ("ses_bounce_undetermined.json", {"bounced_soft": 1}, "soft_bounced", None),
        ("ses_complaint.json", {"complained": 1}, "complained", "complaint"),
        ("ses_reject.json", {"rejected": 1}, "rejected", None),
        ("ses_rendering_failure.json", {"rendering_failed": 1}, "rendering_failed", None),
        ("ses_delivery_delay.json", {"delayed": 1}, "delayed", None),
        ("ses_subscription.json", {}, None, "unsubscribe"),
    ],
)
def test_each_documented_record_has_its_effect(
    name: str, counts: dict[str, int], status: str | None, suppress: str | None
) -> None:
    record = parse(json.dumps(load_event(name)))
    effect = effect_of(record)
    assert (effect.counts, effect.status, effect.suppress) == (counts, status, suppress)
    assert effect.at.startswith("2026-11-24T")
    assert tags_of(record["mail"])["automation"] == "__AUTOMATION__"


def test_a_hard_bounce_names_the_addresses_to_suppress() -> None:
    record = json.loads(json.dumps(load_event("ses_bounce_permanent.json")).replace("__RECIPIENT__", "Ana@Example.com"))
    effect = effect_of(record)
    assert effect.addresses == ("ana@example.com",)
    assert effect.bounce_type == "Permanent/General" and effect.reputation is True


def test_statuses_only_move_up() -> None:
    order = ["sent", "delayed", "delivered", "opened", "clicked", "rejected", "bounced", "complained"]
    assert [RANKS[s] for s in order] == sorted(RANKS[s] for s in order)


def sending_record(state: str, **changes: Any) -> EmailRecord:
    fields: dict[str, Any] = {
        "automation_id": "welcome",
        "version": 1,
        "run_id": "run_1",
        "step": "hello",
        "address": "ana@example.com",
        "type_": "promotional",
        "state": state,
        "now": NOW,
        "attempt": "attempt-1",
    }
    fields.update(changes)
    return EmailRecord.new("default", **fields)


def update_of(name: str, found: EmailRecord, *, test: bool = False) -> FeedbackUpdate:
    record = parse(json.dumps(load_event(name)))
    target = Target("default", found.run_id, found.step, found.message_id, "welcome", test)
    return update_for(effect_of(record), found, target, record["mail"], digest_of(record), NOW)


@pytest.mark.parametrize("name", ["ses_send.json", "ses_delivery.json", "ses_bounce_permanent.json"])
def test_an_event_that_settles_an_interrupted_send_counts_it_sent(name: str) -> None:
    # A record left ``sending`` (SES took it, the sender stopped before its mark, which would have counted it)
    update = update_of(name, sending_record("sending"))
    assert update.confirm is not None and update.confirm.from_state == "sending"
    assert update.counts["sent"] == 1
    # One the sender gave up on as ``unknown`` stops being counted so
    update = update_of(name, sending_record("unknown"))
    assert update.confirm is not None and (update.counts["sent"], update.counts["send_unknown"]) == (1, -1)
    # A test email is settled, never counted
    update = update_of(name, sending_record("sending", test=True), test=True)
    assert update.confirm is not None and update.counts == {}


def test_an_event_of_a_marked_email_counts_no_send() -> None:
    marked = replace(sending_record("sent"), ses_message_id="ses-1", status="sent", status_rank=RANKS["sent"])
    send = update_of("ses_send.json", marked)
    assert (send.confirm, send.counts, send.status) == (None, {}, None)
    delivery = update_of("ses_delivery.json", marked)
    assert (delivery.confirm, delivery.counts) == (None, {"delivered": 1})
    assert (delivery.status, delivery.expected_rank) == ("delivered", RANKS["sent"])


def test_the_same_record_has_the_same_digest_whatever_its_key_order() -> None:
    record = load_event("ses_open.json")
    shuffled: dict[str, Any] = dict(reversed(list(record.items())))
    assert digest_of(record) == digest_of(shuffled)
    other = json.loads(json.dumps(record))
    other["open"]["timestamp"] = "2026-11-24T10:30:20.000Z"
    assert digest_of(other) != digest_of(record)


@pytest.mark.parametrize("raw", ["", "[]", "{}", '{"mail": {}}', '{"eventType": "Send"}', "nope"])
def test_records_that_cannot_be_read(raw: str) -> None:
    with pytest.raises(UnprocessableFeedbackError):
        parse(raw)


def test_an_unknown_event_type_cannot_be_processed() -> None:
    with pytest.raises(UnprocessableFeedbackError):
        effect_of({"eventType": "Teleported", "mail": {}})
    with pytest.raises(UnprocessableFeedbackError):
        effect_of({"eventType": "Bounce", "mail": {}})


def _deps(**settings: Any) -> Any:
    return SimpleNamespace(settings=settings_with(**settings))


@pytest.mark.parametrize(
    ("totals", "problem"),
    [
        ({"sent": 99, "bounced_hard": 50}, None),  # fewer sends than the minimum
        ({"sent": 100, "bounced_hard": 4}, None),
        ({"sent": 100, "bounced_hard": 5}, "hard-bounce rate 5.00%"),
        ({"sent": 1000, "complained": 0}, None),
        ({"sent": 1000, "complained": 1}, "complaint rate 0.10%"),
        ({"sent": 0, "delivered": 95, "bounced_hard": 5}, "hard-bounce rate 5.00%"),  # no Send events published
    ],
)
def test_reputation_thresholds(totals: dict[str, int], problem: str | None) -> None:
    found = reputation_problem(totals, _deps())
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))
