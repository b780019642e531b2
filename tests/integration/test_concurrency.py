"""The handlers under real parallelism: fifty threads call them at the same moment, against one moto server.

Nothing in the process puts them one after the other: what keeps the answer right is what keeps it right
on AWS, DynamoDB's conditional writes (§6: an event id creates nothing new the second time, frequency
limits hold, a step runs at most once, an email reaches SES at most once).

DynamoDB applies each request atomically. Moto's in-memory tables do not (a transaction that fails puts
back a copy of the table taken before it, erasing what other requests wrote meanwhile), so the moto server
here answers one DynamoDB request at a time, as one table partition would. The handlers' own requests,
their reads and their conditional writes, still interleave freely.

Concurrent events come in through the bus (EventBridge's form of an event): the same ``ingest_trigger``
and the same writes as POST /v1/events. The API's form goes through Powertools' event handler, which keeps
the request it answers in class attributes shared by the whole process; on Lambda a process serves one
invocation at a time, and parallel invocations are separate processes, which threads cannot stand for.
Powertools' metrics are one set per process too, flushed by each invocation: they are not published here.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from automations.adapters.dynamodb import stats
from automations.adapters.dynamodb.tables import EventItem, MessageItem
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

from tests.conftest import load_event
from tests.support.aws import REGION, LambdaContextStub, Stack, load_handler, provisioned
from tests.support.email import SENDER, request, sent_messages, ses_client, sqs_event, verify_sender
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")
EVALUATE = load_handler("evaluate_step")
SEND = load_handler("send_email")

WORKERS = 50
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
T = TypeVar("T")


# --- one moto server, shared by every thread ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reset_moto(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10):
        pass


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1, every AWS client of the process pointed at it."""
    one_request_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(self: DynamoHandler) -> Any:
        with one_request_at_a_time:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": url,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Powertools keeps one Secrets Manager client per process: made again here, for this server
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    try:
        reset_moto(url)
        yield url
    finally:
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # not left pointing at a server that is gone
        reset_moto(url)  # the next tests' mock_aws starts from nothing either way
        server.stop()


@pytest.fixture
def stack(moto_server: str) -> Iterator[Stack]:
    """The template's tables, the email queue, the schedule group and the sender, on the shared server."""
    with provisioned(START, moto_server, sender_address=SENDER) as stack:
        verify_sender()
        yield stack


# --- fifty at once ------------------------------------------------------------------------------------------


def at_once(call: Callable[[int], T], workers: int = WORKERS) -> list[T]:
    """``call(i)`` in ``workers`` threads, released together once every one of them is ready."""
    start = threading.Barrier(workers)

    def released(index: int) -> T:
        start.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(released, range(workers)))


