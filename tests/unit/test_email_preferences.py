"""Email preferences on the in-memory ports: the levels a recipient picks on the page behind an email's link (every
email, no promotional email, essential email only), what the sender then sends, what is counted, what the
contact's profile and view say, and the page itself (its choices, languages, escaping and bad forms)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

import pytest
from automations.ports import ContactPatch, Suppression
from automations.services import contacts, queries, sending, unsubscribe
from automations.services.unsubscribe import Claim, InvalidChoiceError, Preferences

from tests.support.mail import Mailroom, request

TYPES = ("promotional", "transactional", "business_critical")


@pytest.fixture
def room() -> Mailroom:
    return Mailroom()


def link_claim(room: Mailroom, address: str = "ana@example.com", person: str | None = "c_1") -> Claim:
    """The claim of the link in a promotional email of ``welcome`` sent to ``address`` for ``person``."""
    before = len(room.fakes.email_sender.sent)
    room.send(request(f"run_link_{before}", type="promotional", recipients=(address,), person=person))
    link = room.fakes.email_sender.sent[-1].email.headers["List-Unsubscribe"][1:-1]
    return unsubscribe.read_token(room.settings, room.deps.secrets, link.rsplit("/", 1)[1])


def what_goes(room: Mailroom, address: str = "ana@example.com") -> dict[str, str]:
    """What the sender does with one email of each type to the address, now."""
    states = {}
    for email_type in TYPES:
        [delivery] = room.send(request(f"run_{uuid.uuid4().hex}", type=email_type, recipients=(address,)))
        states[email_type] = delivery.state
    return states


def profile_of(room: Mailroom, person: str = "c_1", **fields: str) -> None:
    room.deps.contacts.apply(person, ContactPatch(set_fields={"email": "ana@example.com", **fields}), room.now)


# --- the levels and what the sender sends ------------------------------------------------------------------


def test_the_link_of_an_email_names_its_address_automation_and_person(room: Mailroom) -> None:
    claim = link_claim(room)
    assert (claim.address, claim.automation_id, claim.person) == ("ana@example.com", "welcome", "c_1")


@pytest.mark.parametrize(
    ("choice", "goes", "counted"),
    [
        (
            "stop_promotional",
            {"promotional": "skipped", "transactional": "sent", "business_critical": "sent"},
            {"sent": 3, "unsubscribed": 1, "suppressed": 1},
        ),
        (
            "essential_only",
            {"promotional": "skipped", "transactional": "skipped", "business_critical": "sent"},
            {"sent": 2, "unsubscribed": 1, "suppressed": 2},
        ),
        ("everything", dict.fromkeys(TYPES, "sent"), {"sent": 4}),
    ],
)
def test_each_choice_decides_which_types_still_go(
    room: Mailroom, choice: str, goes: dict[str, str], counted: dict[str, int]
) -> None:
    # Given Ana's link from a promotional email
    claim = link_claim(room)
    # When she picks a level on the page
    shown = unsubscribe.choose(room.deps, claim, choice, room.now)
    # Then the sender sends only the types that level keeps (counted sent, with the email of the link), and one
    # unsubscribe is counted for the automation
    assert shown.level == unsubscribe.CHOICES[choice]
    assert what_goes(room) == goes
    assert room.counted() == counted


def test_essential_only_skips_transactional_mail_with_its_reason(room: Mailroom) -> None:
    unsubscribe.choose(room.deps, link_claim(room), "essential_only", room.now)
    [delivery] = room.send(request("run_t", type="transactional"))
    assert (delivery.state, delivery.reason) == ("skipped", "recipient opted out of all but essential email")
    assert delivery.reason == sending.UNSUBSCRIBE_REASONS["non_essential"]


def test_moving_between_levels_counts_one_unsubscribe_and_subscribing_again_none(room: Mailroom) -> None:
    claim = link_claim(room)
    scopes = []
    for choice in ("stop_promotional", "essential_only", "stop_promotional", "everything"):
        unsubscribe.choose(room.deps, claim, choice, room.now)
        scopes.append([(s.kind, s.scope) for s in room.deps.suppressions.of("ana@example.com")])
    assert scopes == [
        [("unsubscribe", "promotional")],
        [("unsubscribe", "non_essential")],
        [("unsubscribe", "promotional")],
        [],
    ]
    assert room.counted() == {"sent": 1, "unsubscribed": 1}
    # An unsubscribe after subscribing again is a new one
    unsubscribe.choose(room.deps, claim, "stop_promotional", room.now)
    assert room.counted() == {"sent": 1, "unsubscribed": 2}


def test_one_click_stops_promotional_mail_and_never_lowers_essential_only(room: Mailroom) -> None:
    claim = link_claim(room)
    assert unsubscribe.choose(room.deps, claim, unsubscribe.ONE_CLICK_CHOICE, room.now).level == "promotional"
    unsubscribe.choose(room.deps, claim, "essential_only", room.now)
    # When the mailbox provider posts the one-click body again
    shown = unsubscribe.choose(room.deps, claim, unsubscribe.ONE_CLICK_CHOICE, room.now)
    # Then the stricter level stays, and nothing more is counted
    assert shown.level == "non_essential"
    assert what_goes(room)["transactional"] == "skipped"
    assert room.counted()["unsubscribed"] == 1


def test_no_choice_lifts_a_hard_bounce(room: Mailroom) -> None:
    claim = link_claim(room)
    room.deps.suppressions.upsert(
        Suppression.new("ana@example.com", "bounce", reason="bounced", source="ses", automation_id=None, now=room.now)
    )
    unsubscribe.choose(room.deps, claim, "everything", room.now)
    assert [s.kind for s in room.deps.suppressions.of("ana@example.com")] == ["bounce"]
    assert what_goes(room) == dict.fromkeys(TYPES, "skipped")


# --- the profile and the contact view ----------------------------------------------------------------------


def test_the_persons_profile_and_contact_view_follow_the_page(room: Mailroom) -> None:
    # Given Ana's profile with her address, and her link
    profile_of(room)
    claim = link_claim(room)
    # When she keeps essential email only
    unsubscribe.choose(room.deps, claim, "essential_only", room.now)
    # Then her profile and her contact view say so
    profile = room.deps.contacts.get("c_1")
    assert profile is not None and profile.subscriptions == {"promotional": False, "transactional": False}
    view = queries.contact(room.deps, "c_1")
    assert view["profile"]["subscriptions"] == {"promotional": False, "transactional": False}
    assert [(u["kind"], u["scope"], u["source"]) for u in view["unsubscribed"]] == [
        ("unsubscribe", "non_essential", "page")
    ]
    assert view["addresses"][0]["receives"] == {
        "promotional": False,
        "transactional": False,
        "business_critical": True,
    }
    # And when she subscribes again, everything is back
    unsubscribe.choose(room.deps, claim, "everything", room.now)
    view = queries.contact(room.deps, "c_1")
    assert view["profile"]["subscriptions"] == {"promotional": True, "transactional": True}
    assert view["unsubscribed"] == [] and all(view["addresses"][0]["receives"].values())


def test_an_additional_recipient_changes_its_own_address_only(room: Mailroom) -> None:
    # Given Ana's profile, and the owner's link from an email of Ana's run (the owner was an additional recipient)
    profile_of(room)
    claim = link_claim(room, "owner@acme.example", person="c_1")
    # When the owner keeps essential email only
    unsubscribe.choose(room.deps, claim, "essential_only", room.now)
    # Then the owner's address is at that level; Ana's profile and address are not
    assert [s.scope for s in room.deps.suppressions.of("owner@acme.example")] == ["non_essential"]
    profile = room.deps.contacts.get("c_1")
    assert profile is not None and profile.subscriptions == {"promotional": True, "transactional": True}
    assert what_goes(room) == dict.fromkeys(TYPES, "sent")


def test_the_contact_view_shows_the_addresss_level_even_when_the_link_had_no_person(room: Mailroom) -> None:
    profile_of(room)
    unsubscribe.choose(room.deps, link_claim(room, person=None), "stop_promotional", room.now)
    view = queries.contact(room.deps, "c_1")
    assert view["profile"]["subscriptions"] == {"promotional": False, "transactional": True}


def api_change(room: Mailroom, patch: ContactPatch) -> dict[str, bool]:
    """What PUT/PATCH /v1/contacts/c_1 does with a change that gives subscriptions: the profile's after it."""
    profile, _ = room.deps.contacts.apply("c_1", patch, room.now)
    kept = unsubscribe.keep_subscriptions(room.deps, profile, patch.subscriptions, room.now)
    stored = room.deps.contacts.get("c_1")
    assert stored is not None and stored.subscriptions == kept.subscriptions
    return kept.subscriptions


