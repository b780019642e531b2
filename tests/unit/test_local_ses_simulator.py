"""SES's part in the local stack: the sent message as the outbox shows it, and SES's events about it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from automations.adapters.ses import OutgoingEmail, build_mime
from automations.services import feedback
from automations_local.ses_simulator import (
    SentEmail,
    engagement_event,
    from_v2_request,
    outbox_page,
    outcome_events,
    simulator_mailbox,
    sns_record_event,
    tracked_html,
)

NOW = datetime(2026, 11, 24, 10, 0, 1, 250000, tzinfo=UTC)
TAGS = {"automation": "new-lead-welcome", "run": "run_1", "step": "welcome", "type": "promotional"}


def request_for(to: str) -> dict[str, Any]:
    """The SES v2 SendEmail request that send_email makes (Raw content, tags, configuration set)."""
    outgoing = OutgoingEmail(
        from_address="hello@example.com",
        from_name="Acme Studio",
        to=to,
        subject="Your first class is on us",
        html='<p>Hi</p><p><a href="https://acme.example/book?a=1&amp;b=2">Book</a> <a href="mailto:x@y">mail</a></p>',
        text="Hi",
        reply_to="desk@acme.example",
        headers={
            "List-Unsubscribe": "<http://127.0.0.1:3000/u/tok>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    return {
        "FromEmailAddress": "hello@example.com",
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": base64.b64encode(build_mime(outgoing, NOW)).decode()}},
        "EmailTags": [{"Name": k, "Value": v} for k, v in TAGS.items()],
        "ConfigurationSetName": "automations-local",
    }


def sent_to(to: str) -> SentEmail:
    return from_v2_request("ses-1", request_for(to), NOW)


def test_a_raw_v2_request_keeps_everything_the_sender_set() -> None:
    sent = sent_to("ana@example.com")
    assert sent.to == ["ana@example.com"]
    assert sent.source == "Acme Studio <hello@example.com>"
    assert sent.reply_to == ["desk@acme.example"]
    assert sent.subject == "Your first class is on us"
    assert sent.html is not None and "acme.example/book" in sent.html
    assert sent.text is not None and sent.text.strip() == "Hi"
    assert sent.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.tags == TAGS
    assert sent.configuration_set == "automations-local"
    out = sent.as_json()
    assert set(out) >= {"id", "to", "from", "reply_to", "subject", "html", "text", "headers", "tags", "sent_at"}


def test_a_simple_v2_request_too() -> None:
    params = {
        "FromEmailAddress": "hello@example.com",
        "Destination": {"ToAddresses": ["a@example.com"], "CcAddresses": ["c@example.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "Hi"},
                "Body": {"Html": {"Data": "<p>Hi</p>"}, "Text": {"Data": "Hi"}},
                "Headers": [{"Name": "List-Unsubscribe", "Value": "<https://x/u/1>"}],
            }
        },
        "EmailTags": [{"Name": "run", "Value": "r"}],
    }
    sent = from_v2_request("ses-2", params, NOW)
    assert (sent.to, sent.cc, sent.html, sent.text) == (["a@example.com"], ["c@example.com"], "<p>Hi</p>", "Hi")
    assert sent.headers == {"List-Unsubscribe": "<https://x/u/1>"} and sent.tags == {"run": "r"}
    assert sent.configuration_set is None


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("bounce@simulator.amazonses.com", "bounce"),
        ("Bounce+label@Simulator.AmazonSES.com", "bounce"),
        ("complaint@simulator.amazonses.com", "complaint"),
        ("ana@example.com", None),
    ],
)
def test_the_mailbox_simulator_s_addresses(address: str, kind: str | None) -> None:
    assert simulator_mailbox(address) == kind


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def test_a_normal_address_gets_a_delivery_and_no_send() -> None:
    # The configuration set does not publish Send (the sender counts ``sent`` when SES takes the email)
    events = outcome_events(sent_to("ana@example.com"), NOW, "us-east-1")
    assert kinds(events) == ["Delivery"]
    delivery = events[0]["delivery"]
    assert delivery["recipients"] == ["ana@example.com"] and delivery["timestamp"] == "2026-11-24T10:00:01.250Z"


def test_the_bounce_address_gets_a_permanent_bounce_and_no_delivery() -> None:
    events = outcome_events(sent_to("bounce@simulator.amazonses.com"), NOW, "us-east-1")
    assert kinds(events) == ["Bounce"]
    bounce = events[0]["bounce"]
    assert bounce["bounceType"] == "Permanent" and bounce["bounceSubType"] == "General"
    assert bounce["bouncedRecipients"][0]["emailAddress"] == "bounce@simulator.amazonses.com"


def test_the_complaint_address_gets_a_delivery_then_a_complaint() -> None:
    events = outcome_events(sent_to("complaint@simulator.amazonses.com"), NOW, "us-east-1")
    assert kinds(events) == ["Delivery", "Complaint"]
    assert events[1]["complaint"]["complainedRecipients"] == [{"emailAddress": "complaint@simulator.amazonses.com"}]


def test_every_event_carries_ses_s_mail_object_with_the_tags_as_lists() -> None:
    [delivery] = outcome_events(sent_to("ana@example.com"), NOW, "us-east-1")
    mail = delivery["mail"]
    assert mail["messageId"] == "ses-1"
    assert mail["destination"] == ["ana@example.com"]
    assert mail["source"] == "hello@example.com"
    assert mail["tags"]["automation"] == ["new-lead-welcome"]
    assert mail["tags"]["ses:configuration-set"] == ["automations-local"]
    assert {"name": "List-Unsubscribe-Post", "value": "List-Unsubscribe=One-Click"} in mail["headers"]
    assert mail["commonHeaders"]["subject"] == "Your first class is on us"


def test_the_feedback_service_reads_what_the_simulator_publishes() -> None:
    sent = sent_to("ana@example.com")
    records = [
        *outcome_events(sent, NOW, "us-east-1"),
        *outcome_events(sent_to("bounce@simulator.amazonses.com"), NOW, "us-east-1"),
        *outcome_events(sent_to("complaint@simulator.amazonses.com"), NOW, "us-east-1")[1:],
        engagement_event("Open", sent, NOW, "us-east-1"),
        engagement_event("Click", sent, NOW, "us-east-1", link="https://acme.example/book"),
    ]
    counted = [feedback.effect_of(feedback.parse(json.dumps(r))).counts for r in records]
    assert counted == [
        {"delivered": 1},
        {"bounced_hard": 1},
        {"complained": 1},
        {"opened": 1},
        {"clicked": 1},
    ]


def test_the_sns_envelope_carries_the_record_as_a_json_string() -> None:
    record = engagement_event("Click", sent_to("ana@example.com"), NOW, "us-east-1", link="https://x")
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    event = sns_record_event(record, topic_arn=topic, message_id="m-1", now=NOW, region="us-east-1")
    [wrapped] = event["Records"]
    assert wrapped["EventSource"] == "aws:sns"
    assert wrapped["Sns"]["MessageId"] == "m-1" and wrapped["Sns"]["TopicArn"].endswith(":t")
    assert json.loads(wrapped["Sns"]["Message"]) == record
    assert record["click"]["link"] == "https://x"


def test_links_go_through_the_click_tracker_and_a_pixel_tracks_opens() -> None:
    html = tracked_html(sent_to("ana@example.com"))
    assert 'href="/_local/click?m=ses-1&amp;u=https%3A%2F%2Facme.example%2Fbook%3Fa%3D1%26b%3D2"' in html
    assert 'href="mailto:x@y"' in html
    assert '<img src="/_local/open?m=ses-1"' in html


def test_the_outbox_page_escapes_what_it_shows() -> None:
    sent = sent_to("ana@example.com")
    sent.subject = "<script>alert(1)</script>"
    page = outbox_page([sent])
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page and "srcdoc=" in page
