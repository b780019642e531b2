"""Unsubscribing and email preferences: opaque signed links, the one-click POST (RFC 8058) and the preferences
page behind the link.

**Links.** A token is ``<nonce>.<sealed>`` in base64url: the workspace, the address, the automation and (when
the email had one) the run's person, as compact JSON padded to a multiple of 32 bytes, sealed with AES-256-GCM
under a key derived (HKDF-SHA256) from the stack's unsubscribe secret, with a fresh random nonce per link. The
token reveals neither the address nor the workspace (nor the address's exact length), and it cannot be forged
or altered without the secret: GCM's tag signs it. Nothing is stored per email and building a link makes no AWS
request: the secret is read through the :class:`~automations.ports.Secrets` port (by the ARN in
``UNSUBSCRIBE_SECRET_ARN``), whose adapter keeps it for a while. A token never expires (an unsubscribe link must
keep working), so the secret is kept when the stack is deleted or replaced.

**Preference levels.** An address of a workspace receives every email, every email but promotional ones, or
essential (business-critical) email only. The level is kept on the address's ``unsubscribe`` suppression, as its
scope (``promotional`` or ``non_essential``; no such suppression: every email), which the sender reads for each
recipient anyway: honouring a preference costs no request. A change of level is also written to the
``subscriptions`` of the link's person when that person's profile has the link's address, so that the profile,
the run's context and the contact listing say the same. Hard bounces and complaints are other suppressions:
no preference lifts them.

- The one-click POST stops promotional email only, and never lowers a stricter level.
- The page offers every level (receive everything again, stop promotional email, stop all but essential email)
  in the contact's language, under the workspace's brand name; a GET shows it and changes nothing.
- An unsubscribe that starts (from receiving every email) counts once as ``unsubscribed`` for the link's
  automation; moving between levels or subscribing again counts nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from automations.addresses import is_address, normalize_address
from automations.engine.email import SUBSCRIPTION_TYPES, level_subscriptions, subscriptions_of, unsubscribe_scope
from automations.errors import AutomationsError
from automations.observability import logger, metrics
from automations.ports import (
    ConflictError,
    ContactPatch,
    ContactProfile,
    InvalidInputError,
    Secrets,
    Suppression,
    SuppressionStore,
)
from automations.services.contacts import preference_level
from automations.services.deps import Deps
from automations.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAX_TOKEN_LENGTH = 2048
NONCE_BYTES = 12
TAG_BYTES = 16
#: The sealed JSON is padded to a multiple of this, so that a token does not tell an address's exact length.
PAD_TO = 32
_CONTEXT = b"automations/unsubscribe/v2"
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

#: The page's choices (the form's ``choice``), each with the unsubscribe scope it keeps (None: every email).
CHOICES: dict[str, str | None] = {
    "everything": None,
    "stop_promotional": "promotional",
    "essential_only": "non_essential",
}
#: What :func:`requested_choice` answers for RFC 8058's one-click body.
ONE_CLICK_CHOICE = "one_click"
#: The form field of the page's choices.
CHOICE_FIELD = "choice"
#: The most fields a posted form may have.
MAX_FORM_FIELDS = 20


class InvalidTokenError(AutomationsError):
    """An unsubscribe token that is garbled, forged, or from another workspace."""


class UnsubscribeSecretError(AutomationsError):
    """The unsubscribe secret is not configured, or empty."""


class InvalidChoiceError(AutomationsError):
    """A posted preferences form that asks for no choice the page offers; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Claim:
    """What a valid token says: this address, in this workspace, reached through this automation (and the run's
    person, when the email had one: the profile whose subscriptions follow the address's)."""

    workspace: str
    address: str
    automation_id: str
    person: str | None = None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise InvalidTokenError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("not base64url") from None
    if _b64encode(data) != text:  # one spelling per token: no variant of a link is also valid
        raise InvalidTokenError("not base64url")
    return data


