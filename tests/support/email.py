"""Email helpers for the integration tests: queue messages, SQS/SNS/API Gateway events, SES under moto."""

from __future__ import annotations

import copy
import email
import json
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import boto3
from automations.adapters.dynamodb import stats
from automations.adapters.dynamodb.messages import message_key
from automations.adapters.dynamodb.tables import MessageItem
from automations.adapters.ses_sender import SesEmailSender
from automations.engine.effects import EmailRequest
from automations.ports import message_id_for
from moto.ses.models import ses_backends

from tests.conftest import load_event
from tests.support.aws import ACCOUNT, REGION, Stack

SENDER = "hello@acme.example"


def verify_sender(address: str = SENDER) -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=address)


def request(**overrides: Any) -> dict[str, Any]:
    """A queue message body, as the engine's ``EmailRequest.as_message()`` makes it."""
    values: dict[str, Any] = {
        "workspace": "default",
        "automation_id": "overdue-invoice-reminder",
        "version": 1,
        "run_id": "run_0001",
        "step": "reminder",
        "type": "transactional",
        "recipients": ("ana@example.com",),
        "subject": "Invoice 2026-117 is overdue",
        "html": "<p>Hi Ana,</p><p>Invoice 2026-117 is overdue.</p>",
        "text": "Hi Ana,\nInvoice 2026-117 is overdue.\n",
        "from_name": "Acme Studio",
        "reply_to": "accounts@acme.example",
        "person": "c_42",
    }
    values.update(overrides)
    values["recipients"] = tuple(values["recipients"])
    return EmailRequest(**values).as_message()


def sqs_event(
    *bodies: dict[str, Any], receipt_handles: list[str] | None = None, receive_count: int = 1
) -> dict[str, Any]:
    """The SQS event Lambda gets, one record per body (from ``tests/events/sqs_email_message.json``)."""
    template = load_event("sqs_email_message.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"059f36b4-87a3-44ab-83d2-66197583{index:04d}"
        record["body"] = json.dumps(body)
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        if receipt_handles:
            record["receiptHandle"] = receipt_handles[index]
        records.append(record)
    return {"Records": records}


def queued_event(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """Put a body on the real (moto) email queue and receive it back as Lambda's SQS event."""
    queue = stack.settings.email_queue_url
    stack.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    return receive_event(stack)


def receive_event(stack: Stack) -> dict[str, Any]:
    got = stack.sqs.receive_message(
        QueueUrl=stack.settings.email_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    )
    messages = got.get("Messages", [])
    event = sqs_event(
        *[json.loads(m["Body"]) for m in messages],
        receipt_handles=[m["ReceiptHandle"] for m in messages],
    )
    for record, message in zip(event["Records"], messages, strict=True):
        record["messageId"] = message["MessageId"]
        record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
    return event


def ses_record(name: str, item: MessageItem | None = None, **values: str) -> dict[str, Any]:
    """An SES event record from ``tests/events`` with the placeholders filled in for one message."""
    text = json.dumps(load_event(name))
    fills = {
        "__AUTOMATION__": item.automation_id if item else "overdue-invoice-reminder",
        "__RUN__": item.run_id if item else "run_0001",
        "__STEP__": item.step if item else "reminder",
        "__MESSAGE__": item.message_id if item else "msg_unknown",
        "__SES_MESSAGE_ID__": (item.ses_message_id or "ses-none") if item else "ses-none",
        "__RECIPIENT__": item.address if item else "ana@example.com",
    }
    fills.update({f"__{k.upper()}__": v for k, v in values.items()})
    for placeholder, value in fills.items():
        text = text.replace(placeholder, value)
    record: dict[str, Any] = json.loads(text)
    if item is not None and item.test:
        record["mail"]["tags"]["test"] = ["true"]
    return record


def sns_event(
    *records: dict[str, Any] | str, message_id: str = "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
) -> dict[str, Any]:
    """SNS's Lambda event: each record's JSON as the ``Message`` string of one notification."""
    template = load_event("sns_ses_notification.json")["Records"][0]
    out = []
    for index, record in enumerate(records):
        entry = copy.deepcopy(template)
        entry["Sns"]["MessageId"] = f"{message_id[:-4]}{index:04d}" if len(records) > 1 else message_id
        entry["Sns"]["Message"] = record if isinstance(record, str) else json.dumps(record)
        out.append(entry)
    return {"Records": out}


def apigw_event(method: str, token: str, body: str | None = None) -> dict[str, Any]:
    name = "apigw_unsubscribe_get.json" if method == "GET" else "apigw_unsubscribe_post.json"
    event: dict[str, Any] = json.loads(json.dumps(load_event(name)).replace("__TOKEN__", token))
    if method == "POST" and body is not None:
        event["body"] = body
    return event


def sent_messages() -> list[EmailMessage]:  # parsed with policy.default: EmailMessage objects
    """Every raw email moto's SES accepted, parsed."""
    backend = ses_backends[ACCOUNT][REGION]
    out: list[Any] = []
    for message in backend.sent_messages:
        raw = getattr(message, "raw_data", None)
        if raw is not None:
            out.append(email.message_from_string(raw, policy=policy.default))
    return out


def counters(automation_id: str = "overdue-invoice-reminder", step: str | None = None) -> dict[str, int]:
    totals = stats.read("default", automation_id)
    return totals.get(step or stats.WHOLE, {})


def nonzero(values: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in values.items() if v}


def message(run_id: str, step: str, address: str) -> MessageItem:
    key = message_key("default", run_id, step, message_id_for("default", run_id, step, address))
    try:
        return MessageItem.get(*key, consistent_read=True)
    except MessageItem.DoesNotExist:
        raise AssertionError(f"no message record for {address}") from None


@dataclass
class SesSpy:
    """Wraps the sender's ``sesv2`` client: records each ``send_email`` call, can fail the next ones."""

    client: Any
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._send = self.client.send_email

    def send_email(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return self._send(**kwargs)


def ses_client(stack: Stack) -> Any:
    """The ``sesv2`` client of the stack's sender (made on first use)."""
    sender = stack.deps.email_sender
    assert isinstance(sender, SesEmailSender)
    return sender.client


def spy_ses(stack: Stack, monkeypatch: Any) -> SesSpy:
    client = ses_client(stack)
    spy = SesSpy(client)
    monkeypatch.setattr(client, "send_email", spy.send_email)
    return spy
