"""Scale projection (run by ``make bench`` through scripts/bench.py; docs/scale.md quotes it), JSON lines like the
others: one stack, 10 automations, 1,000,000 people over a month.

The services are driven through the in-memory fakes (tests/support), every port call counted. A sample of
``SAMPLE`` people is simulated exactly over 61 days (their events fall at random moments of the first 30 days;
the rest lets the longest delays and silences fire), then every count is projected linearly to ``PEOPLE``: the
people are independent and their events uniform in time, so requests, emails and concurrent schedules grow in
proportion. Peak rates are the busiest hour's, as an average per second in that hour (real traffic is burstier:
the steady rate an app posts at within the hour is not modelled).

Port calls become AWS requests one for one (each adapter method makes one request, a transaction included), by
kind: a store's reads and writes are DynamoDB requests, the scheduler's are Scheduler API calls, the queues' are
SQS requests, the bus's are PutEvents. They are priced with scripts/bench_cost.py's prices and its measurement
under moto of what a request of each kind costs on average (request units per DynamoDB request, duration per
invocation of each function), for a few people sent through the real handlers first.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scripts import bench_cost as cost
from scripts.bench import emit, figures_only

PEOPLE = 1_000_000
SAMPLE = 2_000
SEED = 20261124
DAYS_OF_EVENTS = 30
DAYS_SIMULATED = 61
#: Open and click rates of the emails (each open or click is one more SES event through SNS to stats_webhook).
OPENS, CLICKS = cost.SES_EVENTS_PER_EMAIL["Open"], cost.SES_EVENTS_PER_EMAIL["Click"]

EMAIL = {"send_email": {"to": {"trigger_contact": True}, "subject": "Hi {{ contact.first_name }}", "html": "<p>Hi</p>"}}


def _email(step_id: str) -> dict[str, Any]:
    return {"id": step_id, **EMAIL}


def automations() -> list[dict[str, Any]]:
    """Ten automations of the shapes the product is for: immediate emails, delays of an hour to two weeks, a delay
    until a moment of the event, a condition, a run key cancelled by another event, an nth trigger, a silence."""

    def auto(automation_id: str, trigger: Any, *steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "id": automation_id,
            "name": automation_id.replace("-", " ").capitalize(),
            "status": "active",
            "trigger": trigger if isinstance(trigger, dict) else {"event": trigger},
            "person": "contact.id",
            "steps": list(steps),
            **fields,
        }

    trial = {"field": "data.plan", "op": "eq", "value": "trial"}
    unpaid = {"field": "data.invoice.total", "op": "gt", "value": 100}
    return [
        auto("welcome", "signup.completed", _email("welcome")),
        auto("day-one-tips", "signup.completed", {"delay": "1d"}, _email("tips")),
        auto("trial-nudge", "signup.completed", {"delay": "7d"}, {"if": trial, "then": [_email("nudge")], "else": []}),
        auto(
            "overdue-invoice",
            "invoice.overdue",
            {"delay": "3d"},
            {"if": unpaid, "then": [_email("reminder")], "else": []},
            run_key="data.invoice.id",
            cancel_on=[{"event": "invoice.paid", "key": "data.invoice.id"}],
        ),
        auto("paid-thanks", "invoice.paid", _email("thanks")),
        auto(
            "session-reminder",
            "session.booked",
            {"delay": {"until": "data.session.starts_at", "offset": "-1d", "if_past": "skip"}},
            _email("reminder"),
        ),
        auto("tenth-visit", {"event": "client.checked_in", "nth": 10}, _email("badge")),
        auto("we-miss-you", {"event": "client.checked_in", "after_silence": "30d"}, _email("miss-you")),
        auto("abandoned-cart", "cart.abandoned", {"delay": "1h"}, _email("cart")),
        auto("review-request", "order.shipped", {"delay": "14d"}, _email("review")),
    ]


def people_events(rng: random.Random, start: datetime, people: int) -> list[tuple[datetime, dict[str, Any]]]:
    """Each person's month: a signup, a booked session, check-ins (4 on average), and sometimes an overdue invoice
    (paid within days half the time), an abandoned cart, a shipped order."""
    window = DAYS_OF_EVENTS * 86400
    out: list[tuple[datetime, dict[str, Any]]] = []

    def at() -> datetime:
        return start + timedelta(seconds=rng.randrange(window))

    for n in range(people):
        contact = {"id": f"p{n}", "email": f"p{n}@example.com", "first_name": "Ana"}

        def add(moment: datetime, kind: str, tag: str, **data: Any) -> None:
            out.append((moment, {"id": f"e_{n}_{tag}", "type": kind, "contact": contact, "data": data}))  # noqa: B023

        add(at(), "signup.completed", "signup", plan=rng.choice(["trial", "paid"]))
        booked = at()
        starts = booked + timedelta(days=rng.uniform(0.5, 10))
        add(booked, "session.booked", "session", session={"id": f"s{n}", "starts_at": starts.isoformat()})
        for visit in range(_poisson(rng, 4.0)):
            add(at(), "client.checked_in", f"visit{visit}")
        if rng.random() < 0.3:
            overdue = at()
            invoice = {"id": f"inv{n}", "total": rng.choice([80, 250, 640])}
            add(overdue, "invoice.overdue", "overdue", invoice=invoice)
            if rng.random() < 0.5:
                add(overdue + timedelta(days=rng.uniform(0.2, 5)), "invoice.paid", "paid", invoice=invoice)
        if rng.random() < 0.4:
            add(at(), "cart.abandoned", "cart")
        if rng.random() < 0.5:
            add(at(), "order.shipped", "order")
    out.sort(key=lambda pair: pair[0])
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# --- counting the ports ---------------------------------------------------------------------------------------

#: The port methods that read (the rest of a store's write).
READS = {
    "get",
    "of_run",
    "by_ses_id",
    "of",
    "blocking",
    "read",
    "daily",
    "head",
    "heads",
    "version",
    "versions",
    "routes_for",
    "run_for_key",
    "by_automation",
    "by_person",
    "waiting_of",
    "silence",
    "list",
    "counts",
    "pools",
    "max_send_rate",
}
SERVICE = {
    "scheduler": "scheduler",
    "email_queue": "sqs",
    "webhook_queue": "sqs",
    "bus": "eventbridge",
    "email_sender": "ses",
    "webhooks": "http",
    "secrets": "secretsmanager",
    "webhook_secrets": "secretsmanager",
    "clock": "none",
}
#: Port calls that make no AWS request: the clock, the queue's local buffering and the reading of it here, the
#: MIME built before the send, and what the adapters cache in the process (routes for a few seconds, versions for
#: good, secrets and the SES quota for a while).
NO_REQUEST = {
    ("email_queue", "buffered"),
    ("email_queue", "drain"),
    ("email_queue", "receive"),
    ("email_queue", "send"),  # counted as the messages it queued: one SendMessage each (measured under moto)
    ("email_sender", "prepare"),
    ("email_sender", "max_send_rate"),
    ("automations", "routes_for"),
    ("automations", "version"),
    ("secrets", "get"),
}


@dataclass
class Tally:
    """Port calls by (port, method), and the schedule and email counts hour by hour."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    counting: bool = True
    depth: int = 0
    pending_schedules: int = 0
    peak_schedules: int = 0
    hourly: dict[str, Counter[int]] = field(default_factory=dict)
    hour: int = 0

    def bump(self, series: str, amount: int = 1) -> None:
        self.hourly.setdefault(series, Counter())[self.hour] += amount

    def wrap(self, port_name: str, port: Any) -> None:
        for name in dir(port):
            method = getattr(port, name)
            if name.startswith("_") or not callable(method) or isinstance(method, type):
                continue
            setattr(port, name, self._counted(port_name, name, method))

    def _counted(self, port_name: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            # a fake's calls to another fake (a run's counters in its own transaction) are not requests of their own
            if self.counting and self.depth == 0 and port_name != "clock" and (port_name, name) not in NO_REQUEST:
                self.calls[(port_name, name)] += 1
                if port_name == "scheduler":
                    self.bump(f"scheduler.{name}")
            self.depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self.depth -= 1

        return counted

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.counting = False
        try:
            yield
        finally:
            self.counting = True


def kind_of(port: str, method: str) -> str:
    if port == "sqs":
        return f"sqs.{method}"
    service = SERVICE.get(port)
    if service is not None:
        return f"{service}.{method}"
    return f"dynamodb.{'read' if method in READS else 'write'}"


# --- the simulation ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    tally: Tally
    invocations: Counter[str]
    events: int
    emails: int
    seconds: float


def simulate(sample: int) -> Outcome:
    from automations.services import feedback, sending
    from automations.services.feedback import simulated_record

    from tests.support.services import QUEUE, SENDER, World
    from tests.support.settings import settings_with

    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:unsubscribe"
    settings = settings_with(
        sender_address=SENDER,
        email_queue_url=QUEUE,
        unsubscribe_base_url="https://api.acme.example/u",
        unsubscribe_secret_arn=secret,
    )
    world = World(settings=settings)
    world.fakes.secrets.values[secret] = "unsubscribe-secret"
    for definition in automations():
        world.create(definition)
    tally = Tally()
    ports = world.fakes.ports
    for name in ports.__dataclass_fields__:
        if name != "is_transient":
            tally.wrap(name, getattr(ports, name))
    scheduler = world.fakes.scheduler
    due: list[tuple[datetime, str]] = []  # every schedule made, by time (one replaced or deleted is skipped)
    for method_name in ("create", "replace"):
        _watch(scheduler, method_name, due)
    rng = random.Random(SEED)
    start = world.now
    events = people_events(rng, start, sample)
    invocations: Counter[str] = Counter()
    emails = 0
    started = time.perf_counter()

    def fire_due(until: datetime) -> None:
        while due and due[0][0] <= until:
            when, name = heapq.heappop(due)
            if scheduler.schedules.get(name, (None,))[0] != when:
                continue
            if when > world.now:
                world.fakes.clock.advance(when - world.now)
            _, payload = scheduler.schedules.pop(name)  # Scheduler deletes a one-time schedule once it fired
            tally.bump("scheduler.fired")
            invocations["evaluate_step"] += 1
            world.fire(payload)
        if until > world.now:
            world.fakes.clock.advance(until - world.now)

    def send_queued() -> int:
        sent = 0
        queued = world.fakes.email_queue.receive()
        for body, _ in queued:
            request = sending.request_from_body(body)
            deliveries = sending.send_request(world.deps, request, world.now)
            sent += len(deliveries)
            with tally.paused():
                records = [world.deps.messages.get(request.run_id, request.step, d.message_id) for d in deliveries]
            for message in filter(None, records):
                kinds = ["Delivery"]  # the configuration set publishes no Send event: send_email counts "sent"
                if rng.random() < OPENS:
                    kinds.append("Open")
                if rng.random() < CLICKS:
                    kinds.append("Click")
                for kind in kinds:
                    raw = json.dumps(simulated_record(message, kind, world.now, sender=SENDER))
                    feedback.handle(world.deps, raw, world.now)
                    invocations["stats_webhook"] += 1
        world.fakes.email_queue.drain()
        # the fake message store scans all its records on each claim: the ones whose feedback is in are let go
        world.fakes.messages.records.clear()
        world.fakes.messages.by_ses.clear()
        tally.calls[("sqs", "send_message")] += len(queued)
        invocations["send_email.batches"] += -(-len(queued) // cost.SQS_BATCH)
        return sent

    index = 0
    for hour in range(DAYS_SIMULATED * 24):
        tally.hour = hour
        end = start + timedelta(hours=hour + 1)
        while index < len(events) and events[index][0] < end:
            moment, body = events[index]
            fire_due(moment)
            world.post(body)
            invocations["ingest_trigger"] += 1
            tally.bump("events")
            index += 1
        fire_due(end)
        sent = send_queued()
        emails += sent
        tally.bump("emails", sent)
        tally.peak_schedules = max(tally.peak_schedules, len(scheduler.schedules))
        tally.bump("schedules.pending", len(scheduler.schedules))
    return Outcome(tally, invocations, len(events), emails, time.perf_counter() - started)


def _watch(scheduler: Any, method_name: str, due: list[tuple[datetime, str]]) -> None:
    method = getattr(scheduler, method_name)

    def watched(name: str, due_at: datetime, payload: dict[str, Any], **options: Any) -> Any:
        answer = method(name, due_at, payload, **options)
        if name in scheduler.schedules:
            heapq.heappush(due, (scheduler.schedules[name][0], name))
        return answer

    setattr(scheduler, method_name, watched)


# --- projecting and pricing -------------------------------------------------------------------------------------


def calibrate() -> dict[str, float]:
    """What a request or an invocation costs on average, from bench_cost's flow under moto (a few people)."""
    kinds = cost.measure(people=10)
    writes = reads = wru = rru = 0.0
    for entry in kinds.values():
        for call in entry.calls:
            if call.service != "dynamodb":
                continue
            if call.wru:
                writes, wru = writes + 1, wru + call.wru
            else:
                reads, rru = reads + 1, rru + call.rru
    out = {"wru_per_write": wru / writes, "rru_per_read": rru / reads}
    for name, entry in kinds.items():
        function = name.split(".")[0]
        out[f"ms.{function}"] = sum(entry.durations_ms) / entry.count
        out[f"log_bytes.{function}"] = entry.log_bytes / entry.count
    return out


def project(outcome: Outcome, sample: int, calibration: dict[str, float]) -> None:
    factor = PEOPLE / sample
    tally = outcome.tally
    by_kind: Counter[str] = Counter()
    for (port, method), count in tally.calls.items():
        by_kind[kind_of(port, method)] += count
    emails = outcome.emails * factor
    scope = {"people": PEOPLE, "automations": 10, "sampled_people": sample, "projection": f"x{factor:g}"}
    emit("scale.events_per_month", outcome.events * factor, "events", **scope)
    emit("scale.emails_per_month", emails, "emails", **scope)
    for kind, count in sorted(by_kind.items()):
        if not kind.startswith(("none.", "http.")):
            emit(f"scale.requests_per_month.{kind}", count * factor, "requests")
    invocations = {name: count * factor for name, count in outcome.invocations.items()}
    for name, value in sorted(invocations.items()):
        emit(f"scale.lambda_invocations_per_month.{name}", value, "invocations")

    # price: the same prices as the cost per email (scripts/bench_cost.py), the same assumptions
    dynamo_writes = sum(v for k, v in by_kind.items() if k == "dynamodb.write") * factor
    dynamo_reads = sum(v for k, v in by_kind.items() if k == "dynamodb.read") * factor
    sqs = sum(v for k, v in by_kind.items() if k.startswith("sqs.")) * factor
    sqs += invocations.get("send_email.batches", 0) * 2  # the pollers' receive and delete per batch
    feedback_events = invocations.get("stats_webhook", 0)
    ms = {
        "ingest_trigger": calibration["ms.ingest_trigger"],
        "evaluate_step": calibration["ms.evaluate_step"],
        "stats_webhook": calibration["ms.stats_webhook"],
        "send_email.batches": calibration["ms.send_email"],  # a full batch of 10
    }
    gb_seconds = sum(invocations.get(k, 0) * v / 1000 * cost.MEMORY_MB / 1024 for k, v in ms.items())
    invoked = sum(invocations.values())
    log_bytes = sum(
        invocations.get(k, 0) * (calibration.get(f"log_bytes.{k.split('.')[0]}", 0) + cost.PLATFORM_LOG_BYTES)
        for k in ms
    )
    api_requests = invocations.get("ingest_trigger", 0) / cost.EVENTS_PER_API_REQUEST
    traces = (api_requests + invocations.get("evaluate_step", 0) + invocations.get("send_email.batches", 0)) * (
        cost.XRAY_SAMPLED
    ) + feedback_events * cost.XRAY_SAMPLED
    money = {
        "api_gateway": api_requests / 1e6 * cost.API_GATEWAY_REST_PER_MILLION,
        "lambda_requests": invoked / 1e6 * cost.LAMBDA_PER_MILLION_REQUESTS,
        "lambda_duration": gb_seconds * cost.LAMBDA_ARM_PER_GB_SECOND,
        "dynamodb_writes": dynamo_writes * calibration["wru_per_write"] / 1e6 * cost.DYNAMODB_PER_MILLION_WRU,
        "dynamodb_reads": dynamo_reads * calibration["rru_per_read"] / 1e6 * cost.DYNAMODB_PER_MILLION_RRU,
        "sqs": sqs / 1e6 * cost.SQS_PER_MILLION_REQUESTS,
        "scheduler": tally_total(tally, "scheduler.fired") * factor / 1e6 * cost.SCHEDULER_PER_MILLION_INVOCATIONS,
        "eventbridge": by_kind.get("eventbridge.put", 0) * factor / 1e6 * cost.EVENTBRIDGE_PER_MILLION_EVENTS,
        "sns": feedback_events / 1e6 * cost.SNS_PER_MILLION_PUBLISHES,
        "xray": traces / 1e6 * cost.XRAY_PER_MILLION_TRACES,
        "cloudwatch_logs": log_bytes / 1e9 * cost.CLOUDWATCH_LOGS_PER_GB,
    }
    total = sum(money.values())
    emit("scale.cost_per_month.total", total, "USD", per_million_emails=round(total / emails * 1e6, 2), **scope)
    for name, value in sorted(money.items(), key=lambda pair: -pair[1]):
        emit(f"scale.cost_per_month.{name}", value, "USD")

    # peaks: concurrent schedules (against the account's 1,000,000), and the busiest hour's rates per second
    emit("scale.peak_pending_schedules", tally.peak_schedules * factor, "schedules", quota=1_000_000)
    for series, unit in (
        ("events", "events/s"),
        ("emails", "emails/s"),
        ("scheduler.create", "creates/s"),
        ("scheduler.replace", "updates/s"),
        ("scheduler.delete", "deletes/s"),
        ("scheduler.fired", "invocations/s"),
    ):
        hourly = tally.hourly.get(series, Counter())
        peak = max(hourly.values(), default=0)
        mean = sum(hourly.values()) / (DAYS_OF_EVENTS * 24)
        emit(f"scale.peak_hour.{series}", peak * factor / 3600, unit, mean_over_30_days=round(mean * factor / 3600, 2))
    peak_events = max(tally.hourly.get("events", Counter()).values(), default=0) * factor / 3600
    peak_emails = max(tally.hourly.get("emails", Counter()).values(), default=0) * factor / 3600
    peak_fired = max(tally.hourly.get("scheduler.fired", Counter()).values(), default=0) * factor / 3600
    concurrency = {
        "ingest_trigger": peak_events * ms["ingest_trigger"] / 1000,
        "evaluate_step": peak_fired * ms["evaluate_step"] / 1000,
        "send_email": peak_emails * calibration["ms.send_email"] / cost.SQS_BATCH / 1000,
        "stats_webhook": peak_emails * (2 + OPENS + CLICKS) * ms["stats_webhook"] / 1000,
    }
    for name, value in concurrency.items():
        emit(f"scale.peak_hour.lambda_concurrency.{name}", value, "instances", account_default=1000)
    emit("scale.simulation_seconds", outcome.seconds, "s", sampled_people=sample)


def tally_total(tally: Tally, series: str) -> int:
    return sum(tally.hourly.get(series, Counter()).values())


def main() -> None:
    from automations.observability import logger

    with figures_only():
        logger.setLevel("WARNING")
        outcome = simulate(SAMPLE)
        calibration = calibrate()
        project(outcome, SAMPLE, calibration)


if __name__ == "__main__":
    main()
