"""Webhooks on the local stack, as a receiver sees them: a lead posted over HTTP reaches a receiver on
127.0.0.1 with a Standard Webhooks signature that the `standardwebhooks` library verifies with the secret from
GET /v1/webhook-secret; the receiver's answer is read by the email that follows; a receiver that answers 503 once
is called again with the same webhook-id, and every attempt is on the run's timeline."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


class Receiver:
    """An HTTP receiver on 127.0.0.1: records each request, answers the next scripted status (200 after)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = json.dumps({"crm_id": "CRM-9", "seen": len(receiver.requests)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def lead_automation(tag: str, port: int) -> dict[str, Any]:
    return {
        "id": f"lead-crm-{tag}",
        "name": "New lead to the CRM",
        "status": "active",
        "trigger": {"event": f"lead.created.{tag}"},
        "steps": [
            {"id": "status", "update_contact": {"set": {"lead_status": "new"}}},
            {
                "id": "crm",
                "webhook": {
                    "url": f"http://127.0.0.1:{port}/leads/{{{{ contact.id }}}}",
                    "headers": {"X-Source": "automations"},
                    "body": {"email": "{{ contact.email }}", "status": "{{ contact.lead_status }}"},
                },
            },
            {
                "id": "tell",
                "send_email": {
                    "to": {"trigger_contact": True},
                    "subject": "Welcome, your file is {{ steps.crm.body.crm_id }}",
                    "html": "<p>CRM {{ steps.crm.status }}</p>",
                },
            },
        ],
    }


def test_a_lead_reaches_the_crm_signed_and_its_answer_reaches_the_email(
    local_stack: LocalStackClient, receiver: Receiver
) -> None:
    local_stack.require("ingest_trigger", "manage_api", "call_webhook")
    tag = uuid.uuid4().hex[:8]
    created = local_stack.request("POST", "/v1/automations", lead_automation(tag, receiver.port))
    assert created.status == 201, created.text
    person = f"c_lead_{tag}"
    event = {
        "id": f"evt_{tag}",
        "type": f"lead.created.{tag}",
        "contact": {"id": person, "email": f"{person}@example.com"},
    }
    assert local_stack.request("POST", "/v1/events", event).status == 202

    local_stack.wait_for(lambda: receiver.requests, what="the webhook to reach the receiver")
    [request] = receiver.requests
    assert request["path"] == f"/leads/{person}"
    secret = local_stack.request("GET", "/v1/webhook-secret").json()["secret"]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    # The library signs what the receiver got into the signature the stack sent (the stack's clock may have been
    # moved by other tests, so the check of the timestamp against this machine's clock is left out)
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], moment, request["body"].decode())
    assert expected in headers["webhook-signature"].split(" ")
    assert json.loads(request["body"]) == {"email": f"{person}@example.com", "status": "new"}
    assert headers["idempotency-key"] == headers["webhook-id"]
    assert headers["x-source"] == "automations"

    email = local_stack.wait_for_email(f"{person}@example.com", "your file is CRM-9")
    assert "CRM 200" in str(email)
    profile = local_stack.request("GET", f"/v1/contacts/{person}").json()["profile"]
    assert profile["lead_status"] == "new"


def test_a_503_is_retried_with_the_same_id_and_each_attempt_is_on_the_timeline(
    local_stack: LocalStackClient, receiver: Receiver
) -> None:
    local_stack.require("ingest_trigger", "manage_api", "call_webhook")
    tag = uuid.uuid4().hex[:8]
    receiver.statuses = [503]
    assert local_stack.request("POST", "/v1/automations", lead_automation(tag, receiver.port)).status == 201
    person = f"c_retry_{tag}"
    event = {
        "id": f"evt_{tag}",
        "type": f"lead.created.{tag}",
        "contact": {"id": person, "email": f"{person}@example.com"},
    }
    assert local_stack.request("POST", "/v1/events", event).status == 202
    local_stack.wait_for(lambda: receiver.requests, what="the first attempt")
    # The call comes back after its backoff (30 s): move the local clock and the queue's messages along
    local_stack.advance("1m")
    local_stack.wait_for(lambda: len(receiver.requests) >= 2, timeout=20, what="the second attempt")
    ids = {r["headers"].get("webhook-id") for r in receiver.requests}
    assert len(ids) == 1
    runs = local_stack.request("GET", f"/v1/runs?automation_id=lead-crm-{tag}").json()["runs"]
    run = local_stack.request("GET", f"/v1/runs/{runs[0]['id']}").json()
    attempts = [d for d in run["timeline"] if d["kind"] == "webhook_attempt"]
    assert [a["details"]["outcome"] for a in attempts] == ["retry", "delivered"]
    local_stack.wait_for_email(f"{person}@example.com", "your file is CRM-9")
