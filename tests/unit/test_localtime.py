"""Local wall-clock time: the instant of a local time, the next one, delays to a time of day, send windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from automations.language.localtime import (
    WEEKDAYS,
    LocalTimeError,
    SendWindow,
    delay_at,
    local_to_utc,
    next_at,
    next_opening,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

#: Zones with every kind of irregular local time: one-hour and 30-minute shifts, a two-hour shift, changes at
#: midnight, a skipped day (Pacific/Apia, 2011-12-30), quarter-hour and half-hour offsets, and none at all.
ZONES = (
    "Europe/Lisbon",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "UTC",
)
MINUTE = timedelta(minutes=1)
FIRST_YEAR, LAST_YEAR = 1990, 2100


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The local wall-clock time of an instant (naive)."""
    return instant.astimezone(zone).replace(tzinfo=None)


# --- strategies ---------------------------------------------------------------------------------------------


@cache
def changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants a zone's offset changes in a year (found independently of the module under test)."""
    zone = ZoneInfo(zone_name)
    found = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=6 * i) for i in range(4 * 366)]
    for low, high in pairwise(hours):
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle <= low:
                    break
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
    return tuple(found)


zones = st.sampled_from(ZONES).map(ZoneInfo)
anywhen = st.datetimes(
    min_value=datetime(FIRST_YEAR, 1, 1), max_value=datetime(LAST_YEAR, 12, 31), timezones=st.just(UTC)
)


@st.composite
def instant_and_zone(draw: st.DrawFn) -> tuple[datetime, ZoneInfo]:
    """A zone and an instant from 1990 to 2100, often within two days of one of the zone's clock changes."""
    zone = draw(zones)
    if draw(st.booleans()):
        return draw(anywhen), zone
    year = draw(st.integers(FIRST_YEAR, LAST_YEAR))
    near = changes(zone.key, year)
    if not near:
        return draw(anywhen), zone
    moment = draw(st.sampled_from(near))
    shift = draw(st.integers(-2 * 24 * 3600, 2 * 24 * 3600))
    return moment + timedelta(seconds=shift, microseconds=draw(st.integers(0, 999_999))), zone


minutes = st.one_of(st.sampled_from([0, 15, 30, 45, 59]), st.integers(0, 59))
#: Times of day, often in the small hours and late evening where clocks change.
times = st.one_of(
    st.builds(time, st.integers(0, 23), minutes),
    st.builds(time, st.sampled_from([0, 1, 2, 3, 22, 23]), minutes),
)


@st.composite
def windows(draw: st.DrawFn, zone: ZoneInfo) -> SendWindow:
    days = draw(st.frozensets(st.sampled_from(WEEKDAYS), min_size=1))
    start = draw(times)
    end = draw(times.filter(lambda end: end != start))
    return SendWindow(days, start, end, zone)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[datetime, ZoneInfo, datetime]:
    """A zone, one of its clock changes (an instant), and a local wall time next to that change."""
    zone = draw(st.sampled_from([name for name in ZONES if name not in ("UTC", "Asia/Kathmandu")]).map(ZoneInfo))
    near: tuple[datetime, ...] = ()
    while not near:
        near = changes(zone.key, draw(st.integers(FIRST_YEAR, LAST_YEAR)))
    change = draw(st.sampled_from(near))
    anchor = draw(st.sampled_from([wall(change - MINUTE, zone) + MINUTE, wall(change, zone)]))
    return change, zone, anchor + draw(st.integers(-8, 8)) * timedelta(minutes=15)


@st.composite
def time_cases(draw: st.DrawFn) -> tuple[datetime, ZoneInfo, time]:
    """An earliest instant, a zone and a time of day: anywhere, or around one of the zone's clock changes."""
    if draw(st.booleans()):
        earliest, zone = draw(instant_and_zone())
        return earliest, zone, draw(times)
    change, zone, anchor = draw(near_a_change())
    earliest = change - timedelta(seconds=draw(st.integers(-3 * 3600, 2 * 24 * 3600)))
    return earliest, zone, anchor.time()


