"""The email queue's buffered block under threads: each thread holds the requests of its own block."""

from __future__ import annotations

import json
import threading
from typing import Any

from automations.adapters.queue import EmailQueue
from automations.engine.effects import EmailRequest


class FakeSqs:
    """Records the run of each queued email request, in the order they were queued."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:
        self.runs.append(json.loads(MessageBody)["run_id"])
        return {"MessageId": "m"}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.runs.extend(json.loads(entry["MessageBody"])["run_id"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def email(run_id: str) -> EmailRequest:
    return EmailRequest(
        workspace="default",
        automation_id="new-lead-welcome",
        version=1,
        run_id=run_id,
        step="welcome",
        type="transactional",
        recipients=("ana@example.com",),
        subject="Welcome",
        html="<p>Welcome</p>",
        text="Welcome",
    )


def test_a_thread_s_requests_stay_in_its_own_block_while_another_thread_s_block_ends() -> None:
    sqs = FakeSqs()
    queue = EmailQueue(sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/email")
    first_open, second_sent, first_closed = threading.Event(), threading.Event(), threading.Event()
    seen_when_first_closed: list[str] = []
    failures: list[BaseException] = []

    def first() -> None:
        with queue.buffered():
            queue.send([email("run_first")])
            first_open.set()
            second_sent.wait(5)
        first_closed.set()

    def second() -> None:
        first_open.wait(5)
        with queue.buffered():
            queue.send([email("run_second")])
            second_sent.set()
            first_closed.wait(5)
            seen_when_first_closed.extend(sqs.runs)

    def guarded(work: Any) -> None:
        try:
            work()
        except BaseException as exc:
            failures.append(exc)

    # Given two threads, each in its own buffered block, the second opened while the first is open
    threads = [threading.Thread(target=guarded, args=(work,)) for work in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not failures
    # Then the first block's end queued its own request only; the second's was queued when its block ended
    assert seen_when_first_closed == ["run_first"]
    assert sqs.runs == ["run_first", "run_second"]
