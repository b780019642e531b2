"""Unsubscribing on the in-memory ports: links signed with the secret read through the Secrets port, the one-click
POST (RFC 8058) that suppresses promotional mail once, and the link of a sent email working end to end (the
preferences page's levels: tests/unit/test_email_preferences.py)."""

from __future__ import annotations

import pytest
from automations.ports import NotFoundError
from automations.services import unsubscribe
from automations.services.unsubscribe import InvalidTokenError, UnsubscribeSecretError

from tests.support.mail import BASE_URL, SECRET, SECRET_ARN, Mailroom, mail_settings, request


@pytest.fixture
def room() -> Mailroom:
    return Mailroom()


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_link_round_trips_to_its_address_and_automation(room: Mailroom) -> None:
    # Given Ana's link for the welcome automation
    url = unsubscribe.unsubscribe_url(room.settings, room.deps.secrets, " Ana@Example.com", "welcome")
    # Then it is under the base URL, says nothing of the address, and reads back to it
    # (the token is random-looking base64: three letters such as "ana" may turn up in it by chance, the address not)
    assert url.startswith(BASE_URL + "/") and "ana@example" not in url.lower() and "example.com" not in url.lower()
    claim = unsubscribe.read_token(room.settings, room.deps.secrets, token_of(url))
    assert (claim.workspace, claim.address, claim.automation_id) == ("default", "ana@example.com", "welcome")
    assert unsubscribe.verify_token(SECRET, token_of(url)) == claim


def test_a_link_names_its_workspace_and_another_secret_refuses_it(room: Mailroom) -> None:
    # A link made in workspace "elsewhere" reads back to it (its suppressions are the ones it changes)
    elsewhere = room.settings.model_copy(update={"workspace": "elsewhere"})
    url = unsubscribe.unsubscribe_url(elsewhere, room.deps.secrets, "ana@example.com", "welcome")
    assert unsubscribe.read_token(room.settings, room.deps.secrets, token_of(url)).workspace == "elsewhere"
    with pytest.raises(InvalidTokenError, match="another workspace"):
        unsubscribe.verify_token(SECRET, token_of(url), "default")
    room.fakes.secrets.values[SECRET_ARN] = "another secret"
    with pytest.raises(InvalidTokenError):
        unsubscribe.read_token(room.settings, room.deps.secrets, token_of(url))


def test_the_secret_must_be_configured_and_not_empty(room: Mailroom) -> None:
    with pytest.raises(UnsubscribeSecretError, match="UNSUBSCRIBE_SECRET_ARN"):
        unsubscribe.signing_secret(mail_settings(unsubscribe_secret_arn=""), room.deps.secrets)
    room.fakes.secrets.values[SECRET_ARN] = ""
    with pytest.raises(UnsubscribeSecretError, match="empty"):
        unsubscribe.signing_secret(room.settings, room.deps.secrets)
    del room.fakes.secrets.values[SECRET_ARN]
    with pytest.raises(NotFoundError):
        unsubscribe.signing_secret(room.settings, room.deps.secrets)


def test_one_click_suppresses_promotional_mail_once(room: Mailroom) -> None:
    # Given Ana's link
    token = token_of(unsubscribe.unsubscribe_url(room.settings, room.deps.secrets, "ana@example.com", "welcome"))
    # When she unsubscribes with one click, twice
    first = unsubscribe.one_click(room.deps, token, room.now)
    again = unsubscribe.one_click(room.deps, token, room.now)
    # Then promotional mail to her is suppressed, counted once for the automation
    assert first == again and first.address == "ana@example.com"
    [suppression] = room.deps.suppressions.of("ana@example.com")
    assert (suppression.kind, suppression.scope, suppression.source, suppression.automation_id) == (
        "unsubscribe",
        "promotional",
        "one-click",
        "welcome",
    )
    assert room.counted() == {"unsubscribed": 1}


def test_a_forged_one_click_changes_nothing(room: Mailroom) -> None:
    with pytest.raises(InvalidTokenError):
        unsubscribe.one_click(room.deps, "forged.token", room.now)
    assert room.deps.suppressions.of("ana@example.com") == []


def test_the_link_in_a_sent_promotional_email_unsubscribes_from_promotional_mail_only(room: Mailroom) -> None:
    # Given a promotional email sent to Ana
    room.send(request(type="promotional"))
    [prepared] = room.fakes.email_sender.sent
    link = prepared.email.headers["List-Unsubscribe"][1:-1]
    # When she uses its one-click link
    assert unsubscribe.is_one_click("List-Unsubscribe=One-Click")
    unsubscribe.one_click(room.deps, token_of(link), room.now)
    # Then promotional mail no longer goes to her, transactional mail still does
    assert room.send(request("run_2", type="promotional"))[0].state == "skipped"
    assert room.send(request("run_3", type="transactional"))[0].state == "sent"
    assert room.counted() == {"sent": 2, "unsubscribed": 1, "suppressed": 1}


def test_the_pages_never_show_the_whole_address(room: Mailroom) -> None:
    token = token_of(unsubscribe.unsubscribe_url(room.settings, room.deps.secrets, "ana.silva@example.com", "w"))
    shown = unsubscribe.preferences(room.deps, unsubscribe.read_token(room.settings, room.deps.secrets, token))
    for page in (unsubscribe.preferences_page(shown), unsubscribe.saved_page(shown)):
        assert "a***@example.com" in page and "ana.silva" not in page
