"""Unsubscribe tokens: signed, tamper-evident, URL-safe; and the one-click body."""

from __future__ import annotations

import base64
import json

import pytest
from automations.services.unsubscribe import (
    InvalidTokenError,
    is_one_click,
    masked,
    sign_token,
    unsubscribe_url,
    verify_token,
)
from automations.settings import Settings
from hypothesis import given
from hypothesis import strategies as st

SECRET = "s3cret"


def test_a_token_round_trips_and_normalizes_the_address() -> None:
    token = sign_token(SECRET, "default", "  Ana.Silva+news@Example.COM ", "we-miss-you")
    claim = verify_token(SECRET, token, "default")
    assert (claim.workspace, claim.address, claim.automation_id) == (
        "default",
        "ana.silva+news@example.com",
        "we-miss-you",
    )


def test_a_token_is_url_safe() -> None:
    token = sign_token(SECRET, "default", "ä/+?&=#@example.com", "a")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert verify_token(SECRET, token).address == "ä/+?&=#@example.com"


def test_another_secret_or_workspace_is_refused() -> None:
    token = sign_token(SECRET, "default", "ana@example.com", "a")
    with pytest.raises(InvalidTokenError):
        verify_token("other", token)
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token, "another-workspace")
    with pytest.raises(InvalidTokenError):
        verify_token("", token)


def test_changing_the_payload_breaks_the_signature() -> None:
    token = sign_token(SECRET, "default", "ana@example.com", "a")
    payload, signature = token.split(".")
    forged_body = json.dumps(["default", "bob@example.com", "a"], separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(forged_body).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, f"{forged}.{signature}")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, f"{payload}.{flipped}")


@pytest.mark.parametrize("token", ["", ".", "a.b.c", "abc", "a" * 5000 + ".b", "!!!.???", "YQ.YQ"])
def test_garbled_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token)


@given(st.text(max_size=300))
def test_no_random_string_is_a_valid_token(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token)


@given(st.emails(), st.from_regex(r"[a-z0-9][a-z0-9_-]{0,40}", fullmatch=True))
def test_every_address_and_automation_round_trip(address: str, automation: str) -> None:
    claim = verify_token(SECRET, sign_token(SECRET, "default", address, automation), "default")
    assert claim.address == address.strip().lower() and claim.automation_id == automation


def test_the_url_uses_the_configured_base() -> None:
    settings = Settings(unsubscribe_base_url="https://api.acme.example/u/", unsubscribe_secret=SECRET)
    url = unsubscribe_url(settings, "ana@example.com", "a")
    assert url.startswith("https://api.acme.example/u/") and "/u//" not in url
    assert verify_token(SECRET, url.rsplit("/", 1)[1]).address == "ana@example.com"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("List-Unsubscribe=One-Click", True),
        ("List-Unsubscribe=One-Click\r\n", True),
        (
            '--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n',
            True,
        ),
        ("List-Unsubscribe=Yes", False),
        ("", False),
        (None, False),
    ],
)
def test_the_one_click_body(body: str | None, expected: bool) -> None:
    assert is_one_click(body) is expected


def test_masked_addresses() -> None:
    assert masked("ana@example.com") == "a***@example.com"
    assert masked("nonsense") == "***"
