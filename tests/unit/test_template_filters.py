"""Template filters that format in the reader's time zone and language: date, time, datetime, money, number, percent."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from automations.errors import TemplateError
from automations.language.templates import check_template, known_zone, parse_locale, render

STARTS_AT = "2026-12-01T09:00:00Z"


def context(contact: dict[str, Any] | None = None, automation: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "contact": contact or {},
        "automation": {"id": "a", "name": "A", "version": 1, **(automation or {})},
        "data": {"session": {"starts_at": STARTS_AT}, "amount": 640},
    }


@pytest.fixture
def warnings() -> Iterator[list[logging.LogRecord]]:
    """The warnings the filters log."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("automations.language.templates")
    handler = Keep(logging.WARNING)
    log.addHandler(handler)
    try:
        yield records
    finally:
        log.removeHandler(handler)


# --- the required examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["de-DE", "de_DE", "de"])
def test_a_full_datetime_in_the_contacts_zone_and_language(locale: str) -> None:
    # Given a German-speaking contact in Berlin and a session at 09:00 UTC
    values = context({"locale": locale, "timezone": "Europe/Berlin"})
    # When its start is rendered in full
    out = render("{{ data.session.starts_at | datetime('full') }}", values, html=True)
    # Then it is written in German, at Berlin's time
    assert out == "Dienstag, 1. Dezember 2026 um 10:00:00 Mitteleuropäische Normalzeit"


@pytest.mark.parametrize(("locale", "expected"), [("de", "640,00 €"), ("en", "€640.00"), ("fr-FR", "640,00 €")])
def test_money_as_the_reader_writes_it(locale: str, expected: str) -> None:
    # Given an amount in euros
    # When it is rendered for a reader of that language
    out = render("{{ 640 | money('EUR') }}", context({"locale": locale}), html=False)
    # Then it has the language's separators and the currency's sign where the language puts it
    assert out.replace("\u202f", " ").replace("\xa0", " ") == expected


# --- time zone and language: where they come from -----------------------------------------------------------


def test_without_settings_the_filters_use_utc_and_english() -> None:
    out = render(
        "{{ data.session.starts_at | datetime('long') }}", {"data": {"session": {"starts_at": STARTS_AT}}}, html=False
    )
    assert out == "December 1, 2026 at 9:00:00\u202fAM UTC"


def test_the_automations_settings_apply_when_the_contact_has_none() -> None:
    # Given a contact without settings, in an automation set to Lisbon and Portuguese
    values = context({}, {"timezone": "Europe/Lisbon", "locale": "pt-PT"})
    # When a time and an amount are rendered
    # Then they follow the automation's settings
    assert render("{{ data.session.starts_at | time('short') }}", values, html=False) == "09:00"
    assert render("{{ 1234.5 | money('EUR') }}", values, html=False).replace("\xa0", " ") == "1 234,50 €"


def test_the_contacts_settings_win_over_the_automations() -> None:
    values = context({"timezone": "Asia/Tokyo", "locale": "ja"}, {"timezone": "Europe/Lisbon", "locale": "pt"})
    assert render("{{ data.session.starts_at | time('short') }}", values, html=False) == "18:00"


def test_an_unknown_zone_falls_back_to_the_automations_and_is_logged_once(warnings: list[logging.LogRecord]) -> None:
    # Given a contact whose time zone does not exist, in an automation set to Berlin
    zone = f"Mars/Base_{uuid.uuid4().hex[:8]}"
    values = context({"timezone": zone}, {"timezone": "Europe/Berlin"})
    # When a time is rendered twice
    first = render("{{ data.session.starts_at | time('HH:mm') }}", values, html=False)
    second = render("{{ data.session.starts_at | time('HH:mm') }}", values, html=False)
    # Then the automation's zone is used, and the unknown zone is reported once
    assert first == second == "10:00"
    reported = [r for r in warnings if zone in r.getMessage() or zone in str(getattr(r, "value", ""))]
    assert len(reported) == 1
    assert "time zone" in reported[0].getMessage()


