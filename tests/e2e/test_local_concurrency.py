"""Many clients at once against the local stack: every one gets its HTTP answer, and the answers agree.

Each client connects first, then all of them send their request at the same moment, as a busy app or a
load test does.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import API_KEY, LocalStackClient

pytestmark = pytest.mark.e2e

CLIENTS = 50


def at_once(stack: LocalStackClient, body: Callable[[int], dict[str, Any]]) -> list[tuple[int, Any] | str]:
    """Each client connects, then posts ``body(i)`` to /v1/events with the others: the answers, or the errors."""
    address = urlsplit(stack.base)
    start = threading.Barrier(CLIENTS)

    def client(index: int) -> tuple[int, Any] | str:
        connection = http.client.HTTPConnection(str(address.hostname), address.port, timeout=60)
        try:
            connection.connect()
            start.wait(timeout=30)
            headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
            connection.request("POST", "/v1/events", body=json.dumps(body(index)), headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(client, range(CLIENTS)))


def answered(answers: list[tuple[int, Any] | str]) -> list[tuple[int, Any]]:
    return [answer for answer in answers if not isinstance(answer, str)]


def lead(tag: str, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "lead.created",
        "contact": {"id": f"c_{tag}", "email": f"burst-{tag}@example.com", "first_name": "Lia"},
        "data": {"lead": {"id": f"lead_{tag}", "source": "contact-form"}},
    }


def test_fifty_clients_posting_one_event_at_the_same_moment_all_get_their_answer(
    local_stack: LocalStackClient,
) -> None:
    local_stack.require("ingest_trigger", "send_email")
    tag = uuid.uuid4().hex[:10]
    # When fifty clients post the same new lead at the same moment
    answers = at_once(local_stack, lambda _: lead(tag, f"evt_e2e_{tag}"))
    # Then every one of them gets an HTTP answer: none is reset or refused
    errors = [a for a in answers if isinstance(a, str)]
    assert not errors, f"{len(errors)} of {CLIENTS} failed: {errors[:3]}"
    # And the event is stored once: one accepted, the others duplicates of it, all with the same run
    results = [body["events"][0] for status, body in answered(answers) if status == 202]
    assert len(results) == CLIENTS
    assert sorted(r["status"] for r in results) == ["accepted"] + ["duplicate"] * (CLIENTS - 1)
    runs = {tuple(r["runs"]) for r in results}
    assert len(runs) == 1 and len(next(iter(runs))) == 1
    # And the welcome is sent once
    [email] = local_stack.outbox(f"burst-{tag}@example.com")
    assert email["subject"] == "Welcome to Acme Studio, Lia"


def test_fifty_clients_posting_events_of_one_person_at_the_same_moment_start_one_run(
    local_stack: LocalStackClient,
) -> None:
    local_stack.require("ingest_trigger", "send_email")
    tag = uuid.uuid4().hex[:10]
    # When fifty clients post different events of the same new lead at the same moment (once per person)
    answers = at_once(local_stack, lambda i: lead(tag, f"evt_e2e_{tag}_{i:02d}"))
    # Then every one of them gets its answer, each event accepted
    errors = [a for a in answers if isinstance(a, str)]
    assert not errors, f"{len(errors)} of {CLIENTS} failed: {errors[:3]}"
    results = [body["events"][0] for status, body in answered(answers) if status == 202]
    assert [r["status"] for r in results] == ["accepted"] * CLIENTS
    # And one run started, with one welcome
    assert sum(len(r["runs"]) for r in results) == 1
    assert len(local_stack.outbox(f"burst-{tag}@example.com")) == 1
