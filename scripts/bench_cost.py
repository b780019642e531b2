"""Infrastructure cost per 1,000,000 emails sent by a three-step automation (a delay, a condition, an email),
SES's own price left out (run by ``make bench`` through scripts/bench.py), JSON lines like the others.

The AWS requests are counted by driving the real handlers and adapters under moto, the way AWS calls them: the
API Gateway event of ``POST /v1/events`` into ingest_trigger, the schedule's input into evaluate_step, the
queue's records (batches of 10) into send_email, and SES's events (through SNS) into stats_webhook. Every
botocore call is recorded; a DynamoDB call is priced in request units from the sizes of the items it touches
(read from moto's tables before and after the call), with the writes of the global secondary indexes:

- a write takes 1 WRU per KB of the larger of the item before and after (a failed conditional write too), a
  transactional one 2; an index takes 1 WRU per KB of its entry (the table's and the index's keys and the
  attributes it projects: all of them, the ``INCLUDE`` list, or none for ``KEYS_ONLY``, as moto projects them),
  for each entry it adds, changes or removes (2 when the index key changes); a write that changes neither an
  entry's keys nor its projected attributes writes nothing to that index;
- a read takes 1 RRU per 4 KB (half for an eventually consistent one), a query by the total size of what it
  returned, rounded up once per call; a transactional read 2.

Lambda is billed by request and by GB-second. A handler's duration is estimated as its measured CPU time here
(moto's own time and the counting taken out) scaled to the share of a vCPU that 512 MB gets (1,769 MB is one
vCPU), plus an assumed round trip for each AWS request it makes (``LATENCY_MS``), rounded up to the millisecond.

Prices are the public on-demand prices of us-east-1, written below with the page each comes from; free tiers
are left out (the figure is the cost at volume).
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import botocore.session

from scripts.bench import START, emit, figures_only

#: The day the prices below were read from AWS's pricing pages.
PRICES_TAKEN = "2025-06-01"
#: https://aws.amazon.com/api-gateway/pricing/ : REST APIs, first 333 million requests a month.
API_GATEWAY_REST_PER_MILLION = 3.50
#: https://aws.amazon.com/lambda/pricing/ : requests.
LAMBDA_PER_MILLION_REQUESTS = 0.20
#: https://aws.amazon.com/lambda/pricing/ : Arm (Graviton2) duration, first 7.5 billion GB-seconds a month.
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
#: https://aws.amazon.com/dynamodb/pricing/on-demand/ : write request units (Standard table class).
DYNAMODB_PER_MILLION_WRU = 0.625
#: https://aws.amazon.com/dynamodb/pricing/on-demand/ : read request units (Standard table class).
DYNAMODB_PER_MILLION_RRU = 0.125
#: https://aws.amazon.com/sqs/pricing/ : standard queues, per request (each 64 KB of payload is a request).
SQS_PER_MILLION_REQUESTS = 0.40
#: https://aws.amazon.com/eventbridge/pricing/ : Scheduler, per scheduled invocation (its API calls are free).
SCHEDULER_PER_MILLION_INVOCATIONS = 1.00
#: https://aws.amazon.com/eventbridge/pricing/ : custom events put on an event bus (each 64 KB chunk).
EVENTBRIDGE_PER_MILLION_EVENTS = 1.00
#: https://aws.amazon.com/sns/pricing/ : standard topics, publishes (each 64 KB chunk); deliveries to Lambda free.
SNS_PER_MILLION_PUBLISHES = 0.50
SNS_PER_MILLION_LAMBDA_DELIVERIES = 0.0
#: https://aws.amazon.com/xray/pricing/ : traces recorded.
XRAY_PER_MILLION_TRACES = 5.00
#: https://aws.amazon.com/cloudwatch/pricing/ : logs ingested (Lambda's logs, first tier), per GB.
CLOUDWATCH_LOGS_PER_GB = 0.50
#: https://aws.amazon.com/secrets-manager/pricing/ : API calls, per 10,000.
SECRETS_MANAGER_PER_10K_CALLS = 0.05
#: https://aws.amazon.com/kms/pricing/ : requests, per 10,000.
KMS_PER_10K_REQUESTS = 0.03

#: The functions' memory (infra/template.yaml, Globals: MemorySize 512, arm64).
MEMORY_MB = 512
#: Lambda gives a function one vCPU at 1,769 MB, and a share in proportion below it.
CPU_SHARE = MEMORY_MB / 1769
#: Assumed round trip of a request from Lambda to the service in the same region, warm connection (ms).
LATENCY_MS = {
    "dynamodb": 6.0,
    "sqs": 10.0,
    "scheduler": 25.0,
    "sesv2": 40.0,
    "events": 15.0,
    "secretsmanager": 15.0,
    "kms": 10.0,
}
#: The email queue's event source mapping (template: BatchSize 10): full batches at volume, each received
#: with one ReceiveMessage and deleted with one DeleteMessageBatch by Lambda's pollers.
SQS_BATCH = 10
#: SES events published per email sent (the configuration set publishes delivery, open, click, ... but not send:
#: the sender counts ``sent`` when SES accepts the email): every email has a delivery; the open and click rates are
#: assumptions.
SES_EVENTS_PER_EMAIL = {"Delivery": 1.0, "Open": 0.25, "Click": 0.03}
#: X-Ray's default sampling rule records 5% of requests beyond a reservoir of one a second (a fixed amount that
#: does not grow with volume); each Lambda invocation from Scheduler, SQS or SNS, and each API request, is a trace.
XRAY_SAMPLED = 0.05
#: The platform lines Lambda logs per invocation in JSON format (platform.start, platform.report), bytes.
PLATFORM_LOG_BYTES = 600
#: Events per POST /v1/events (the API takes batches; one event a request is the costly case).
EVENTS_PER_API_REQUEST = 1
EMAILS = 1_000_000
#: People sent through the whole flow (after as many to warm the caches), and the automation they go through.
PEOPLE = 40
AUTOMATION: dict[str, Any] = {
    "id": "overdue-reminder",
    "name": "Remind clients of overdue invoices",
    "status": "active",
    "trigger": {"event": "invoice.overdue"},
    "person": "contact.id",
    "steps": [
        {"delay": "3d"},
        {
            "id": "still-unpaid",
            "if": {"field": "data.invoice.total", "op": "gt", "value": 100},
            "then": [
                {
                    "id": "reminder",
                    "send_email": {
                        "type": "transactional",
                        "from_name": "Acme Studio",
                        "to": {"trigger_contact": True},
                        "subject": "Invoice {{ data.invoice.number }} is overdue",
                        "html": "<p>Hi {{ contact.first_name | default('there') }},</p><p>Invoice "
                        '{{ data.invoice.number }} is overdue. <a href="{{ data.invoice.url }}">Pay it online</a></p>',
                    },
                }
            ],
            "else": [],
        },
    ],
}


# --- DynamoDB request units from item sizes -------------------------------------------------------------------


def _value_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB gives an attribute value (DynamoDB JSON): strings and binaries by their bytes, numbers by
    about one byte per two digits, lists and maps 3 bytes and 1 per element besides their elements."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in inner.items())
    return len(json.dumps(inner, default=str))


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


@dataclass(frozen=True)
class ItemView:
    """What a write's price depends on: the item's size, and each index's key and projected entry."""

    size: int
    indexes: dict[str, tuple[str, int] | None]


