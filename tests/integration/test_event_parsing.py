"""The handlers read their AWS events with Powertools' parser models, under moto.

The AWS-shaped samples (``tests/events/``) parse with the model each handler reads them with; and an input a
model refuses keeps its outcome: a queue record that is not an email request is a batch item failure (logged and
counted; after the queue's retries it is in the dead-letter queue), a malformed bus event is answered ``invalid``
with its errors (logged, counted by ``InvalidEvents``), an SES record that cannot be processed is logged and
counted by ``FeedbackUnprocessable``, and the other records of the batch or the notification are processed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from automations import ses_records
from automations.services import sending
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, EventBridgeModel, SnsModel
from pydantic import ValidationError

from tests.conftest import EVENTS, load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import request, sent_messages, ses_record, sns_event, sqs_event, verify_sender
from tests.support.flows import activate
from tests.support.logs import LogLines, captured_log_lines, metric_counts

INGEST = load_handler("ingest_trigger")
WEBHOOK = load_handler("stats_webhook")
SEND = load_handler("send_email")
EVALUATE = load_handler("evaluate_step")


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_log_lines() as lines:
        yield lines


# --- the samples ------------------------------------------------------------------------------------------


def _email_record(event: dict[str, Any]) -> None:
    [record] = event["Records"]
    record["body"] = json.dumps(request())
    parsed = SEND.EmailQueueRecord.model_validate(record)
    assert parsed.messageId == record["messageId"]
    assert parsed.body.request() == sending.request_from_body(request())


def _sns_notification(event: dict[str, Any]) -> None:
    [record] = parse(event, model=SnsModel).Records
    assert record.Sns.MessageId == event["Records"][0]["Sns"]["MessageId"]


def _bus_event(event: dict[str, Any]) -> None:
    parsed = parse(event, model=INGEST.BusEvent)
    assert parsed.detail_type == event["detail-type"] and parsed.detail == event["detail"]


#: How each sample is read: with the model of the handler it is an event of, or (an SES record, the Message of an
#: SNS notification) by the feedback service.
READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "apigw_": lambda event: APIGatewayProxyEventModel.model_validate(event),
    "eventbridge_": _bus_event,
    "scheduler_default_notification": lambda event: parse(event, model=EventBridgeModel),
    "scheduler_evaluate_step": lambda event: EVALUATE.StepPayload.model_validate(event),
    "ses_": lambda event: ses_records.parse(json.dumps(event)),
    "sns_": _sns_notification,
    "sqs_": _email_record,
}


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("*.json")))
def test_every_aws_sample_parses_with_the_model_its_handler_reads_it_with(name: str) -> None:
    [reader] = [read for prefix, read in READERS.items() if name.startswith(prefix)]
    reader(load_event(name))


# --- send_email ------------------------------------------------------------------------------------------------

NOT_EMAIL_REQUESTS: dict[str, tuple[str, str]] = {
    "not-json": ("{not json", "body: invalid JSON"),
    "not-an-object": ("[1, 2]", "body: input should be a valid dictionary"),
    "no-subject": (json.dumps({**request(), "subject": ""}), "body.subject"),
    "no-recipient": (json.dumps({**request(), "recipients": []}), "body.recipients"),
    "not-an-address": (json.dumps({**request(), "recipients": ["ana"]}), "body.recipients[0]: not an email address"),
    "unknown-type": (json.dumps({**request(), "type": "newsletter"}), "body.type"),
}


def test_queue_records_that_are_not_email_requests_fail_alone_logged_and_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str], log_lines: LogLines
) -> None:
    # Given a batch of one email request and records that are not email requests, each in its own way
    verify_sender()
    event = sqs_event(*[request()] * (1 + len(NOT_EMAIL_REQUESTS)))
    good, *bad = event["Records"]
    for record, (body, _) in zip(bad, NOT_EMAIL_REQUESTS.values(), strict=True):
        record["body"] = body
    capsys.readouterr()
    # When send_email processes it
    result = SEND.handler(event, LambdaContextStub())
    # Then every record that is not an email request is a batch item failure (the queue keeps it, then its DLQ)
    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in bad]}
    # And the email request is sent all the same
    assert [m["To"] for m in sent_messages()] == ["ana@example.com"]
    # And each refused record is logged with why, and counted
    logged = log_lines.with_message("invalid email message kept for the dead-letter queue")
    assert [line["message_id"] for line in logged] == [record["messageId"] for record in bad]
    for line, (_, reason) in zip(logged, NOT_EMAIL_REQUESTS.values(), strict=True):
        assert reason in line["reason"] and line["level"] == "ERROR" and line["receive_count"] == "1"
    assert good["messageId"] not in {line["message_id"] for line in logged}
    assert metric_counts(capsys.readouterr().out)["EmailMessagesInvalid"] == len(NOT_EMAIL_REQUESTS)


def test_a_record_sqs_did_not_shape_fails_alone_too(stack: Stack, log_lines: LogLines) -> None:
    verify_sender()
    event = sqs_event(request(), request(run_id="run_0002"))
    del event["Records"][1]["attributes"]
    result = SEND.handler(event, LambdaContextStub())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    [logged] = log_lines.with_message("invalid email message kept for the dead-letter queue")
    assert "attributes: field required" in logged["reason"] and "receive_count" not in logged
    assert len(sent_messages()) == 1


# --- ingest_trigger's bus events ---------------------------------------------------------------------------

MALFORMED_BUS_EVENTS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "detail-not-an-object": (lambda r: r.update({"detail": "not an object"}), "detail"),
    "no-detail": (lambda r: r.pop("detail"), "detail"),
    "detail-type-not-text": (lambda r: r.update({"detail-type": 7}), "detail-type"),
    "time-not-a-time": (lambda r: r.update({"time": "yesterday"}), "time"),
    "no-source": (lambda r: r.pop("source"), "source"),
    "invalid-trigger-event": (lambda r: r.update({"detail-type": "Invoice Overdue!"}), "type"),
}


@pytest.mark.parametrize("name", list(MALFORMED_BUS_EVENTS))
def test_a_malformed_bus_event_is_answered_invalid_logged_and_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str], log_lines: LogLines, name: str
) -> None:
    # Given an active automation
    activate(stack, "overdue-invoice-reminder")
    change, loc = MALFORMED_BUS_EVENTS[name]
    record = load_event("eventbridge_trigger.json")
    change(record)
    capsys.readouterr()
    # When EventBridge delivers an event that is wrong in one way
    result = INGEST.handler(record, LambdaContextStub())
    # Then it is answered invalid, naming the field (no retry could fix it), and nothing is stored
    assert result["status"] == "invalid" and set(result) == {"status", "errors"}
    assert loc in [e["loc"] for e in result["errors"]]
    assert stack.dynamodb.scan(TableName=stack.settings.events_table)["Count"] == 0
    # And one log line says why, and InvalidEvents counts it
    [logged] = log_lines.with_message("invalid EventBridge event")
    assert logged["level"] == "ERROR" and logged["errors"] == result["errors"] and logged["id"] == record["id"]
    assert metric_counts(capsys.readouterr().out).get("InvalidEvents") == 1


# --- stats_webhook's SNS notifications ---------------------------------------------------------------------


def test_ses_records_that_cannot_be_processed_are_logged_and_counted_and_the_others_processed(
    stack: Stack, capsys: pytest.CaptureFixture[str], log_lines: LogLines
) -> None:
    # Given a notification batch: a record that is not JSON, one without its mail, and a delivery
    event = sns_event("{not json", json.dumps({"eventType": "Send"}), ses_record("ses_delivery.json"))
    capsys.readouterr()
    # When stats_webhook reads it
    results = WEBHOOK.handler(event, LambdaContextStub())["results"]
    # Then the two it cannot process are answered invalid, and the delivery is processed
    ids = [record["Sns"]["MessageId"] for record in event["Records"]]
    assert [r["sns_message_id"] for r in results] == ids
    assert [r["status"] for r in results][:2] == ["invalid", "invalid"] and results[2]["status"] != "invalid"
    # And each is logged with its SNS message id, and counted by FeedbackUnprocessable
    logged = log_lines.with_message("SES event cannot be processed")
    assert [line["sns_message_id"] for line in logged] == ids[:2]
    assert metric_counts(capsys.readouterr().out)["FeedbackUnprocessable"] == 2


def test_a_notification_the_sns_model_refuses_fails_the_invocation(stack: Stack) -> None:
    event = sns_event(ses_record("ses_delivery.json"))
    del event["Records"][0]["Sns"]["MessageId"]
    with pytest.raises(ValidationError):
        WEBHOOK.handler(event, LambdaContextStub())
