"""Which locale an action speaks to a person (DESIGN.md §3 "Time and language"), pure.

An action whose texts are maps by locale (:mod:`automations.language.localized`) speaks the contact's locale
(``contact.locale``, ``de-AT``), else its language (``de``, or another locale of it such as ``de-DE``), else the
automation's locale (``automation.locale``, and its language), else the first locale the action gives. Every
action asks :func:`localize`; the run's timeline records the choice (:attr:`Localized.details`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from automations.language.localized import locale_of
from automations.language.model import Localizable
from automations.language.templates import DEFAULT_LOCALE, parse_locale

if TYPE_CHECKING:
    from babel import Locale

A = TypeVar("A", bound=Localizable)

#: Why a locale was chosen, as the timeline says it (``locale_from``).
FROM_CONTACT = "contact"
FROM_CONTACT_LANGUAGE = "contact_language"
FROM_AUTOMATION = "automation"
FROM_AUTOMATION_LANGUAGE = "automation_language"
FROM_FIRST = "first"
FROM_PREVIEW = "asked"


@dataclass(frozen=True)
class Localized(Generic[A]):
    """An action as it speaks to one person: ``spec`` with each map by locale replaced by its text in ``locale``
    (the action itself when it has none), and the ``context`` to render its texts with (dates and money formatted
    in the language of the text)."""

    spec: A
    context: Mapping[str, Any]
    locale: str | None = None
    source: str | None = None
    locales: tuple[str, ...] = ()

    @property
    def details(self) -> dict[str, Any]:
        """What the run's timeline records about the choice: nothing for an action in one language only."""
        if self.locale is None:
            return {}
        return {"locale": self.locale, "locale_from": self.source}


def one(value: str | Mapping[str, Any]) -> str:
    """A text of an action as :func:`localize` gives it (:attr:`Localized.spec`): one text, never a map."""
    if not isinstance(value, str):
        raise TypeError("a map by locale is rendered in one locale: localize the action first")
    return value


def _setting(context: Mapping[str, Any], holder: str) -> Any:
    found = context.get(holder)
    return found.get("locale") if isinstance(found, Mapping) else None


def _parsed(tag: Any) -> Locale | None:
    return parse_locale(tag) if isinstance(tag, str) else None


def _find(given: Sequence[tuple[str, Locale]], wanted: Locale | None) -> tuple[str | None, str | None]:
    """The key of ``wanted`` itself, else of its language (``de`` for ``de-AT``), else of another locale of that
    language (``de-DE``); each part None when nothing fits."""
    if wanted is None:
        return None, None
    for key, locale in given:
        if str(locale) == str(wanted):
            return key, "exact"
    for key, locale in given:
        if str(locale) == wanted.language:
            return key, "language"
    for key, locale in given:
        if locale.language == wanted.language:
            return key, "language"
    return None, None


def choose_locale(locales: Sequence[str], context: Mapping[str, Any]) -> tuple[str, str]:
    """Which of ``locales`` (the keys of an action's maps, in their order) speaks to the run's person, and why:
    ``(key, source)``, the source one of ``contact``, ``contact_language``, ``automation``,
    ``automation_language``, ``first``. An unknown or missing locale is passed over for the next one."""
    if not locales:
        raise ValueError("an action without maps by locale has no locale to choose")
    given = [(key, found) for key in locales if (found := locale_of(key)) is not None]
    for holder, exact, language in (
        ("contact", FROM_CONTACT, FROM_CONTACT_LANGUAGE),
        ("automation", FROM_AUTOMATION, FROM_AUTOMATION_LANGUAGE),
    ):
        key, how = _find(given, _parsed(_setting(context, holder)))
        if key is not None:
            return key, exact if how == "exact" else language
    return locales[0], FROM_FIRST


def _formatting_locale(context: Mapping[str, Any]) -> Locale:
    """The locale the template filters format in for this context (the contact's, else the automation's)."""
    for holder in ("contact", "automation"):
        found = _parsed(_setting(context, holder))
        if found is not None:
            return found
    default = parse_locale(DEFAULT_LOCALE)
    assert default is not None
    return default


def _text_context(context: Mapping[str, Any], locale: str) -> Mapping[str, Any]:
    """The context to render texts in ``locale`` with: the same one when the filters already format in that
    language (a ``de-AT`` contact reading ``de`` texts keeps Austrian formats); else one whose contact's locale
    is the texts' own, so that dates and money in them read as their words do."""
    wanted = locale_of(locale)
    if wanted is None or _formatting_locale(context).language == wanted.language:
        return context
    contact = context.get("contact")
    return {**context, "contact": {**(contact if isinstance(contact, Mapping) else {}), "locale": locale}}


def localize(spec: A, context: Mapping[str, Any], locale: str | None = None) -> Localized[A]:
    """The action as it speaks to the run's person (:func:`choose_locale`), or in ``locale`` (one of the action's
    locales: a preview shows each), with the context to render its texts with."""
    locales = spec.locales
    if not locales:
        return Localized(spec, context)
    if locale is not None and locale in locales:
        chosen, source = locale, FROM_PREVIEW
    else:
        chosen, source = choose_locale(locales, context)
    return Localized(spec.in_locale(chosen), _text_context(context, chosen), chosen, source, locales)
