"""stats_webhook under moto: SES events through SNS, counted once in any order; suppressions; the reputation
guard; the preferences page, its form and the one-click POST."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from automations.adapters.dynamodb.contacts import DynamoContactStore
from automations.adapters.dynamodb.messages import DynamoMessageStore, email_record
from automations.adapters.dynamodb.stats import DynamoStatsStore
from automations.adapters.dynamodb.suppressions import DynamoSuppressionStore
from automations.adapters.dynamodb.tables import MessageItem
from automations.ports import ContactPatch
from automations.services import feedback, lifecycle
from automations.services.unsubscribe import sign_token

from tests.conftest import EXAMPLES
from tests.integration.conftest import START
from tests.support.aws import LambdaContextStub, Stack, aws_stack, load_handler
from tests.support.email import (
    apigw_event,
    counters,
    message,
    nonzero,
    request,
    sent_messages,
    ses_record,
    sns_event,
    sqs_event,
    verify_sender,
)


@pytest.fixture
def webhook(stack: Stack) -> Any:
    return load_handler("stats_webhook").handler


@pytest.fixture
def sent(stack: Stack) -> MessageItem:
    """One transactional email to Ana, sent through send_email (its record holds SES's message id)."""
    return send(stack, request())


def send(stack: Stack, body: dict[str, Any]) -> MessageItem:
    verify_sender()
    result = load_handler("send_email").handler(sqs_event(body), LambdaContextStub())
    assert result == {"batchItemFailures": []}
    return message(body["run_id"], body["step"], body["recipients"][0])


def deliver(webhook: Any, *records: dict[str, Any] | str) -> list[dict[str, Any]]:
    out: dict[str, Any] = webhook(sns_event(*records), LambdaContextStub())
    results: list[dict[str, Any]] = out["results"]
    return results


def reread(item: MessageItem) -> MessageItem:
    return message(item.run_id, item.step, item.address)


# --- each event type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "counts", "status"),
    [
        ("ses_send.json", {}, "sent"),  # counted by send_email's mark, not by SES's Send event
        ("ses_delivery.json", {"delivered": 1}, "delivered"),
        ("ses_open.json", {"opened": 1, "opened_unique": 1}, "opened"),
        ("ses_click.json", {"clicked": 1, "clicked_unique": 1}, "clicked"),
        ("ses_bounce_permanent.json", {"bounced_hard": 1}, "bounced"),
        ("ses_bounce_transient.json", {"bounced_soft": 1}, "soft_bounced"),
        ("ses_bounce_undetermined.json", {"bounced_soft": 1}, "soft_bounced"),
        ("ses_complaint.json", {"complained": 1}, "complained"),
        ("ses_reject.json", {"rejected": 1}, "rejected"),
        ("ses_rendering_failure.json", {"rendering_failed": 1}, "rendering_failed"),
        ("ses_delivery_delay.json", {"delayed": 1}, "delayed"),
    ],
)
def test_each_ses_event_type_is_counted_for_the_automation_and_the_step(
    stack: Stack, webhook: Any, sent: MessageItem, name: str, counts: dict[str, int], status: str
) -> None:
    # When SES publishes the event through SNS
    [result] = deliver(webhook, ses_record(name, sent))
    # Then it is counted once, for the automation and for its step, and the message shows it
    assert result["status"] == "counted", result
    assert nonzero(counters()) == {"sent": 1, **counts}  # ``sent`` by send_email's mark
    assert nonzero(counters(step="reminder")) == {"sent": 1, **counts}
    assert reread(sent).status == status


def test_a_subscription_event_unsubscribes_from_promotional_mail_only(
    stack: Stack, webhook: Any, sent: MessageItem
) -> None:
    [result] = deliver(webhook, ses_record("ses_subscription.json", sent))
    assert result["status"] == "counted"
    assert nonzero(counters()) == {"sent": 1, "unsubscribed": 1}
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert (item.kind, item.scope) == ("unsubscribe", "promotional")