def test_an_unknown_locale_falls_back_to_the_automations_then_english(warnings: list[logging.LogRecord]) -> None:
    tag = f"qq-{uuid.uuid4().hex[:6]}"
    assert render("{{ 640 | money('EUR') }}", context({"locale": tag}, {"locale": "de"}), html=False) == "640,00\xa0€"
    assert render("{{ 640 | money('EUR') }}", context({"locale": tag}, {"locale": "zz"}), html=False) == "€640.00"
    assert len([r for r in warnings if tag in str(getattr(r, "value", ""))]) == 1


@pytest.mark.parametrize("zone", ["", None, 42, "../etc/passwd", "Europe", "localtime", "Europe/Berlin/../x"])
def test_a_zone_that_is_no_zone_never_fails_the_rendering(zone: Any) -> None:
    out = render("{{ data.session.starts_at | time('HH:mm') }}", context({"timezone": zone}), html=False)
    assert out == "09:00"


def test_the_zone_follows_summer_time() -> None:
    values = context({"timezone": "Europe/Berlin", "locale": "de"})
    assert render("{{ '2026-07-01T09:00:00Z' | time('full') }}", values, html=False) == (
        "11:00:00 Mitteleuropäische Sommerzeit"
    )


# --- dates and times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ data.session.starts_at | date }}", "Dec 1, 2026"),
        ("{{ data.session.starts_at | date('full') }}", "Tuesday, December 1, 2026"),
        ("{{ data.session.starts_at | time }}", "9:00:00\u202fAM"),
        ("{{ data.session.starts_at | time('short') }}", "9:00\u202fAM"),
        ("{{ data.session.starts_at | datetime }}", "Dec 1, 2026, 9:00:00\u202fAM"),
        ("{{ data.session.starts_at | datetime('short') }}", "12/1/26, 9:00\u202fAM"),
        ("{{ data.session.starts_at | datetime(\"EEEE d MMMM 'at' HH:mm\") }}", "Tuesday 1 December at 09:00"),
        ("{{ data.session.starts_at | datetime(format='y-MM-dd HH:mm') }}", "2026-12-01 09:00"),
        ("{{ '2026-12-01' | datetime('full') }}", "Tuesday, December 1, 2026"),  # a date alone is a date
        ("{{ '2026-12-01' | date('d MMM') }}", "1 Dec"),
        ("{{ '2026-12-01T09:00:00' | time('HH:mm') }}", "09:00"),  # no offset: UTC
        ("{{ '2026-12-01T09:00:00+05:30' | time('HH:mm') }}", "03:30"),
        ("{{ nothing | datetime }}{{ none | date }}{{ '' | time }}", ""),
    ],
)
def test_dates_and_times_in_utc_and_english(source: str, expected: str) -> None:
    assert render(source, {**context(), "none": None}, html=False) == expected


def test_a_timestamps_date_is_the_date_where_the_reader_is() -> None:
    # Given 23:30 UTC, already the next day in Tokyo
    source = "{{ '2026-12-01T23:30:00Z' | date('y-MM-dd') }}"
    # When its date is rendered for a reader in Tokyo and one in New York
    # Then each gets their own calendar date
    assert render(source, context({"timezone": "Asia/Tokyo"}), html=False) == "2026-12-02"
    assert render(source, context({"timezone": "America/New_York"}), html=False) == "2026-12-01"