@st.composite
def window_cases(draw: st.DrawFn) -> tuple[datetime, SendWindow]:
    """An earliest instant and a send window: anywhere, or one opening or closing around a clock change."""
    if draw(st.booleans()):
        earliest, zone = draw(instant_and_zone())
        return earliest, draw(windows(zone))
    change, zone, anchor = draw(near_a_change())
    length = draw(st.integers(1, 16)) * timedelta(minutes=15)
    start, end = (anchor, anchor + length) if draw(st.booleans()) else (anchor - length, anchor)
    weekdays = {WEEKDAYS[anchor.weekday()], WEEKDAYS[start.weekday()]}
    days = frozenset(weekdays | draw(st.frozensets(st.sampled_from(WEEKDAYS))))
    earliest = change - timedelta(seconds=draw(st.integers(-3 * 3600, 2 * 24 * 3600)))
    return earliest, SendWindow(days, start.time(), end.time(), zone)


# --- oracles, by the wall clock, minute by minute -----------------------------------------------------------


def skipped(day: date, gap_start: datetime, gap_end: datetime) -> bool:
    return datetime.combine(day, time()) >= gap_start and datetime.combine(day + timedelta(days=1), time()) <= gap_end


def shows(instant: datetime, at: time, zone: ZoneInfo, before: datetime | None = None) -> bool:
    """Whether ``instant`` is a day's instant for local time ``at``: its first occurrence, or the end of the gap
    ``at`` falls in (on a day the zone did not skip). ``before`` is the wall clock a minute earlier, if known."""
    local = instant.astimezone(zone)
    if local.time() == at and local.fold == 0:
        return True
    now = local.replace(tzinfo=None)
    before = wall(instant - MINUTE, zone) if before is None else before
    gap_start = before + MINUTE
    if now <= gap_start:  # no jump forward just before this instant
        return False
    day = gap_start.date()
    while day <= now.date():
        moment = datetime.combine(day, at)
        if gap_start <= moment < now and not skipped(day, gap_start, now):
            return True
        day += timedelta(days=1)
    return False


def inside(instant: datetime, window: SendWindow) -> bool:
    local = instant.astimezone(window.zone)
    today, yesterday = WEEKDAYS[local.weekday()], WEEKDAYS[(local.weekday() + 6) % 7]
    now = local.time()
    if window.start < window.end:
        return today in window.days and window.start <= now < window.end
    return (today in window.days and now >= window.start) or (yesterday in window.days and now < window.end)


def minute_boundaries(after: datetime, before: datetime) -> list[datetime]:
    """The whole minutes from ``after`` (included) to ``before`` (excluded)."""
    first = after.replace(second=0, microsecond=0)
    if first < after:
        first += MINUTE
    count = max(0, int((before - first) / MINUTE) + 1)
    return [m for m in (first + i * MINUTE for i in range(count)) if m < before]


# --- properties ---------------------------------------------------------------------------------------------

PROPERTIES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(time_cases())
@example((utc(2011, 12, 29, 21, 0), ZoneInfo("Pacific/Apia"), time(10, 0)))  # the day after is skipped
@example((utc(2011, 12, 30, 9, 59), ZoneInfo("Pacific/Apia"), time(0, 0)))  # Thursday 23:59 local
@example((utc(2026, 11, 1, 5, 45), ZoneInfo("America/New_York"), time(1, 30)))  # between the two 01:30s
@example((utc(2026, 3, 29, 0, 59), ZoneInfo("Europe/Berlin"), time(2, 30)))  # just before the gap
def test_next_at_is_the_first_instant_showing_that_time(case: tuple[datetime, ZoneInfo, time]) -> None:
    earliest, zone, at = case
    found = next_at(earliest, at, zone)
    assert found.tzinfo is UTC
    # Not before the earliest allowed moment, and showing `at` (or ending the gap `at` is in)
    assert found >= earliest
    assert shows(found, at, zone)
    # And the first such instant: no whole minute before it qualifies
    boundaries = minute_boundaries(earliest, found)
    previous = wall(boundaries[0] - MINUTE, zone) if boundaries else None
    for moment in boundaries:
        now = wall(moment, zone)
        assert not shows(moment, at, zone, previous), moment
        previous = now
    # Within two days, except around a skipped day
    assert found - earliest <= timedelta(days=3)