def test_a_duplicate_delivery_by_sns_is_counted_once(stack: Stack, webhook: Any, sent: MessageItem) -> None:
    record = ses_record("ses_delivery.json", sent)
    deliver(webhook, record)
    # When SNS delivers the same notification again (and once more, in another batch)
    [again] = deliver(webhook, record)
    deliver(webhook, json.dumps(record, indent=2))
    # Then nothing more is counted
    assert again["status"] == "duplicate"
    assert nonzero(counters()) == {"sent": 1, "delivered": 1}


def test_an_open_before_its_delivery_keeps_the_message_opened(stack: Stack, webhook: Any, sent: MessageItem) -> None:
    # When the Open arrives first, then a second Open, then the Send and the Delivery
    second_open = ses_record("ses_open.json", sent)
    second_open["open"]["timestamp"] = "2026-11-24T11:00:00.000Z"
    results = deliver(
        webhook,
        ses_record("ses_open.json", sent),
        second_open,
        ses_record("ses_send.json", sent),
        ses_record("ses_delivery.json", sent),
    )
    # Then each is counted once, the unique open once, and the status stays at the highest seen
    assert [r["status"] for r in results] == ["counted"] * 4
    assert nonzero(counters()) == {"sent": 1, "delivered": 1, "opened": 2, "opened_unique": 1}
    item = reread(sent)
    assert item.status == "opened"
    assert int(item.opens or 0) == 2
    assert item.opened_at == "2026-11-24T10:30:19.652Z"
    assert item.delivered_at == "2026-11-24T10:00:04.133Z"


def test_a_record_of_another_sender_is_ignored(stack: Stack, webhook: Any, sent: MessageItem) -> None:
    [result] = deliver(webhook, ses_record("ses_delivery_foreign.json", sent, ses_message_id="ses-not-ours"))
    assert result["status"] == "ignored"
    assert nonzero(counters()) == {"sent": 1}


def test_a_record_with_only_ses_tags_is_found_by_its_ses_message_id(
    stack: Stack, webhook: Any, sent: MessageItem
) -> None:
    # Given a record that carries only SES's own tags (as SES's DeliveryDelay and Rendering Failure do)
    record = ses_record("ses_delivery_foreign.json", sent)
    assert not {"automation", "run", "step"} & set(record["mail"]["tags"])
    # When it arrives, SES's message id still names the email the product sent
    [result] = deliver(webhook, record)
    assert result["status"] == "counted" and result["message_id"] == sent.message_id
    assert nonzero(counters()) == {"sent": 1, "delivered": 1}


def test_a_record_that_can_never_be_processed_is_logged_and_let_go(
    stack: Stack, webhook: Any, sent: MessageItem
) -> None:
    unknown_kind = ses_record("ses_delivery.json", sent)
    unknown_kind["eventType"] = "Teleported"
    no_detail = ses_record("ses_bounce_permanent.json", sent)
    del no_detail["bounce"]
    results = deliver(webhook, "{not json", unknown_kind, no_detail, json.dumps({"eventType": "Send"}))
    assert [r["status"] for r in results] == ["invalid"] * 4
    assert nonzero(counters()) == {"sent": 1}


def test_events_of_a_message_we_have_no_record_of_still_count(stack: Stack, webhook: Any) -> None:
    record = ses_record("ses_delivery.json", None, message="msg_expired", ses_message_id="ses-123")
    [result] = deliver(webhook, record)
    assert result["status"] == "counted"
    assert nonzero(counters()) == {"delivered": 1}


def test_feedback_on_a_test_email_is_tracked_but_not_counted(stack: Stack, webhook: Any) -> None:
    item = send(stack, request(test=True))
    deliver(webhook, ses_record("ses_send.json", item), ses_record("ses_complaint.json", item))
    assert nonzero(counters()) == {}
    assert reread(item).status == "complained"


