"""Texts by locale (DESIGN.md §3 "Time and language").

Any text of an action may be a map by locale instead of one text, ``subject: {en: "See you tomorrow", de: "Bis
morgen"}``; a webhook's header values too, and a webhook's ``body`` or a bus event's ``detail`` may be one JSON
object by locale (``{en: {...}, de: {...}}``: two locales at least, see :func:`is_object_by_locale`). Checked here
when an automation is saved: each key a locale name Babel knows (``en``, ``es``, ``de-DE``, ``pt_BR``,
``zh-Hant``), each value as the plain field is, and every map of one action giving the same locales. Which locale
a run uses is the engine's choice (:mod:`automations.engine.locales`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter, ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import InitErrorDetails, PydanticCustomError

from automations.language.templates import parse_locale

if TYPE_CHECKING:
    from babel import Locale

#: How a field of an action may be localized: it is a text (or a map by locale of texts), a mapping whose values
#: are texts or maps by locale (a webhook's headers), or a JSON object that may be one object by locale.
FieldKind = Literal["text", "texts", "object"]

#: A locale name a map may be keyed by: a language, then maybe a script and a region (``en``, ``de-DE``,
#: ``zh-Hant``, ``es-419``, ``pt_BR``).
KEY_PATTERN = r"[A-Za-z]{2,3}(?:[-_][A-Za-z]{4})?(?:[-_](?:[A-Za-z]{2}|[0-9]{3}))?"
_KEY = re.compile(KEY_PATTERN)
#: The place of a map in its action: field names, and a header's name.
Place = tuple[str, ...]


def locale_of(name: Any) -> Locale | None:
    """The locale a key of a map by locale names, or None when it names none Babel knows in full: ``en-UK`` is
    ``en_GB`` (an alias), but ``fr-XX`` names no region of French and ``de-CH-1996`` is more than a locale."""
    return _locale_of(name) if isinstance(name, str) else None


@lru_cache(maxsize=512)
def _locale_of(name: str) -> Locale | None:
    if not _KEY.fullmatch(name):
        return None
    found = parse_locale(name)
    if found is None:
        return None
    for subtag in re.split(r"[-_]", name)[1:]:
        given = (found.script if len(subtag) == 4 else found.territory) or ""
        if given.lower() != subtag.lower():
            return None
    return found


def canonical(name: str) -> str | None:
    """One spelling for the names of one locale (``de-DE``, ``de_de`` -> ``de_DE``), or None for no locale."""
    found = locale_of(name)
    return str(found) if found is not None else None


def _unknown(key: Any) -> InitErrorDetails:
    problem = PydanticCustomError(
        "locale",
        "unknown locale '{locale}': a map by locale is keyed by locale names such as en, es or de-DE",
        {"locale": str(key)},
    )
    return InitErrorDetails(type=problem, loc=(str(key),), input=key)


def _twice(key: str, other: str) -> InitErrorDetails:
    problem = PydanticCustomError(
        "locale", "'{locale}' is the same locale as '{other}': give it once", {"locale": key, "other": other}
    )
    return InitErrorDetails(type=problem, loc=(key,), input=key)


def check_map(value: Mapping[Any, Any], check: Callable[[Any], Any]) -> dict[str, Any]:
    """A map by locale, every value checked by ``check``; a ``ValidationError`` names each bad key or value."""
    if not value:
        raise PydanticCustomError("locales", "a map by locale needs at least one locale, such as {en: ...}")
    errors: list[InitErrorDetails] = []
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, item in value.items():
        name = canonical(key)
        if name is None:
            errors.append(_unknown(key))
            continue
        if name in seen:
            errors.append(_twice(key, seen[name]))
            continue
        seen[name] = key
        try:
            out[key] = check(item)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                # the message as the plain field gives it (taken as it is: a template's error may hold braces)
                problem = PydanticCustomError(error["type"], error["msg"])
                errors.append(InitErrorDetails(type=problem, loc=(key, *error["loc"]), input=error["input"]))
    if errors:
        raise ValidationError.from_exception_data("localized", errors)
    return out


def by_locale(plain: Any) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """The validator of a field that is a ``plain`` value (a text) or a map by locale of them, each checked as
    ``plain`` is: errors name the locale (``subject.es: ...``)."""
    adapter: TypeAdapter[Any] = TypeAdapter(plain)

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, Mapping):
            return check_map(value, adapter.validate_python)
        if not isinstance(value, str):
            raise PydanticCustomError("localized", "expected a text, or a map by locale such as {en: ..., es: ...}")
        return adapter.validate_python(value)

    return validate


def is_object_by_locale(value: Any) -> bool:
    """Whether a JSON object (a webhook's body, a bus event's detail) is one object by locale: two keys at least,
    each a locale name, each holding an object. Anything else is one object for every reader."""
    return (
        isinstance(value, Mapping)
        and len(value) >= 2
        and all(locale_of(key) is not None and isinstance(item, Mapping) for key, item in value.items())
    )


def objects_by_locale(value: Mapping[str, Any], field: str) -> None:
    """Refuse an object by locale that names one locale twice (``en-GB`` and ``en-UK``)."""
    seen: dict[str, str] = {}
    for key in value:
        name = canonical(key) or key
        if name in seen:
            raise PydanticCustomError(
                "locale",
                "{field}: '{locale}' is the same locale as '{other}': give it once",
                {"field": field, "locale": key, "other": seen[name]},
            )
        seen[name] = key


def maps_of(fields: Iterable[tuple[str, FieldKind, Any]]) -> list[tuple[Place, Mapping[str, Any]]]:
    """Every map by locale among an action's fields (name, kind, value), with its place."""
    found: list[tuple[Place, Mapping[str, Any]]] = []
    for name, kind, value in fields:
        if kind == "texts" and isinstance(value, Mapping):
            found.extend(((name, str(key)), item) for key, item in value.items() if isinstance(item, Mapping))
        elif (kind == "object" and is_object_by_locale(value)) or (kind == "text" and isinstance(value, Mapping)):
            found.append(((name,), value))
    return found


def _names(found: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(canonical(key) or key for key in found))


def same_locales(maps: list[tuple[Place, Mapping[str, Any]]]) -> None:
    """Refuse maps by locale of one action that do not all give the same locales: a ``ValidationError`` at each
    map that differs from the first one."""
    if len(maps) < 2:
        return
    first_place, first = maps[0]
    expected = _names(first)
    errors: list[InitErrorDetails] = []
    for place, found in maps[1:]:
        if _names(found) != expected:
            problem = PydanticCustomError(
                "locales",
                "gives the locales {given} but {first} gives {expected}: every map by locale of one action gives "
                "the same locales",
                {"given": ", ".join(found), "first": ".".join(first_place), "expected": ", ".join(first)},
            )
            errors.append(InitErrorDetails(type=problem, loc=place, input=dict(found)))
    if errors:
        raise ValidationError.from_exception_data("localized", errors)


def pick(value: Any, kind: FieldKind, locale: str) -> Any:
    """A field's value in one locale (a canonical name, :func:`canonical`): the map's text, or the value itself
    when it is not a map by locale."""
    if kind == "texts" and isinstance(value, Mapping):
        return {key: pick(item, "text", locale) for key, item in value.items()}
    if (kind == "text" and isinstance(value, Mapping)) or (kind == "object" and is_object_by_locale(value)):
        for key, item in value.items():
            if canonical(key) == locale:
                return item
        raise KeyError(locale)
    return value
