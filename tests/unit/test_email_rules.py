"""The email rules exist once: addresses, recipients, email types and their unsubscribe headers, suppression
scopes. Every place that applies one (events, definitions, the test email, the sender, the engine, previews,
the contact view) gives the same answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from automations.adapters import ses
from automations.addresses import AddressError, check_address, is_address, normalize_address, wire_form
from automations.api.models import EmailTestIn
from automations.engine import EmailRequest, start_run
from automations.engine.email import (
    EMAIL_TYPES,
    NO_CONTACT_ADDRESS,
    ONE_CLICK,
    SUPPRESSION_SCOPES,
    UNSUBSCRIBE_SCOPES,
    has_unsubscribe,
    recipients,
    scope_blocks,
    subscriptions_of,
    unsubscribe_headers,
    unsubscribe_scope,
)
from automations.errors import DefinitionError
from automations.events import EventValidationError, parse_event
from automations.language import load_definition
from automations.language.model import EmailType, SendEmail
from automations.services import sending
from automations.services.preview import render_preview
from pydantic import ValidationError

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OWNER = "owner@acme.example"

VALID = [
    "ana@example.com",
    "  ana@example.com ",
    "Ana.Silva+news@Example.COM",
    "bounce@simulator.amazonses.com",
    "bounce+label@simulator.amazonses.com",
    "owner@acme.example",
    "o'brien@sub.acme.example",
    "a@bücher.de",
]
INVALID = [
    "a@b",
    "not-an-address",
    "",
    "ana@exa mple.com",
    "ana@example.com\r\nBcc: x@y.example",
    "ana@example.com\nBcc: x@y.example",
    "a..b@example.com",
    "zoë@example.com",
    '"a b"@example.com',
    "Ana <ana@example.com>",
    "x@localhost",
    "x@acme.test",
    "x@" + "a" * 250 + ".com",
]


def _definition(address: str) -> dict[str, Any]:
    return {
        "id": "welcome",
        "name": "Welcome",
        "trigger": {"event": "lead.created"},
        "steps": [
            {
                "send_email": {
                    "from": address,
                    "reply_to": address,
                    "to": {"additional": [address]},
                    "subject": "Hi",
                    "html": "<p>Hi</p>",
                }
            }
        ],
    }


# --- one email-address type ----------------------------------------------------------------------------------


@pytest.mark.parametrize("address", VALID)
def test_a_valid_address_is_valid_everywhere(address: str) -> None:
    trimmed = address.strip()
    assert is_address(address) and check_address(address) == trimmed
    event = parse_event({"type": "lead.created", "contact": {"email": address}})
    assert event.contact is not None and event.contact.email == trimmed
    step = load_definition(_definition(address)).steps[0].send_email
    assert step is not None and (step.from_, step.reply_to, step.to.additional) == (trimmed, trimmed, [trimmed])
    assert EmailTestIn(to=address).to == trimmed
    assert ses.check_address(address) == wire_form(address)


@pytest.mark.parametrize("address", INVALID)
def test_an_invalid_address_is_refused_everywhere_naming_the_field(address: str) -> None:
    assert not is_address(address)
    with pytest.raises(AddressError):
        check_address(address)
    with pytest.raises(EventValidationError) as refused_event:
        parse_event({"type": "lead.created", "contact": {"email": address}})
    assert [e.loc for e in refused_event.value.errors] == ["contact.email"]
    with pytest.raises(DefinitionError) as refused_definition:
        load_definition(_definition(address))
    assert sorted(e.loc for e in refused_definition.value.errors) == [
        "steps[0].send_email.from",
        "steps[0].send_email.reply_to",
        "steps[0].send_email.to.additional[0]",
    ]
    assert {e.message for e in refused_definition.value.errors} == {f"not an email address: '{address}'"}
    with pytest.raises(ValidationError) as refused_test:
        EmailTestIn(to=address)
    assert [e["loc"] for e in refused_test.value.errors()] == [("to",)]
    with pytest.raises(ses.SesRejectedError) as refused_send:
        ses.check_address(address)
    assert refused_send.value.code == "InvalidAddress"


def test_an_internationalized_domain_goes_to_ses_in_punycode() -> None:
    assert wire_form("ana@bücher.de") == "ana@xn--bcher-kva.de"
    assert wire_form(" Ana@Example.COM ") == "Ana@Example.COM"


def test_an_address_is_known_by_its_trimmed_lower_case_form() -> None:
    assert normalize_address(" Ana.Silva@Example.COM ") == "ana.silva@example.com"


# --- recipients: the engine and the preview ask the same rule -------------------------------------------------


def _spec(**to: Any) -> SendEmail:
    definition = _definition("owner@acme.example")
    definition["steps"][0]["send_email"]["to"] = to
    step = load_definition(definition).steps[0].send_email
    assert step is not None
    return step


def _engine_recipients(spec: SendEmail, contact: dict[str, Any]) -> list[str] | None:
    definition = _definition("owner@acme.example")
    definition["steps"][0]["send_email"] = spec.model_dump(by_alias=True, exclude_none=True)
    automation = load_definition(definition)
    event = {"id": "evt_1", "type": "lead.created", "contact": contact, "data": {}}
    outcome = start_run(automation, 1, event, now=NOW, run_id="run_1", workspace="default", person="c_1")
    requests = [e for e in outcome.effects if isinstance(e, EmailRequest)]
    return list(requests[0].recipients) if requests else None


@pytest.mark.parametrize(
    ("contact_email", "additional", "expected", "note"),
    [
        ("ana@example.com", ["ANA@Example.com", "owner@acme.example"], ["ana@example.com", "owner@acme.example"], None),
        (" ana@example.com ", ["owner@acme.example", "Owner@ACME.example"], ["ana@example.com", OWNER], None),
        ("ana@example.com\r\nBcc: x@y.example", ["owner@acme.example"], ["owner@acme.example"], NO_CONTACT_ADDRESS),
        ("ana@example.com\nBcc: x@y.example", ["owner@acme.example"], ["owner@acme.example"], NO_CONTACT_ADDRESS),
        ("a@b", ["owner@acme.example"], ["owner@acme.example"], NO_CONTACT_ADDRESS),
        (None, ["owner@acme.example"], ["owner@acme.example"], NO_CONTACT_ADDRESS),
    ],
)
def test_the_engine_and_the_preview_send_to_the_same_recipients(
    contact_email: str | None, additional: list[str], expected: list[str], note: str | None
) -> None:
    spec = _spec(trigger_contact=True, additional=additional)
    contact = {"id": "c_1", "email": contact_email}
    found = recipients(spec, {"contact": contact})
    assert (list(found.addresses), found.note) == (expected, note)
    assert render_preview(spec, {"contact": contact})["to"] == expected
    assert _engine_recipients(spec, contact) == expected


def test_without_any_usable_recipient_neither_sends_and_the_preview_says_why() -> None:
    spec = _spec(trigger_contact=True)
    contact = {"id": "c_1", "email": "ana@example.com\r\nBcc: x@y.example"}
    assert _engine_recipients(spec, contact) is None
    view = render_preview(spec, {"contact": contact})
    assert view["to"] == [] and NO_CONTACT_ADDRESS in view["note"]


# --- email types and their rules -----------------------------------------------------------------------------


def test_the_email_types_are_the_language_s() -> None:
    assert EMAIL_TYPES == get_args(EmailType) == ("promotional", "transactional", "business_critical")
    assert [t for t in EMAIL_TYPES if has_unsubscribe(t)] == ["promotional"]


def test_the_sender_accepts_exactly_the_email_types() -> None:
    body = {
        "workspace": "default",
        "automation_id": "a",
        "run_id": "run_1",
        "step": "s",
        "recipients": ["ana@example.com"],
        "subject": "Hi",
        "html": "<p>Hi</p>",
    }
    for kind in EMAIL_TYPES:
        assert sending.request_from_body({**body, "type": kind}).type == kind
    with pytest.raises(sending.InvalidEmailMessageError):
        sending.request_from_body({**body, "type": "newsletter"})


@pytest.mark.parametrize("kind", EMAIL_TYPES)
def test_preview_and_sender_carry_the_same_unsubscribe_headers(kind: str) -> None:
    link = "https://u.example/u/token"
    expected = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": ONE_CLICK} if kind == "promotional" else {}
    assert unsubscribe_headers(kind, link) == expected
    spec = _spec(trigger_contact=True).model_copy(update={"type": kind})
    assert render_preview(spec, {"contact": {"email": "ana@example.com"}}, link)["headers"] == expected
    request = EmailRequest("default", "a", 1, "run_1", "s", kind, ("ana@example.com",), "Hi", "<p>Hi</p>", "Hi")
    headers = sending.email_headers(request, link)
    assert {k: v for k, v in headers.items() if k.startswith("List-")} == expected


def test_what_each_suppression_stops() -> None:
    stops = {kind: [t for t in EMAIL_TYPES if scope_blocks(scope, t)] for kind, scope in SUPPRESSION_SCOPES.items()}
    assert stops == {
        "bounce": list(EMAIL_TYPES),
        "complaint": list(EMAIL_TYPES),
        "unsubscribe": ["promotional"],
    }


def test_what_each_preference_level_stops_and_the_subscriptions_it_means() -> None:
    stops = {scope: [t for t in EMAIL_TYPES if scope_blocks(scope, t)] for scope in UNSUBSCRIBE_SCOPES}
    assert stops == {"promotional": ["promotional"], "non_essential": ["promotional", "transactional"]}
    assert all(scope_blocks("a scope nobody knows", t) for t in EMAIL_TYPES)
    for scope in (None, *UNSUBSCRIBE_SCOPES):
        assert unsubscribe_scope(subscriptions_of(scope)) == scope
    assert subscriptions_of("non_essential") == {"promotional": False, "transactional": False}
    assert unsubscribe_scope({"promotional": True, "transactional": False}) == "non_essential"