@lru_cache(maxsize=4)
def _cipher(secret: str) -> AESGCM:
    """The token cipher of a secret (cryptography is loaded on first use: most handlers never seal a token)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(secret.encode())
    return AESGCM(key)


def sign_token(secret: str, workspace: str, address: str, automation_id: str, person: str | None = None) -> str:
    """An opaque token for one address and automation (URL-safe: base64url and a dot)."""
    if not secret:
        raise UnsubscribeSecretError("an unsubscribe secret is required")
    values = [workspace, normalize_address(address), automation_id]
    if person:
        values.append(person)
    data = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    data += b" " * (-len(data) % PAD_TO)
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(secret).encrypt(nonce, data, _CONTEXT)
    return f"{_b64encode(nonce)}.{_b64encode(sealed)}"


def verify_token(secret: str, token: str, workspace: str | None = None) -> Claim:
    """The claim of a genuine token; ``InvalidTokenError`` for anything else."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise InvalidTokenError("malformed token")
    nonce_text, sealed_text = token.split(".")
    nonce, sealed = _b64decode(nonce_text), _b64decode(sealed_text)
    if len(nonce) != NONCE_BYTES or len(sealed) <= TAG_BYTES:
        raise InvalidTokenError("malformed token")
    from cryptography.exceptions import InvalidTag

    try:
        data = _cipher(secret).decrypt(nonce, sealed, _CONTEXT)
    except InvalidTag:
        raise InvalidTokenError("bad signature") from None
    try:
        values: Any = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise InvalidTokenError("bad payload") from None
    if not (isinstance(values, list) and len(values) in (3, 4) and all(isinstance(v, str) and v for v in values)):
        raise InvalidTokenError("bad payload")
    claim = Claim(values[0], values[1], values[2], values[3] if len(values) == 4 else None)
    if "@" not in claim.address:
        raise InvalidTokenError("bad payload")
    if workspace is not None and claim.workspace != workspace:
        raise InvalidTokenError("token of another workspace")
    return claim


def signing_secret(settings: Settings, secrets: Secrets) -> str:
    """The stack's unsubscribe secret, read by its ARN (the adapter keeps it for a while)."""
    if not settings.unsubscribe_secret_arn:
        raise UnsubscribeSecretError("no unsubscribe secret is configured (UNSUBSCRIBE_SECRET_ARN)")
    value = secrets.get(settings.unsubscribe_secret_arn)
    if not value:
        raise UnsubscribeSecretError("the unsubscribe secret (UNSUBSCRIBE_SECRET_ARN) is empty")
    return value


def read_token(settings: Settings, secrets: Secrets, token: str) -> Claim:
    """The claim of a token of any workspace of the stack, checked with the stack's secret (its workspace is
    the one whose suppressions the claim changes)."""
    return verify_token(signing_secret(settings, secrets), token)


def unsubscribe_url(
    settings: Settings, secrets: Secrets, address: str, automation_id: str, person: str | None = None
) -> str:
    """The https link of one recipient, for the visible link and the ``List-Unsubscribe`` header."""
    if not settings.unsubscribe_base_url:
        raise ValueError("no unsubscribe base URL is configured (UNSUBSCRIBE_BASE_URL)")
    token = sign_token(signing_secret(settings, secrets), settings.workspace, address, automation_id, person)
    return f"{settings.unsubscribe_base_url.rstrip('/')}/{token}"


# --- what a POST asks -------------------------------------------------------------------------------------


def is_one_click(body: str | None) -> bool:
    """Whether a POST body is RFC 8058's ``List-Unsubscribe=One-Click`` (form-encoded, or multipart)."""
    if not body:
        return False
    if parse_qs(body.strip()).get("List-Unsubscribe") == ["One-Click"]:
        return True
    # multipart/form-data: a part named List-Unsubscribe whose value is One-Click
    return 'name="List-Unsubscribe"' in body and "One-Click" in body