def test_subscriptions_set_through_the_api_reach_the_address_and_count_nothing(room: Mailroom) -> None:
    # Given Ana's profile, set to essential email only by an operator
    levels = contacts.subscription_levels({"transactional": False})
    subscriptions = api_change(room, ContactPatch(set_fields={"email": "Ana@Example.com"}, subscriptions=levels))
    assert subscriptions == {"promotional": False, "transactional": False}
    # Then her address gets essential email only, and no automation counts an unsubscribe
    assert what_goes(room) == {"promotional": "skipped", "transactional": "skipped", "business_critical": "sent"}
    [suppression] = room.deps.suppressions.of("ana@example.com")
    assert (suppression.scope, suppression.source, suppression.automation_id) == ("non_essential", "api", None)
    assert "unsubscribed" not in room.counted()
    # And set back to every email, every email goes again
    levels = contacts.subscription_levels({"promotional": True})
    assert api_change(room, ContactPatch(subscriptions=levels)) == {"promotional": True, "transactional": True}
    assert room.deps.suppressions.of("ana@example.com") == []


def test_an_api_change_starts_from_the_level_the_recipient_chose(room: Mailroom) -> None:
    # Given Ana's profile, and her address kept at essential email only through a link that did not name her
    profile_of(room)
    unsubscribe.choose(room.deps, link_claim(room, person=None), "essential_only", room.now)
    # When an operator turns transactional email back on
    subscriptions = api_change(room, ContactPatch(subscriptions={"transactional": True}))
    # Then promotional email stays off, as she chose, on the address and on the profile
    assert subscriptions == {"promotional": False, "transactional": True}
    assert [s.scope for s in room.deps.suppressions.of("ana@example.com")] == ["promotional"]


