"""Performance figures, one JSON object per line: ``{"bench": NAME, "value": N, "unit": U}``.

AWS requests are counted with botocore's event hooks (``before-call``) on every client, under moto.
"""

from __future__ import annotations

import json
import os
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
        # the goals: no match 2; k automations matched 2 + 2k at most, and 4 for one that starts a waiting run or
        # queues an email (the latter matches two: it cancels the reminder's run as it thanks)
        single: dict[str, int] = {}
        goals = {"no_match": 2, "starts_waiting_run": 4, "queues_email": 4}
        for kind, label in (("nomatch", "no_match"), ("waiting", "starts_waiting_run"), ("paid", "queues_email")):
            with counter.measure() as calls:
                ingest(deps, parse_events(_event(1, kind)), START)
            single[label] = len(calls)
            goal = f"<= {goals[label]}"
            emit(f"aws_requests_per_event.{label}", len(calls), "requests", calls=sorted(calls), goal=goal)
        for kind, label in (("nomatch", "no_match"), ("paid", "queues_email"), ("waiting", "starts_waiting_run")):
            batch = {"events": [_event(1000 + i, kind) for i in range(100)]}
            with counter.measure() as calls:
                ingest(deps, parse_events(batch), START)
            per_event = len(calls) / 100
            emit(f"aws_requests_per_event.batch_of_100.{label}", per_event, "requests", goal=f"< {single[label]}")
        # after_silence: the person's second check-in moves the countdown that the first one started
        checkin = {"type": "client.checked_in", "contact": {"id": "c_silent", "email": "silent@example.com"}}
        ingest(deps, parse_events({**checkin, "id": "evt_ci_1"}), START)
        with counter.measure() as calls:
            ingest(deps, parse_events({**checkin, "id": "evt_ci_2"}), START)
        emit("aws_requests_per_event.restarts_silence", len(calls), "requests", calls=sorted(calls), goal="<= 3")
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
    from automations.ports import ContactPatch, StepCount
    from automations.services import contact_changes, runner

    deps.coupons.load("bench", [f"B-{n}" for n in range(10)], START)
    deps.contacts.upsert_from_event("c_actions", {"id": "c_actions", "email": "ana@example.com"}, START)

    def update_contact() -> None:  # as the runner makes it: its step's count in the change's own write
        patch = ContactPatch(labels_add=["vip"], points_add=100)
        done = StepCount("a", "award", "actions_done")
        contact_changes.change(deps, "c_actions", patch, START, ledger_key="run_b:award", depth=1, count=done)

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
    emit("aws_requests_per_step.live_profile_read", len(calls), "requests", calls=sorted(calls), goal="<= 1")


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


#: Every Lambda handler (functions/<name>/app.py).
HANDLERS = (
    "ingest_trigger",
    "evaluate_step",
    "send_email",
    "call_webhook",
    "stats_webhook",
    "manage_api",
    "authorizer",
)
#: What a handler's cold import is measured against: the SDK and one client of it (the product's main store's).
BASELINE = "import boto3; boto3.client('dynamodb', region_name='eu-west-1')"
_TIMED = (
    "import sys, time; started = time.perf_counter(); {code}; sys.stderr.write(repr(time.perf_counter() - started))"
)


def _cold_ms(code: str, cwd: Path) -> float:
    """Milliseconds of ``code`` in a new interpreter (byte code already compiled), the best of 5 runs."""
    runs = []
    for _ in range(5):
        result = subprocess.run(
            [sys.executable, "-c", _TIMED.format(code=code)],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0", "PYTHONPATH": str(cwd)},
        )
        runs.append(float(result.stderr.strip().splitlines()[-1]) * 1000)
    return min(runs)


def bench_imports() -> None:
    """Each handler's cold import as a ratio to importing boto3 and making one client, measured together so that
    the machine's speed cancels out."""
    for folder in HANDLERS:
        _cold_ms("import app", ROOT / "functions" / folder)  # byte code compiled before anything is timed
    base = _cold_ms(BASELINE, ROOT)
    emit("cold_import.boto3_and_one_client", base, "ms")
    for name in HANDLERS:
        took = _cold_ms("import app", ROOT / "functions" / name)
        emit(f"cold_import.{name}", took / base, "ratio", ms=round(took, 1), goal="<= 1.25")