def requested_choice(body: str | None) -> str:
    """What a POST asks: one of the page's :data:`CHOICES` (its form's ``choice``), or
    :data:`ONE_CLICK_CHOICE` for RFC 8058's one-click body; ``InvalidChoiceError`` naming the field otherwise."""
    known = ", ".join(CHOICES)
    try:
        fields = parse_qs((body or "").strip(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise InvalidChoiceError(CHOICE_FIELD, f"the form has more than {MAX_FORM_FIELDS} fields") from None
    given = fields.get(CHOICE_FIELD)
    if given is None:
        if is_one_click(body):
            return ONE_CLICK_CHOICE
        raise InvalidChoiceError(CHOICE_FIELD, f"missing: one of {known} (or the one-click List-Unsubscribe=One-Click)")
    if len(given) != 1:
        raise InvalidChoiceError(CHOICE_FIELD, "given more than once")
    if given[0] not in CHOICES:
        shown = given[0] if len(given[0]) <= 40 else given[0][:40] + "…"
        raise InvalidChoiceError(CHOICE_FIELD, f"unknown choice {shown!r}: one of {known}")
    return given[0]


# --- preference levels --------------------------------------------------------------------------------------


def _reason(scope: str, source: str) -> str:
    if scope == "promotional":
        return f"unsubscribed from promotional email ({source})"
    return f"opted out of all but essential email ({source})"


def unsubscribe(
    suppressions: SuppressionStore,
    address: str,
    automation_id: str | None,
    now: datetime,
    *,
    source: str,
    step: str | None = None,
    scope: str = "promotional",
) -> bool:
    """Start an unsubscribe of the address at this level (promotional mail by default), unless it has one (its
    level stays); True when new (then counted once as ``unsubscribed``)."""
    suppression = Suppression.new(
        address,
        "unsubscribe",
        reason=_reason(scope, source),
        source=source,
        automation_id=automation_id,
        now=now,
        scope=scope,
    )
    created = suppressions.add_new(suppression, now=now, counts={"unsubscribed": 1}, step=step)
    logger.info(
        "unsubscribed" if created else "already unsubscribed",
        extra={"automation": automation_id, "source": source, "new": created, "scope": scope},
    )
    if created:
        metrics.add_metric(name="Unsubscribed", unit="Count", value=1)
    return created


def set_level(
    suppressions: SuppressionStore,
    address: str,
    scope: str | None,
    now: datetime,
    *,
    source: str,
    automation_id: str | None = None,
) -> bool:
    """Keep the address at a preference level (an unsubscribe's scope; None: every email again); True when an
    unsubscribe started (counted once as ``unsubscribed`` for ``automation_id``)."""
    found = next((s for s in suppressions.of(address) if s.kind == "unsubscribe"), None)
    if scope is None:
        if found is not None and suppressions.remove(address, "unsubscribe"):
            logger.info("subscribed again", extra={"source": source, "automation": automation_id})
        return False
    if found is None and unsubscribe(suppressions, address, automation_id, now, source=source, scope=scope):
        return True
    if found is None or found.scope != scope:
        suppressions.put(
            Suppression.new(
                address,
                "unsubscribe",
                reason=_reason(scope, source),
                source=source,
                automation_id=automation_id or (found.automation_id if found is not None else None),
                now=now,
                scope=scope,
            )
        )
        logger.info("preference level changed", extra={"source": source, "scope": scope})
    return False


@dataclass(frozen=True)
class Preferences:
    """What the page shows for a link: its claim, the address's level (None: every email), and the profile of the
    link's person when it has the link's address (its locale picks the page's language)."""

    claim: Claim
    level: str | None
    profile: ContactProfile | None = None


def _profile(deps: Deps, claim: Claim) -> ContactProfile | None:
    """The profile of the link's person, when it has the link's address (else the preference is the address's
    alone: an additional recipient of the email is not that person)."""
    if not claim.person:
        return None
    try:
        profile = deps.contacts.get(claim.person)
    except InvalidInputError:
        return None
    if profile is None or not is_address(profile.email) or normalize_address(str(profile.email)) != claim.address:
        return None
    return profile


def _on_profile(deps: Deps, profile: ContactProfile | None, scope: str | None, now: datetime) -> None:
    """Write the level to the profile's subscriptions, when they say otherwise."""
    if profile is None:
        return
    wanted = subscriptions_of(scope)
    if all(profile.subscriptions.get(kind, True) == wanted[kind] for kind in SUBSCRIPTION_TYPES):
        return
    try:
        deps.contacts.apply(profile.id, ContactPatch(subscriptions=wanted), now)
    except ConflictError as exc:  # the address's level (what the sender reads) is kept: the page may be posted again
        logger.warning("profile subscriptions not updated", extra={"reason": str(exc)})


def preferences(deps: Deps, claim: Claim) -> Preferences:
    """What the page shows for a link (reads only)."""
    return Preferences(claim, preference_level(deps.suppressions.of(claim.address)), _profile(deps, claim))


def choose(deps: Deps, claim: Claim, choice: str, now: datetime) -> Preferences:
    """Apply a POST's choice (:func:`requested_choice`) to the link's address (first: that is what the sender
    honours), then to its person's profile."""
    level: str | None
    if choice == ONE_CLICK_CHOICE:
        created = unsubscribe(deps.suppressions, claim.address, claim.automation_id, now, source="one-click")
        level = "promotional" if created else preference_level(deps.suppressions.of(claim.address))
    else:
        level = CHOICES[choice]
        set_level(deps.suppressions, claim.address, level, now, source="page", automation_id=claim.automation_id)
    profile = _profile(deps, claim)
    _on_profile(deps, profile, level, now)
    return Preferences(claim, level, profile)


def one_click(deps: Deps, token: str, now: datetime) -> Claim:
    """Verify the token and unsubscribe its address from promotional mail (idempotent); ``InvalidTokenError``
    changes nothing."""
    claim = read_token(deps.settings, deps.secrets, token)
    choose(deps, claim, ONE_CLICK_CHOICE, now)
    return claim


def keep_subscriptions(deps: Deps, profile: ContactProfile, given: Mapping[str, bool], now: datetime) -> ContactProfile:
    """Apply subscriptions given through the API to the profile's email address, relative to the level the
    address has (the recipient may have changed it on the preferences page), and keep the profile saying the same;
    the profile as it is then. Counted nowhere (no automation's link was used); a profile without an address
    keeps its own subscriptions only."""
    if not is_address(profile.email):
        return profile
    current = subscriptions_of(preference_level(deps.suppressions.of(profile.email)))
    wanted = level_subscriptions({**current, **given})
    set_level(deps.suppressions, profile.email, unsubscribe_scope(wanted), now, source="api")
    if any(profile.subscriptions.get(kind, True) != wanted[kind] for kind in SUBSCRIPTION_TYPES):
        profile, _ = deps.contacts.apply(profile.id, ContactPatch(subscriptions=wanted), now)
    return profile


# --- the pages ----------------------------------------------------------------------------------------------

#: The languages of the page; a contact's language tag (``de-CH``) falls back to its language (``de``).
PAGE_LANGUAGES = ("en", "es", "de", "fr", "nl")

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Email preferences",
        "intro": "Choose the emails {address} receives.",
        "everything": "Receive all emails",
        "everything_hint": "News and offers, and messages about your account, bookings and invoices.",
        "stop_promotional": "Stop promotional emails",
        "stop_promotional_hint": "Messages about your account, bookings and invoices still reach you.",
        "essential_only": "Stop all but essential emails",
        "essential_only_hint": "Only essential messages reach you: account security and legal notices.",
        "save": "Save",
        "saved": "Preferences saved",
        "now_everything": "{address} receives all emails.",
        "now_promotional": "{address} no longer receives promotional emails.",
        "now_non_essential": "{address} receives essential emails only.",
        "change": "Change your preferences",
        "invalid_title": "Link not valid",
        "invalid": "This link is not valid. Please use the link from the email you received.",
        "bad": "Please choose one of the options on the preferences page.",
    },
    "es": {
        "title": "Preferencias de correo electrónico",
        "intro": "Elige los correos que recibe {address}.",
        "everything": "Recibir todos los correos",
        "everything_hint": "Novedades y ofertas, y mensajes sobre tu cuenta, tus reservas y tus facturas.",
        "stop_promotional": "Dejar de recibir correos promocionales",
        "stop_promotional_hint": "Seguirás recibiendo los mensajes sobre tu cuenta, tus reservas y tus facturas.",
        "essential_only": "Recibir solo los correos esenciales",
        "essential_only_hint": "Solo te llegarán los mensajes esenciales: seguridad de la cuenta y avisos legales.",
        "save": "Guardar",
        "saved": "Preferencias guardadas",
        "now_everything": "{address} recibe todos los correos.",
        "now_promotional": "{address} ya no recibe correos promocionales.",
        "now_non_essential": "{address} solo recibe los correos esenciales.",
        "change": "Cambiar tus preferencias",
        "invalid_title": "Enlace no válido",
        "invalid": "Este enlace no es válido. Usa el enlace del correo que recibiste.",
        "bad": "Elige una de las opciones de la página de preferencias.",
    },
    "de": {
        "title": "E-Mail-Einstellungen",
        "intro": "Wählen Sie, welche E-Mails {address} erhält.",
        "everything": "Alle E-Mails erhalten",
        "everything_hint": "Neuigkeiten und Angebote sowie Nachrichten zu Ihrem Konto, Ihren Buchungen und Rechnungen.",
        "stop_promotional": "Keine Werbe-E-Mails mehr",
        "stop_promotional_hint": "Nachrichten zu Ihrem Konto, Ihren Buchungen und Rechnungen erhalten Sie weiterhin.",
        "essential_only": "Nur noch unverzichtbare E-Mails",
        "essential_only_hint": "Sie erhalten nur noch unverzichtbare Nachrichten: Kontosicherheit und rechtliche "
        "Hinweise.",
        "save": "Speichern",
        "saved": "Einstellungen gespeichert",
        "now_everything": "{address} erhält alle E-Mails.",
        "now_promotional": "{address} erhält keine Werbe-E-Mails mehr.",
        "now_non_essential": "{address} erhält nur noch unverzichtbare E-Mails.",
        "change": "Einstellungen ändern",
        "invalid_title": "Link ungültig",
        "invalid": "Dieser Link ist ungültig. Bitte verwenden Sie den Link aus der E-Mail, die Sie erhalten haben.",
        "bad": "Bitte wählen Sie eine der Optionen auf der Einstellungsseite.",
    },
    "fr": {
        "title": "Préférences e-mail",
        "intro": "Choisissez les e-mails que reçoit {address}.",
        "everything": "Recevoir tous les e-mails",
        "everything_hint": "Nouveautés et offres, ainsi que les messages concernant votre compte, vos réservations "
        "et vos factures.",
        "stop_promotional": "Ne plus recevoir d'e-mails promotionnels",
        "stop_promotional_hint": "Vous recevrez toujours les messages concernant votre compte, vos réservations et "
        "vos factures.",
        "essential_only": "Ne recevoir que les e-mails essentiels",
        "essential_only_hint": "Seuls les messages essentiels vous parviendront : sécurité du compte et informations "
        "légales.",
        "save": "Enregistrer",
        "saved": "Préférences enregistrées",
        "now_everything": "{address} reçoit tous les e-mails.",
        "now_promotional": "{address} ne reçoit plus d'e-mails promotionnels.",
        "now_non_essential": "{address} ne reçoit plus que les e-mails essentiels.",
        "change": "Modifier vos préférences",
        "invalid_title": "Lien non valide",
        "invalid": "Ce lien n'est pas valide. Veuillez utiliser le lien de l'e-mail que vous avez reçu.",
        "bad": "Veuillez choisir l'une des options de la page des préférences.",
    },
    "nl": {
        "title": "E-mailvoorkeuren",
        "intro": "Kies welke e-mails {address} ontvangt.",
        "everything": "Alle e-mails ontvangen",
        "everything_hint": "Nieuws en aanbiedingen, en berichten over uw account, boekingen en facturen.",
        "stop_promotional": "Geen promotionele e-mails meer",
        "stop_promotional_hint": "Berichten over uw account, boekingen en facturen blijft u ontvangen.",
        "essential_only": "Alleen nog essentiële e-mails",
        "essential_only_hint": "Alleen essentiële berichten bereiken u nog: accountbeveiliging en juridische "
        "mededelingen.",
        "save": "Opslaan",
        "saved": "Voorkeuren opgeslagen",
        "now_everything": "{address} ontvangt alle e-mails.",
        "now_promotional": "{address} ontvangt geen promotionele e-mails meer.",
        "now_non_essential": "{address} ontvangt alleen nog essentiële e-mails.",
        "change": "Voorkeuren wijzigen",
        "invalid_title": "Link ongeldig",
        "invalid": "Deze link is ongeldig. Gebruik de link uit de e-mail die u hebt ontvangen.",
        "bad": "Kies een van de opties op de voorkeurenpagina.",
    },
}