class Tables:
    """moto's tables, read directly (not through botocore, so not counted)."""

    def __init__(self) -> None:
        from moto.dynamodb.models import dynamodb_backends

        from tests.support.aws import ACCOUNT, REGION

        self.backend = dynamodb_backends[ACCOUNT][REGION]

    def view(self, table_name: str, key_or_item: Mapping[str, Any]) -> ItemView | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.backend.get_table(table_name)
        hash_value = DynamoType(key_or_item[table.hash_key_attr])
        range_value = DynamoType(key_or_item[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_value, range_value)
        if item is None:
            return None
        indexes: dict[str, tuple[str, int] | None] = {}
        for index in table.global_indexes:
            if not all(name in item.attrs for name in index.schema_key_attrs):
                indexes[index.name] = None
                continue
            projected = index.project(item).to_json()["Attributes"]
            keys = json.dumps([projected.get(name) for name in index.schema_key_attrs], default=str)
            indexes[index.name] = (keys + json.dumps(projected, sort_keys=True, default=str), item_size(projected))
        return ItemView(item_size(item.to_json()["Attributes"]), indexes)

    def get_size(self, table_name: str, key: Mapping[str, Any]) -> int:
        view = self.view(table_name, key)
        return view.size if view else 0


def write_units(before: ItemView | None, after: ItemView | None, *, transactional: bool) -> tuple[float, float]:
    """(WRU of the table, WRU of its global secondary indexes) of one write that turned ``before`` into ``after``."""
    size = max(before.size if before else 0, after.size if after else 0)
    table = _units(size, 1024) * (2 if transactional else 1)
    indexes = 0
    names = set(before.indexes if before else {}) | set(after.indexes if after else {})
    for name in names:
        old = before.indexes.get(name) if before else None
        new = after.indexes.get(name) if after else None
        if old is None and new is None:
            continue
        if old is None or new is None:
            indexes += _units((old or new or ("", 0))[1], 1024)
        elif old[0] != new[0]:
            same_key = old[0].split("]", 1)[0] == new[0].split("]", 1)[0]
            indexes += _units(max(old[1], new[1]), 1024) if same_key else _units(old[1], 1024) + _units(new[1], 1024)
    return table, indexes


# --- the recorder: every botocore call, its price units, and the time spent outside the handler -----------------


@dataclass
class Call:
    service: str
    operation: str
    wru: float = 0.0
    rru: float = 0.0
    chunks: int = 1


@dataclass
class Recorder:
    """Records the calls of every botocore client created while it is installed, and the CPU time that is not the
    handler's (moto answering, this recorder pricing)."""

    tables: Tables | None = None
    calls: list[Call] = field(default_factory=list)
    excluded_cpu: float = 0.0
    paused: bool = False
    _pending: list[tuple[str, str, dict[str, Any], Any]] = field(default_factory=list)

    @contextmanager
    def _excluded(self) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.excluded_cpu += time.process_time() - started

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._excluded():
            service, operation = model.service_model.service_name, model.name
            before = self._dynamodb_before(operation, params) if service == "dynamodb" and self.tables else None
            self._pending.append((service, operation, params, before))

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        with self._excluded():
            service, operation, params, before = self._pending.pop()
            if self.paused:
                return
            call = Call(service, operation, chunks=_chunks(service, operation, params))
            if service == "dynamodb" and self.tables:
                call.wru, call.rru = self._dynamodb_units(operation, params, parsed, before)
            self.calls.append(call)

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key or item, transactional) of each item a write operation touches."""
        if operation in ("PutItem",):
            return [(params["TableName"], params["Item"], False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], False)]
        if operation == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                kind, body = next(iter(entry.items()))
                out.append((body["TableName"], body["Item"] if kind == "Put" else body["Key"], True))
            return out
        if operation == "BatchWriteItem":
            return [
                (table, request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"], False)
                for table, requests in params["RequestItems"].items()
                for request in requests
            ]
        return []

    def _dynamodb_before(self, operation: str, params: dict[str, Any]) -> list[ItemView | None]:
        assert self.tables is not None
        return [self.tables.view(table, key) for table, key, _ in self._writes(operation, params)]

    def _dynamodb_units(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any], before: Any
    ) -> tuple[float, float]:
        assert self.tables is not None
        writes = self._writes(operation, params)
        if writes:
            wru = 0.0
            for (table, key, transactional), old in zip(writes, before, strict=True):
                new = self.tables.view(table, key)
                table_units, index_units = write_units(old, new, transactional=transactional)
                wru += table_units + index_units
            return wru, 0.0
        half = 1.0 if params.get("ConsistentRead") else 0.5
        if operation == "GetItem":
            return 0.0, _units(self.tables.get_size(params["TableName"], params["Key"]), 4096) * half
        if operation == "BatchGetItem":
            return 0.0, sum(
                _units(self.tables.get_size(table, key), 4096) * (1.0 if spec.get("ConsistentRead") else 0.5)
                for table, spec in params["RequestItems"].items()
                for key in spec["Keys"]
            )
        if operation == "TransactGetItems":
            return 0.0, sum(
                2 * _units(self.tables.get_size(entry["Get"]["TableName"], entry["Get"]["Key"]), 4096)
                for entry in params["TransactItems"]
            )
        if operation in ("Query", "Scan"):
            items = parsed.get("Items", [])
            size = sum(item_size(item) for item in items)
            scanned, count = parsed.get("ScannedCount", len(items)), parsed.get("Count", len(items))
            if count and scanned > count:
                size = size * scanned // count
            return 0.0, _units(size, 4096) * half
        return 0.0, 0.0

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build.*.*", recorder._before)
            client.meta.events.register("after-call.*.*", recorder._after)
            return client

        from moto.core.botocore_stubber import BotocoreStubber

        answer = BotocoreStubber.__call__

        def timed(stubber: Any, *args: Any, **kwargs: Any) -> Any:
            with recorder._excluded():
                return answer(stubber, *args, **kwargs)

        botocore.session.Session.create_client = create_client
        BotocoreStubber.__call__ = timed  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original
            BotocoreStubber.__call__ = answer  # type: ignore[method-assign]

    @contextmanager
    def pause(self) -> Iterator[None]:
        self.paused = True
        try:
            yield
        finally:
            self.paused = False


def _chunks(service: str, operation: str, params: Mapping[str, Any]) -> int:
    """The billed requests of a call whose price is per 64 KB of payload (SQS, EventBridge)."""
    if service == "sqs" and operation == "SendMessage":
        return max(1, math.ceil(len(str(params.get("MessageBody", "")).encode()) / 65536))
    if service == "sqs" and operation == "SendMessageBatch":
        size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in params.get("Entries", []))
        return max(1, math.ceil(size / 65536))
    if service == "events" and operation == "PutEvents":
        return sum(max(1, math.ceil(len(json.dumps(entry).encode()) / 65536)) for entry in params.get("Entries", []))
    return 1


# --- one kind of invocation, measured -----------------------------------------------------------------------------


@dataclass
class Invocations:
    """What the invocations of one function for one kind of work did, summed: how many, their calls, their CPU
    time (the handler's own), and the bytes they logged."""

    count: int = 0
    calls: list[Call] = field(default_factory=list)
    cpu_seconds: float = 0.0
    log_bytes: int = 0
    durations_ms: list[float] = field(default_factory=list)


class Meter:
    def __init__(self, recorder: Recorder, log_buffer: io.StringIO) -> None:
        self.recorder = recorder
        self.log_buffer = log_buffer
        self.kinds: dict[str, Invocations] = defaultdict(Invocations)

    def invoke(self, kind: str, handler: Callable[[Any, Any], Any], event: Any) -> Any:
        from tests.support.aws import LambdaContextStub

        recorder = self.recorder
        calls_before, excluded_before = len(recorder.calls), recorder.excluded_cpu
        logged_before = self.log_buffer.tell()
        printed = io.StringIO()
        started = time.process_time()
        with redirect_stdout(printed):
            answer = handler(event, LambdaContextStub())
        cpu = time.process_time() - started - (recorder.excluded_cpu - excluded_before)
        entry = self.kinds[kind]
        calls = recorder.calls[calls_before:]
        entry.count += 1
        entry.calls.extend(calls)
        entry.cpu_seconds += cpu
        entry.log_bytes += self.log_buffer.tell() - logged_before + len(printed.getvalue().encode())
        waited = sum(LATENCY_MS.get(call.service, 10.0) for call in calls)
        entry.durations_ms.append(math.ceil(cpu * 1000 / CPU_SHARE + waited))
        return answer


# --- the flow ---------------------------------------------------------------------------------------------------


def _post_event(n: int) -> dict[str, Any]:
    from tests.conftest import load_event

    event = load_event("apigw_post_event.json")
    event["requestContext"]["requestId"] = f"req-{n:06d}"
    body = {
        "id": f"evt_{n:06d}",
        "type": "invoice.overdue",
        "contact": {
            "id": f"c_{n}",
            "email": f"client{n}@example.com",
            "first_name": "Ana",
            "timezone": "Europe/Lisbon",
        },
        "data": {
            "invoice": {
                "id": f"inv_{n}",
                "number": f"2026-{n}",
                "total": 640,
                "currency": "EUR",
                "url": f"https://acme.example/pay/inv_{n}",
            }
        },
    }
    event["body"] = json.dumps(body)
    return event


def drive(meter: Meter, stack: Any, first: int, people: int, offset: timedelta) -> None:
    """``people`` events through the whole flow: posted at ``offset``, their delays fired 3 days later, their emails
    sent in batches of 10 and the SES events of each fed back."""
    from automations.services.feedback import simulated_record

    from tests.support.aws import load_handler
    from tests.support.email import SENDER, receive_event, sns_event

    ingest, evaluate = load_handler("ingest_trigger"), load_handler("evaluate_step")
    send, feedback = load_handler("send_email"), load_handler("stats_webhook")
    recorder = meter.recorder
    stack.clock.offset = offset
    for n in range(first, first + people):
        answer = meter.invoke("ingest_trigger", ingest.handler, _post_event(n))
        assert answer["statusCode"] == 202, answer
    with recorder.pause():
        schedules = stack.schedules()
    stack.clock.offset = offset + timedelta(days=3, minutes=1)
    for schedule in schedules:
        answer = meter.invoke("evaluate_step", evaluate.handler, schedule["Input"])
        assert answer["status"] == "advanced", answer
        with recorder.pause():
            stack.scheduler.delete_schedule(Name=schedule["Name"], GroupName=stack.settings.schedule_group)
    runs: list[tuple[str, str]] = []
    while True:
        with recorder.pause():
            event = receive_event(stack)
        if not event["Records"]:
            break
        answer = meter.invoke("send_email", send.handler, event)
        assert not answer.get("batchItemFailures"), answer
        with recorder.pause():
            for record in event["Records"]:
                body = json.loads(record["body"])
                runs.append((body["run_id"], body["step"]))
                stack.sqs.delete_message(QueueUrl=stack.settings.email_queue_url, ReceiptHandle=record["receiptHandle"])
    assert len(runs) == people, runs
    now = stack.clock.now()
    for run_id, step in runs:
        with recorder.pause():
            [message] = stack.deps.messages.of_run(run_id)
        for kind in SES_EVENTS_PER_EMAIL:
            record = simulated_record(message, kind, now, sender=SENDER, configuration_set="automations-test")
            meter.invoke(f"stats_webhook.{kind.lower()}", feedback.handler, sns_event(record))
        assert message.step == step


@contextmanager
def _logged_lines() -> Iterator[io.StringIO]:
    """The package's log lines at INFO (the template's level), written to a buffer whose length is measured."""
    import logging

    from automations.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        yield buffer
    finally:
        handler.setStream(previous)
        logger.setLevel(level)


def measure(people: int = PEOPLE) -> dict[str, Invocations]:
    import pytest
    from automations.services import lifecycle

    from tests.support.aws import aws_stack
    from tests.support.email import verify_sender

    recorder = Recorder()
    monkeypatch = pytest.MonkeyPatch()
    try:
        with recorder.installed(), aws_stack(monkeypatch, START, automation_cache_seconds=3600.0) as stack:
            recorder.tables = Tables()
            with recorder.pause():
                verify_sender()
                lifecycle.create(stack.deps, copy.deepcopy(AUTOMATION), START)
            with _logged_lines() as buffer:
                warm = Meter(recorder, buffer)
                drive(warm, stack, 0, people, timedelta(0))  # warm: the caches of a busy function filled
                meter = Meter(recorder, buffer)
                drive(meter, stack, people, people, timedelta(days=4))
    finally:
        monkeypatch.undo()
    return meter.kinds


# --- pricing ----------------------------------------------------------------------------------------------------


@dataclass
class PerEmail:
    """Everything one email costs, as quantities (per email) and dollars (per 1M emails)."""

    quantities: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    requests: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, name: str, value: float) -> None:
        self.quantities[name] += value


