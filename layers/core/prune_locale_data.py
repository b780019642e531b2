"""Babel's locale data less what the product never reads: run by the layer's build (Makefile), never shipped.

Each ``babel/locale-data/<locale>.dat`` is a pickle of one dict (CLDR data: month names, number formats, time
zone names, and also unit names, language and region names, relative dates ...). The template filters (``date``,
``time``, ``datetime``, ``money``, ``number``, ``percent``: automations.language.templates) and the locale
checks reach only :data:`KEPT`; every other key is dropped from every file, and every file stays, so the
locales Babel knows (and that definitions may name) are the same. Babel merges a locale's data with its
parents' key by key, and its aliases point inside one key, so the data it reads is the same as before.

Usage: ``python prune_locale_data.py SOURCE [TARGET]``: prunes the folder SOURCE in place, or writes the
pruned copy of SOURCE into TARGET (other files copied as they are). Unpickling needs Babel importable (its
``Alias`` class): run it with the Babel whose data it prunes on the path. Standard library only.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

#: The keys the product's Babel calls read (Babel 2.19), and why.
KEPT: dict[str, str] = {
    # format_date / format_time / format_datetime with a named format (short, medium, long, full), and the
    # joining pattern of the datetime filter (datetime_formats_relative first, as ICU does)
    "date_formats": "named date formats",
    "time_formats": "named time formats",
    "datetime_formats": "get_datetime_format: joining a date and a time",
    "datetime_formats_relative": "the datetime filter's joining pattern for long and full",
    # the fields of a date pattern (babel.dates.PATTERN_CHARS, which the templates accept)
    "eras": "G",
    "quarters": "Q, q",
    "months": "M, L",
    "days": "E, c, e (3 letters and more)",
    "day_periods": "a, b, B",
    "day_period_rules": "b, B (which period a time is in)",
    "week_data": "w, W, Y, e, c (first day of the week, minimal days)",
    "time_zones": "z, v, V (a zone's own name or city)",
    "meta_zones": "z, v, V (a metazone's name: Central European Time)",
    "zone_formats": "z, v, V, O, Z (GMT+1, region and fallback formats)",
    "territories": "v, V (a zone's location: a region's name, such as Kanada (St. John's))",
    # format_currency (standard format), format_decimal, format_percent, in the Latin digits
    "number_symbols": "decimal and group separators, signs, exponent, infinity",
    "decimal_formats": "the number filter's locale format",
    "percent_formats": "the percent filter's locale format",
    "currency_formats": "the money filter's locale format",
    "currency_symbols": "the money filter's currency symbol",
    # NumberPattern.apply looks the currency's name up whenever it puts a currency in (get_currency_name, the
    # argument of its ¤¤¤ replacement, evaluated even when the pattern has no ¤¤¤)
    "currency_names": "the money filter: get_currency_name",
    "currency_names_plural": "the money filter: get_currency_name",
    "plural_form": "the money filter: get_currency_name (which plural of the name)",
}
# Not read, and dropped: the names of languages, scripts and variants, units, relative dates (date_fields),
# compact and scientific formats, skeletons, intervals, list patterns, ordinal rules, numbering systems other
# than Latin digits, measurement systems, character order, and the locale's own id.


def pruned(data: dict[str, Any]) -> dict[str, Any]:
    """The data of one locale file, kept keys only (in their order)."""
    return {key: value for key, value in data.items() if key in KEPT}


def prune_file(source: Path, target: Path) -> None:
    """Write the pruned data of the locale file ``source`` to ``target`` (which may be ``source``)."""
    with source.open("rb") as file:
        data = pickle.load(file)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not a locale data file")
    content = pickle.dumps(pruned(data), protocol=pickle.HIGHEST_PROTOCOL)
    partial = target.with_name(target.name + ".tmp")
    partial.write_bytes(content)
    partial.replace(target)


def prune(source: Path, target: Path | None = None) -> int:
    """Prune Babel's locale data folder ``source`` in place, or into the folder ``target`` (made if need be,
    other files copied): the number of locale files written."""
    if not (source / "root.dat").is_file():
        raise FileNotFoundError(f"{source} is not Babel's locale data (no root.dat)")
    target = source if target is None else target
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.iterdir()):
        if path.suffix == ".dat":
            prune_file(path, target / path.name)
            count += 1
        elif target != source and path.is_file():
            shutil.copy2(path, target / path.name)  # LICENSE.unicode
    return count


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        sys.stderr.write("usage: prune_locale_data.py SOURCE [TARGET]\n")
        return 2
    source = Path(argv[0])
    target = Path(argv[1]) if len(argv) == 2 else None
    count = prune(source, target)
    sys.stdout.write(f"pruned {count} locale files of {source}: kept {', '.join(KEPT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
