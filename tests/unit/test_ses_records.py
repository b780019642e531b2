"""One model of SES's event-publishing records: SES's documented samples, the records the local stack's SES
publishes and the records the tests make all have its shape, and the feedback service reads each of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from automations import ses_records
from automations.ports import EmailRecord
from automations.services import feedback
from automations_local.ses_simulator import SentEmail, engagement_event, outcome_events

from tests.conftest import EVENTS

NOW = datetime(2026, 11, 24, 10, 0, 1, 250000, tzinfo=UTC)
SAMPLES = sorted(EVENTS.glob("ses_*.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_each_documented_sample_keeps_its_details_where_the_model_says(path: Path) -> None:
    record = ses_records.parse(path.read_text())
    kind = ses_records.event_type(record)
    assert set(record) == {"eventType", "mail", ses_records.DETAIL_KEYS[kind]}
    assert ses_records.detail_of(record) is record[ses_records.DETAIL_KEYS[kind]]


def _message(address: str = "Ana@Example.com") -> EmailRecord:
    return EmailRecord(
        workspace="default",
        automation_id="new-lead-welcome",
        version=2,
        run_id="run_1",
        step="welcome",
        message_id="msg_1",
        address=address,
        type="promotional",
        subject="Welcome",
        ses_message_id="ses-1",
        state="sent",
        created_at=NOW,
        updated_at=NOW,
    )


def _sent(to: str) -> SentEmail:
    tags = {"workspace": "default", "automation": "new-lead-welcome", "run": "run_1", "step": "welcome"}
    return SentEmail(
        id="ses-1",
        source="Acme Studio <hello@acme.example>",
        to=[to],
        subject="Welcome",
        tags={**tags, "message": "msg_1", "type": "promotional"},
        configuration_set="automations-local",
        sent_at=NOW,
    )


def test_the_tests_records_and_the_local_stack_s_have_the_same_shape() -> None:
    made = feedback.simulated_record(_message(), "Delivery", NOW, sender="Acme Studio <hello@acme.example>")
    [published] = outcome_events(_sent("ana@example.com"), NOW, "us-east-1")
    sample = json.loads((EVENTS / "ses_delivery.json").read_text())
    assert set(made["mail"]) == set(published["mail"]) >= set(sample["mail"])
    assert set(made["delivery"]) == set(published["delivery"]) >= set(sample["delivery"])
    assert made["mail"]["source"] == published["mail"]["source"] == "hello@acme.example"
    assert set(ses_records.tags_of(made["mail"])) == set(ses_records.tags_of(published["mail"])) | {"version"}


@pytest.mark.parametrize(
    ("kind", "counts"),
    [
        ("Send", {}),  # still read (a stack being upgraded), counted by the sender's mark instead
        ("Delivery", {"delivered": 1}),
        ("Bounce", {"bounced_hard": 1}),
        ("Complaint", {"complained": 1}),
        ("Open", {"opened": 1}),
        ("Click", {"clicked": 1}),
        ("Reject", {"rejected": 1}),
        ("DeliveryDelay", {"delayed": 1}),
    ],
)
def test_feedback_reads_every_record_the_model_makes(kind: str, counts: dict[str, int]) -> None:
    record = feedback.simulated_record(_message(), kind, NOW, sender="hello@acme.example")
    effect = feedback.effect_of(feedback.parse(json.dumps(record)))
    assert effect.counts == counts
    assert effect.at.startswith("2026-11-24T10:00:01")
    if kind in ("Bounce", "Complaint"):
        assert effect.addresses == ("ana@example.com",)


def test_feedback_reads_what_the_local_stack_publishes_for_the_mailbox_simulator() -> None:
    records = [
        *outcome_events(_sent("ana@example.com"), NOW, "us-east-1"),
        *outcome_events(_sent("bounce@simulator.amazonses.com"), NOW, "us-east-1"),
        *outcome_events(_sent("suppressionlist@simulator.amazonses.com"), NOW, "us-east-1"),
        *outcome_events(_sent("complaint@simulator.amazonses.com"), NOW, "us-east-1")[1:],
        engagement_event("Open", _sent("ana@example.com"), NOW, "us-east-1"),
        engagement_event("Click", _sent("ana@example.com"), NOW, "us-east-1", link="https://acme.example/book"),
    ]
    effects = [feedback.effect_of(feedback.parse(json.dumps(r))) for r in records]
    assert [e.counts for e in effects] == [
        {"delivered": 1},
        {"bounced_hard": 1},
        {"suppressed": 1},
        {"complained": 1},
        {"opened": 1},
        {"clicked": 1},
    ]


def test_a_record_of_an_unknown_type_is_neither_made_nor_read() -> None:
    with pytest.raises(ValueError):
        ses_records.record("Teleported", {})
    with pytest.raises(ses_records.UnprocessableFeedbackError):
        ses_records.detail_of({"eventType": "Teleported", "mail": {}})
    with pytest.raises(ses_records.UnprocessableFeedbackError):
        ses_records.detail_of({"eventType": "Bounce", "mail": {}})
