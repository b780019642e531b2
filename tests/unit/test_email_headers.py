"""Building emails: header values on one line, tags SES accepts, unsubscribe links and footers."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest
from automations.adapters.ses import (
    OutgoingEmail,
    SesRejectedError,
    SesTransientError,
    build_mime,
    classify,
)
from automations.engine.effects import EmailRequest
from automations.engine.email import clean_header, clean_header_name, sanitize_tag
from automations.language.templates import UNSUBSCRIBE_PLACEHOLDER
from automations.services.sending import email_headers, email_tags, personalize
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LINK = "https://api.acme.example/u/abc.def"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Invoice\r\nBcc: x@y.z", "Invoice Bcc: x@y.z"),
        ("a\nb\rc\x00d\te", "a b c d e"),
        ("  lots   of   space ", "lots of space"),
        ("line\u2028separator", "line separator"),
        (None, ""),
    ],
)
def test_header_values_lose_line_breaks_and_controls(raw: str | None, clean: str) -> None:
    assert clean_header(raw) == clean


@given(st.text())
def test_no_header_value_ever_keeps_a_line_break(value: str) -> None:
    cleaned = clean_header(value)
    assert "\r" not in cleaned and "\n" not in cleaned


def test_header_names_must_be_field_names() -> None:
    assert clean_header_name("X-Campaign") == "X-Campaign"
    assert clean_header_name("X-Evil\r\nBcc") is None
    assert clean_header_name("Has Space") is None
    assert clean_header_name("With:Colon") is None


@given(st.text())
def test_tag_values_only_use_what_ses_accepts(value: str) -> None:
    tag = sanitize_tag(value)
    assert tag and len(tag) <= 256
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in tag)


def test_our_ids_are_kept_as_they_are() -> None:
    for value in ("default", "overdue-invoice-reminder", "run_01jd5abc", "step-2-then-1", "msg_abc"):
        assert sanitize_tag(value) == value
    assert sanitize_tag("a.b@c d") == "a_b_c_d"


@given(st.text(), st.text())
def test_a_built_message_has_no_header_from_data(name: str, subject: str) -> None:
    mail = OutgoingEmail(
        from_address="hello@acme.example",
        from_name=name,
        to="ana@example.com",
        subject=subject,
        html="<p>x</p>",
        text="x",
        headers={"X-Note": subject},
    )
    parsed = email.message_from_bytes(build_mime(mail, NOW), policy=policy.default)
    assert sorted(set(parsed.keys())) == sorted(
        {
            "From",
            "To",
            "Subject",
            "Date",
            "MIME-Version",
            "Content-Type",
            *(["X-Note"] if clean_header(subject) else []),
        }
    )


def test_a_built_message_is_seven_bit_with_long_unsubscribe_header_on_one_line() -> None:
    url = "https://api.acme.example/u/" + "W" * 180 + ".sig"
    mail = OutgoingEmail(
        from_address="hello@acme.example",
        from_name="Acme Stüdio",
        to="ana@example.com",
        reply_to="accounts@acme.example",
        subject="Überfällig",
        html="<p>Olá " + "x" * 300 + "</p>",
        text="Olá",
        headers={"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    raw = build_mime(mail, NOW)
    assert all(byte < 128 for byte in raw)
    assert f"List-Unsubscribe: <{url}>".encode() in raw
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert str(parsed["From"]) == "Acme Stüdio <hello@acme.example>"
    assert parsed["Subject"] == "Überfällig"
    assert parsed.get_body(("html",)).get_content().startswith("<p>Olá xxx")


def test_a_reserved_header_cannot_be_overridden() -> None:
    mail = OutgoingEmail(
        from_address="hello@acme.example",
        to="ana@example.com",
        subject="s",
        html="h",
        text="t",
        headers={"From": "evil@x.example", "Bcc": "evil@x.example"},
    )
    parsed = email.message_from_bytes(build_mime(mail, NOW), policy=policy.default)
    assert parsed["From"] == "hello@acme.example" and parsed["Bcc"] is None


def test_an_unusable_address_is_a_final_refusal() -> None:
    mail = OutgoingEmail(from_address="not an address", to="ana@example.com", subject="s", html="h", text="t")
    with pytest.raises(SesRejectedError):
        build_mime(mail, NOW)


def _request(**overrides: object) -> EmailRequest:
    values: dict[str, object] = {
        "workspace": "default",
        "automation_id": "a",
        "version": 3,
        "run_id": "run_1",
        "step": "s",
        "type": "promotional",
        "recipients": ("ana@example.com",),
        "subject": "s",
        "html": "h",
        "text": "t",
    }
    values.update(overrides)
    return EmailRequest(**values)  # type: ignore[arg-type]


def test_promotional_mail_gets_rfc8058_headers_and_others_do_not() -> None:
    promo = email_headers(_request(headers={"List-Unsubscribe-Post": "x", "X-A": "b\r\nc"}), LINK)
    assert promo == {
        "X-A": "b c",
        "List-Unsubscribe": f"<{LINK}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    transactional = email_headers(_request(type="transactional", headers={"List-Unsubscribe-Post": "x"}), LINK)
    assert transactional == {}


def test_tags_name_the_email_and_mark_tests() -> None:
    tags = email_tags(_request(), "msg_1")
    assert tags == {
        "workspace": "default",
        "automation": "a",
        "version": "3",
        "run": "run_1",
        "step": "s",
        "message": "msg_1",
        "type": "promotional",
    }
    assert email_tags(_request(test=True), "msg_1")["test"] == "true"


def test_personalize_replaces_the_placeholder_or_adds_a_footer() -> None:
    html, text = personalize(f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">x</a>', "x", LINK, promotional=True)
    assert html == f'<a href="{LINK}">x</a>'
    assert text.endswith(f"Unsubscribe: {LINK}\n")
    html, _ = personalize("<html><body><p>x</p></body></html>", "x", LINK, promotional=True)
    assert html.index(LINK) < html.index("</body>")
    html, text = personalize("<p>x</p>", "x", LINK, promotional=False)
    assert (html, text) == ("<p>x</p>", "x")


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "op")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("TooManyRequestsException", 429, SesTransientError),
        ("LimitExceededException", 400, SesTransientError),
        ("InternalFailure", 500, SesTransientError),
        ("ServiceUnavailable", 503, SesTransientError),
        ("MessageRejected", 400, SesRejectedError),
        ("MailFromDomainNotVerifiedException", 400, SesRejectedError),
        ("AccountSuspendedException", 400, SesRejectedError),
        ("SendingPausedException", 400, SesRejectedError),
        ("NotFoundException", 404, SesRejectedError),
        ("BadRequestException", 400, SesRejectedError),
    ],
)
def test_refusals_are_classified(code: str, status: int, kind: type) -> None:
    error = classify(_client_error(code, status))
    assert isinstance(error, kind) and error.code == code