def _language_of(tag: str | None) -> str | None:
    """The page's language for a language tag (``de-CH`` → ``de``), None when the page has none for it."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in PAGE_LANGUAGES else None


def _accepted(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first (``q=0``: not wanted)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def page_language(locale: str | None = None, *, accept_language: str | None = None, default: str | None = None) -> str:
    """The page's language: the contact's locale, else the browser's (``Accept-Language``), else the workspace's
    default locale, else English."""
    for tag in (locale, *_accepted(accept_language), default):
        found = _language_of(tag)
        if found is not None:
            return found
    return "en"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}"
    "fieldset{border:0;padding:0;margin:1.5rem 0}label{display:block;margin:0 0 1rem;cursor:pointer}"
    "label small{display:block;margin-left:1.7rem;color:#555}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.3rem;border:1px solid #444;background:#fff;"
    "cursor:pointer}"
)
#: The pages' Content-Security-Policy: nothing is loaded from anywhere, the one style block is allowed by its hash,
#: and the form posts back to the page's own origin.
PAGE_CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}{brand_title}</title>
<style>{style}</style></head><body>{brand}<h1>{title}</h1>{body}</body></html>
"""


def _text(language: str, key: str, address: str | None = None) -> str:
    """A text of the page, escaped, with the (masked, escaped) address in place of ``{address}``."""
    texts = _TEXTS.get(language, _TEXTS["en"])
    text = html.escape(texts[key])
    if address is not None:
        text = text.replace("{address}", f"<strong>{html.escape(masked(address))}</strong>")
    return text


