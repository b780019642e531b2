"""EmailQueue: one message per email request, everything the sender needs inside; a buffered block queues at
its end, even when it fails."""

from __future__ import annotations

import pytest
from automations.engine.effects import EmailRequest
from automations.ports import Ports

from tests.contract.conftest import Backend


def request(n: int) -> EmailRequest:
    return EmailRequest(
        workspace="ws",
        automation_id="welcome",
        version=2,
        run_id=f"run_{n}",
        step="hello",
        type="promotional",
        recipients=("ana@example.com", "Bo <bo@example.com>"),
        subject=f"Hi {n} ✓",
        html="<p>Hi</p>",
        text="Hi",
        headers={"X-Campaign": "spring"},
        unsubscribe=True,
    )


def bodies(backend: Backend) -> list[dict[str, object]]:
    return sorted(backend.queued(), key=lambda body: str(body["run_id"]))


def test_each_request_is_one_message_with_the_whole_request(backend: Backend, ports: Ports) -> None:
    ports.email_queue.send([request(n) for n in range(12)])

    assert bodies(backend) == sorted((request(n).as_message() for n in range(12)), key=lambda b: str(b["run_id"]))
    ports.email_queue.send([])
    assert backend.queued() == []


def test_a_buffered_block_queues_at_its_end(backend: Backend, ports: Ports) -> None:
    with ports.email_queue.buffered():
        ports.email_queue.send([request(1)])
        with ports.email_queue.buffered():
            ports.email_queue.send([request(2)])
        assert backend.queued() == []

    assert bodies(backend) == [request(1).as_message(), request(2).as_message()]


def test_a_buffered_block_that_fails_still_queues_what_it_held(backend: Backend, ports: Ports) -> None:
    with pytest.raises(RuntimeError), ports.email_queue.buffered():
        ports.email_queue.send([request(1)])
        raise RuntimeError("a later step failed")

    assert bodies(backend) == [request(1).as_message()]


def test_a_received_message_is_postponed(backend: Backend, ports: Ports) -> None:
    ports.email_queue.send([request(1)])
    [(body, receipt)] = backend.receive()

    ports.email_queue.postpone(receipt, 0)  # back at once
    [(again, later_receipt)] = backend.receive()
    ports.email_queue.postpone(later_receipt, 600)

    assert body == again == request(1).as_message()
    assert backend.receive() == []  # away for ten minutes
    ports.email_queue.postpone(later_receipt, 0)
    assert backend.queued() == [request(1).as_message()]