@PROPERTIES
@given(time_cases())
def test_local_to_utc_shows_that_time_or_ends_its_gap(case: tuple[datetime, ZoneInfo, time]) -> None:
    moment, zone, at = case
    day = wall(moment, zone).date()
    found = local_to_utc(day, at, zone)
    local = wall(found, zone)
    if local.time() == at and local.date() == day:
        # An existing time: its first occurrence
        assert found.astimezone(zone).fold == 0
    else:
        # A time in a gap: the gap ends at the instant found, and the wall clock jumped over the time
        just_before = wall(found - timedelta(seconds=1), zone)
        assert just_before < datetime.combine(day, at) < local


@PROPERTIES
@given(time_cases(), st.integers(0, 5 * 24 * 60))
def test_delay_at_waits_at_least_the_delay_then_for_the_time(
    case: tuple[datetime, ZoneInfo, time], after_minutes: int
) -> None:
    now, zone, at = case
    after = timedelta(minutes=after_minutes)
    found = delay_at(now, after, at, zone)
    assert found >= now + after
    assert found == next_at(now + after, at, zone)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window_cases())
def test_next_opening_is_the_first_instant_inside_the_window(case: tuple[datetime, SendWindow]) -> None:
    earliest, window = case
    found = next_opening(earliest, window)
    # Not before the earliest allowed moment, and inside the window
    assert found >= earliest
    assert inside(found, window)
    assert window.contains(found)
    # Earliest itself when it is inside
    if inside(earliest, window):
        assert found == earliest
        return
    # And the first instant inside: the window opens and closes on whole minutes, and none before it is inside
    for moment in minute_boundaries(earliest, found):
        assert not inside(moment, window), moment


# --- local_to_utc: examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc", "expected_local"),
    [
        # Spring forward, 02:00 -> 03:00: a time in the gap moves to the gap's end
        ("Europe/Berlin", date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0), "2026-03-29T03:00:00+02:00"),
        ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0), "2026-03-08T03:00:00-04:00"),
        ("America/St_Johns", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 5, 30), "2026-03-08T03:00:00-02:30"),
        ("Europe/Lisbon", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 0), "2026-03-29T02:00:00+01:00"),
        # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 30), "2026-10-04T02:30:00+11:00"),
        # Clocks change at midnight: 00:00 -> 01:00
        ("America/Santiago", date(2026, 9, 6), time(0, 30), utc(2026, 9, 6, 4, 0), "2026-09-06T01:00:00-03:00"),
        # Fall back: a time that happens twice is its first occurrence
        ("Europe/Berlin", date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30), "2026-10-25T02:30:00+02:00"),
        ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), "2026-11-01T01:30:00-04:00"),
        ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45), "2026-04-05T01:45:00+11:00"),
        # A day skipped entirely: its times are all in the gap, which ends at the next midnight
        ("Pacific/Apia", date(2011, 12, 30), time(10, 0), utc(2011, 12, 30, 10, 0), "2011-12-31T00:00:00+14:00"),
        # Ordinary times
        ("Asia/Kathmandu", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 3, 15), "2026-06-01T09:00:00+05:45"),
        ("UTC", date(2026, 6, 1), time(9, 0), utc(2026, 6, 1, 9, 0), "2026-06-01T09:00:00+00:00"),
    ],
)
def test_local_to_utc(zone: str, day: date, at: time, expected_utc: datetime, expected_local: str) -> None:
    found = local_to_utc(day, at, ZoneInfo(zone))
    assert found == expected_utc and found.tzinfo is UTC
    assert found.astimezone(ZoneInfo(zone)).isoformat() == expected_local