def page(title: str, body: str, brand: str = "", language: str = "en") -> str:
    """A page of the preferences flow (``title`` and ``body`` already escaped), under the workspace's brand name
    when it has one (escaped here)."""
    shown = html.escape(brand.strip())
    return _PAGE.format(
        lang=html.escape(language if language in PAGE_LANGUAGES else "en"),
        title=title,
        body=body,
        style=_STYLE,
        brand_title=f" · {shown}" if shown else "",
        brand=f'<p class="brand"><strong>{shown}</strong></p>' if shown else "",
    )


def masked(address: str) -> str:
    """``a***@example.com``: enough for the person to recognize, not a full address on a page."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def preferences_page(shown: Preferences, *, brand: str = "", language: str = "en") -> str:
    """The page behind the link: each level as a radio button (the address's own checked) and one submit button
    posting the choice back to the link (a GET never changes anything)."""
    current = {scope: choice for choice, scope in CHOICES.items()}.get(shown.level, "")
    options = []
    for choice in CHOICES:
        checked = " checked" if choice == current else ""
        options.append(
            f'<label><input type="radio" name="{CHOICE_FIELD}" value="{choice}"{checked}> '
            f"{_text(language, choice)}<small>{_text(language, choice + '_hint')}</small></label>"
        )
    body = (
        f"<p>{_text(language, 'intro', shown.claim.address)}</p>"
        f'<form method="post"><fieldset>{"".join(options)}</fieldset>'
        f'<button type="submit">{_text(language, "save")}</button></form>'
    )
    return page(_text(language, "title"), body, brand, language)


def _now_key(level: str | None) -> str:
    return f"now_{level}" if level in ("promotional", "non_essential") else "now_everything"


def saved_page(shown: Preferences, *, brand: str = "", language: str = "en") -> str:
    """The page after a choice (or a one-click unsubscribe): what the address receives now, and a way back."""
    body = (
        f"<p>{_text(language, _now_key(shown.level), shown.claim.address)}</p>"
        f'<p><a href="">{_text(language, "change")}</a></p>'
    )
    return page(_text(language, "saved"), body, brand, language)


def invalid_page(language: str = "en") -> str:
    return page(_text(language, "invalid_title"), f"<p>{_text(language, 'invalid')}</p>", language=language)


def bad_request_page(error: InvalidChoiceError, *, brand: str = "", language: str = "en") -> str:
    """The answer to a form that asks for no choice the page offers: what was wrong, in the form's own terms."""
    body = f"<p>{_text(language, 'bad')}</p><p><code>{html.escape(str(error))}</code></p>"
    return page(_text(language, "title"), body, brand, language)
