"""Standard Webhooks signing: secrets, signatures a stock verifier accepts (rotation too), and the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from automations.errors import AutomationsError
from automations.services import webhook_signing
from automations.services.webhook_signing import (
    WebhookSecretError,
    WebhookSigningError,
    backoff,
    gives_up,
    headers,
    is_secret,
    new_secret,
    secret_key,
    sign,
    signature_header,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

#: The example of the Standard Webhooks specification's reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = json.dumps({"run": "r1", "step": "notify", "data": {"name": "Zoë"}}, ensure_ascii=False).encode()


def test_a_signature_is_the_specification_s() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_a_signature_is_the_hmac_of_id_timestamp_and_body() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"run-1:step-2.1700000000." + BODY, hashlib.sha256).digest()
    assert sign(secret, "run-1:step-2", 1700000000, BODY) == "v1," + base64.b64encode(digest).decode()


def test_new_secrets_are_random_and_well_formed() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(secret_key(secret)) == webhook_signing.NEW_SECRET_BYTES
        assert is_secret(secret)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # too short
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
        "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # the URL-safe alphabet
    ],
)
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(WebhookSecretError):
        sign(secret, "id", 1, b"{}")
    assert not is_secret(secret)


def test_secrets_of_24_and_64_bytes_and_unpadded_base64_are_accepted() -> None:
    for size in (24, 64):
        assert len(secret_key("whsec_" + base64.b64encode(b"k" * size).decode())) == size
    padded = base64.b64encode(b"k" * 25).decode()
    assert padded.endswith("=")
    assert secret_key("whsec_" + padded.rstrip("=")) == b"k" * 25


def test_errors_are_typed() -> None:
    assert issubclass(WebhookSecretError, AutomationsError)
    assert issubclass(WebhookSigningError, AutomationsError)
    with pytest.raises(WebhookSigningError):
        signature_header([], "id", 1, b"{}")
    with pytest.raises(WebhookSigningError):
        signature_header(SPEC_SECRET, "id", 1, b"{}")  # one text, not a list
    for bad_id in ("", "a b", "a\r\nb", "é"):
        with pytest.raises(WebhookSigningError):
            sign(SPEC_SECRET, bad_id, 1, b"{}")
    for bad_timestamp in (-1, 1.5, True, "1"):
        with pytest.raises(WebhookSigningError):
            sign(SPEC_SECRET, "id", bad_timestamp, b"{}")  # type: ignore[arg-type]


def test_the_headers_of_a_delivery() -> None:
    secret = new_secret()
    signed = headers([secret], "run-1:step-2", 1700000000, BODY)
    assert signed == {
        "webhook-id": "run-1:step-2",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(secret, "run-1:step-2", 1700000000, BODY),
        "Idempotency-Key": "run-1:step-2",
        "content-type": "application/json",
    }


def test_a_stock_verifier_accepts_the_headers() -> None:
    secret = new_secret()
    now = int(time.time())
    signed = headers([secret], "run-1:step-2", now, BODY)
    assert Webhook(secret).verify(BODY, signed) == json.loads(BODY)
    # Any change to the body, the id or the timestamp, or another secret, fails
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"r1", b"r2"), signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**signed, "webhook-id": "run-1:step-3"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**signed, "webhook-timestamp": str(now - 1)})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    new, old = new_secret(), new_secret()
    now = int(time.time())
    signed = headers([new, old], "run-1:step-2", now, BODY)
    signatures = signed["webhook-signature"].split(" ")
    assert signatures == [sign(new, "run-1:step-2", now, BODY), sign(old, "run-1:step-2", now, BODY)]
    assert Webhook(new).verify(BODY, signed) == json.loads(BODY)
    assert Webhook(old).verify(BODY, signed) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed)
    # A secret given twice signs once
    assert signature_header([new, new], "id", now, BODY) == sign(new, "id", now, BODY)


def test_the_id_is_stable_across_attempts_and_the_timestamp_is_each_attempt_s() -> None:
    secret = new_secret()
    first = headers([secret], "run-1:step-2", 1700000000, BODY)
    second = headers([secret], "run-1:step-2", 1700000030, BODY)
    assert first["webhook-id"] == second["webhook-id"] == second["Idempotency-Key"]
    assert first["webhook-signature"] != second["webhook-signature"]


def test_the_retry_schedule_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [backoff(attempt) for attempt in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(10_000) == 3600
    for bad in (0, -1, True):
        with pytest.raises(ValueError):
            backoff(bad)


def test_a_delivery_gives_up_24_hours_after_its_first_attempt() -> None:
    first = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert not gives_up(first, first)
    assert not gives_up(first, first + timedelta(hours=23, minutes=59, seconds=59))
    assert gives_up(first, first + timedelta(hours=24))
    assert gives_up(first, first + timedelta(days=3))
    # The schedule makes about 30 attempts in those 24 hours
    elapsed, attempts = 0, 1
    while not gives_up(first, first + timedelta(seconds=elapsed + backoff(attempts))):
        elapsed += backoff(attempts)
        attempts += 1
    assert 25 <= attempts <= 35