def per_email(kinds: Mapping[str, Invocations]) -> PerEmail:
    """The quantities of one email: each kind of invocation weighted by how often an email causes it."""
    weights = {
        "ingest_trigger": 1.0,  # one trigger event per email sent (the condition holds)
        "evaluate_step": 1.0,  # one schedule fired per run
        "send_email": 1.0,  # its batches are weighted by their size below
        **{f"stats_webhook.{kind.lower()}": rate for kind, rate in SES_EVENTS_PER_EMAIL.items()},
    }
    out = PerEmail()
    for kind, weight in weights.items():
        entry = kinds[kind]
        duration_ms: float
        if kind == "send_email":
            emails = sum(1 for call in entry.calls if call.operation == "SendEmail")
            per_unit = 1.0 / emails  # the calls per email, whatever the batches measured here were (full at volume)
            invocations = 1.0 / SQS_BATCH
            cpu = entry.cpu_seconds / emails * SQS_BATCH
            log_bytes = entry.log_bytes / emails
            waited = sum(LATENCY_MS.get(c.service, 10.0) for c in entry.calls) / emails * SQS_BATCH
            duration_ms = math.ceil(cpu * 1000 / CPU_SHARE + waited)
        else:
            per_unit = weight / entry.count
            invocations = weight
            log_bytes = entry.log_bytes / entry.count * weight
            duration_ms = sum(entry.durations_ms) / entry.count
        function = kind.split(".")[0]
        out.add(f"lambda.invocations.{function}", invocations)
        out.add(f"lambda.gb_seconds.{function}", invocations * duration_ms / 1000 * MEMORY_MB / 1024)
        out.add(f"lambda.duration_ms.{kind}", duration_ms)
        out.add("logs.bytes", log_bytes + invocations * PLATFORM_LOG_BYTES)
        for call in entry.calls:
            if call.service == "sesv2" and call.operation == "SendEmail":
                out.requests[f"{call.service}.{call.operation}"] += per_unit
                continue  # SES's own price is left out
            out.requests[f"{call.service}.{call.operation}"] += per_unit
            out.add("dynamodb.wru", call.wru * per_unit)
            out.add("dynamodb.rru", call.rru * per_unit)
            if call.service == "sqs":
                out.add("sqs.requests", call.chunks * per_unit)
            elif call.service == "events":
                out.add("eventbridge.events", call.chunks * per_unit)
            elif call.service == "secretsmanager":
                out.add("secretsmanager.calls", per_unit)
            elif call.service == "kms":
                out.add("kms.requests", per_unit)
        if kind.startswith("stats_webhook."):
            out.add("sns.publishes", weight)
            out.add("sns.lambda_deliveries", weight)
            out.add("xray.traces", weight * XRAY_SAMPLED)
    out.add("apigateway.requests", 1.0 / EVENTS_PER_API_REQUEST)
    out.add("scheduler.invocations", 1.0)  # the delay's schedule, fired once
    out.add("sqs.requests", 2.0 / SQS_BATCH)  # the pollers' ReceiveMessage and DeleteMessageBatch per batch
    out.add("xray.traces", (1.0 / EVENTS_PER_API_REQUEST + 1.0 + 1.0 / SQS_BATCH) * XRAY_SAMPLED)
    return out