def test_python_dates_and_datetimes_are_formatted_too() -> None:
    values = {
        **context({"timezone": "Europe/Berlin"}),
        "aware": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "naive": datetime(2026, 12, 1, 9, 0),
        "day": date(2026, 12, 1),
    }
    out = render(
        "{{ aware | time('HH:mm') }} {{ naive | time('HH:mm') }} {{ day | date('d.M.y') }}", values, html=False
    )
    assert out == "10:00 10:00 1.12.2026"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'not a date' | datetime }}", "datetime: 'not a date' is not an ISO-8601 date or timestamp"),
        ("{{ 42 | date }}", "date: int is not an ISO-8601 date or timestamp"),
        ("{{ '2026-12-01' | time }}", "time: '2026-12-01' is a date, with no time of day"),
        ("{{ '2026-12-01T09:00:00Z' | datetime(fmt) }}", "datetime: '%A %d %B' is a strftime format"),
        ("{{ '2026-12-01T09:00:00Z' | datetime(name) }}", "datetime: unknown format 'Full'"),
        ("{{ '2026-12-01T09:00:00Z' | datetime(7) }}", "datetime: the format must be a text, not int"),
    ],
)
def test_what_cannot_be_formatted_fails_the_rendering_with_the_reason(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(f"line one\n{source}", {"fmt": "%A %d %B", "name": "Full"}, html=False)
    assert caught.value.message.startswith(reason)
    assert caught.value.line == 2


# --- numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "locale", "expected"),
    [
        ("{{ 1234.5 | number }}", "en", "1,234.5"),
        ("{{ 1234.5 | number }}", "de", "1.234,5"),
        ("{{ '1234.5' | number }}", "de-CH", "1'234.5"),
        ("{{ 3.14159 | number }}", "en", "3.142"),
        ("{{ 3.14159 | number('#,##0.00') }}", "de", "3,14"),
        ("{{ 0.256 | percent }}", "en", "26%"),
        ("{{ 0.256 | percent('#,##0.0%') }}", "en", "25.6%"),
        ("{{ '0.5' | percent }}", "de", "50\xa0%"),
        ("{{ 1234.5 | money('usd') }}", "en-US", "$1,234.50"),
        ("{{ '19.9' | money('CHF') }}", "de-CH", "CHF\xa019.90"),
        ("{{ 1000 | money('JPY') }}", "ja", "￥1,000"),
        ("{{ -3.456 | money('EUR') }}", "en", "-€3.46"),
        ("{{ amount | money('EUR') }}", "en", "€1.10"),
        ("{{ nothing | money('EUR') }}{{ nothing | number }}{{ nothing | percent }}", "en", ""),
    ],
)
def test_numbers_as_the_reader_writes_them(source: str, locale: str, expected: str) -> None:
    values = {**context({"locale": locale}), "amount": Decimal("1.1")}
    assert render(source, values, html=False) == expected


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'abc' | money('EUR') }}", "money: 'abc' is not a number"),
        ("{{ true | number }}", "number: bool is not a number"),
        ("{{ 'NaN' | number }}", "number: 'NaN' is not a number"),
        ("{{ '1e400' | percent }}", "percent: '1e400' has more than 21 digits"),
        ("{{ (10 ** 30) | number }}", "number: int has more than 21 digits"),
        ("{{ 1 | money(currency) }}", "money: unknown currency 'ZZZ'"),
        ("{{ 1 | money(nothing) }}", "money: no currency"),
        ("{{ 1 | number(pattern) }}", "number: 'abc' is not a number pattern"),
    ],
)
def test_numbers_that_cannot_be_formatted_fail_the_rendering(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, {"currency": "ZZZ", "pattern": "abc"}, html=False)
    assert caught.value.message.startswith(reason)


