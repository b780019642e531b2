"""Babel's locale data as the layer ships it: every locale, and in each only the keys the template filters read
(layers/core/prune_locale_data.py, run by the layer's build).

The whole test session formats with the pruned data (tests/conftest.py). Here the filters' output in a spread of
locales and time zones, for every named format, every field a date pattern may hold, amounts in several
currencies and number patterns, is the same as with Babel's data whole: that of a process of its own, which
loads the installed data untouched.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import babel.localedata
import pytest
from automations.errors import TemplateError
from automations.language.templates import render
from babel.dates import PATTERN_CHARS

from tests.conftest import PRUNE_LOCALE_DATA, ROOT, installed_locale_data, prune_module, pruned_locale_data

PRUNE = prune_module()
KEPT: dict[str, str] = PRUNE.KEPT

#: Languages, scripts and regions of every kind: right-to-left, CJK, Indic, Cyrillic, other digits and periods.
LOCALES = (
    "en",
    "en-GB",
    "de-CH",
    "fr",
    "fr-CA",
    "ja",
    "ar",
    "ar-EG",
    "uk",
    "hi",
    "zh-Hant-TW",
    "zh",
    "sr-Latn",
    "pt-BR",
    "ff-Adlm",
    "fa",
    "he",
    "ko",
    "th",
    "es-419",
    "my",
    "fi",
)
#: Zones with a metazone, with daylight saving time, a half-hour offset, a city of a region with many zones.
ZONES = ("Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "America/Los_Angeles", "UTC", "Australia/Lord_Howe")
#: Winter and summer, a fraction of a second late in the evening, midnight at a year's turn.
MOMENTS = ("2026-12-01T09:00:00Z", "2026-07-15T23:45:30.123456Z", "2027-01-01T00:00:00Z")
DAY = "2026-12-31"
NAMED = ("short", "medium", "long", "full")
#: Every field a date pattern may hold (babel.dates.PATTERN_CHARS, which the templates accept), at every width.
FIELDS = tuple(
    char * width for char, widths in PATTERN_CHARS.items() for width in (widths if widths is not None else (1, 2, 3, 4))
)
ZONE_FIELDS = tuple(field for field in FIELDS if field[0] in "zZOvVxX")
CURRENCIES = ("EUR", "USD", "JPY", "CHF", "INR", "GBP", "BHD", "CNY", "XOF", "BRL", "UAH", "ILS")
AMOUNTS = ("1234.5", "-1234567.891", "0", "0.005", "987654321")
NUMBER_PATTERNS = (None, "#,##0.00", "0.###E0", "@@@", "#,##,##0.###", "000000", "#,##0.00;(#,##0.00)", "'#'#.#")
PERCENT_PATTERNS = (None, "#,##0.0%", "0%", "#,##0‰")
RATIOS = ("0.25", "-0.0123", "12.345", "1")

Case = tuple[str, dict[str, Any]]


def cases() -> list[Case]:
    """Each template and its context."""
    found: list[Case] = []
    for locale in LOCALES:

        def add(source: str, zone: str = "Europe/Berlin", locale: str = locale, **values: Any) -> None:
            found.append((source, {"contact": {"locale": locale, "timezone": zone}, **values}))

        for zone in ZONES:
            for moment in (MOMENTS[0], MOMENTS[1]):
                for name in NAMED:
                    add("{{ s | date(f) }}|{{ s | time(f) }}|{{ s | datetime(f) }}", zone, s=moment, f=name)
                for field in ZONE_FIELDS:
                    add("{{ s | datetime(p) }}|{{ s | time(p) }}", zone, s=moment, p=f"{field} '{field}'")
        for name in NAMED:
            add("{{ d | date(f) }}|{{ d | datetime(f) }}", d=DAY, f=name)
            add("{{ s | datetime(f) }}", s=MOMENTS[2], f=name)
        add("{{ s | date }}|{{ s | time }}|{{ s | datetime }}|{{ d | date }}", s=MOMENTS[0], d=DAY)
        for field in FIELDS:
            for moment in MOMENTS:
                add("{{ s | datetime(p) }}", s=moment, p=field)
            add("{{ s | time(p) }}", s=MOMENTS[1], p=field)
            add("{{ d | date(p) }}", d=DAY, p=field)
        add("{{ s | datetime(p) }}", s=MOMENTS[0], p="EEEE d MMMM y, HH:mm zzzz (VVVV) 'at' h:mm B")
        for currency in CURRENCIES:
            for amount in AMOUNTS:
                add("{{ n | money(c) }}", n=amount, c=currency)
        for number_pattern in NUMBER_PATTERNS:
            for amount in AMOUNTS:
                add("{{ n | number(p) }}", n=amount, p=number_pattern)
        for percent_pattern in PERCENT_PATTERNS:
            for ratio in RATIOS:
                add("{{ n | percent(p) }}", n=ratio, p=percent_pattern)
    return found


def outputs(given: list[Case]) -> list[str]:
    """What each template renders, or its error (the same on both sides when Babel itself refuses)."""
    out = []
    for source, context in given:
        try:
            out.append(render(source, context, html=False))
        except TemplateError as exc:
            out.append(f"error: {exc}")
    return out


def whole_babel_outputs(given: list[Case]) -> list[str]:
    """:func:`outputs` in a process of its own, which formats with Babel's installed locale data, whole."""
    code = (
        "import json, sys, babel.localedata\n"
        "from tests.unit.test_locale_data import installed_locale_data, outputs\n"
        "assert babel.localedata._dirname == str(installed_locale_data()), babel.localedata._dirname\n"
        "json.dump(outputs(json.load(sys.stdin)), sys.stdout)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(given), capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout)
    return found


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        data: dict[str, Any] = pickle.load(file)
    return data


def aliases(value: Any) -> list[tuple[str, ...]]:
    """The keys every alias inside ``value`` points at."""
    if isinstance(value, babel.localedata.Alias):
        return [value.keys]
    if isinstance(value, dict):
        return [keys for item in value.values() for keys in aliases(item)]
    if isinstance(value, tuple):
        return [keys for item in value for keys in aliases(item)]
    return []


# --- what pruning keeps -----------------------------------------------------------------------------------------


def test_the_session_formats_with_the_pruned_data() -> None:
    assert babel.localedata._dirname == str(pruned_locale_data())
    assert Path(babel.localedata._dirname) != installed_locale_data()


def test_pruning_keeps_every_locale_babel_knows() -> None:
    installed, pruned = installed_locale_data(), pruned_locale_data()
    # Every file (LICENSE.unicode too), so that a definition may name the same locales as before
    assert sorted(path.name for path in pruned.iterdir()) == sorted(path.name for path in installed.iterdir())
    expected = sorted(path.stem for path in installed.glob("*.dat") if path.stem != "root")
    assert sorted(babel.localedata.locale_identifiers()) == expected
    assert len(expected) > 1000


def test_each_locale_file_keeps_exactly_its_kept_keys_with_their_data() -> None:
    installed, pruned = installed_locale_data(), pruned_locale_data()
    for path in sorted(installed.glob("*.dat")):
        whole, kept = load(path), load(pruned / path.name)
        assert list(kept) == [key for key in whole if key in KEPT], path.name
        for key, value in kept.items():
            assert pickle.dumps(value) == pickle.dumps(whole[key]), f"{path.name}: {key}"
            # Babel resolves an alias in the locale's own data: none points at a key that is gone
            assert all(keys[0] in KEPT for keys in aliases(value)), f"{path.name}: {key}"
    # The root locale, which every other inherits from, has each kept key but the day period rules
    assert set(KEPT) - set(load(pruned / "root.dat")) == {"day_period_rules"}


def test_the_pruned_files_are_much_smaller() -> None:
    def size(folder: Path) -> int:
        return sum(path.stat().st_size for path in folder.glob("*.dat"))

    installed, pruned = installed_locale_data(), pruned_locale_data()
    assert size(pruned) < 0.4 * size(installed)
    for name in ("en.dat", "de.dat", "ja.dat"):
        assert (pruned / name).stat().st_size < 0.35 * (installed / name).stat().st_size


def test_the_script_prunes_a_folder_in_place_as_the_layer_build_runs_it(tmp_path: Path) -> None:
    for name in ("root.dat", "en.dat", "en_GB.dat", "LICENSE.unicode"):
        shutil.copy2(installed_locale_data() / name, tmp_path / name)
    result = subprocess.run(
        [sys.executable, str(PRUNE_LOCALE_DATA), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pruned 3 locale files")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["LICENSE.unicode", "en.dat", "en_GB.dat", "root.dat"]
    for name in ("root.dat", "en.dat", "en_GB.dat"):
        assert set(load(tmp_path / name)) <= set(KEPT)
    assert set(load(tmp_path / "en.dat")) >= {"months", "currency_formats", "meta_zones"}


def test_the_script_refuses_a_folder_that_is_no_locale_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no root\.dat"):
        PRUNE.prune(tmp_path)
    assert PRUNE.main([]) == 2


# --- what the filters print -------------------------------------------------------------------------------------


def test_every_filter_formats_the_same_with_the_pruned_data_as_with_the_whole() -> None:
    given = cases()
    pruned, whole = outputs(given), whole_babel_outputs(given)
    assert len(pruned) == len(whole) == len(given)
    different = [
        (source, context, mine, theirs)
        for (source, context), mine, theirs in zip(given, pruned, whole, strict=True)
        if mine != theirs
    ]
    assert different == [], f"{len(different)} of {len(given)} differ, first: {different[:3]}"
    # And they did format: no data was missing, and the named formats, amounts and numbers all printed
    assert not [out for out in pruned if "KeyError" in out or "currency_names" in out]
    named = [out for (source, _), out in zip(given, pruned, strict=True) if "(f)" in source or "money" in source]
    assert named and not [out for out in named if out.startswith("error")]


def test_a_few_outputs_read_as_expected_with_the_pruned_data() -> None:
    berlin = {"contact": {"locale": "de", "timezone": "Europe/Berlin"}, "s": MOMENTS[0]}
    assert render("{{ s | datetime('full') }}", berlin, html=False) == (
        "Dienstag, 1. Dezember 2026 um 10:00:00 Mitteleuropäische Normalzeit"
    )
    assert render("{{ s | datetime('VVVV') }}", berlin, html=False) == "Deutschland (Berlin) (Ortszeit)"
    assert render("{{ 640 | money('EUR') }}", berlin, html=False) == "640,00\xa0€"
    tokyo = {"contact": {"locale": "ja", "timezone": "Asia/Tokyo"}, "s": MOMENTS[0]}
    assert (
        render("{{ s | date('full') }}|{{ 1234.5 | money('JPY') }}", tokyo, html=False) == "2026年12月1日火曜日|￥1,234"
    )