def dollars(quantities: Mapping[str, float]) -> dict[str, float]:
    """Dollars per 1M emails, by service."""
    q = defaultdict(float, quantities)
    invocations = sum(v for k, v in q.items() if k.startswith("lambda.invocations."))
    gb_seconds = sum(v for k, v in q.items() if k.startswith("lambda.gb_seconds."))
    return {
        "api_gateway": q["apigateway.requests"] * API_GATEWAY_REST_PER_MILLION,
        "lambda_requests": invocations * LAMBDA_PER_MILLION_REQUESTS,
        "lambda_duration": gb_seconds * EMAILS * LAMBDA_ARM_PER_GB_SECOND,
        "dynamodb_writes": q["dynamodb.wru"] * DYNAMODB_PER_MILLION_WRU,
        "dynamodb_reads": q["dynamodb.rru"] * DYNAMODB_PER_MILLION_RRU,
        "sqs": q["sqs.requests"] * SQS_PER_MILLION_REQUESTS,
        "scheduler": q["scheduler.invocations"] * SCHEDULER_PER_MILLION_INVOCATIONS,
        "eventbridge": q["eventbridge.events"] * EVENTBRIDGE_PER_MILLION_EVENTS,
        "sns": q["sns.publishes"] * SNS_PER_MILLION_PUBLISHES
        + q["sns.lambda_deliveries"] * SNS_PER_MILLION_LAMBDA_DELIVERIES,
        "xray": q["xray.traces"] * XRAY_PER_MILLION_TRACES,
        "cloudwatch_logs": q["logs.bytes"] * EMAILS / 1e9 * CLOUDWATCH_LOGS_PER_GB,
        "secrets_manager": q["secretsmanager.calls"] * 100 * SECRETS_MANAGER_PER_10K_CALLS,
        "kms": q["kms.requests"] * 100 * KMS_PER_10K_REQUESTS,
    }


