"""The SQS queues of the stack: the email queue (one message per email request, everything ``send_email`` needs
inside) and the webhook queue (one message per webhook call, everything the webhook function needs inside)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from automations.adapters.failures import CloudUnavailableError
from automations.engine.effects import EmailRequest, WebhookCall


@dataclass
class SqsQueue:
    """Sending JSON messages to one queue, ten per call, and postponing received ones."""

    client: Any
    queue_url: str

    def send_bodies(self, bodies: Sequence[str]) -> None:
        """Queue the messages, ten per call (SQS's batch size); a partial failure raises."""
        items = list(bodies)
        for start in range(0, len(items), 10):
            chunk = items[start : start + 10]
            if len(chunk) == 1:
                self.client.send_message(QueueUrl=self.queue_url, MessageBody=chunk[0])
                continue
            result = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise CloudUnavailableError(f"the queue refused {len(result['Failed'])} messages: {result['Failed']}")

    def postpone(self, receipt: str, seconds: int, source: str | None = None) -> None:
        """Change a received message's visibility timeout (SQS ``ChangeMessageVisibility``)."""
        self.client.change_message_visibility(
            QueueUrl=self.url_of(source), ReceiptHandle=receipt, VisibilityTimeout=seconds
        )

    def url_of(self, queue_arn: str | None) -> str:
        """The URL of the queue a message came from: this one, unless the ARN names another."""
        if not queue_arn:
            return self.queue_url
        name = queue_arn.rsplit(":", 1)[-1]
        if self.queue_url and self.queue_url.rstrip("/").endswith("/" + name):
            return self.queue_url
        parts = queue_arn.split(":")
        account = parts[4] if len(parts) > 5 else None
        kwargs = {"QueueName": name, **({"QueueOwnerAWSAccountId": account} if account else {})}
        return str(self.client.get_queue_url(**kwargs)["QueueUrl"])


@dataclass
class WebhookQueue(SqsQueue):
    """:class:`automations.ports.WebhookQueue` over SQS."""

    def send(self, calls: Sequence[WebhookCall]) -> None:
        self.send_bodies([_json(call.as_message()) for call in calls])


@dataclass
class EmailQueue(SqsQueue):
    """:class:`automations.ports.EmailQueue` over SQS, with sends held by :meth:`buffered` blocks."""

    #: The requests held by the ``buffered`` block running in this thread (each thread holds its own).
    _held: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @property
    def _buffer(self) -> list[EmailRequest] | None:
        held: list[EmailRequest] | None = getattr(self._held, "requests", None)
        return held

    @_buffer.setter
    def _buffer(self, requests: list[EmailRequest] | None) -> None:
        self._held.requests = requests

    @contextmanager
    def buffered(self) -> Iterator[None]:
        """Hold the requests sent inside the block and queue them at its end, ten per call.

        They are queued even when the block fails: the runs that asked for them are stored already.
        """
        if self._buffer is not None:
            yield
            return
        self._buffer = []
        try:
            yield
        finally:
            held, self._buffer = self._buffer, None
            self.send(held)

    def send(self, requests: Sequence[EmailRequest]) -> None:
        """Queue the requests, ten per call (SQS's batch size); a partial failure raises."""
        if self._buffer is not None:
            self._buffer.extend(requests)
            return
        self.send_bodies([_json(request.as_message()) for request in requests])


#: The characters SQS refuses in a message (it takes #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000 and up):
#: JSON text holds them only inside strings, where their escape stands for the same character.
_REFUSED_BY_SQS = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _json(message: dict[str, Any]) -> str:
    """A message's JSON: UTF-8 text as it is (the smallest), but for what SQS refuses, escaped."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return _REFUSED_BY_SQS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
