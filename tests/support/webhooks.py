"""Webhook helpers for the integration tests: a receiver on 127.0.0.1, and the webhook queue's messages as the
SQS events Lambda hands to ``call_webhook``."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import load_event
from tests.support.aws import Stack


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1 (a port of its own): records each request and answers the next of
    :attr:`answers` (a status and a JSON body), ``200 {"ok": true}`` when none is left. Each of :attr:`meanwhile`
    is run once, in order, while a request waits for its answer (after the answer is chosen)."""

    answers: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    meanwhile: list[Callable[[], None]] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(Received(method, path, headers, body))
            status, value = self.answers.pop(0) if self.answers else (200, {"ok": True})
            action = self.meanwhile.pop(0) if self.meanwhile else None
        if action is not None:
            action()
        return status, json.dumps(value).encode()


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` serving in a thread until the block ends."""
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = found.answer(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def queue_arn(stack: Stack) -> str:
    url = stack.settings.webhook_queue_url
    found = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(found["Attributes"]["QueueArn"])


def webhook_event(stack: Stack, *, visibility: int | None = None) -> dict[str, Any]:
    """The webhook queue's visible messages (up to ten), received, as the SQS event Lambda hands to call_webhook
    (each record with its message id, receipt, receive count and the queue's ARN). ``visibility`` sets how long
    they stay away once received (the queue's own timeout when None)."""
    extra = {"VisibilityTimeout": visibility} if visibility is not None else {}
    got = stack.sqs.receive_message(
        QueueUrl=stack.settings.webhook_queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        WaitTimeSeconds=0,
        **extra,
    )
    arn = queue_arn(stack)
    template = load_event("sqs_email_message.json")["Records"][0]
    records = []
    for message in got.get("Messages", []):
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            md5OfBody=message["MD5OfBody"],
            eventSourceARN=arn,
        )
        record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
        records.append(record)
    return {"Records": records}


def record_of(body: Any, *, message_id: str, arn: str, receipt: str = "receipt-0") -> dict[str, Any]:
    """One SQS record of the webhook queue with a body of one's own (a JSON value, or a text as it is)."""
    record: dict[str, Any] = copy.deepcopy(load_event("sqs_email_message.json")["Records"][0])
    record.update(
        messageId=message_id,
        receiptHandle=receipt,
        body=body if isinstance(body, str) else json.dumps(body),
        eventSourceARN=arn,
    )
    return record


def queued_calls(stack: Stack) -> list[dict[str, Any]]:
    """Drain the webhook queue: every visible message body, parsed."""
    bodies: list[dict[str, Any]] = []
    url = stack.settings.webhook_queue_url
    while True:
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def failed_ids(answer: dict[str, Any]) -> set[str]:
    return {str(failure["itemIdentifier"]) for failure in answer["batchItemFailures"]}


def delete_done(stack: Stack, event: dict[str, Any], answer: dict[str, Any]) -> None:
    """What Lambda's event source does after a batch: delete the records not reported as failed."""
    failed = failed_ids(answer)
    for record in event["Records"]:
        if record["messageId"] not in failed:
            stack.sqs.delete_message(QueueUrl=stack.settings.webhook_queue_url, ReceiptHandle=record["receiptHandle"])


def back(stack: Stack, event: dict[str, Any], answer: dict[str, Any] | None = None) -> None:
    """The failed records (every record when no answer is given) come back at once, their wait skipped."""
    failed = failed_ids(answer) if answer is not None else {r["messageId"] for r in event["Records"]}
    for record in event["Records"]:
        if record["messageId"] in failed:
            stack.sqs.change_message_visibility(
                QueueUrl=stack.settings.webhook_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
