"""Unsubscribe tokens: opaque, signed, tamper-evident, URL-safe; the secret they need; and the one-click body."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from automations.adapters.secrets import SecretsManagerSecrets
from automations.services.unsubscribe import (
    InvalidTokenError,
    UnsubscribeSecretError,
    is_one_click,
    masked,
    read_token,
    sign_token,
    signing_secret,
    unsubscribe_url,
    verify_token,
)
from automations.settings import Settings, require
from aws_lambda_powertools.utilities import parameters
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from pydantic import ValidationError

from tests.conftest import ROOT
from tests.support.settings import ENVIRON, settings_with

SECRET = "s3cret"
URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _bytes_of(token: str) -> bytes:
    return b"".join(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))


def test_a_token_round_trips_and_normalizes_the_address() -> None:
    token = sign_token(SECRET, "default", "  Ana.Silva+news@Example.COM ", "we-miss-you")
    claim = verify_token(SECRET, token, "default")
    assert (claim.workspace, claim.address, claim.automation_id) == (
        "default",
        "ana.silva+news@example.com",
        "we-miss-you",
    )


@pytest.mark.parametrize(
    "address", ["ana.silva@example.com", "Bob.Example+promo@Acme.Example", "zoë.müller@exämple.ch"]
)
def test_a_token_reveals_neither_the_address_nor_the_workspace(address: str) -> None:
    token = sign_token(SECRET, "studio-north", address, "we-miss-you")
    decoded = _bytes_of(token)
    local, _, domain = address.lower().partition("@")
    for part in (address, address.lower(), local, domain, "studio-north", "we-miss-you"):
        assert part not in token.lower()
        assert part.encode() not in decoded.lower()
    assert verify_token(SECRET, token, "studio-north").address == address.lower()


def test_tokens_are_fresh_and_do_not_tell_the_address_length() -> None:
    first = sign_token(SECRET, "default", "ana@example.com", "a")
    second = sign_token(SECRET, "default", "ana@example.com", "a")
    assert first != second  # a fresh nonce each time: two links to one person do not look alike
    assert verify_token(SECRET, first) == verify_token(SECRET, second)
    short = sign_token(SECRET, "default", "ana@example.com", "a")
    longer = sign_token(SECRET, "default", "alexandra@example.com", "a")
    assert len(short) == len(longer)


def test_a_token_is_url_safe() -> None:
    token = sign_token(SECRET, "default", "ä/+?&=#@example.com", "a")
    assert set(token) <= URL_SAFE
    assert verify_token(SECRET, token).address == "ä/+?&=#@example.com"


def test_another_secret_or_workspace_is_refused() -> None:
    token = sign_token(SECRET, "default", "ana@example.com", "a")
    with pytest.raises(InvalidTokenError):
        verify_token("other", token)
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token, "another-workspace")
    with pytest.raises(InvalidTokenError):
        verify_token("", token)


def test_changing_any_part_breaks_the_signature() -> None:
    ana = sign_token(SECRET, "default", "ana@example.com", "a")
    bob = sign_token(SECRET, "default", "bob@example.com", "a")
    ana_nonce, ana_sealed = ana.split(".")
    bob_nonce, bob_sealed = bob.split(".")
    for forged in (f"{bob_nonce}.{ana_sealed}", f"{ana_nonce}.{bob_sealed}"):
        with pytest.raises(InvalidTokenError):
            verify_token(SECRET, forged)
    sealed = bytearray(base64.urlsafe_b64decode(ana_sealed + "=" * (-len(ana_sealed) % 4)))
    for index in (0, len(sealed) // 2, len(sealed) - 1):
        flipped = bytearray(sealed)
        flipped[index] ^= 0x01
        altered = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(InvalidTokenError):
            verify_token(SECRET, f"{ana_nonce}.{altered}")
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, f"{ana_nonce}.{ana_sealed}A")


def test_the_old_clear_text_tokens_are_refused() -> None:
    body = json.dumps(["default", "ana@example.com", "a"], separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, f"{payload}.{'A' * 43}")


@pytest.mark.parametrize(
    "token", ["", ".", "a.b.c", "abc", "a" * 5000 + ".b", "!!!.???", "YQ.YQ", "AAAAAAAAAAAAAAAA.YQ"]
)
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


# --- the secret: from Secrets Manager by ARN, never a default ---------------------------------------------


@pytest.fixture
def secret_arn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A secret in moto's Secrets Manager, as the template's UnsubscribeSecret (generated value)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        yield str(client.create_secret(Name="unsubscribe-unit", SecretString=SECRET)["ARN"])


def test_the_url_uses_the_configured_base_and_the_secret_read_by_arn(secret_arn: str) -> None:
    settings = settings_with(unsubscribe_base_url="https://api.acme.example/u/", unsubscribe_secret_arn=secret_arn)
    url = unsubscribe_url(settings, SecretsManagerSecrets(), "ana@example.com", "a")
    assert url.startswith("https://api.acme.example/u/") and "/u//" not in url
    token = url.rsplit("/", 1)[1]
    assert "ana@example.com" not in url and "default" not in token
    assert verify_token(SECRET, token).address == "ana@example.com"
    assert read_token(settings, SecretsManagerSecrets(), token).address == "ana@example.com"
    elsewhere = settings.model_copy(update={"workspace": "another"})
    assert read_token(elsewhere, SecretsManagerSecrets(), token).workspace == "default"
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, token, "another")


def test_the_secret_is_read_once_not_per_link(secret_arn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(unsubscribe_base_url="https://u.example/u", unsubscribe_secret_arn=secret_arn)
    secrets = SecretsManagerSecrets()
    assert signing_secret(settings, secrets) == SECRET
    provider = parameters.base.DEFAULT_PROVIDERS["secrets"]
    reads: list[str] = []
    monkeypatch.setattr(provider, "_get", lambda name, **options: reads.append(name) or "changed")
    for _ in range(20):
        assert verify_token(SECRET, unsubscribe_url(settings, secrets, "ana@example.com", "a").rsplit("/", 1)[1])
    assert reads == []


def test_no_secret_configured_is_an_error_naming_the_variable() -> None:
    settings = settings_with(unsubscribe_base_url="https://u.example/u")
    with pytest.raises(UnsubscribeSecretError, match="UNSUBSCRIBE_SECRET_ARN"):
        unsubscribe_url(settings, SecretsManagerSecrets(), "ana@example.com", "a")
    with pytest.raises(UnsubscribeSecretError, match="UNSUBSCRIBE_SECRET_ARN"):
        read_token(settings, SecretsManagerSecrets(), sign_token(SECRET, "default", "ana@example.com", "a"))
    with pytest.raises(UnsubscribeSecretError):
        sign_token("", "default", "ana@example.com", "a")


def test_in_lambda_a_function_without_the_secret_fails_at_start_naming_the_variable() -> None:
    lambda_env = {**ENVIRON, "AWS_LAMBDA_FUNCTION_NAME": "automations-dev-send-email", "WORKSPACE": "default"}
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET_ARN is not set"):
        require("UNSUBSCRIBE_SECRET_ARN", environ=lambda_env)
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET_ARN is not set"):
        require("UNSUBSCRIBE_SECRET_ARN", environ={**lambda_env, "UNSUBSCRIBE_SECRET_ARN": ""})
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:automations-dev-unsubscribe-AbCdEf"
    require("UNSUBSCRIBE_SECRET_ARN", environ={**lambda_env, "UNSUBSCRIBE_SECRET_ARN": arn})
    require("UNSUBSCRIBE_SECRET_ARN", environ={"WORKSPACE": "default"})  # not Lambda: checked where it is used
    with pytest.raises(KeyError):
        require("UNSUBSCRIBE_SECRET", environ=lambda_env)
    with pytest.raises(ValidationError, match="must be the ARN") as refused:
        Settings.from_environ({**ENVIRON, "UNSUBSCRIBE_SECRET_ARN": "the-secret-value-itself"})
    assert "the-secret-value-itself" not in str(refused.value)  # a value put there by mistake is not repeated


@pytest.mark.parametrize("function", ["send_email", "manage_api", "stats_webhook"])
def test_the_functions_that_sign_or_read_links_require_the_secret_at_start(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"automations-dev-{function}")
    monkeypatch.delenv("UNSUBSCRIBE_SECRET_ARN", raising=False)
    path: Path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{function}_app_start", path)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET_ARN"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_no_public_default_secret_remains() -> None:
    assert "unsubscribe_secret" not in Settings.model_fields
    assert settings_with().unsubscribe_secret_arn == ""


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