def post(event: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/events through API Gateway: the answer for the one event."""
    proxy = load_event("apigw_post_event.json")
    proxy["body"] = json.dumps(event)
    response = INGEST.handler(proxy, LambdaContextStub())
    assert response["statusCode"] == 202, response
    answer: dict[str, Any] = json.loads(response["body"])["events"][0]
    return answer


def put_on_bus(event: dict[str, Any]) -> dict[str, Any]:
    """The event put on the bus, as its rule delivers it to ingest_trigger: the answer for it."""
    record = load_event("eventbridge_trigger.json")
    record["detail-type"] = event["type"]
    record["detail"] = {k: v for k, v in event.items() if k != "type"}
    answer: dict[str, Any] = INGEST.handler(record, LambdaContextStub())
    return answer


def deliver_queued_emails(stack: Stack) -> None:
    """Every message of the email queue, each to its own send_email consumer, all at the same time."""
    bodies = stack.queued_emails()
    if bodies:
        results = at_once(lambda i: SEND.handler(sqs_event(bodies[i]), LambdaContextStub()), len(bodies))
        assert all(result == {"batchItemFailures": []} for result in results), results


def sent_to(address: str) -> list[str]:
    """The subjects of the emails SES accepted for an address."""
    return [str(message["Subject"]) for message in sent_messages() if message["To"] == address]


def runs_of(stack: Stack, automation_id: str) -> list[str]:
    return [run.id for run in stack.deps.runs.by_automation(automation_id)]


def counters(stack: Stack, automation_id: str) -> dict[str, int]:
    return stats.read(stack.settings.workspace, automation_id)["-"]


# --- the scenarios ------------------------------------------------------------------------------------------


def test_one_event_sent_fifty_times_at_once_starts_one_run_and_sends_one_email(stack: Stack) -> None:
    # Given the welcome of new leads
    activate(stack, "new-lead-welcome")
    event = sample("new-lead-welcome", "evt_lead_fifty")
    # When the same event arrives fifty times at the same moment
    answers = at_once(lambda _: put_on_bus(event))
    # Then it is stored once: one answer says accepted, the others duplicate, all with the same run
    assert sorted(a["status"] for a in answers) == ["accepted"] + ["duplicate"] * (WORKERS - 1)
    [run_id] = runs_of(stack, "new-lead-welcome")
    assert all(a["runs"] == [run_id] for a in answers), answers
    assert [item.body["id"] for item in EventItem.scan()] == ["evt_lead_fifty"]
    assert counters(stack, "new-lead-welcome")["runs_started"] == 1
    # And the welcome reaches SES once, however many times it was queued
    deliver_queued_emails(stack)
    assert sent_to("ana@example.com") == ["Welcome to Acme Studio, Ana"]


def test_fifty_events_of_one_person_at_once_start_one_run_under_once_per_person(stack: Stack) -> None:
    # Given the welcome of new leads, once per person
    activate(stack, "new-lead-welcome", frequency="once_per_person")
    events = [sample("new-lead-welcome", f"evt_lead_{i:02d}") for i in range(WORKERS)]
    # When fifty different events of the same person arrive at the same moment
    answers = at_once(lambda i: put_on_bus(events[i]))
    # Then each is stored and accepted, and exactly one of them started a run
    assert [a["status"] for a in answers] == ["accepted"] * WORKERS
    started = [run for a in answers for run in a["runs"]]
    assert len(started) == 1 and runs_of(stack, "new-lead-welcome") == started
    assert sum(1 for _ in EventItem.scan()) == WORKERS
    totals = counters(stack, "new-lead-welcome")
    assert totals["runs_started"] == 1 and totals["skipped_frequency"] == WORKERS - 1
    # And one welcome reaches SES
    deliver_queued_emails(stack)
    assert sent_to("ana@example.com") == ["Welcome to Acme Studio, Ana"]


def test_fifty_leads_at_once_each_get_their_welcome(stack: Stack) -> None:
    # Given the welcome of new leads
    activate(stack, "new-lead-welcome")
    addresses = [f"lead-{i:02d}@example.com" for i in range(WORKERS)]
    events = [
        sample("new-lead-welcome", f"evt_lead_{i:02d}", contact__id=f"c_{i:02d}", contact__email=address)
        for i, address in enumerate(addresses)
    ]
    # When fifty leads arrive at the same moment
    answers = at_once(lambda i: put_on_bus(events[i]))
    # Then each started its run, and every welcome was queued and reaches SES: none is lost on the way
    assert all(a["status"] == "accepted" and len(a["runs"]) == 1 for a in answers), answers
    deliver_queued_emails(stack)
    assert sorted(str(m["To"]) for m in sent_messages()) == addresses


def test_one_schedule_delivered_fifty_times_at_once_runs_its_step_once(stack: Stack) -> None:
    # Given a reminder waiting three days on its schedule
    activate(stack, "overdue-invoice-reminder")
    event = sample("overdue-invoice-reminder", "evt_overdue_fifty", data__invoice__total=120, contact__labels=[])
    [run_id] = post(event)["runs"]
    [schedule] = stack.schedules()
    # When, three days later, the scheduler delivers it fifty times at the same moment
    stack.clock.advance(timedelta(days=3))
    results = at_once(lambda _: EVALUATE.handler(schedule["Input"], LambdaContextStub()))
    # Then the step runs once: one delivery advances the run, the others find nothing to do
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["advanced"] + ["noop"] * (WORKERS - 1), results
    assert stack.deps.runs.get(run_id).state.status.value == "completed"
    # And its email reaches SES once
    deliver_queued_emails(stack)
    assert sent_to("ana@example.com") == ["A friendly reminder about invoice 2026-117"]


def test_one_email_message_consumed_by_fifty_at_once_reaches_ses_once(stack: Stack) -> None:
    # Given one queued email request
    body = request(run_id="run_fifty", step="reminder")
    # When fifty consumers get the same message at the same moment
    results = at_once(lambda _: SEND.handler(sqs_event(body), LambdaContextStub()))
    # Then none of them fails, SES gets the email once, and its record says sent
    assert all(result == {"batchItemFailures": []} for result in results), results
    assert sent_to("ana@example.com") == ["Invoice 2026-117 is overdue"]
    [record] = MessageItem.query("default#run#run_fifty")
    assert record.state == "sent"


def test_fifty_consumers_at_once_each_report_their_own_failed_message(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given fifty queued email requests, half of them to addresses SES throttles now
    client = ses_client(stack)
    send = client.send_email

    def throttling(**request: Any) -> Any:
        if request["Destination"]["ToAddresses"][0].startswith("slow-"):
            raise throttled()
        return send(**request)

    monkeypatch.setattr(client, "send_email", throttling)
    addresses = [f"{'slow' if i % 2 else 'fast'}-{i}@example.com" for i in range(WORKERS)]
    events = []
    for i, address in enumerate(addresses):
        event = sqs_event(request(run_id=f"run_{i:02d}", recipients=(address,)))
        event["Records"][0]["messageId"] = f"message-{i:02d}"
        events.append(event)
    # When fifty consumers each get one of them at the same moment
    results = at_once(lambda i: SEND.handler(events[i], LambdaContextStub()))
    # Then each reports its own message as failed if SES throttled it (it comes back), and no other
    for i, result in enumerate(results):
        failed = [{"itemIdentifier": f"message-{i:02d}"}] if i % 2 else []
        assert result == {"batchItemFailures": failed}, (i, result)
    # And the others reached SES, once each
    assert sorted(str(m["To"]) for m in sent_messages()) == sorted(a for a in addresses if a.startswith("fast-"))


def throttled() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        },
        "SendEmail",
    )
