"""send_email under moto: each recipient once, suppressions by type, unsubscribe headers, retries, refusals."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from automations.adapters.dynamodb.messages import DynamoMessageStore
from automations.adapters.dynamodb.suppressions import DynamoSuppressionStore
from automations.language.loader import load_definition
from automations.language.templates import UNSUBSCRIBE_PLACEHOLDER
from automations.ports import Suppression
from automations.services import preview, sending
from automations.services.unsubscribe import verify_token
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.conftest import EXAMPLES
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import (
    SENDER,
    counters,
    message,
    nonzero,
    queued_event,
    receive_event,
    request,
    sent_messages,
    spy_ses,
    sqs_event,
    verify_sender,
)


@pytest.fixture
def handler(stack: Stack) -> Any:
    verify_sender()
    return load_handler("send_email").handler


def run(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContextStub())
    return result


def throttled() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        },
        "SendEmail",
    )


def suppress(stack: Stack, address: str, kind: str) -> None:
    now = stack.clock.now()
    DynamoSuppressionStore("default").add_new(
        Suppression.new(address, kind, reason=f"test {kind}", source="test", automation_id=None, now=now),
        now=now,
        counts={},
    )


# --- sending ----------------------------------------------------------------------------------------------


def test_a_transactional_email_goes_out_once_per_recipient_with_sender_reply_to_and_tags(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queued request for the client and the owner
    spy = spy_ses(stack, monkeypatch)
    body = request(recipients=("ana@example.com", "owner@acme.example"))
    # When send_email consumes it
    result = run(handler, sqs_event(body))
    # Then nothing failed, and each recipient got their own email
    assert result == {"batchItemFailures": []}
    sent = sent_messages()
    assert sorted(m["To"] for m in sent) == ["ana@example.com", "owner@acme.example"]
    first = next(m for m in sent if m["To"] == "ana@example.com")
    assert first["From"] == f"Acme Studio <{SENDER}>"
    assert first["Reply-To"] == "accounts@acme.example"
    assert first["Subject"] == "Invoice 2026-117 is overdue"
    assert first["List-Unsubscribe"] is None
    assert "Invoice 2026-117 is overdue." in first.get_body(("plain",)).get_content()
    assert "<p>Hi Ana,</p>" in first.get_body(("html",)).get_content()
    # And SES was called with the configuration set and the tags naming the email
    call = spy.calls[0]
    assert call["ConfigurationSetName"] == "automations-test"
    tags = {t["Name"]: t["Value"] for t in call["EmailTags"]}
    assert tags == {
        "workspace": "default",
        "automation": "overdue-invoice-reminder",
        "version": "1",
        "run": "run_0001",
        "step": "reminder",
        "message": message("run_0001", "reminder", "ana@example.com").message_id,
        "type": "transactional",
    }
    # And each recipient has a record: sent, with SES's message id, listed on the run
    record = message("run_0001", "reminder", "ana@example.com")
    assert record.state == "sent" and record.ses_message_id
    assert DynamoMessageStore("default").by_ses_id(record.ses_message_id) is not None
    timeline = sending.messages_of_run(stack.deps, "run_0001")
    assert sorted(m["address"] for m in timeline) == ["ana@example.com", "owner@acme.example"]
    assert {m["state"] for m in timeline} == {"sent"}


def test_the_same_queue_message_twice_sends_once(stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = spy_ses(stack, monkeypatch)
    body = request()
    run(handler, sqs_event(body))
    # When SQS delivers the same message again
    result = run(handler, sqs_event(body))
    # Then SES was called once, and the second delivery is a no-op
    assert result == {"batchItemFailures": []}
    assert len(spy.calls) == 1
    assert len(sent_messages()) == 1


def test_a_promotional_email_has_a_visible_link_and_one_click_headers(stack: Stack, handler: Any) -> None:
    # Given a promotional email whose template has no unsubscribe link
    body = request(type="promotional", html="<html><body><p>Come back!</p></body></html>", text="Come back!\n")
    run(handler, sqs_event(body))
    [sent] = sent_messages()
    # Then it carries RFC 8058's headers with a signed https link for this recipient
    header = sent["List-Unsubscribe"]
    assert header.startswith("<https://api.acme.example/u/") and header.endswith(">")
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = header[1:-1].rsplit("/", 1)[1]
    claim = verify_token("test-secret", token, "default")
    assert (claim.address, claim.automation_id) == ("ana@example.com", "overdue-invoice-reminder")
    # And a visible unsubscribe link was added to both parts
    html = sent.get_body(("html",)).get_content()
    assert f'href="{header[1:-1]}"' in html and html.index("Unsubscribe") < html.index("</body>")
    assert f"Unsubscribe: {header[1:-1]}" in sent.get_body(("plain",)).get_content()


def test_the_unsubscribe_placeholder_becomes_the_recipients_link(stack: Stack, handler: Any) -> None:
    html = f'<p>Hi</p><p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Stop these</a></p>'
    text = f"Hi\nStop these: {UNSUBSCRIBE_PLACEHOLDER}\n"
    run(handler, sqs_event(request(type="promotional", html=html, text=text)))
    [sent] = sent_messages()
    link = sent["List-Unsubscribe"][1:-1]
    body = sent.get_body(("html",)).get_content()
    assert f'<a href="{link}">Stop these</a>' in body
    assert body.count(link) == 1  # no extra footer when the template has its own link
    assert UNSUBSCRIBE_PLACEHOLDER not in sent.as_string()


def test_header_values_never_carry_line_breaks_from_data(stack: Stack, handler: Any) -> None:
    body = request(
        from_name="Acme\r\nBcc: attacker@evil.example",
        subject="Invoice\r\nBcc: attacker@evil.example",
        headers={"X-Campaign\r\nBcc": "x", "X-Note": "a\nBcc: attacker@evil.example"},
    )
    run(handler, sqs_event(body))
    [sent] = sent_messages()
    assert sent["Bcc"] is None
    assert "\n" not in sent["Subject"] and "\r" not in sent["Subject"]
    assert sent["X-Note"] == "a Bcc: attacker@evil.example"
    headers = sent.as_string().split("\n\n", 1)[0]
    assert not any(line.startswith("Bcc") for line in headers.splitlines())


# --- suppression ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "email_type", "sent"),
    [
        ("bounce", "promotional", False),
        ("bounce", "transactional", False),
        ("bounce", "business_critical", False),
        ("complaint", "promotional", False),
        ("complaint", "transactional", False),
        ("complaint", "business_critical", False),
        ("unsubscribe", "promotional", False),
        ("unsubscribe", "transactional", True),
        ("unsubscribe", "business_critical", True),
    ],
)
def test_suppressions_cover_the_types_they_should(
    stack: Stack, handler: Any, kind: str, email_type: str, sent: bool
) -> None:
    # Given Ana's address is suppressed (the address's case does not matter)
    suppress(stack, "Ana@Example.com", kind)
    # When an email of this type is due for her and for the owner
    result = run(handler, sqs_event(request(type=email_type, recipients=("ana@example.com", "owner@acme.example"))))
    # Then the owner always gets it; Ana only when the suppression does not cover the type
    assert result == {"batchItemFailures": []}
    recipients = sorted(m["To"] for m in sent_messages())
    assert recipients == (["ana@example.com", "owner@acme.example"] if sent else ["owner@acme.example"])
    record = message("run_0001", "reminder", "ana@example.com")
    if sent:
        assert record.state == "sent"
        assert counters().get("suppressed", 0) == 0
    else:
        # And the skip is recorded with its reason and counted, for the automation and the step
        assert record.state == "skipped"
        assert record.reason and kind in record.reason.replace("unsubscribed", "unsubscribe")
        assert counters()["suppressed"] == 1
        assert counters(step="reminder")["suppressed"] == 1


# --- failures ---------------------------------------------------------------------------------------------


def test_throttling_sends_the_message_back_with_backoff_then_it_goes_out(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SES throttles the first attempt
    spy = spy_ses(stack, monkeypatch)
    spy.failures.append(throttled())
    event = queued_event(stack, request())
    # When send_email consumes the message
    result = run(handler, event)
    # Then the message is reported failed (it returns to the queue), nothing was sent or counted
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert sent_messages() == []
    assert message("run_0001", "reminder", "ana@example.com").state == "retrying"
    assert nonzero(counters()) == {}
    # And its visibility was pushed back (backoff): it is not received again at once
    got = stack.sqs.receive_message(QueueUrl=stack.settings.email_queue_url, WaitTimeSeconds=0)
    assert got.get("Messages", []) == []
    # When it comes back later (visibility over) and SES takes it
    stack.sqs.change_message_visibility(
        QueueUrl=stack.settings.email_queue_url,
        ReceiptHandle=event["Records"][0]["receiptHandle"],
        VisibilityTimeout=0,
    )
    retry = receive_event(stack)
    assert retry["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert run(handler, retry) == {"batchItemFailures": []}
    # Then it was sent exactly once
    assert len(spy.calls) == 2
    assert len(sent_messages()) == 1
    assert message("run_0001", "reminder", "ana@example.com").state == "sent"


def test_backoff_grows_with_each_receive_and_is_capped() -> None:
    delays = [sending.retry_delay(n) for n in (1, 2, 3, 4, 10, 50)]
    assert 24 <= delays[0] <= 30 and 48 <= delays[1] <= 60 and 96 <= delays[2] <= 120
    assert all(d <= sending.BACKOFF_MAX_SECONDS for d in delays)
    assert delays[-1] >= sending.BACKOFF_MAX_SECONDS * 0.8


def test_a_permanent_refusal_is_recorded_and_counted_and_not_retried(stack: Stack, monkeypatch: Any) -> None:
    # Given the sender address is not verified in SES (moto refuses with MessageRejected)
    handler = load_handler("send_email").handler
    # When send_email consumes a request
    result = run(handler, sqs_event(request()))
    # Then the queue message is done (no retry), and the refusal is recorded with SES's reason and counted
    assert result == {"batchItemFailures": []}
    record = message("run_0001", "reminder", "ana@example.com")
    assert record.state == "failed"
    assert record.reason and "MessageRejected" in record.reason
    assert counters()["send_failed"] == 1
    assert counters(step="reminder")["send_failed"] == 1
    # And a redelivery of the same message does not try again
    run(handler, sqs_event(request()))
    assert counters()["send_failed"] == 1


@pytest.mark.parametrize("code", ["MessageRejected", "MailFromDomainNotVerifiedException", "SendingPausedException"])
def test_final_refusals_are_not_retried(stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    spy = spy_ses(stack, monkeypatch)
    spy.failures.append(
        ClientError(
            {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail"
        )
    )
    assert run(handler, sqs_event(request())) == {"batchItemFailures": []}
    assert message("run_0001", "reminder", "ana@example.com").state == "failed"
    assert counters()["send_failed"] == 1


def test_a_crash_after_ses_accepted_is_marked_unknown_and_never_resent(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the process dies right after SES accepted the email, before the record says so
    spy = spy_ses(stack, monkeypatch)

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("Lambda timed out")

    original = DynamoMessageStore.mark_sent
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", crash)
    event = sqs_event(request())
    first = run(handler, event)
    assert first["batchItemFailures"]  # the queue message comes back
    assert len(spy.calls) == 1
    assert message("run_0001", "reminder", "ana@example.com").state == "sending"
    monkeypatch.setattr(DynamoMessageStore, "mark_sent", original)
    spy.calls.clear()
    # When the message is delivered again
    second = run(handler, sqs_event(request(), receive_count=2))
    # Then SES is not called again; the record is "unknown", counted once
    assert second == {"batchItemFailures": []}
    assert spy.calls == []
    assert len(sent_messages()) == 1
    record = message("run_0001", "reminder", "ana@example.com")
    assert record.state == "unknown" and record.reason
    assert counters()["send_unknown"] == 1
    # And a third delivery changes nothing
    run(handler, sqs_event(request(), receive_count=3))
    assert counters()["send_unknown"] == 1


def test_a_timeout_waiting_for_ses_is_unknown_not_retried(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_ses(stack, monkeypatch)
    spy.failures.append(ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"))
    assert run(handler, sqs_event(request())) == {"batchItemFailures": []}
    assert message("run_0001", "reminder", "ana@example.com").state == "unknown"
    assert counters()["send_unknown"] == 1


@pytest.mark.parametrize(
    "body",
    ["not json", '{"workspace": "default", "recipients": []}', "[1, 2]", '{"type": "newsletter"}', ""],
    ids=["not-json", "fields-missing", "not-an-object", "wrong-shape", "empty"],
)
def test_a_malformed_message_is_reported_as_a_batch_item_failure_never_dropped(
    stack: Stack, handler: Any, body: str
) -> None:
    # Given a batch of one good email request and one malformed record
    event = sqs_event(request(), request(run_id="run_0002"))
    event["Records"][1]["body"] = body
    # When send_email processes it
    result = run(handler, event)
    # Then the good one is sent, and the malformed one is reported so that the queue keeps it (then its DLQ)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert [m["To"] for m in sent_messages()] == ["ana@example.com"]
    assert message("run_0001", "reminder", "ana@example.com").state == "sent"


def test_a_malformed_message_reaches_the_dead_letter_queue_with_its_body(stack: Stack, handler: Any) -> None:
    # Given the email queue with its redrive policy, and a message no retry can make sendable
    sqs = stack.sqs
    dlq_url = sqs.create_queue(QueueName="automations-test-email-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}
    queue = stack.settings.email_queue_url
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=queue, MessageBody="{not json")
    # When Lambda's event source mapping delivers it, deleting only what the function did not report
    for _ in range(3):
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
        for received in got.get("Messages", []):
            record = sqs_event({})["Records"][0]
            record.update(messageId=received["MessageId"], receiptHandle=received["ReceiptHandle"])
            record["body"] = received["Body"]
            failures = run(handler, {"Records": [record]})["batchItemFailures"]
            if not failures:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=received["ReceiptHandle"])
    # Then after the queue's retries it is in the dead-letter queue, body intact, and nothing was sent
    [kept] = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert kept["Body"] == "{not json"
    assert sent_messages() == []


# --- test emails ------------------------------------------------------------------------------------------


def test_test_emails_are_marked_and_kept_out_of_the_stats(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_ses(stack, monkeypatch)
    suppress(stack, "blocked@example.com", "bounce")
    run(handler, sqs_event(request(test=True, recipients=("ana@example.com", "blocked@example.com"))))
    assert {t["Name"]: t["Value"] for t in spy.calls[0]["EmailTags"]}["test"] == "true"
    assert message("run_0001", "reminder", "ana@example.com").test is True
    assert message("run_0001", "reminder", "blocked@example.com").state == "skipped"
    assert nonzero(counters()) == {}


def test_send_test_email_renders_one_email_and_sends_it_as_a_test(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the we-miss-you automation (promotional) and a sample event
    automation = load_definition((EXAMPLES / "we-miss-you.yaml").read_text())
    spy = spy_ses(stack, monkeypatch)
    sample = {"contact": {"id": "c_9", "email": "ana@example.com", "first_name": "Ana"}}
    # When an operator sends its email to themself
    result = preview.send_test_email(stack.deps, automation, None, sample, "me@acme.example", stack.clock.now())
    # Then one email went to that address, marked as a test, rendered for the sample
    assert result["state"] == "sent" and result["test"] is True and result["step"] == "miss-you"
    [sent] = sent_messages()
    assert sent["To"] == "me@acme.example"
    assert sent["Subject"] == "[Test] We miss you, Ana"
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {t["Name"]: t["Value"] for t in spy.calls[0]["EmailTags"]}["test"] == "true"
    # And nothing was counted
    assert nonzero(counters("we-miss-you")) == {}


def test_send_test_email_refuses_a_step_that_sends_nothing(stack: Stack) -> None:
    automation = load_definition((EXAMPLES / "overdue-invoice-reminder.yaml").read_text())
    with pytest.raises(preview.PreviewError):
        preview.send_test_email(stack.deps, automation, "step-1", {}, "me@acme.example", stack.clock.now())
    with pytest.raises(preview.PreviewError):
        preview.send_test_email(stack.deps, automation, None, {}, "not-an-address", stack.clock.now())


def test_the_engine_queue_and_sender_together(stack: Stack, handler: Any) -> None:
    """The overdue-invoice example from an API event to two emails, through the real queue."""
    from automations.services import lifecycle

    from tests.conftest import load_event

    lifecycle.create(stack.deps, (EXAMPLES / "overdue-invoice-reminder.yaml").read_text(), stack.clock.now())
    load_handler("ingest_trigger").handler(load_event("apigw_post_event.json"), LambdaContextStub())
    [schedule] = stack.schedules()
    stack.clock.moment = datetime.fromisoformat(schedule["Input"]["due_at"])
    load_handler("evaluate_step").handler(schedule["Input"], LambdaContextStub())
    result = run(handler, receive_event(stack))
    assert result == {"batchItemFailures": []}
    assert sorted(m["To"] for m in sent_messages()) == ["ana@example.com", "owner@acme.example"]
    [run_id] = {m.run_id for m in DynamoMessageStore("default").of_run(schedule["Input"]["run"])}
    assert run_id == schedule["Input"]["run"]


def test_an_address_ses_could_never_take_fails_without_calling_ses(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_ses(stack, monkeypatch)
    result = run(handler, sqs_event(request(recipients=("ana@exa mple.com", "owner@acme.example"))))
    assert result == {"batchItemFailures": []}
    record = message("run_0001", "reminder", "ana@exa mple.com")
    assert record.state == "failed" and record.reason and "InvalidAddress" in record.reason
    assert [c["Destination"]["ToAddresses"] for c in spy.calls] == [["owner@acme.example"]]
    assert counters()["send_failed"] == 1


def test_only_the_throttled_record_of_a_batch_comes_back(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_ses(stack, monkeypatch)
    spy.failures.append(throttled())
    event = sqs_event(request(run_id="run_a"), request(run_id="run_b"))
    result = run(handler, event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert message("run_a", "reminder", "ana@example.com").state == "retrying"
    assert message("run_b", "reminder", "ana@example.com").state == "sent"
