"""Email performance figures (run by ``make bench`` through scripts/bench.py), JSON lines like the others:

- emails rendered and built per second on one core, for a typical template (render, personalize, MIME);
- AWS requests per email sent (send_email's work for one recipient, SES included);
- AWS requests per feedback event (stats_webhook's work for one SES record), by kind.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from scripts.bench import START, RequestCounter, emit, figures_only


def _typical() -> tuple[Any, dict[str, Any]]:
    from automations.engine.machine import build_context
    from automations.language.loader import load_definition

    from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

    automation = load_definition((EXAMPLES / "overdue-invoice-reminder.yaml").read_text())
    event = json.loads((EXAMPLE_EVENTS / "overdue-invoice-reminder.json").read_text())
    context = build_context(event, automation=automation, version=1, run_id="run_bench", started_at=START)
    return automation, context


def bench_build() -> None:
    from automations.adapters.ses import OutgoingEmail, build_mime
    from automations.engine.machine import render_email
    from automations.language.program import flatten
    from automations.services.sending import personalize

    automation, context = _typical()
    spec = next(n.step.send_email for n in flatten(automation) if n.step.send_email is not None)
    link = "https://api.acme.example/u/" + "x" * 120
    headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def one() -> bytes:
        subject, html, text = render_email(spec, context)
        html, text = personalize(html, text, link, promotional=True)
        mail = OutgoingEmail("hello@acme.example", "ana@example.com", subject, html, text, "Acme", None, headers)
        return build_mime(mail, START)

    for _ in range(200):
        one()
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 2.0:
        for _ in range(100):
            one()
        count += 100
    emit("emails_rendered_and_built_per_second", count / (time.perf_counter() - started), "emails/s")


def bench_requests() -> None:
    import boto3
    import pytest
    from automations.adapters.ses_sender import SesEmailSender
    from automations.engine.effects import EmailRequest
    from automations.services import feedback, sending

    from tests.support.aws import aws_stack

    counter = RequestCounter()
    monkeypatch = pytest.MonkeyPatch()
    with counter.installed(), aws_stack(monkeypatch, START) as stack:
        deps = stack.deps
        boto3.client("sesv2", region_name=stack.settings.region).create_email_identity(
            EmailIdentity="hello@acme.example"
        )
        sender = deps.email_sender
        assert isinstance(sender, SesEmailSender)
        assert sender.client is not None  # made before the requests are counted

        def request(n: int, email_type: str = "transactional") -> EmailRequest:
            return EmailRequest(
                workspace="default",
                automation_id="overdue-invoice-reminder",
                version=1,
                run_id=f"run_{n:06d}",
                step="reminder",
                type=email_type,
                recipients=(f"client{n}@example.com",),
                subject="Invoice 2026-117 is overdue",
                html="<p>Hi Ana, invoice 2026-117 is overdue.</p>",
                text="Hi Ana, invoice 2026-117 is overdue.\n",
                from_name="Acme Studio",
            )

        sending.send_request(deps, request(0), START)  # warm
        for label, email_type in (("transactional", "transactional"), ("promotional", "promotional")):
            with counter.measure() as calls:
                sending.send_request(deps, request(1 if email_type == "transactional" else 2, email_type), START)
            emit(f"aws_requests_per_email_sent.{label}", len(calls), "requests", calls=sorted(calls), goal="<= 3")
        with counter.measure() as calls:
            for n in range(100, 200):
                sending.send_request(deps, request(n), START)
        emit("aws_requests_per_email_sent.mean_of_100", len(calls) / 100, "requests", goal="<= 3")

        item = deps.messages.get("run_000001", "reminder", _message_id("run_000001", "client1@example.com"))
        assert item is not None
        now = START + timedelta(minutes=1)
        records = {}
        for kind in ("Send", "Delivery", "Open", "Click", "Bounce", "Complaint"):
            records[kind] = json.dumps(feedback.simulated_record(item, kind, now, sender="hello@acme.example"))
            with counter.measure() as calls:
                feedback.handle(deps, records[kind], now)
            emit(
                f"aws_requests_per_feedback_event.{kind.lower()}",
                len(calls),
                "requests",
                calls=sorted(calls),
                goal="<= 3",
            )
        with counter.measure() as calls:
            feedback.handle(deps, records["Delivery"], now)
        emit("aws_requests_per_feedback_event.duplicate", len(calls), "requests", calls=sorted(calls), goal="<= 3")
    monkeypatch.undo()


def _message_id(run_id: str, address: str) -> str:
    from automations.ports import message_id_for

    return message_id_for("default", run_id, "reminder", address)


def main() -> None:
    with figures_only():
        bench_build()
        bench_requests()


if __name__ == "__main__":
    main()