def report(kinds: Mapping[str, Invocations]) -> None:
    costs = per_email(kinds)
    money = dollars(costs.quantities)
    total = sum(money.values())
    emit(
        "cost_per_million_emails.total",
        total,
        "USD",
        goal="<= 10",
        automation="delay, condition, email",
        excludes="SES's price",
        prices="us-east-1, on-demand, " + PRICES_TAKEN,
    )
    for name, value in sorted(money.items(), key=lambda pair: -pair[1]):
        emit(f"cost_per_million_emails.{name}", value, "USD")
    for name, value in sorted(costs.requests.items()):
        emit(f"aws_requests_per_email.{name}", value, "requests")
    for name in ("dynamodb.wru", "dynamodb.rru", "sqs.requests", "logs.bytes"):
        emit(f"usage_per_email.{name}", costs.quantities[name], name.split(".")[1])
    for name, value in sorted(costs.quantities.items()):
        if name.startswith("lambda.duration_ms."):
            kind = name.removeprefix("lambda.duration_ms.")
            entry = kinds[kind]
            cpu_ms = entry.cpu_seconds / entry.count * 1000
            emit(
                f"lambda_ms_per_invocation.{kind}",
                value,
                "ms",
                cpu_ms_here=round(cpu_ms, 2),
                memory_mb=MEMORY_MB,
                batch=SQS_BATCH if kind == "send_email" else 1,
            )


def main() -> None:
    with figures_only():
        report(measure())


if __name__ == "__main__":
    main()
