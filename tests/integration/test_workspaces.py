"""Two workspaces on one stack (DESIGN.md §5, guarantee 10), through the real handlers under moto: each key sees
its own workspace's data only, an event starts only its own workspace's automations, and every hop after it (the
schedule, the email queue, SES's feedback, the unsubscribe link) stays in the workspace it began in, with that
workspace's sender and brand.

Workspace ``default`` is the stack's own; ``acme`` is created with the root key, as an operator would.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import boto3
import pytest
from automations.ports import ROOT

from tests.conftest import load_event
from tests.integration.conftest import START
from tests.support.aws import LambdaContextStub, Stack, aws_stack
from tests.support.email import REGION, verify_sender
from tests.support.flows import definition, sample
from tests.support.pipeline import Pipeline, handlers
from tests.support.recorder import AwsTap

ACME_SENDER = "hello@acme.example"
PERSON = "c_42"


@pytest.fixture
def two(monkeypatch: pytest.MonkeyPatch, aws_tap: AwsTap) -> Iterator[Pipeline]:
    """The stack, with ``acme``'s domain among its allowed senders (and verified, as SES needs it)."""
    with aws_stack(monkeypatch, START, allowed_senders="*@acme.example") as stack:
        verify_sender()
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity="acme.example")
        yield Pipeline(stack, aws_tap)


#: One request with the authorizer's context of a key of a workspace (``""``: the root key).
call = Pipeline.keyed


def create_acme(pipeline: Pipeline) -> None:
    body = {
        "id": "acme",
        "name": "Acme Studio",
        "sender": ACME_SENDER,
        "sender_name": "Acme Studio",
        "timezone": "Europe/Lisbon",
        "locale": "pt",
        "brand_name": "Acme Studio",
    }
    status, created = call(pipeline, "", "POST", "/v1/workspaces", body, scopes=ROOT)
    assert status == 201, created


def thank_you(pipeline: Pipeline, workspace: str, subject: str) -> None:
    """The same automation (same id) in a workspace, its subject telling them apart."""
    steps = definition("invoice-paid-thank-you")["steps"]
    steps[0]["send_email"].update(subject=subject)
    steps[0]["send_email"].pop("from_name")
    body = definition("invoice-paid-thank-you", steps=steps)
    status, created = call(pipeline, workspace, "POST", "/v1/automations", body)
    assert status == 201, created


def test_a_key_sees_its_own_workspace_only_and_events_stay_in_theirs(two: Pipeline) -> None:
    create_acme(two)
    thank_you(two, "default", "Thanks from default")
    thank_you(two, "acme", "Obrigado da Acme")

    # An event posted with acme's key starts acme's automation only
    status, answer = call(two, "acme", "POST", "/v1/events", sample("invoice-paid-thank-you", "evt_acme_1"))
    assert status == 202, answer
    [result] = answer["events"]
    assert result["status"] == "accepted" and len(result["runs"]) == 1
    two.settle()
    [sent] = two.ses_sends
    assert sent.tags["workspace"] == "acme"
    assert sent.params["FromEmailAddress"] == ACME_SENDER and str(sent.mime()["From"]) == f"Acme Studio <{ACME_SENDER}>"
    assert str(sent.mime()["Subject"]) == "Obrigado da Acme"

    # default's key: its automation has no run, no contact, no email; acme's run is unknown to it
    status, runs = call(two, "default", "GET", "/v1/runs", query={"automation_id": "invoice-paid-thank-you"})
    assert status == 200 and runs["runs"] == []
    assert call(two, "default", "GET", f"/v1/runs/{quote(result['runs'][0])}")[0] == 404
    status, stats = call(two, "default", "GET", "/v1/automations/invoice-paid-thank-you/stats")
    assert status == 200 and stats["totals"].get("sent", 0) == 0, stats
    status, contact = call(two, "default", "GET", f"/v1/contacts/{PERSON}")
    assert status == 200 and contact["profile"] is None and contact["runs"] == [], contact

    # acme's key sees its run, the email as sent and delivered, and the contact
    status, runs = call(two, "acme", "GET", "/v1/runs", query={"automation_id": "invoice-paid-thank-you"})
    assert status == 200 and [r["id"] for r in runs["runs"]] == result["runs"]
    status, stats = call(two, "acme", "GET", "/v1/automations/invoice-paid-thank-you/stats")
    assert status == 200 and stats["totals"]["sent"] == 1 and stats["totals"]["delivered"] == 1, stats
    status, contact = call(two, "acme", "GET", f"/v1/contacts/{PERSON}")
    assert status == 200 and [r["id"] for r in contact["runs"]] == result["runs"], contact

    # The automations: each workspace lists its own, with its own subject
    for workspace, subject in (("default", "Thanks from default"), ("acme", "Obrigado da Acme")):
        status, listed = call(two, workspace, "GET", "/v1/automations")
        assert status == 200 and [a["id"] for a in listed["automations"]] == ["invoice-paid-thank-you"]
        status, detail = call(two, workspace, "GET", "/v1/automations/invoice-paid-thank-you")
        assert detail["definition"]["steps"][0]["send_email"]["subject"] == subject

    # A change in one workspace leaves the other's alone
    assert call(two, "acme", "POST", "/v1/automations/invoice-paid-thank-you/deactivate")[0] == 200
    status, detail = call(two, "default", "GET", "/v1/automations/invoice-paid-thank-you")
    assert detail["status"] == "active"