# --- next_at and delay_at: examples -------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
APIA = ZoneInfo("Pacific/Apia")


def test_next_at_is_later_today_or_tomorrow() -> None:
    assert next_at(utc(2026, 6, 1, 6, 0), time(9, 0), BERLIN) == utc(2026, 6, 1, 7, 0)  # 08:00 local: today
    assert next_at(utc(2026, 6, 1, 8, 0), time(9, 0), BERLIN) == utc(2026, 6, 2, 7, 0)  # 10:00 local: tomorrow
    assert next_at(utc(2026, 6, 1, 7, 0), time(9, 0), BERLIN) == utc(2026, 6, 1, 7, 0)  # exactly then: now


def test_next_at_in_a_gap_is_the_gaps_end() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin: the clocks jump at 01:00 UTC, 03:00 local
    assert next_at(utc(2026, 3, 28, 23, 0), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 0)


def test_next_at_takes_the_first_of_a_repeated_time_once() -> None:
    # 01:30 happens at 05:30 and 06:30 UTC on 2026-11-01 in New York
    assert next_at(utc(2026, 11, 1, 5, 0), time(1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)
    # Once its first occurrence has passed, that day's 01:30 is over: the next is tomorrow's
    assert next_at(utc(2026, 11, 1, 6, 0), time(1, 30), NEW_YORK) == utc(2026, 11, 2, 6, 30)


def test_next_at_passes_over_a_skipped_day() -> None:
    # Apia went from Thursday 2011-12-29 23:59:59 (-10) to Saturday 2011-12-31 00:00 (+14)
    earliest = utc(2011, 12, 29, 21, 0)  # Thursday 11:00 local
    found = next_at(earliest, time(10, 0), APIA)
    assert found.astimezone(APIA).isoformat() == "2011-12-31T10:00:00+14:00"
    # A time still to come on the Thursday is that Thursday's
    assert next_at(earliest, time(23, 0), APIA).astimezone(APIA).isoformat() == "2011-12-29T23:00:00-10:00"


def test_delay_at_waits_then_takes_the_next_time_of_day() -> None:
    now = utc(2026, 6, 1, 12, 0)  # 14:00 in Berlin
    # One day later is 14:00 on 2 June: the next 09:00 is on 3 June
    assert delay_at(now, timedelta(days=1), time(9, 0), BERLIN) == utc(2026, 6, 3, 7, 0)
    # Two hours later is 16:00: the next 18:00 is the same day
    assert delay_at(now, timedelta(hours=2), time(18, 0), BERLIN) == utc(2026, 6, 1, 16, 0)
    # Across the spring-forward night, 09:00 is still 09:00 local
    assert delay_at(utc(2026, 3, 28, 12, 0), timedelta(hours=1), time(9, 0), BERLIN) == utc(2026, 3, 29, 7, 0)


def test_instants_must_be_aware_and_delays_positive() -> None:
    with pytest.raises(LocalTimeError, match="aware"):
        next_at(datetime(2026, 6, 1, 12, 0), time(9, 0), BERLIN)
    with pytest.raises(LocalTimeError, match="negative"):
        delay_at(utc(2026, 6, 1), timedelta(minutes=-1), time(9, 0), BERLIN)


# --- send windows: examples ---------------------------------------------------------------------------------

WEEKDAYS_9_TO_5 = SendWindow(frozenset({"mon", "tue", "wed", "thu", "fri"}), time(9, 0), time(17, 0), BERLIN)


def test_an_instant_inside_the_window_is_itself() -> None:
    monday_noon = utc(2026, 6, 1, 10, 0)  # 12:00 local
    assert next_opening(monday_noon, WEEKDAYS_9_TO_5) == monday_noon


def test_outside_the_window_it_is_its_next_opening() -> None:
    assert next_opening(utc(2026, 6, 1, 5, 0), WEEKDAYS_9_TO_5) == utc(2026, 6, 1, 7, 0)  # Monday 07:00: at 09:00
    assert next_opening(utc(2026, 6, 1, 15, 0), WEEKDAYS_9_TO_5) == utc(2026, 6, 2, 7, 0)  # Monday 17:00: Tuesday
    assert next_opening(utc(2026, 6, 5, 16, 0), WEEKDAYS_9_TO_5) == utc(2026, 6, 8, 7, 0)  # Friday evening: Monday


def test_a_window_over_midnight_belongs_to_the_day_it_opens() -> None:
    friday_night = SendWindow(frozenset({"fri"}), time(22, 0), time(6, 0), BERLIN)
    assert friday_night.over_midnight
    # Saturday 03:00 is in Friday's window; Friday 03:00 is not (that would be Thursday's)
    assert friday_night.contains(utc(2026, 6, 6, 1, 0))
    assert not friday_night.contains(utc(2026, 6, 5, 1, 0))
    assert next_opening(utc(2026, 6, 5, 1, 0), friday_night) == utc(2026, 6, 5, 20, 0)  # Friday 22:00
    assert next_opening(utc(2026, 6, 6, 1, 0), friday_night) == utc(2026, 6, 6, 1, 0)
    assert next_opening(utc(2026, 6, 6, 4, 0), friday_night) == utc(2026, 6, 12, 20, 0)  # Saturday 06:00: next week


def test_a_window_starting_in_a_gap_opens_when_the_gap_ends() -> None:
    sunday_night = SendWindow(frozenset({"sun"}), time(2, 30), time(4, 0), BERLIN)
    assert next_opening(utc(2026, 3, 28, 12, 0), sunday_night) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST


def test_a_window_inside_a_gap_does_not_open_that_day() -> None:
    in_the_gap = SendWindow(frozenset({"sun"}), time(2, 0), time(2, 30), BERLIN)
    found = next_opening(utc(2026, 3, 28, 12, 0), in_the_gap)
    assert found.astimezone(BERLIN).isoformat() == "2026-04-05T02:00:00+02:00"


def test_a_window_opens_again_in_the_repeated_hour() -> None:
    # New York goes back from 02:00 EDT to 01:00 EST at 06:00 UTC on Sunday 2026-11-01
    early_sunday = SendWindow(frozenset({"sun"}), time(0, 30), time(1, 30), NEW_YORK)
    assert next_opening(utc(2026, 11, 1, 5, 45), early_sunday) == utc(2026, 11, 1, 6, 0)  # 01:00 EST
    # A window starting in the repeated hour opens at each of its starts
    repeated = SendWindow(frozenset({"sun"}), time(1, 15), time(1, 45), NEW_YORK)
    assert next_opening(utc(2026, 11, 1, 5, 0), repeated) == utc(2026, 11, 1, 5, 15)  # 01:15 EDT
    assert next_opening(utc(2026, 11, 1, 5, 50), repeated) == utc(2026, 11, 1, 6, 15)  # 01:15 EST


def test_a_window_over_midnight_after_a_skipped_day() -> None:
    # Apia skipped Friday 2011-12-30: Saturday's small hours still belong to Friday's window, by the calendar
    friday_night = SendWindow(frozenset({"fri"}), time(22, 0), time(6, 0), APIA)
    found = next_opening(utc(2011, 12, 29, 12, 0), friday_night)
    assert found.astimezone(APIA).isoformat() == "2011-12-31T00:00:00+14:00"


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (frozenset({"mon"}), time(9, 0), time(9, 0), "start and end are the same"),
        (frozenset(), time(9, 0), time(17, 0), "at least one day"),
        (frozenset({"monday"}), time(9, 0), time(17, 0), "unknown weekday 'monday'"),
        (frozenset({"mon"}), time(9, 0, tzinfo=UTC), time(17, 0), "local"),
    ],
)
def test_invalid_windows_are_refused(days: frozenset[str], start: time, end: time, message: str) -> None:
    with pytest.raises(LocalTimeError, match=message):
        SendWindow(days, start, end, BERLIN)