@pytest.mark.parametrize(
    ("given", "levels"),
    [
        ({"transactional": False}, {"promotional": False, "transactional": False}),
        ({"promotional": True}, {"promotional": True, "transactional": True}),
        ({"promotional": False}, {"promotional": False}),
        ({"transactional": True}, {"transactional": True}),
        ({"promotional": False, "transactional": False}, {"promotional": False, "transactional": False}),
        ({}, {}),
    ],
)
def test_subscriptions_are_levels(given: dict[str, bool], levels: dict[str, bool]) -> None:
    assert contacts.subscription_levels(given) == levels


def test_promotional_on_with_transactional_off_is_refused() -> None:
    with pytest.raises(ValueError, match="essential"):
        contacts.subscription_levels({"promotional": True, "transactional": False})


def test_a_profile_shows_its_addresss_level_or_its_own_without_an_address(room: Mailroom) -> None:
    stored = {"promotional": False, "transactional": False}
    room.deps.contacts.apply("c_2", ContactPatch(subscriptions=stored), room.now)
    without = room.deps.contacts.get("c_2")
    assert without is not None and contacts.shown_subscriptions(without, []) == stored
    room.deps.contacts.apply("c_2", ContactPatch(set_fields={"email": "bo@example.com"}), room.now)
    with_address = room.deps.contacts.get("c_2")
    assert with_address is not None
    # The address has no unsubscribe: every email goes to it, and that is what the profile shows
    assert contacts.shown_subscriptions(with_address, []) == {"promotional": True, "transactional": True}


# --- what a POST asks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "choice"),
    [
        ("choice=stop_promotional", "stop_promotional"),
        ("choice=essential_only", "essential_only"),
        ("choice=everything&token=ignored", "everything"),
        ("List-Unsubscribe=One-Click", unsubscribe.ONE_CLICK_CHOICE),
        ("choice=essential_only&List-Unsubscribe=One-Click", "essential_only"),
    ],
)
def test_a_post_asks_for_a_choice_or_one_click(body: str, choice: str) -> None:
    assert unsubscribe.requested_choice(body) == choice


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("choice=maybe", "choice: unknown choice 'maybe': one of everything, stop_promotional, essential_only"),
        ("choice=", "choice: unknown choice ''"),
        ("choice=everything&choice=essential_only", "choice: given more than once"),
        ("something=else", "choice: missing"),
        ("", "choice: missing"),
        (None, "choice: missing"),
        ("&".join(f"f{n}=1" for n in range(50)), "choice: the form has more than 20 fields"),
        ("choice=" + "x" * 500, "choice: unknown choice 'xxxx"),
    ],
)
def test_a_form_without_a_known_choice_is_refused_naming_the_field(body: str | None, message: str) -> None:
    with pytest.raises(InvalidChoiceError) as raised:
        unsubscribe.requested_choice(body)
    assert str(raised.value).startswith(message) and raised.value.field == "choice"
    assert len(str(raised.value)) < 200