def test_an_event_of_the_stacks_workspace_never_starts_anothers(two: Pipeline) -> None:
    create_acme(two)
    thank_you(two, "acme", "Obrigado da Acme")
    answer = two.post(sample("invoice-paid-thank-you", "evt_default_1"))  # no key context: the stack's own
    assert answer["events"][0]["runs"] == []
    two.settle()
    assert two.ses_sends == []


def test_bus_events_name_their_workspace_and_an_unknown_one_is_invalid(two: Pipeline) -> None:
    create_acme(two)
    thank_you(two, "acme", "Obrigado da Acme")
    thank_you(two, "default", "Thanks from default")
    bus = load_event("eventbridge_trigger.json")
    event = sample("invoice-paid-thank-you", "evt_bus_1")
    bus.update({"detail-type": event.pop("type"), "id": event.pop("id")})
    for workspace, subject in ((None, "Thanks from default"), ("acme", "Obrigado da Acme")):
        detail = dict(event, **({"workspace": workspace} if workspace else {}))
        answer = handlers()["ingest_trigger"](dict(bus, id=f"bus-{workspace}", detail=detail), LambdaContextStub())
        assert answer["status"] == "accepted" and len(answer["runs"]) == 1, answer
        two.settle()
        assert str(two.ses_sends[-1].mime()["Subject"]) == subject
    answer = handlers()["ingest_trigger"](
        dict(bus, id="bus-nowhere", detail=dict(event, workspace="nowhere")), LambdaContextStub()
    )
    assert answer["status"] == "invalid"
    assert [e["loc"] for e in answer["errors"]] == ["detail.workspace"]


def test_an_unsubscribe_link_suppresses_in_its_own_workspace_under_its_brand(two: Pipeline) -> None:
    create_acme(two)
    steps = definition("invoice-paid-thank-you")["steps"]
    steps[0]["send_email"].update(type="promotional", subject="News from Acme")
    call(two, "acme", "POST", "/v1/automations", definition("invoice-paid-thank-you", steps=steps))
    call(two, "acme", "POST", "/v1/events", sample("invoice-paid-thank-you", "evt_acme_2"))
    two.settle()
    [sent] = two.ses_sends
    link = str(sent.mime()["List-Unsubscribe"]).strip("<>")
    token = link.rsplit("/", 1)[1]
    status, page = two.http("stats_webhook", "GET", f"/u/{token}")
    assert status == 200 and "Acme Studio" in page
    status, page = two.http("stats_webhook", "POST", f"/u/{token}", "List-Unsubscribe=One-Click")
    assert status == 200, page
    status, acme = call(two, "acme", "GET", f"/v1/contacts/{quote('ana@example.com')}")
    assert status == 200 and acme["addresses"][0]["receives"]["promotional"] is False, acme
    status, default = call(two, "default", "GET", f"/v1/contacts/{quote('ana@example.com')}")
    assert status == 200 and default["addresses"], default
    assert all(a["receives"]["promotional"] for a in default["addresses"]), default


def test_a_workspace_sender_outside_the_stacks_allowed_senders_is_refused(stack: Stack) -> None:
    pipeline = Pipeline(stack, AwsTap())
    body = {
        "id": "beta",
        "name": "Beta",
        "sender": "hello@beta.example",
        "sender_name": "Beta",
        "brand_name": "Beta",
    }
    status, answer = call(pipeline, "", "POST", "/v1/workspaces", body, scopes=ROOT)
    assert status == 422 and [e["loc"] for e in answer["errors"]] == ["sender"], answer
    assert "AllowedSenders" in answer["errors"][0]["message"]
