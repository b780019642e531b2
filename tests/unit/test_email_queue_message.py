"""A message of the email queue (``EmailMessage``): what the engine queues reads back as the same request, and a
message that no retry can make sendable is refused, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from automations.engine.effects import EmailRequest
from automations.language.templates import html_to_text
from automations.services import sending

REQUEST = EmailRequest(
    workspace="default",
    automation_id="we-miss-you",
    version=3,
    run_id="run_0001",
    step="miss-you",
    type="promotional",
    recipients=("ana@example.com", "owner@acme.example"),
    subject="We miss you, Ana",
    html="<p>Hi Ana</p>",
    text="Hi Ana",
    from_name="Acme Studio",
    from_address="hello@acme.example",
    reply_to="accounts@acme.example",
    person="c_42",
    headers={"X-Campaign": "spring"},
    unsubscribe=True,
    test=True,
)


def test_every_field_the_engine_queues_reads_back_as_the_same_request() -> None:
    message = REQUEST.as_message()
    assert sending.request_from_body(message) == REQUEST
    assert sending.request_from_body(json.dumps(message)) == REQUEST
    assert sending.request_from_body(json.dumps(message).encode()) == REQUEST
    assert sending.EmailMessage.model_validate_json(json.dumps(message)).request() == REQUEST


def test_the_required_fields_are_the_model_s() -> None:
    assert sending.REQUIRED_FIELDS == (
        "workspace",
        "automation_id",
        "run_id",
        "step",
        "type",
        "recipients",
        "subject",
        "html",
    )


def test_what_a_message_may_leave_out_or_empty_reads_as_before() -> None:
    message = {
        **REQUEST.as_message(),
        "version": None,
        "text": "",
        "from_name": "",
        "reply_to": None,
        "headers": None,
        "unsubscribe": 0,
        "test": "yes",
        "run_id": 42,
        "recipients": ["ana@exa mple.com"],  # "@" is all the queue checks: SES refuses such an address itself
        "unknown": "ignored",
    }
    del message["person"]
    request = sending.request_from_body(message)
    assert (request.version, request.from_name, request.reply_to, request.person) == (0, None, None, None)
    assert request.text == html_to_text(REQUEST.html)
    assert (request.headers, request.unsubscribe, request.test, request.run_id) == ({}, False, True, "42")
    assert request.recipients == ("ana@exa mple.com",)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1]", "input should be an object"),
        ({**REQUEST.as_message(), "subject": ""}, "subject: string should have at least 1 character"),
        ({k: v for k, v in REQUEST.as_message().items() if k != "html"}, "html: field required"),
        ({**REQUEST.as_message(), "recipients": []}, "recipients: list should have at least 1 item"),
        ({**REQUEST.as_message(), "recipients": ["ana"]}, "recipients[0]: not an email address"),
        ({**REQUEST.as_message(), "type": "newsletter"}, "type: input should be 'promotional'"),
        ({**REQUEST.as_message(), "headers": "X: y"}, "headers: input should be a valid dictionary"),
        ({**REQUEST.as_message(), "version": "three"}, "version: input should be a valid integer"),
    ],
    ids=["not-json", "not-an-object", "empty", "missing", "no-recipient", "no-address", "type", "headers", "version"],
)
def test_a_message_no_retry_can_make_sendable_is_refused_naming_the_field(body: Any, reason: str) -> None:
    with pytest.raises(sending.InvalidEmailMessageError) as refused:
        sending.request_from_body(body)
    assert reason in str(refused.value)