# --- the page ------------------------------------------------------------------------------------------------


def shown(level: str | None = None, address: str = "ana@example.com") -> Preferences:
    return Preferences(Claim("default", address, "welcome", "c_1"), level)


def radios(page: str) -> list[tuple[str, bool]]:
    found = re.findall(r'<input type="radio" name="choice" value="([a-z_]+)"( checked)?>', page)
    return [(value, bool(checked)) for value, checked in found]


@pytest.mark.parametrize(
    ("level", "checked"),
    [(None, "everything"), ("promotional", "stop_promotional"), ("non_essential", "essential_only")],
)
def test_the_page_offers_every_level_with_the_addresss_own_checked(level: str | None, checked: str) -> None:
    page = unsubscribe.preferences_page(shown(level), brand="Acme Studio")
    assert radios(page) == [
        (choice, choice == checked) for choice in ("everything", "stop_promotional", "essential_only")
    ]
    assert '<form method="post">' in page and '<button type="submit">Save</button>' in page
    assert "Stop promotional emails" in page and "Stop all but essential emails" in page
    assert "<strong>Acme Studio</strong>" in page and "<title>Email preferences · Acme Studio</title>" in page


def test_the_page_loads_nothing_and_runs_no_script() -> None:
    page = unsubscribe.preferences_page(shown(), brand="Acme")
    assert "<script" not in page and "src=" not in page and "http" not in page.replace("http-equiv", "")
    # Its one style block is the one the Content-Security-Policy allows, by its hash
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in unsubscribe.PAGE_CSP
    assert "default-src 'none'" in unsubscribe.PAGE_CSP and "form-action 'self'" in unsubscribe.PAGE_CSP


def test_every_value_on_the_pages_is_escaped() -> None:
    brand = '<script>alert("x")</script> & Co'
    address = '"><img src=x onerror=alert(1)>@example.com'
    pages = [
        unsubscribe.preferences_page(shown(address=address), brand=brand),
        unsubscribe.saved_page(shown("promotional", address), brand=brand),
        unsubscribe.bad_request_page(InvalidChoiceError("choice", "unknown choice '<b>x</b>'"), brand=brand),
    ]
    for page in pages:
        assert "<script>" not in page and "<img" not in page and "<b>x" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in pages[2]


@pytest.mark.parametrize(
    ("language", "title", "essential_only"),
    [
        ("en", "Email preferences", "Stop all but essential emails"),
        ("es", "Preferencias de correo electrónico", "Recibir solo los correos esenciales"),
        ("de", "E-Mail-Einstellungen", "Nur noch unverzichtbare E-Mails"),
        ("fr", "Préférences e-mail", "Ne recevoir que les e-mails essentiels"),
        ("nl", "E-mailvoorkeuren", "Alleen nog essentiële e-mails"),
    ],
)
def test_the_page_speaks_the_five_languages(language: str, title: str, essential_only: str) -> None:
    page = unsubscribe.preferences_page(shown(), language=language)
    assert f'<html lang="{language}">' in page and f"<h1>{title}</h1>" in page and essential_only in page
    for other in (
        unsubscribe.saved_page(shown("non_essential"), language=language),
        unsubscribe.invalid_page(language),
    ):
        assert f'<html lang="{language}">' in other


@pytest.mark.parametrize(
    ("locale", "accept", "default", "language"),
    [
        ("de-CH", "fr", "en", "de"),
        ("pt-PT", "fr-CH, fr;q=0.9, en;q=0.8", "en", "fr"),
        (None, "pt;q=0.9, nl;q=0.5, es;q=0.7", "en", "es"),
        (None, "nl;q=0, *", "es", "es"),
        (None, "da, sv", "pt", "en"),
        (None, "fr;q=bad, nl", None, "nl"),
        (None, None, None, "en"),
    ],
)
def test_the_page_is_in_the_contacts_language_else_the_browsers_else_the_workspaces(
    locale: str | None, accept: str | None, default: str | None, language: str
) -> None:
    assert unsubscribe.page_language(locale, accept_language=accept, default=default) == language


def test_the_page_speaks_the_profiles_language(room: Mailroom) -> None:
    profile_of(room, locale="nl-BE")
    preferences = unsubscribe.preferences(room.deps, link_claim(room))
    assert preferences.profile is not None and preferences.profile.locale == "nl-BE"
    assert unsubscribe.page_language(preferences.profile.locale, accept_language="en") == "nl"
