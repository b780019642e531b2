"""Texts by locale (DESIGN.md §3 "Time and language"): any text of an action may be a map by locale; a run uses
the contact's locale, else its language, else the automation's locale, else the first one given, and says which
on its timeline; a preview shows every locale; bad maps are refused at save with their place."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from automations.engine import BusEvent, EmailRequest, Outcome, WebhookCall, start_run
from automations.engine.locales import choose_locale
from automations.errors import DefinitionError, FieldError
from automations.language import load_definition
from automations.language.model import SendEmail
from automations.services.preview import preview

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES
from tests.support.services import World

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
#: The product's reference languages: the seeds', the examples' and the console's.
REFERENCE = {"en", "es", "de", "fr", "nl"}

SUBJECT = {"en": "Your invoice", "es": "Tu factura", "de": "Deine Rechnung", "de-DE": "Ihre Rechnung"}
HTML = {
    "en": "<p>Due on {{ data.due | date('long') }}: {{ data.total | money('EUR') }}</p>",
    "es": "<p>Vence el {{ data.due | date('long') }}: {{ data.total | money('EUR') }}</p>",
    "de": "<p>Fällig am {{ data.due | date('long') }}: {{ data.total | money('EUR') }}</p>",
    "de-DE": "<p>Fällig am {{ data.due | date('long') }}: {{ data.total | money('EUR') }}</p>",
}


def definition(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "id": "localized",
        "name": "Localized",
        "status": "active",
        "trigger": {"event": "invoice.sent"},
        "steps": list(steps),
        **top,
    }


def email(**changes: Any) -> dict[str, Any]:
    return {"id": "mail", "send_email": {"to": {"trigger_contact": True}, "subject": SUBJECT, "html": HTML, **changes}}


def event(locale: str | None = None) -> dict[str, Any]:
    contact: dict[str, Any] = {"id": "c_1", "email": "ana@example.com", "first_name": "Ana"}
    if locale is not None:
        contact["locale"] = locale
    return {
        "id": "evt_1",
        "type": "invoice.sent",
        "contact": contact,
        "data": {"due": "2026-12-01", "total": 1234.5},
    }


def start(data: dict[str, Any], locale: str | None = None) -> Outcome:
    return start_run(load_definition(data), 1, event(locale), now=NOW, run_id="run_1", workspace="default")


def sent(outcome: Outcome) -> EmailRequest:
    [request] = [e for e in outcome.effects if isinstance(e, EmailRequest)]
    return request


def decision(outcome: Outcome, kind: str) -> dict[str, Any]:
    [found] = [d for d in outcome.state.log if d.kind == kind]
    return found.details


def errors_of(data: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(data)
    return caught.value.errors


# --- the choice ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "automation", "chosen", "source"),
    [
        ("es", "en", "es", "contact"),  # the contact's locale itself
        ("de-DE", "en", "de-DE", "contact"),
        ("de-AT", "en", "de", "contact_language"),  # no de-AT: its language
        ("de_AT", "en", "de", "contact_language"),  # written the other way
        ("es-MX", "en", "es", "contact_language"),
        ("pt-PT", "es", "es", "automation"),  # not given: the automation's locale
        ("xx-not-a-locale", "es", "es", "automation"),  # unknown: passed over
        (None, "de-CH", "de", "automation_language"),
        ("pt", "pt", "en", "first"),  # neither given: the first one
        (None, None, "en", "first"),
    ],
)
def test_the_locale_is_the_contacts_then_its_language_then_the_automations_then_the_first(
    contact: str | None, automation: str | None, chosen: str, source: str
) -> None:
    context = {"contact": {"locale": contact}, "automation": {"locale": automation}}
    assert choose_locale(["en", "es", "de", "de-DE"], context) == (chosen, source)


def test_a_contact_of_a_language_the_texts_give_only_with_a_region_reads_that_region() -> None:
    assert choose_locale(["en", "fr-CA"], {"contact": {"locale": "fr"}}) == ("fr-CA", "contact_language")


def test_an_email_speaks_the_contacts_language_and_formats_in_it() -> None:
    # Given an email by locale, and an Austrian contact
    outcome = start(definition(email()), locale="de-AT")
    # Then she gets the German texts, with Austrian formats, and the timeline says why
    request = sent(outcome)
    assert request.subject == "Deine Rechnung"
    assert request.html == "<p>Fällig am 1. Dezember 2026: €\xa01.234,50</p>"
    assert decision(outcome, "email")["locale"] == "de"
    assert decision(outcome, "email")["locale_from"] == "contact_language"


def test_the_automations_locale_is_used_for_a_contact_whose_language_is_not_given() -> None:
    # Given an automation in Spanish by default, and a Portuguese contact
    outcome = start(definition(email(), locale="es"), locale="pt-PT")
    # Then the Spanish texts go out, formatted in Spanish (the language of their words)
    request = sent(outcome)
    assert request.subject == "Tu factura"
    assert request.html == "<p>Vence el 1 de diciembre de 2026: 1.234,50\xa0€</p>"
    assert {k: decision(outcome, "email")[k] for k in ("locale", "locale_from")} == {
        "locale": "es",
        "locale_from": "automation",
    }


def test_the_first_locale_is_used_when_neither_the_contact_nor_the_automation_is_given() -> None:
    # Given texts in Spanish and German only, a Portuguese contact and an automation in French
    subject = {"es": "Tu factura", "de": "Deine Rechnung"}
    html = {"es": "<p>{{ data.due | date('long') }}</p>", "de": "<p>{{ data.due | date('long') }}</p>"}
    outcome = start(definition(email(subject=subject, html=html), locale="fr"), locale="pt")
    # Then the first locale given is used, its dates in Spanish
    assert sent(outcome).subject == "Tu factura"
    assert sent(outcome).html == "<p>1 de diciembre de 2026</p>"
    assert decision(outcome, "email")["locale_from"] == "first"


def test_an_email_in_one_language_records_no_locale() -> None:
    outcome = start(definition(email(subject="Your invoice", html="<p>Hi</p>")), locale="de")
    assert sent(outcome).subject == "Your invoice"
    assert "locale" not in decision(outcome, "email")


def test_the_senders_name_and_the_text_part_follow_the_same_locale() -> None:
    step = email(
        from_name={"en": "Acme Studio", "de": "Acme Studio Berlin"},
        subject={"en": "Hi", "de": "Hallo"},
        html={"en": "<p>Hi</p>", "de": "<p>Hallo</p>"},
        text={"en": "Hi (text)", "de": "Hallo (Text)"},
    )
    request = sent(start(definition(step), locale="de-CH"))
    assert (request.from_name, request.subject, request.text) == ("Acme Studio Berlin", "Hallo", "Hallo (Text)")


def test_a_task_a_bus_event_and_a_webhook_speak_the_contacts_language_on_the_timeline() -> None:
    # Given a task, a bus event and a webhook, each with texts by locale, and a Dutch-speaking contact
    world = World()
    task = {"id": "task", "create_task": {"title": {"en": "Call {{ contact.first_name }}", "nl": "Bel Ana"}}}
    chat = {
        "id": "chat",
        "put_event": {
            "detail_type": "chat.message.requested",
            "detail": {"en": {"text": "Hi"}, "nl": {"text": "Hallo"}},
        },
    }
    hook = {
        "id": "hook",
        "webhook": {
            "url": "https://crm.example.com/hooks",
            "headers": {"Content-Language": {"en": "en", "nl": "nl"}, "X-Source": "automations"},
            "body": {"en": {"note": "New lead"}, "nl": {"note": "Nieuwe lead"}},
        },
    }
    world.create(definition(task, chat, hook))
    [posted] = world.post({**event("nl-BE"), "type": "invoice.sent"})
    run = world.run(posted.runs[0])
    # Then each says it in Dutch, and the timeline records the locale of each
    [created] = world.deps.tasks.list()[0]
    assert created.title == "Bel Ana"
    done = {d.kind: d.details for d in run.log}
    assert (done["create_task"]["locale"], done["create_task"]["locale_from"]) == ("nl", "contact_language")
    assert (done["put_event"]["locale"], done["webhook"]["locale"]) == ("nl", "nl")
    [put] = [e for e in world.fakes.bus.events if e["DetailType"] == "chat.message.requested"]
    assert put["Detail"]["data"] == {"text": "Hallo"}


def test_a_webhook_sends_its_headers_and_body_in_the_contacts_locale() -> None:
    hook = {
        "id": "hook",
        "webhook": {
            "url": "https://crm.example.com/hooks",
            "headers": {"Content-Language": {"en": "en", "es": "es"}},
            "body": {"en": {"note": "New lead: {{ contact.first_name }}"}, "es": {"note": "Nuevo cliente: Ana"}},
        },
    }
    outcome = start(definition(hook), locale="es-AR")
    [call] = [e for e in outcome.effects if isinstance(e, WebhookCall)]
    assert call.headers == {"Content-Language": "es"}
    assert json.loads(call.body) == {"note": "Nuevo cliente: Ana"}
    assert decision(outcome, "webhook")["locale"] == "es"


def test_a_body_with_one_key_or_other_keys_is_one_body_for_everyone() -> None:
    # A single key that happens to be a language ("to" is Tongan), or keys that are not all locales: plain JSON
    detail = {"to": {"id": "{{ contact.id }}"}}
    chat = {"id": "chat", "put_event": {"detail_type": "chat.message.requested", "detail": detail}}
    mixed = {"en": {"text": "Hi"}, "channel": {"name": "sms"}}
    other = {"id": "other", "put_event": {"detail_type": "chat.message.requested", "detail": mixed}}
    outcome = start(definition(chat, other), locale="to")
    assert [e.data for e in outcome.effects if isinstance(e, BusEvent)] == [{"to": {"id": "c_1"}}, mixed]


# --- preview -------------------------------------------------------------------------------------------------


def test_a_preview_shows_the_chosen_locale_and_every_other_one() -> None:
    automation = load_definition(definition(email()))
    result = preview(automation, event("de-AT"), NOW)
    [step] = result["steps"]
    view = step["email"]
    assert (view["subject"], view["locale"], view["locale_from"]) == ("Deine Rechnung", "de", "contact_language")
    assert list(view["locales"]) == ["en", "es", "de", "de-DE"]
    assert view["locales"]["en"]["subject"] == "Your invoice"
    # each locale formats in its own language (Austrian formats where the contact's language is the text's)
    assert "December 1, 2026: €1,234.50" in view["locales"]["en"]["html"]
    assert "1 de diciembre de 2026" in view["locales"]["es"]["html"]
    assert "1. Dezember 2026: €\xa01.234,50" in view["locales"]["de"]["html"]
    assert "Hallo" not in json.dumps(view["locales"]["es"])


def test_a_preview_shows_an_action_in_every_locale_and_a_text_that_fails_in_one_of_them() -> None:
    task = {"id": "task", "create_task": {"title": {"en": "Call {{ contact.first_name }}", "fr": "Appeler Ana"}}}
    detail = {"en": {"text": "Hi"}, "fr": {"text": "{{ data.due | money('EUR') }}"}}
    chat = {"id": "chat", "put_event": {"detail_type": "chat.message.requested", "detail": detail}}
    result = preview(load_definition(definition(task, chat)), event("en"), NOW)
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["task"]["action"]["locales"]["fr"] == {"title": "Appeler Ana", "description": None}
    assert steps["task"]["action"]["locales"]["en"]["title"] == "Call Ana"
    assert steps["chat"]["action"]["locale"] == "en"
    assert steps["chat"]["action"]["locales"]["en"] == {"detail": {"text": "Hi"}}
    assert "money" in steps["chat"]["action"]["locales"]["fr"]["error"]


# --- refused at save ------------------------------------------------------------------------------------------


def test_maps_of_one_action_with_different_locales_are_refused_at_the_field_that_differs() -> None:
    [error] = errors_of(definition(email(subject={"en": "Hi", "es": "Hola"}, html={"en": "<p>Hi</p>"})))
    assert error.loc == "steps[0].send_email.html"
    assert "gives the locales en but subject gives en, es" in error.message


def test_a_header_and_a_body_by_locale_must_give_the_same_locales() -> None:
    hook = {
        "webhook": {
            "url": "https://crm.example.com/hooks",
            "headers": {"Content-Language": {"en": "en", "es": "es"}},
            "body": {"en": {"a": "1"}, "de": {"a": "2"}},
        }
    }
    [error] = errors_of(definition(hook))
    assert error.loc == "steps[0].webhook.body"
    assert "headers.Content-Language gives en, es" in error.message


def test_an_unknown_locale_is_refused_with_its_place() -> None:
    errors = errors_of(definition(email(subject={"en": "Hi", "en-UK": "Hi", "xx": "?"}, html={"en": "<p>x</p>"})))
    places = {e.loc: e.message for e in errors}
    assert "unknown locale 'xx'" in places["steps[0].send_email.subject.xx"]
    assert "unknown locale 'en-UK'" in places["steps[0].send_email.subject.en-UK"]  # no such region: en-GB


def test_an_empty_map_is_refused() -> None:
    [error] = errors_of(definition(email(subject={})))
    assert error.loc == "steps[0].send_email.subject"
    assert "at least one locale" in error.message


def test_each_text_of_a_map_is_checked_as_the_plain_field_is() -> None:
    subject = {"en": "Hi {{ contact.first_name", "es": "Hola\nAna"}
    errors = {e.loc: e.message for e in errors_of(definition(email(subject=subject, html={"en": "<p>x</p>"})))}
    assert "steps[0].send_email.subject.en" in errors and "end of template" in errors["steps[0].send_email.subject.en"]
    assert errors["steps[0].send_email.subject.es"] == "must be on one line"


def test_one_locale_given_twice_is_refused() -> None:
    errors = errors_of(definition(email(subject={"de-DE": "Hallo", "de_de": "Hallo"}, html="<p>x</p>")))
    assert [(e.loc, e.message) for e in errors] == [
        ("steps[0].send_email.subject.de_de", "'de_de' is the same locale as 'de-DE': give it once")
    ]


def test_a_task_title_by_locale_is_one_line_and_a_text_that_is_neither_text_nor_map_is_refused() -> None:
    task = {"create_task": {"title": {"en": "Call\nAna"}}}
    [error] = errors_of(definition(task))
    assert (error.loc, error.message) == ("steps[0].create_task.title.en", "must be on one line")
    [error] = errors_of(definition(email(subject=["Hi"])))
    assert error.loc == "steps[0].send_email.subject"
    assert "a map by locale" in error.message


# --- the examples ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_customer_email_of_the_examples_speaks_the_reference_languages(path: Any) -> None:
    automation = load_definition(path.read_text())
    sample = json.loads((EXAMPLE_EVENTS / f"{path.stem}.json").read_text())
    for language in sorted(REFERENCE):
        result = preview(automation, {**sample, "contact": {**sample["contact"], "locale": language}}, NOW)
        for step in result["steps"]:
            view = step.get("email")
            if view is None or "ana@example.com" not in view["to"]:
                continue  # an email to the owner only may stay in one language
            assert set(view["locales"]) == REFERENCE, step["id"]
            assert view["locale"] == language and "error" not in view, (step["id"], view.get("error"))
            assert all("error" not in shown for shown in view["locales"].values()), step["id"]


def test_the_examples_english_is_chosen_for_a_contact_of_another_language() -> None:
    automation = load_definition((EXAMPLES / "we-miss-you.yaml").read_text())
    result = preview(automation, {"contact": {"id": "c_1", "email": "ana@example.com", "locale": "pt-PT"}}, NOW)
    [step] = result["steps"]
    assert step["email"]["subject"] == "We miss you, friend" and step["email"]["locale"] == "en"


def test_a_send_email_model_lists_its_locales_and_speaks_one() -> None:
    spec = SendEmail.model_validate({"to": {"trigger_contact": True}, "subject": SUBJECT, "html": HTML})
    assert spec.locales == ("en", "es", "de", "de-DE")
    assert spec.in_locale("es").subject == "Tu factura" and spec.in_locale("de_DE").html == HTML["de-DE"]
