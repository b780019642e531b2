"""WebhookQueue: one message per webhook call, the whole call inside (``WebhookCall.as_message()``); a received
message is postponed by its receipt (and the ARN of the queue it came from)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from automations.engine.effects import WebhookCall
from automations.ports import Ports

from tests.contract.conftest import Backend
from tests.support.aws import REGION, Stack
from tests.support.fakes import FakeWebhookQueue


@dataclass
class Queue:
    """What a test reads of the webhook queue, whichever backend holds it."""

    queued: Callable[[], list[dict[str, Any]]]  # the message bodies, taken off the queue
    receive: Callable[[], list[tuple[dict[str, Any], str]]]  # the visible messages and their receipts
    arn: str
    raw: Callable[[], list[str]] | None = None  # the message bodies as SQS holds them (moto), left on the queue


@pytest.fixture
def queue(backend: Backend, ports: Ports, request: pytest.FixtureRequest) -> Queue:
    if backend.name == "fake":
        fake = ports.webhook_queue
        assert isinstance(fake, FakeWebhookQueue)
        return Queue(fake.drain, fake.receive, f"arn:aws:sqs:{REGION}:123456789012:automations-webhook")
    stack: Stack = request.getfixturevalue("moto_stack")
    url = stack.settings.webhook_queue_url
    assert url

    def receive() -> list[tuple[dict[str, Any], str]]:
        got = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [(json.loads(m["Body"]), str(m["ReceiptHandle"])) for m in got.get("Messages", [])]

    def queued() -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            got = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def raw() -> list[str]:
        got = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0)
        return [str(m["Body"]) for m in got.get("Messages", [])]

    queued()  # what an earlier test left in the shared queue
    arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queue(queued, receive, str(arn), raw)


def call(n: int, workspace: str = "ws") -> WebhookCall:
    return WebhookCall(
        workspace=workspace,
        automation_id="lead-to-crm",
        run_id=f"run_{n:02d}",
        step="crm",
        url=f"https://crm.example.com/hooks/leads/L-{n}?src=form&x=✓",
        method="PATCH" if n % 2 else "POST",
        headers={"X-Lead": f"L-{n}", "Authorization": "Bearer t0k3n"},
        body=json.dumps({"lead": n, "name": 'Zoë "Z" O\'Neil', "tags": ["new", "form"]}, ensure_ascii=False),
    )


def by_run(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(bodies, key=lambda body: str(body["run_id"]))


def test_each_call_is_one_message_with_the_whole_call(ports: Ports, queue: Queue) -> None:
    ports.webhook_queue.send([call(n) for n in range(12)])  # two batches: ten, then two

    bodies = by_run(queue.queued())
    assert bodies == [call(n).as_message() for n in range(12)]
    assert json.loads(bodies[3]["body"])["name"] == 'Zoë "Z" O\'Neil'


def test_one_call_and_no_call(ports: Ports, queue: Queue) -> None:
    ports.webhook_queue.send([call(7)])
    assert queue.queued() == [call(7).as_message()]

    ports.webhook_queue.send([])
    assert queue.queued() == []


def sqs_takes(text: str) -> bool:
    """Whether SQS takes a message body: #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000 and up."""
    return all(c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000" for c in text)


def test_characters_sqs_refuses_are_escaped_and_come_back_whole(ports: Ports, queue: Queue) -> None:
    odd = replace(
        call(3), headers={"X-Odd": "a\ufffeb"}, body=json.dumps({"name": "Zoë \uffff \U0001f600"}, ensure_ascii=False)
    )
    ports.webhook_queue.send([odd, call(4)])

    if queue.raw is not None:
        raw = queue.raw()
        assert len(raw) == 2 and all(sqs_takes(text) for text in raw), raw
        assert any("Zoë" in text for text in raw)  # the rest is sent as it is, not escaped
    assert by_run(queue.queued()) == [odd.as_message(), call(4).as_message()]


def test_a_received_message_is_postponed(ports: Ports, queue: Queue) -> None:
    ports.webhook_queue.send([call(1)])
    [(body, receipt)] = queue.receive()

    ports.webhook_queue.postpone(receipt, 0)  # back at once
    [(again, later_receipt)] = queue.receive()
    ports.webhook_queue.postpone(later_receipt, 30, queue.arn)  # the record's queue, named by its ARN

    assert body == again == call(1).as_message()
    assert queue.receive() == []  # away for 30 s
    ports.webhook_queue.postpone(later_receipt, 0, queue.arn)
    assert queue.queued() == [call(1).as_message()]
