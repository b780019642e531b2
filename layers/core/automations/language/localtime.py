"""Local wall-clock time in IANA time zones: the instant of a local time, the next one, and send windows.

Pure arithmetic on ``zoneinfo`` (the standard library and the tzdata it reads): no clock and no I/O. Every
instant given must be aware; every instant returned is in UTC.

Local times that a zone's clock changes make irregular follow two rules:

- **A gap** (the clocks jump forward, so 02:30 does not exist when 02:00 becomes 03:00): the time moves to the
  first instant after the gap, the moment the clocks jumped (03:00 local).
- **An overlap** (the clocks go back, so 01:30 happens twice): the first occurrence (``fold=0``). A day therefore
  has at most one instant for a local time.

A day that a zone skipped entirely (Pacific/Apia went from 29 to 31 December 2011) has no local time at all:
``next_at`` passes over it, while ``local_to_utc`` of a time on it, like any time in a gap, is the instant the gap
ends.

A send window (:class:`SendWindow`) is open on some days of the week between a start and an end time, by the
zone's wall clock: an instant is inside when its local weekday is one of the days and start <= local time < end.
A window may run over midnight (start after end, ``22:00``-``06:00``): the part after midnight belongs to the day
the window opened on (by the calendar), so a Friday window of 22:00-06:00 is open from Friday 22:00 to Saturday
06:00 and not from Friday 00:00 to 06:00. A window whose start equals its end is refused (empty or whole days:
say which with the days and times instead). Membership is by the wall clock, so when the clocks go back the
repeated hour is inside the window again if its local times are, and when they jump forward a window that
starts in the gap opens when the gap ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

#: Weekday names, Monday first (``date.weekday()`` is the index).
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY = timedelta(days=1)
_SAMPLE = 3 * 3600  # seconds between two looks at a zone's offset when looking for its changes
_CHUNK = timedelta(days=8)  # the stretch of time searched at once for a window's opening
_MAX_CHUNKS = 60  # a window that has not opened in this many stretches (more than a year) never opens
_MAX_DAYS = 8  # days tried by next_at: a zone skips at most one at a time


class LocalTimeError(ValueError):
    """An invalid input: a naive instant, a negative delay, or a send window that cannot open."""


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Days of the week and a time range, in a zone, when something may be sent (see the module's description)."""

    days: frozenset[str]
    start: time
    end: time
    zone: ZoneInfo

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        object.__setattr__(self, "days", days)
        unknown = sorted(days - set(WEEKDAYS))
        if unknown:
            raise LocalTimeError(f"unknown weekday {unknown[0]!r}: use {', '.join(WEEKDAYS)}")
        if not days:
            raise LocalTimeError("a send window needs at least one day")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise LocalTimeError("a send window's times are local: give them without a time zone")
        if self.start == self.end:
            raise LocalTimeError("a send window's start and end are the same time")

    @property
    def over_midnight(self) -> bool:
        """Whether the window closes on the day after it opens (its start is after its end)."""
        return self.start > self.end

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` is inside the window, by the zone's wall clock."""
        local = _utc(instant, "instant").astimezone(self.zone)
        now = local.time()
        weekday = local.weekday()
        if not self.over_midnight:
            return WEEKDAYS[weekday] in self.days and self.start <= now < self.end
        return (WEEKDAYS[weekday] in self.days and now >= self.start) or (
            WEEKDAYS[weekday - 1] in self.days and now < self.end
        )


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant the wall clock in ``zone`` shows ``at`` on ``day``: in a gap, the gap's end; twice, the first."""
    found = _instants(day, at, zone)
    return found[0] if found else _gap_end(datetime.combine(day, at.replace(tzinfo=None)), zone)


def next_at(earliest: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after ``earliest`` that is ``at`` local time on some day (by :func:`local_to_utc`).

    A day the zone skipped entirely has no such instant.
    """
    start = _utc(earliest, "earliest")
    day = start.astimezone(zone).date() - _DAY  # a gap crossing midnight moves the day before's time into today
    for _ in range(_MAX_DAYS):
        if not _skipped(day, zone):
            candidate = local_to_utc(day, at, zone)
            if candidate >= start:
                return candidate
        day += _DAY
    raise LocalTimeError(f"{at.isoformat()} does not occur in {zone.key} within {_MAX_DAYS} days")  # pragma: no cover


def delay_at(now: datetime, after: timedelta, at: time, zone: ZoneInfo) -> datetime:
    """At least ``after`` from ``now``, then the next ``at`` local time: ``next_at(now + after, at, zone)``."""
    if after < timedelta(0):
        raise LocalTimeError("a delay cannot be negative")
    return next_at(_utc(now, "now") + after, at, zone)


def next_opening(earliest: datetime, window: SendWindow) -> datetime:
    """``earliest`` if it is inside ``window``, else the first instant after it where the window opens."""
    start = _utc(earliest, "earliest")
    if window.contains(start):
        return start
    zone = window.zone
    low = start
    for _ in range(_MAX_CHUNKS):
        high = low + _CHUNK
        # The window can open only where the wall clock reaches its start (either time of a repeated hour, or the
        # end of a gap, which is a change of offset), or where a change of offset moves the clock into it.
        candidates = set(_changes(low, high, zone))
        day = low.astimezone(zone).date() - _DAY
        last = high.astimezone(zone).date() + _DAY
        while day <= last:
            candidates.update(_instants(day, window.start, zone))
            day += _DAY
        for candidate in sorted(c for c in candidates if start < c <= high):
            if window.contains(candidate):
                return candidate
        low = high
    raise LocalTimeError("the send window never opens")  # pragma: no cover


# --- zone arithmetic ----------------------------------------------------------------------------------------


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise LocalTimeError(f"{name} must be an aware datetime (with a time zone)")
    return instant.astimezone(UTC)


def _instants(day: date, at: time, zone: ZoneInfo) -> list[datetime]:
    """The instants (in UTC, in order) when the wall clock in ``zone`` shows ``at`` on ``day``: none in a gap."""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _offset(seconds: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(seconds, zone).utcoffset()


def _first_change(low: int, high: int, zone: ZoneInfo) -> int:
    """The first second in (``low``, ``high``] whose offset differs from ``low``'s (``high``'s must differ)."""
    before = _offset(low, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the gap holding the local time ``wall`` ends: when the clocks jumped over it."""
    # In a gap, fold=1 reads the wall clock with the offset after the jump and fold=0 with the one before: the jump
    # lies between the two readings.
    after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    low, high = math.floor(min(after, before).timestamp()), math.ceil(max(after, before).timestamp())
    return datetime.fromtimestamp(_first_change(low, high, zone), UTC)


def _changes(low: datetime, high: datetime, zone: ZoneInfo) -> list[datetime]:
    """The instants in (``low``, ``high``] when ``zone``'s offset changes (changes under 3 h apart may merge)."""
    found: list[datetime] = []
    start, stop = math.floor(low.timestamp()), math.ceil(high.timestamp())
    previous = start
    for sample in (*range(start + _SAMPLE, stop, _SAMPLE), stop):
        while _offset(previous, zone) != _offset(sample, zone):
            previous = _first_change(previous, sample, zone)
            found.append(datetime.fromtimestamp(previous, UTC))
        previous = sample
    return found


def _skipped(day: date, zone: ZoneInfo) -> bool:
    """Whether ``zone`` skipped ``day`` entirely: its midnight is in a gap that ends after the day."""
    midnight = datetime.combine(day, time())
    if _instants(day, time(), zone):
        return False
    return _gap_end(midnight, zone).astimezone(zone).replace(tzinfo=None) >= midnight + _DAY
