"""The SQS email queue: one message per email request, everything ``send_email`` needs inside."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automations.engine.effects import EmailRequest


@dataclass
class EmailQueue:
    client: Any
    queue_url: str

    def send(self, requests: Sequence[EmailRequest]) -> None:
        """Queue the requests, ten per call (SQS's batch size); a partial failure raises."""
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
                raise RuntimeError(f"the email queue refused {len(result['Failed'])} messages: {result['Failed']}")


def _body(request: EmailRequest) -> str:
    return json.dumps(request.as_message(), separators=(",", ":"), ensure_ascii=False)