def _per_second(work: Callable[[], Any], seconds: float = 1.5) -> float:
    """How many times per second ``work`` runs on one core (after a warm-up)."""
    import time

    for _ in range(50):
        work()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            work()
        count += 20
    return count / elapsed


def bench_email_cpu() -> None:
    """Emails rendered and built on one core: the typical template rendered, the recipient's unsubscribe link
    signed and put in, the headers and the MIME message built; and as a ratio to rendering the same Jinja
    templates alone (plain Jinja with the same filters: no sandbox, no bounds)."""
    import jinja2
    from automations.adapters.ses import build_mime
    from automations.engine.machine import build_context, render_email
    from automations.language.loader import load_definition
    from automations.language.program import flatten
    from automations.language.templates import environment
    from automations.ports import OutgoingEmail
    from automations.services.sending.compose import personalize
    from automations.services.unsubscribe import sign_token

    from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

    automation = load_definition((EXAMPLES / "overdue-invoice-reminder.yaml").read_text())
    event = json.loads((EXAMPLE_EVENTS / "overdue-invoice-reminder.json").read_text())
    context = build_context(event, automation=automation, version=1, run_id="run_bench", started_at=START)
    spec = next(n.step.send_email for n in flatten(automation) if n.step.send_email is not None)
    secret = "s" * 32

    def one() -> bytes:
        subject, html, text = render_email(spec, context)
        link = "https://api.acme.example/u/" + sign_token(secret, "default", "ana@example.com", "reminder", "c_1")
        html, text = personalize(html, text, link, promotional=True)
        headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        mail = OutgoingEmail("hello@acme.example", "ana@example.com", subject, html, text, "Acme", None, headers)
        return build_mime(mail, START)

    texts: list[str] = [
        t if isinstance(t, str) else next(iter(t.values())) for t in (spec.subject, spec.html, spec.text or "")
    ]
    plain = []
    for index, source in enumerate(texts):
        env = jinja2.Environment(autoescape=index == 1)
        env.filters.update(environment(index == 1).filters)  # the product's filters (money, date...) as they are
        plain.append(env.from_string(source))

    def jinja_alone() -> None:
        for template in plain:
            template.render(context)

    built = _per_second(one)
    alone = _per_second(jinja_alone)
    emit("email_cpu.rendered_and_built_per_second", built, "emails/s", goal=">= 5000")
    emit("email_cpu.ratio_to_jinja_alone", alone / built, "ratio", jinja_alone_per_second=round(alone))


def bench_ingest_cpu() -> None:
    """Events through ingest on one core with the in-memory fakes (the product's own CPU cost): an event no
    automation listens to, and one that starts a run whose first step queues an email."""
    from automations.events import parse_events
    from automations.services import lifecycle
    from automations.services.ingest import ingest

    from tests.conftest import EXAMPLES
    from tests.support.services import World

    world = World()
    for name in ("overdue-invoice-reminder", "invoice-paid-thank-you", "we-miss-you"):
        lifecycle.create(world.deps, (EXAMPLES / f"{name}.yaml").read_text(), world.now)
    deps, now = world.deps, world.now
    numbers = iter(range(10**9))

    def through(kind: str) -> Callable[[], Any]:
        def one() -> None:
            ingest(deps, parse_events(_event(next(numbers), kind)), now)
            world.fakes.email_queue.drain()

        return one

    emit("ingest_cpu.no_match_per_second", _per_second(through("nomatch")), "events/s", goal=">= 5000")
    emit("ingest_cpu.queues_email_per_second", _per_second(through("paid")), "events/s", goal=">= 1000")


def main() -> None:
    from automations.observability import logger

    logger.setLevel("WARNING")  # stdout carries the figures only
    with tempfile.TemporaryDirectory(), figures_only():
        bench_requests()
        bench_imports()
        bench_email_cpu()
        bench_ingest_cpu()
        extra = ROOT / "scripts" / "bench_email.py"
        if extra.exists():
            subprocess.run(
                [sys.executable, "-m", "scripts.bench_email"],
                cwd=ROOT,
                check=True,
                env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
            )
        subprocess.run([sys.executable, "-m", "scripts.bench_cost"], cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "scripts.bench_scale"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
