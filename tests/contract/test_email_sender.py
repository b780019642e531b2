"""EmailSender: an unusable email is refused before any send; each send is one attempt, and its failure says
whether a later attempt may succeed, never can, or must not be made."""

from __future__ import annotations

import pytest
from automations.adapters import ses
from automations.ports import OutgoingEmail, Ports, SendRejectedError

from tests.contract.conftest import PROVIDER_FAILURES, SENDER, START, Backend


def email(**changes: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "from_address": SENDER,
        "from_name": "Acme",
        "to": "ana@example.com",
        "subject": "Hi Ana",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "headers": {"List-Unsubscribe": "<https://api.acme.example/u/t>"},
        "tags": {"run": "run_1", "message": "msg_1"},
    }
    fields.update(changes)
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


def test_a_prepared_email_is_sent_and_named_by_the_provider(ports: Ports) -> None:
    prepared = ports.email_sender.prepare(email(), START)

    first = ports.email_sender.submit(prepared)
    second = ports.email_sender.submit(ports.email_sender.prepare(email(to="bo@example.com"), START))

    assert prepared.email == email()
    assert first and second and first != second


@pytest.mark.parametrize("changes", [{"to": "not an address"}, {"from_address": "nobody"}, {"reply_to": "a@b"}])
def test_an_unusable_address_is_refused_when_prepared(ports: Ports, changes: dict[str, str]) -> None:
    with pytest.raises(SendRejectedError):
        ports.email_sender.prepare(email(**changes), START)


def test_a_sender_the_provider_does_not_know_is_refused(ports: Ports) -> None:
    prepared = ports.email_sender.prepare(email(from_address="news@elsewhere.example"), START)

    with pytest.raises(SendRejectedError):
        ports.email_sender.submit(prepared)


@pytest.mark.parametrize("kind", sorted(PROVIDER_FAILURES))
def test_a_failed_send_says_what_may_follow(backend: Backend, ports: Ports, kind: str) -> None:
    prepared = ports.email_sender.prepare(email(), START)
    backend.provider_fails(kind)

    with pytest.raises(PROVIDER_FAILURES[kind][1]):
        ports.email_sender.submit(prepared)
    assert ports.email_sender.submit(prepared)  # one failure only: the next attempt goes through


def test_the_ses_adapters_errors_are_the_ports() -> None:
    assert (ses.SesTransientError, ses.SesRejectedError, ses.SesOutcomeUnknownError) == tuple(
        PROVIDER_FAILURES[kind][1] for kind in ("throttled", "refused", "reply_lost")
    )


def test_the_account_rate_and_the_longest_call_are_known(ports: Ports) -> None:
    assert ports.email_sender.max_send_rate() > 0
    assert 0 < ports.email_sender.call_seconds <= 60
