"""Each contract test runs twice: against the in-memory fakes and against the AWS adapters on moto.

The moto side is one account for the whole package (the template's tables, the queue, the schedule group),
built once; each test gets a workspace of its own, so that no test sees another's items. What a port does not
let a test read back (a schedule, a queued message) is read through the backend's probes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from automations.adapters.clock import Clock
from automations.adapters.ses_sender import SesEmailSender
from automations.bootstrap import build_access, build_ports
from automations.ports import (
    AccessPorts,
    Ports,
    SendError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendTransientError,
)
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto.dynamodb.responses import DynamoHandler

from tests.support.aws import REGION, Stack, aws_stack
from tests.support.fakes import Fakes, FakeSecrets

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
#: The domain both backends accept as a sender (SES: a verified identity).
VERIFIED = "acme.example"
SENDER = f"hello@{VERIFIED}"

_workspaces = itertools.count(1)

#: How the provider may fail a send: the failure AWS's client raises, and the port's error it means.
PROVIDER_FAILURES: dict[str, tuple[Callable[[], Exception], type[SendError]]] = {
    "throttled": (
        lambda: ClientError(
            {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}, "ResponseMetadata": {}},
            "SendEmail",
        ),
        SendTransientError,
    ),
    "unreachable": (lambda: EndpointConnectionError(endpoint_url="https://email.example"), SendTransientError),
    "reply_lost": (lambda: ReadTimeoutError(endpoint_url="https://email.example"), SendOutcomeUnknownError),
    "refused": (
        lambda: ClientError(
            {"Error": {"Code": "AccountSuspendedException", "Message": "paused"}, "ResponseMetadata": {}},
            "SendEmail",
        ),
        SendRejectedError,
    ),
}


@dataclass
class Backend:
    """The ports of one fresh workspace, and what a test needs to look behind them."""

    name: str  # fake | moto
    workspace: str
    ports: Ports
    schedule: Callable[[str], tuple[datetime, dict[str, Any]] | None]  # a schedule's time and payload, by name
    queued: Callable[[], list[dict[str, Any]]]  # the queue's message bodies, taken off the queue
    receive: Callable[[], list[tuple[dict[str, Any], str]]]  # the visible messages and their receipts, as received
    add_secret: Callable[[str, str], str]  # a secret's name and value -> its ARN
    provider_fails: Callable[[str], None]  # the next send fails so (a key of PROVIDER_FAILURES)


@pytest.fixture(scope="package")
def moto_stack() -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as monkeypatch, aws_stack(monkeypatch, START) as stack:
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=VERIFIED)
        yield stack


def _fake_backend(workspace: str) -> Backend:
    fakes = Fakes(workspace=workspace)
    fakes.email_sender.verified = {VERIFIED}
    secrets: FakeSecrets = fakes.secrets

    def schedule(name: str) -> tuple[datetime, dict[str, Any]] | None:
        return fakes.scheduler.schedules.get(name)

    def add_secret(name: str, value: str) -> str:
        arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name}-AbCdEf"
        secrets.values[arn] = value
        return arn

    def provider_fails(kind: str) -> None:
        error = PROVIDER_FAILURES[kind][1]
        fakes.email_sender.failures.append(error(kind, "injected"))

    return Backend(
        "fake",
        workspace,
        fakes.ports,
        schedule,
        fakes.email_queue.drain,
        fakes.email_queue.receive,
        add_secret,
        provider_fails,
    )


def _moto_backend(stack: Stack, workspace: str) -> Backend:
    settings = stack.settings.model_copy(update={"workspace": workspace})
    ports = build_ports(settings, the_clock=Clock(), clients={"scheduler": stack.scheduler, "sqs": stack.sqs})
    stack.queued_emails()  # what an earlier test left in the shared queue
    secrets = boto3.client("secretsmanager", region_name=REGION)

    def schedule(name: str) -> tuple[datetime, dict[str, Any]] | None:
        try:
            found = stack.scheduler.get_schedule(Name=name, GroupName=settings.schedule_group)
        except stack.scheduler.exceptions.ResourceNotFoundException:
            return None
        expression = str(found["ScheduleExpression"])
        assert expression.startswith("at(") and found["ScheduleExpressionTimezone"] == "UTC", expression
        due = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC)
        return due, json.loads(found["Target"]["Input"])

    def add_secret(name: str, value: str) -> str:
        return str(secrets.create_secret(Name=f"{workspace}-{name}", SecretString=value)["ARN"])

    def provider_fails(kind: str) -> None:
        sender = ports.email_sender
        assert isinstance(sender, SesEmailSender)
        client = sender.client
        failure = PROVIDER_FAILURES[kind][0]

        def send_email(**_: Any) -> Any:
            del client.send_email  # once: the client's own method is back for the next send
            raise failure()

        client.send_email = send_email

    def receive() -> list[tuple[dict[str, Any], str]]:
        got = stack.sqs.receive_message(QueueUrl=settings.email_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [(json.loads(message["Body"]), str(message["ReceiptHandle"])) for message in got.get("Messages", [])]

    return Backend("moto", workspace, ports, schedule, stack.queued_emails, receive, add_secret, provider_fails)


@pytest.fixture(params=["fake", "moto"])
def backend(request: pytest.FixtureRequest) -> Backend:
    workspace = f"ws{next(_workspaces)}"
    if request.param == "fake":
        return _fake_backend(workspace)
    return _moto_backend(request.getfixturevalue("moto_stack"), workspace)


@pytest.fixture
def ports(backend: Backend) -> Ports:
    return backend.ports


@pytest.fixture(params=["fake", "moto"])
def access(request: pytest.FixtureRequest) -> AccessPorts:
    """The stores of keys and workspaces (shared by every workspace), in memory or on moto; a test names its own
    workspaces (see :func:`workspace`), so that it sees no other test's keys."""
    if request.param == "fake":
        return Fakes().access
    stack: Stack = request.getfixturevalue("moto_stack")
    return build_access(stack.settings, the_clock=stack.clock)


@pytest.fixture
def workspace() -> str:
    """A workspace id no other test uses."""
    return f"ws{next(_workspaces)}"


@pytest.fixture
def one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto answers each DynamoDB request atomically, as DynamoDB does (its own tables do not: a cancelled
    transaction puts back a copy of the table taken before it). The store's reads and writes still interleave."""
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
    yield
