"""Durations of the language: ``15m``, ``2h``, ``3d``, ``1w``, ``1d12h`` (and signed offsets ``-1d``)."""

from __future__ import annotations

import re
from datetime import timedelta

from automations.errors import DurationError

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
_ORDER = "wdhm"
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
MAX_DURATION = timedelta(days=5 * 366)


def parse_duration(text: str, *, signed: bool = False) -> timedelta:
    """Parse a duration; units run from weeks to minutes, each at most once, largest first.

    A signed duration (used by ``offset``) may start with ``-`` or ``+``. Zero and durations over five
    years are refused: a zero delay is no delay, and a longer one is a typo.
    """
    if not isinstance(text, str):
        raise DurationError(f"expected a duration such as 15m, 2h, 3d, 1w or 1d12h, got {text!r}")
    raw = text.strip()
    sign = 1
    if signed and raw[:1] in "+-" and raw:
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:]
    match = _DURATION.match(raw)
    if not raw or match is None:
        raise DurationError(f"invalid duration {text!r}: use 15m, 2h, 3d, 1w or 1d12h")
    seconds = sum(int(n) * _UNITS[u] for n, u in zip(match.groups(), _ORDER, strict=True) if n)
    if seconds == 0:
        raise DurationError(f"invalid duration {text!r}: must be longer than zero")
    value = timedelta(seconds=seconds)
    if value > MAX_DURATION:
        raise DurationError(f"invalid duration {text!r}: longer than five years")
    return value * sign


def format_duration(value: timedelta) -> str:
    """The canonical spelling of a duration (whole minutes): ``timedelta(days=1, hours=12)`` -> ``1d12h``."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total) // 60 * 60
    parts = []
    for unit in _ORDER:
        count, total = divmod(total, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0m")