# --- checked when the automation is saved -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ x | date }}{{ x | time }}{{ x | datetime }}{{ x | number }}{{ x | percent }}",
        "{{ x | datetime('full') }}{{ x | date('short') }}{{ x | time(format='long') }}",
        "{{ x | datetime(\"EEEE d MMMM 'um' HH:mm\") }}{{ x | date('dd.MM.y') }}{{ x | time(\"h 'o''clock' a\") }}",
        "{{ x | datetime(data.format) }}{{ x | money(data.currency) }}",  # checked when rendered
        "{{ x | money('EUR') }}{{ x | money(currency='chf') }}{{ x | number('#,##0.00') }}{{ x | percent('0.0%') }}",
        "{% if x %}{{ x | money('EUR') | upper }}{% endif %}{% filter datetime('short') %}{{ x }}{% endfilter %}",
    ],
)
def test_the_filters_and_their_arguments_are_accepted_at_save(source: str) -> None:
    check_template(source, html=True)
    check_template(source, html=False)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ x | datetime('mediun') }}", "datetime: 'i' is not a field of a date pattern"),
        ("{{ x | date('FULL') }}", "date: unknown format 'FULL'"),
        ("{{ x | time('Long') }}", "time: unknown format 'Long'"),
        ("{{ x | datetime('%A %d %B, %H:%M') }}", "datetime: '%A %d %B, %H:%M' is a strftime format"),
        ('{{ x | datetime("d \'of MMMM") }}', 'datetime: the pattern "d \'of MMMM" has an unclosed quote'),
        ("{{ x | date('dddd') }}", "date: Invalid length for field: 'dddd'"),
        ("{{ x | date('" + "y" * 101 + "') }}", "date: a pattern has at most 100 characters"),
        ("{{ x | money }}", "filter 'money' needs a currency, as in money('EUR')"),
        ("{{ x | money('EURO') }}", "money: unknown currency 'EURO'"),
        ("{{ x | money('EUR', 'x') }}", "filter 'money' takes at most one argument: currency"),
        ("{{ x | date(style='full') }}", "filter 'date' takes at most one argument: format"),
        ("{{ x | date('full', format='short') }}", "filter 'date' takes at most one argument: format"),
        ("{{ x | number('abc') }}", "number: 'abc' is not a number pattern such as '#,##0.00'"),
        ("{{ x | percent(5) }}", "percent: the format must be a text, not int"),
        ("{{ x | time('w') }}", "time: 'w' is a field of a date, not of a time of day; use datetime"),
        ("{{ x | time('HH:mm, d MMM') }}", "time: 'M' is a field of a date, not of a time of day"),
        ("{{ x | date('d.M.y HH:mm') }}", "date: 'H' is a field of a time of day, not of a date; use datetime"),
        ("{{ x | date('zzzz') }}", "date: 'z' is a field of a time of day, not of a date"),
    ],
)
def test_a_filter_given_what_it_refuses_is_refused_at_save_with_its_line(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(f"<p>\n{source}</p>", html=True)
    assert caught.value.message.startswith(message)
    assert caught.value.line == 2


# --- validation helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("de-CH", "de_CH"),
        ("de_CH", "de_CH"),
        ("DE-ch", "de_CH"),
        ("de-CH-1996", "de_CH"),
        ("fr-XX", "fr"),
        ("zh-Hant-TW", "zh_Hant_TW"),
        ("en-US-u-ca-buddhist", "en_US"),
        (" pt-BR ", "pt_BR"),
    ],
)
def test_parse_locale_finds_the_closest_known_language(text: str, expected: str) -> None:
    found = parse_locale(text)
    assert found is not None and str(found) == expected


@pytest.mark.parametrize("text", ["", "  ", "qq", "und", "root", "x-private", "12", "de" * 40, None, 5])
def test_parse_locale_knows_no_language_in_these(text: Any) -> None:
    assert parse_locale(text) is None


@pytest.mark.parametrize("name", ["UTC", "Europe/Lisbon", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_known_zones(name: str) -> None:
    assert known_zone(name)


@pytest.mark.parametrize("name", ["", "utc", "Europe", "Mars/Base", "../etc/passwd", "/etc/localtime", "localtime"])
def test_unknown_zones(name: str) -> None:
    assert not known_zone(name)


# --- bounds and cold start ----------------------------------------------------------------------------------


def test_formatting_is_charged_to_the_renderings_budget() -> None:
    # Given a loop formatting a number many times
    source = "{% for i in range(10000) %}{{ i | number }}{% endfor %}"
    # When it is rendered
    # Then the work budget stops it, as it stops any other rendering that does too much
    with pytest.raises(TemplateError, match="rendering takes more than"):
        render(source, {}, html=False)


def test_babel_is_not_imported_with_the_templates_module() -> None:
    code = (
        "import sys, automations.language.templates as t\n"
        "assert not [m for m in sys.modules if m == 'babel' or m.startswith('babel.')]\n"
        "t.check_template(\"{{ x | datetime('full') }}{{ x | money(c) }}\", html=True)\n"
        "assert 'babel' not in sys.modules\n"
        "print(t.render(\"{{ 1 | money('EUR') }}\", {}, html=False))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "€1.00\n"


def test_every_pattern_field_the_time_and_date_filters_accept_renders() -> None:
    """What a pattern may hold at save, each filter can format: no accepted field fails when a run renders."""
    from babel.dates import PATTERN_CHARS

    values = {"moment": "2026-12-01T09:30:00Z"}
    for name in ("time", "date", "datetime"):
        for char in PATTERN_CHARS:
            source = f"{{{{ moment | {name}('{char}') }}}}"
            try:
                check_template(source, html=False)
            except TemplateError:
                continue
            assert render(source, values, html=False), source
