"""The SQS email queue: one message per email request, everything ``send_email`` needs inside."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from automations.adapters.failures import CloudUnavailableError
from automations.engine.effects import EmailRequest


@dataclass
class EmailQueue:
    client: Any
    queue_url: str
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
        items = list(requests)
        for start in range(0, len(items), 10):
            chunk = items[start : start + 10]
            if len(chunk) == 1:
                self.client.send_message(QueueUrl=self.queue_url, MessageBody=_body(chunk[0]))
                continue
            result = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": _body(r)} for i, r in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise CloudUnavailableError(
                    f"the email queue refused {len(result['Failed'])} messages: {result['Failed']}"
                )

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


def _body(request: EmailRequest) -> str:
    return json.dumps(request.as_message(), separators=(",", ":"), ensure_ascii=False)