# --- suppression --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("ses_bounce_permanent.json", "bounce"), ("ses_complaint.json", "complaint")],
)
def test_a_hard_bounce_or_a_complaint_stops_every_type_of_mail(
    stack: Stack, webhook: Any, sent: MessageItem, name: str, kind: str
) -> None:
    # Given SES reports a hard bounce (or a complaint) for Ana
    deliver(webhook, ses_record(name, sent))
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert (item.kind, item.scope, item.automation_id) == (kind, "all", "overdue-invoice-reminder")
    # When any type of email is due for her afterwards
    for number, email_type in enumerate(("promotional", "transactional", "business_critical")):
        later = send(stack, request(run_id=f"run_{number + 2:04d}", type=email_type))
        # Then none goes out: each is skipped with the reason
        assert later.state == "skipped" and later.reason and kind in later.reason
    assert len(sent_messages()) == 1
    assert counters()["suppressed"] == 3


def test_a_soft_bounce_does_not_suppress(stack: Stack, webhook: Any, sent: MessageItem) -> None:
    deliver(webhook, ses_record("ses_bounce_transient.json", sent))
    assert DynamoSuppressionStore("default").of("ana@example.com") == []
    assert send(stack, request(run_id="run_0002")).state == "sent"


def test_a_bounce_on_ses_suppression_list_counts_as_suppressed_not_as_a_new_hard_bounce(
    stack: Stack, webhook: Any, sent: MessageItem
) -> None:
    record = ses_record("ses_bounce_permanent.json", sent)
    record["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    deliver(webhook, record)
    assert nonzero(counters()) == {"sent": 1, "suppressed": 1}
    assert DynamoSuppressionStore("default").of("ana@example.com")[0].kind == "bounce"


# --- the reputation guard -----------------------------------------------------------------------------------


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A stack that judges reputation after 20 sends, with an active automation that has a waiting run."""
    with aws_stack(monkeypatch, START, min_sends_for_reputation=20) as created:
        lifecycle.create(created.deps, (EXAMPLES / "overdue-invoice-reminder.yaml").read_text(), created.clock.now())
        yield created


def _sends(webhook: Any, count: int) -> None:
    """``count`` emails sent, as send_email's marks count them (SES publishes no Send event)."""
    DynamoStatsStore("default").increment("overdue-invoice-reminder", START, {"sent": count}, "reminder")


def test_a_hard_bounce_rate_at_the_limit_deactivates_the_automation(guarded: Stack) -> None:
    webhook = load_handler("stats_webhook").handler
    _sends(webhook, 20)
    # When the first hard bounce of 20 sends arrives (5%: SES's review level)
    [result] = deliver(webhook, ses_record("ses_bounce_permanent.json", None, message="msg_0007"))
    # Then the automation is deactivated with the reason
    assert result["deactivated"] and "hard-bounce rate 5.00%" in result["deactivated"]
    head = guarded.deps.automations.head("overdue-invoice-reminder")
    assert head.status == "inactive"
    assert head.status_reason and "reputation" in head.status_reason and "1 of 20" in head.status_reason


def test_a_complaint_rate_at_the_limit_deactivates_the_automation(guarded: Stack) -> None:
    webhook = load_handler("stats_webhook").handler
    _sends(webhook, 20)
    [result] = deliver(webhook, ses_record("ses_complaint.json", None, message="msg_0003"))
    assert result["deactivated"] and "complaint rate" in result["deactivated"]
    assert guarded.deps.automations.head("overdue-invoice-reminder").status == "inactive"


def test_no_judgement_before_the_minimum_number_of_sends(guarded: Stack) -> None:
    webhook = load_handler("stats_webhook").handler
    _sends(webhook, 19)
    [result] = deliver(webhook, ses_record("ses_bounce_permanent.json", None, message="msg_0001"))
    assert result["deactivated"] is None
    assert guarded.deps.automations.head("overdue-invoice-reminder").status == "active"


def test_rates_below_the_limits_keep_the_automation_active(guarded: Stack) -> None:
    webhook = load_handler("stats_webhook").handler
    _sends(webhook, 40)
    deliver(webhook, ses_record("ses_bounce_permanent.json", None, message="msg_0001"))  # 2.5%
    assert guarded.deps.automations.head("overdue-invoice-reminder").status == "active"


# --- unsubscribe --------------------------------------------------------------------------------------------


def token_for(address: str = "ana@example.com", automation: str = "we-miss-you", secret: str = "test-secret") -> str:
    return sign_token(secret, "default", address, automation)


def altered(token: str) -> str:
    """The token with its last two characters changed (each token is fresh: alter the one at hand)."""
    return token[:-2] + ("BB" if token.endswith("AA") else "AA")


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {**response.get("headers", {}), **{k: v[0] for k, v in response.get("multiValueHeaders", {}).items()}}


def test_the_unsubscribe_link_shows_the_preferences_page_and_changes_nothing(stack: Stack, webhook: Any) -> None:
    response = webhook(apigw_event("GET", token_for()), LambdaContextStub())
    assert response["statusCode"] == 200
    headers = headers_of(response)
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert '<form method="post">' in response["body"]
    for choice in ("everything", "stop_promotional", "essential_only"):
        assert f'name="choice" value="{choice}"' in response["body"]
    assert "a***@example.com" in response["body"]
    assert DynamoSuppressionStore("default").of("ana@example.com") == []


def test_one_click_unsubscribes_from_promotional_mail_and_counts_once(stack: Stack, webhook: Any) -> None:
    # When the mailbox provider posts RFC 8058's one-click body
    response = webhook(apigw_event("POST", token_for()), LambdaContextStub())
    # Then it answers 200 and Ana no longer gets promotional mail; the automation counts one unsubscribe
    assert response["statusCode"] == 200
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert (item.kind, item.scope, item.source) == ("unsubscribe", "promotional", "one-click")
    assert counters("we-miss-you")["unsubscribed"] == 1
    # And again: still 200, still counted once
    assert webhook(apigw_event("POST", token_for()), LambdaContextStub())["statusCode"] == 200
    assert counters("we-miss-you")["unsubscribed"] == 1
    # And the sender honours it for promotional mail only
    assert send(stack, request(type="promotional")).state == "skipped"
    assert send(stack, request(run_id="run_0002", type="transactional")).state == "sent"


@pytest.mark.parametrize(
    "token",
    [
        token_for(secret="another-secret"),
        altered(token_for()),
        sign_token("test-secret", "another-workspace", "ana@example.com", "we-miss-you"),
        token_for().split(".")[0],
        "garbage",
        "%00..",
        "x" * 5000,
    ],
    ids=["other-secret", "altered-signature", "other-workspace", "no-signature", "garbage", "dots", "huge"],
)
def test_a_forged_or_garbled_token_changes_nothing(stack: Stack, webhook: Any, token: str) -> None:
    for method in ("GET", "POST"):
        response = webhook(apigw_event(method, token), LambdaContextStub())
        assert 400 <= response["statusCode"] < 500
    assert DynamoSuppressionStore("default").of("ana@example.com") == []
    assert nonzero(counters("we-miss-you")) == {}


def test_an_altered_address_in_the_token_is_refused(stack: Stack, webhook: Any) -> None:
    good = token_for("ana@example.com")
    other_payload = token_for("bob@example.com").split(".")[0]
    forged = f"{other_payload}.{good.split('.')[1]}"
    response = webhook(apigw_event("POST", forged), LambdaContextStub())
    assert response["statusCode"] == 400
    assert DynamoSuppressionStore("default").of("bob@example.com") == []


def test_a_post_without_the_one_click_body_is_refused(stack: Stack, webhook: Any) -> None:
    response = webhook(apigw_event("POST", token_for(), body="something=else"), LambdaContextStub())
    assert response["statusCode"] == 400
    assert DynamoSuppressionStore("default").of("ana@example.com") == []


def form(token: str, body: str, **headers: str) -> dict[str, Any]:
    """The page's form posted to a link (as a browser sends it)."""
    event = apigw_event("POST", token, body=body)
    event["headers"].update(headers)
    return event


def page_of(token: str, **headers: str) -> dict[str, Any]:
    event = apigw_event("GET", token)
    event["headers"].update(headers)
    return event


def link_token(stack: Stack, **changes: Any) -> str:
    """The token of the link in a promotional email sent through send_email (to Ana, for person c_42)."""
    send(stack, request(type="promotional", **changes))
    return str(sent_messages()[-1]["List-Unsubscribe"][1:-1].rsplit("/", 1)[1])


def test_the_preferences_page_sets_each_level_and_the_sender_honours_it(stack: Stack, webhook: Any) -> None:
    # Given Ana's profile (German), and the link of a promotional email sent to her
    DynamoContactStore("default").apply(
        "c_42", ContactPatch(set_fields={"email": "ana@example.com", "locale": "de-CH"}), START
    )
    token = link_token(stack)
    # When she opens it: the page is in her language, with every level, nothing changed
    page = webhook(page_of(token, **{"Accept-Language": "fr"}), LambdaContextStub())
    assert page["statusCode"] == 200 and '<html lang="de">' in page["body"] and "E-Mail-Einstellungen" in page["body"]
    assert 'value="everything" checked' in page["body"]
    # And she keeps essential email only
    saved = webhook(form(token, "choice=essential_only"), LambdaContextStub())
    # Then only business-critical email reaches her, her profile says so, and one unsubscribe is counted
    assert saved["statusCode"] == 200 and "Einstellungen gespeichert" in saved["body"], saved["body"]
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert (item.kind, item.scope, item.source) == ("unsubscribe", "non_essential", "page")
    assert send(stack, request(run_id="run_0002", type="transactional")).state == "skipped"
    assert send(stack, request(run_id="run_0003", type="business_critical")).state == "sent"
    profile = DynamoContactStore("default").get("c_42")
    assert profile is not None and profile.subscriptions == {"promotional": False, "transactional": False}
    assert counters()["unsubscribed"] == 1
    # When she opens the page again, her level is the one checked
    assert 'value="essential_only" checked' in webhook(page_of(token), LambdaContextStub())["body"]
    # When she subscribes again from the page, everything goes to her again, and nothing more is counted
    assert webhook(form(token, "choice=everything"), LambdaContextStub())["statusCode"] == 200
    assert DynamoSuppressionStore("default").of("ana@example.com") == []
    assert send(stack, request(run_id="run_0004", type="promotional")).state == "sent"
    profile = DynamoContactStore("default").get("c_42")
    assert profile is not None and profile.subscriptions == {"promotional": True, "transactional": True}
    assert counters()["unsubscribed"] == 1
    # And stopping promotional email from the page keeps transactional email: a new unsubscribe
    assert webhook(form(token, "choice=stop_promotional"), LambdaContextStub())["statusCode"] == 200
    assert send(stack, request(run_id="run_0005", type="promotional")).state == "skipped"
    assert send(stack, request(run_id="run_0006", type="transactional")).state == "sent"
    assert counters()["unsubscribed"] == 2


def test_one_click_never_lowers_essential_only(stack: Stack, webhook: Any) -> None:
    assert webhook(form(token_for(), "choice=essential_only"), LambdaContextStub())["statusCode"] == 200
    assert webhook(apigw_event("POST", token_for()), LambdaContextStub())["statusCode"] == 200
    [item] = DynamoSuppressionStore("default").of("ana@example.com")
    assert item.scope == "non_essential"
    assert counters("we-miss-you")["unsubscribed"] == 1


def test_the_page_takes_the_browsers_language_without_a_profile(stack: Stack, webhook: Any) -> None:
    response = webhook(page_of(token_for(), **{"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}), LambdaContextStub())
    assert response["statusCode"] == 200 and '<html lang="nl">' in response["body"]
    assert "E-mailvoorkeuren" in response["body"]


@pytest.mark.parametrize(
    ("body", "base64", "message"),
    [
        ("choice=maybe", False, "choice: unknown choice &#x27;maybe&#x27;"),
        ("choice=everything&choice=essential_only", False, "choice: given more than once"),
        ("choice=%3Cscript%3E", False, "choice: unknown choice &#x27;&lt;script&gt;&#x27;"),
        ("", False, "choice: missing"),
        ("//79/w==", True, "choice: the body is not a form"),
    ],
    ids=["unknown", "twice", "markup", "empty", "not-utf-8"],
)
def test_a_form_without_a_known_choice_is_a_400_naming_the_field(
    stack: Stack, webhook: Any, body: str, base64: bool, message: str
) -> None:
    event = form(token_for(), body)
    event["isBase64Encoded"] = base64
    response = webhook(event, LambdaContextStub())
    assert response["statusCode"] == 400
    assert headers_of(response)["Content-Type"].startswith("text/html")
    assert message in response["body"] and "<script>" not in response["body"]
    assert DynamoSuppressionStore("default").of("ana@example.com") == []
    assert nonzero(counters("we-miss-you")) == {}


def test_the_unsubscribe_link_in_a_sent_email_works_end_to_end(stack: Stack, webhook: Any) -> None:
    send(stack, request(type="promotional"))
    [email] = sent_messages()
    token = email["List-Unsubscribe"][1:-1].rsplit("/", 1)[1]
    assert webhook(apigw_event("POST", token), LambdaContextStub())["statusCode"] == 200
    assert counters()["unsubscribed"] == 1
    assert send(stack, request(run_id="run_0002", type="promotional")).state == "skipped"


def test_simulated_records_have_the_shape_the_webhook_reads(stack: Stack, webhook: Any, sent: MessageItem) -> None:
    now = datetime.fromisoformat("2026-11-24T10:05:00+00:00")
    kinds = ["Send", "Delivery", "Open", "Click"]
    records = [feedback.simulated_record(email_record(sent), kind, now, sender="hello@acme.example") for kind in kinds]
    assert [r["status"] for r in deliver(webhook, *records)] == ["counted"] * 4
    assert nonzero(counters()) == {
        "sent": 1,
        "delivered": 1,
        "opened": 1,
        "opened_unique": 1,
        "clicked": 1,
        "clicked_unique": 1,
    }


def test_an_ses_event_settles_a_send_that_crashed_before_its_record(
    stack: Stack, webhook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given send_email died after SES accepted the email, leaving the record "sending"
    def crash(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("Lambda timed out")

    original = DynamoMessageStore.mark_sent
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", crash)
    verify_sender()
    load_handler("send_email").handler(sqs_event(request()), LambdaContextStub())
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", original)
    item = message("run_0001", "reminder", "ana@example.com")
    assert item.state == "sending"
    # When SES's Send event for it arrives
    deliver(webhook, ses_record("ses_send.json", item, ses_message_id="ses-0001"))
    # Then the record says sent, under SES's id, and the queue's retry neither resends nor counts "unknown"
    item = reread(item)
    assert (item.state, item.ses_message_id) == ("sent", "ses-0001")
    assert DynamoMessageStore("default").by_ses_id("ses-0001") is not None
    load_handler("send_email").handler(sqs_event(request(), receive_count=2), LambdaContextStub())
    assert len(sent_messages()) == 1
    assert nonzero(counters()) == {"sent": 1}


def test_a_delivery_of_a_send_that_crashed_before_its_mark_counts_it_sent_once(
    stack: Stack, webhook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given send_email died after SES accepted the email, before the mark that counts it (nothing counted)
    def crash(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("Lambda timed out")

    original = DynamoMessageStore.mark_sent
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", crash)
    verify_sender()
    load_handler("send_email").handler(sqs_event(request()), LambdaContextStub())
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", original)
    item = message("run_0001", "reminder", "ana@example.com")
    assert item.state == "sending" and nonzero(counters()) == {}
    # When its Delivery arrives (SNS delivering it twice), and the queue's retry comes
    delivery = ses_record("ses_delivery.json", item, ses_message_id="ses-0001")
    deliver(webhook, delivery, delivery)
    load_handler("send_email").handler(sqs_event(request(), receive_count=2), LambdaContextStub())
    # Then it is sent under SES's id, counted sent once (and its reputation too), never sent again
    item = reread(item)
    assert (item.state, item.ses_message_id, item.status) == ("sent", "ses-0001", "delivered")
    assert len(sent_messages()) == 1
    assert nonzero(counters()) == {"sent": 1, "delivered": 1}
    assert DynamoStatsStore("default").reputation(item.automation_id, item.created_at.date())["sent"] == 1
