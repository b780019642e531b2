"""Performance figures, one JSON object per line: ``{"bench": NAME, "value": N, "unit": U}``.

AWS requests are counted with botocore's event hooks (``before-call``) on every client, under moto.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


#: Where the figures go: the process's standard output, which carries nothing else (see :func:`figures_only`).
FIGURES = sys.stdout


def emit(name: str, value: float, unit: str, **extra: Any) -> None:
    line = {"bench": name, "value": round(value, 3), "unit": unit, **extra}
    FIGURES.write(json.dumps(line) + "\n")
    FIGURES.flush()


@contextmanager
def figures_only() -> Iterator[None]:
    """Anything else the code prints (Powertools prints its metrics as EMF lines once a metric holds 100 values)
    goes to standard error while the figures are measured."""
    with redirect_stdout(sys.stderr):
        yield


class RequestCounter:
    """Counts AWS API calls of every botocore client created while it is installed."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._original: Callable[..., Any] | None = None

    def _hook(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    @contextmanager
    def installed(self) -> Iterator[RequestCounter]:
        original = botocore.session.Session.create_client
        counter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call.*.*", counter._hook)
            return client

        botocore.session.Session.create_client = create_client
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original

    @contextmanager
    def measure(self) -> Iterator[list[str]]:
        before = len(self.calls)
        window: list[str] = []
        yield window
        window.extend(self.calls[before:])


def _event(n: int, kind: str) -> dict[str, Any]:
    contact = {"id": f"c_{n}", "email": f"client{n}@example.com", "first_name": "Ana"}
    if kind == "nomatch":
        return {"id": f"evt_nm_{n}", "type": "page.viewed", "contact": contact, "data": {"page": "/pricing"}}
    if kind == "waiting":
        invoice = {"id": f"inv_w_{n}", "number": f"2026-{n}", "total": 640, "url": "https://acme.example/pay"}
        return {"id": f"evt_w_{n}", "type": "invoice.overdue", "contact": contact, "data": {"invoice": invoice}}
    invoice = {"id": f"inv_p_{n}", "number": f"2026-{n}", "total": 640, "currency": "EUR"}
    return {"id": f"evt_p_{n}", "type": "invoice.paid", "contact": contact, "data": {"invoice": invoice}}


def bench_requests() -> None:
    import pytest
    from automations.bootstrap import build_deps
    from automations.events import parse_events
    from automations.services import lifecycle
    from automations.services.ingest import ingest

    from tests.conftest import EXAMPLES
    from tests.support.aws import aws_stack

    counter = RequestCounter()
    monkeypatch = pytest.MonkeyPatch()
    with counter.installed(), aws_stack(monkeypatch, START, automation_cache_seconds=3600.0) as stack:
        deps = stack.deps
        for name in ("overdue-invoice-reminder", "invoice-paid-thank-you", "we-miss-you"):
            lifecycle.create(deps, (EXAMPLES / f"{name}.yaml").read_text(), START)
        # one of each first, so that the route cache and the version cache are warm, as in a busy function
        for kind in ("nomatch", "waiting", "paid"):
            ingest(deps, parse_events(_event(0, kind)), START)
        for kind, label in (("nomatch", "no_match"), ("waiting", "starts_waiting_run"), ("paid", "queues_email")):
            with counter.measure() as calls:
                ingest(deps, parse_events(_event(1, kind)), START)
            emit(f"aws_requests_per_event.{label}", len(calls), "requests", calls=sorted(calls))
        for kind, label in (("nomatch", "no_match"), ("paid", "queues_email"), ("waiting", "starts_waiting_run")):
            batch = {"events": [_event(1000 + i, kind) for i in range(100)]}
            with counter.measure() as calls:
                ingest(deps, parse_events(batch), START)
            emit(f"aws_requests_per_event.batch_of_100.{label}", len(calls) / 100, "requests")
        # after_silence: the person's second check-in moves the countdown that the first one started
        checkin = {"type": "client.checked_in", "contact": {"id": "c_silent", "email": "silent@example.com"}}
        ingest(deps, parse_events({**checkin, "id": "evt_ci_1"}), START)
        with counter.measure() as calls:
            ingest(deps, parse_events({**checkin, "id": "evt_ci_2"}), START)
        emit("aws_requests_per_event.restarts_silence", len(calls), "requests", calls=sorted(calls))
        # the cold path: a new process's first event, before any cache is filled (its deps built anew)
        cold = build_deps(stack.settings, the_clock=stack.clock)
        with counter.measure() as calls:
            ingest(cold, parse_events(_event(2, "waiting")), START)
        emit("aws_requests_per_event.starts_waiting_run.cold_cache", len(calls), "requests", calls=sorted(calls))
        bench_actions(deps, counter)
    monkeypatch.undo()


def bench_actions(deps: Any, counter: RequestCounter) -> None:
    """The AWS requests of each action as a step does it (once per run and step), and of the live profile read
    of a step after a delay."""
    from automations.engine import ActionRequest, BusEvent, RunState
    from automations.ports import ContactPatch
    from automations.services import contact_changes, runner

    deps.coupons.load("bench", [f"B-{n}" for n in range(10)], START)
    deps.contacts.upsert_from_event("c_actions", {"id": "c_actions", "email": "ana@example.com"}, START)

    def update_contact() -> None:
        patch = ContactPatch(labels_add=["vip"], points_add=100)
        contact_changes.change(deps, "c_actions", patch, START, ledger_key="run_b:award", depth=1)
        runner.count_action(deps, "a", "award", "actions_done")

    def put_event() -> None:
        entry = runner.bus_entry(BusEvent("default", "run_b", "chat", "chat.message.requested", {"to": "c"}, {}, START))
        deps.bus.put([entry])
        runner.count_action(deps, "a", "chat", "actions_done")

    actions: dict[str, Callable[[], Any]] = {
        "update_contact": update_contact,
        "create_task": lambda: runner.act(
            deps, ActionRequest("default", "run_b", "call", "create_task", {"title": "Call Ana"}, "c_actions"), START
        ),
        "issue_coupon": lambda: runner.act(
            deps, ActionRequest("default", "run_b", "coupon", "issue_coupon", {"pool": "bench"}, "c_actions"), START
        ),
        "put_event": put_event,
        "webhook": _webhook_delivery(deps),
    }
    for name, action in actions.items():
        with counter.measure() as calls:
            action()
        emit(f"aws_requests_per_action.{name}", len(calls), "requests", calls=sorted(calls), goal="<= 3")
    state = RunState.model_validate(
        {
            "id": "run_b",
            "workspace": "default",
            "automation_id": "a",
            "version": 1,
            "started_at": START,
            "updated_at": START,
            "context": {"contact": {"id": "c_actions"}},
        }
    )
    with counter.measure() as calls:
        runner.with_live_contact(deps, state)
    emit("aws_requests_per_step.live_profile_read", len(calls), "requests", calls=sorted(calls))


def _webhook_delivery(deps: Any) -> Callable[[], Any]:
    """One delivered webhook call of a run that waits on it (the receiver stood in for: no network), the signing
    secret already read by the process; the queueing is counted with the step that reached it (1 request).
    Two runs are made waiting first; the first call is delivered here, the second by what is returned."""
    from dataclasses import replace

    from automations.events import parse_events
    from automations.ports import WebhookResponse
    from automations.services import lifecycle as manage
    from automations.services import webhooks
    from automations.services.ingest import ingest
    from automations.services.webhooks import WebhookMessage

    class Receiver:
        def post(self, url: str, headers: Any, body: bytes, *, method: str = "POST") -> WebhookResponse:
            return WebhookResponse("delivered", 200, {"id": "crm-1"}, True)

    local = replace(deps, webhooks=Receiver())
    definition = {
        "id": "bench-webhook",
        "name": "Bench webhook",
        "status": "active",
        "trigger": {"event": "bench.lead"},
        "steps": [
            {"id": "crm", "webhook": {"url": "https://crm.example.com/hook", "body": {"id": "{{ contact.id }}"}}}
        ],
    }
    manage.create(local, definition, START)
    for n in (1, 2):
        event = {"id": f"evt_hook_{n}", "type": "bench.lead", "contact": {"id": f"c_hook_{n}"}}
        ingest(local, parse_events(event), START)
    queue = local.webhook_queue
    messages = queue.client.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    calls = [WebhookMessage.model_validate(json.loads(m["Body"])).call() for m in messages]
    webhooks.deliver(local, calls[0], START)  # the secret is made and read once per process
    return lambda: webhooks.deliver(local, calls[1], START)


def _import_ms(code: str, cwd: Path) -> float:
    """Cumulative import time (ms) of the last top-level import in ``code``, by ``-X importtime``."""
    runs = []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"},
        )
        total = 0
        for line in result.stderr.splitlines():
            found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s(\S.*)$", line)
            if found and not found.group(2).startswith(" "):
                total += int(found.group(1))
        runs.append(total / 1000)
    return min(runs)


def bench_imports() -> None:
    boto = _import_ms("import boto3", ROOT)
    emit("cold_import.boto3", boto, "ms")
    for name in ("ingest_trigger", "evaluate_step"):
        folder = ROOT / "functions" / name
        emit(f"cold_import.{name}", _import_ms("import app", folder), "ms", boto3_ms=round(boto, 1))


def main() -> None:
    from automations.observability import logger

    logger.setLevel("WARNING")  # stdout carries the figures only
    with tempfile.TemporaryDirectory(), figures_only():
        bench_requests()
        bench_imports()
        extra = ROOT / "scripts" / "bench_email.py"
        if extra.exists():
            subprocess.run(
                [sys.executable, "-m", "scripts.bench_email"],
                cwd=ROOT,
                check=True,
                env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
            )


if __name__ == "__main__":
    main()
