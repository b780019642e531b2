"""Durations of the language: ``15m 2h 3d 1w 1d12h``, signed offsets, and their canonical spelling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from automations.errors import DurationError
from automations.language.durations import MAX_DURATION, format_duration, parse_duration
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m", timedelta(weeks=1, days=2, hours=3, minutes=4)),
        ("90m", timedelta(hours=1, minutes=30)),
        ("0w1d", timedelta(days=1)),
        (" 2h ", timedelta(hours=2)),
        ("261w", timedelta(weeks=261)),
    ],
)
def test_accepted_forms(text: str, expected: timedelta) -> None:
    # Given a duration of the language
    # When it is parsed
    value = parse_duration(text)
    # Then it is the expected length of time
    assert value == expected


@pytest.mark.parametrize(
    "text",
    ["3x", "1h1d", "0m", "0d0h", "", "   ", "1.5h", "3 d", "1d 12h", "d", "15", "-1d", "+1d", "1D", "262w"],
)
def test_rejected_forms(text: str) -> None:
    # Given a string outside the language (or zero, or over five years)
    # When it is parsed as an unsigned duration
    # Then it is refused with a DurationError
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


def test_zero_is_refused_with_its_reason() -> None:
    # Given a zero duration
    # When it is parsed
    # Then the error says it must be longer than zero
    with pytest.raises(DurationError, match="longer than zero"):
        parse_duration("0h")


def test_over_five_years_is_refused_with_its_reason() -> None:
    # Given a duration longer than the maximum
    # When it is parsed
    # Then the error says it is too long
    with pytest.raises(DurationError, match="longer than five years"):
        parse_duration("300w")


@pytest.mark.parametrize("value", [None, 15, 1.5, ["1d"]])
def test_non_strings_are_refused(value: object) -> None:
    # Given something that is not a string
    # When it is parsed
    # Then it is refused
    with pytest.raises(DurationError, match="expected a duration"):
        parse_duration(value)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    # Given a bad duration
    # When it is parsed
    # Then callers catching ValueError catch it too
    with pytest.raises(ValueError):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-1d", timedelta(days=-1)),
        ("+2h", timedelta(hours=2)),
        ("2h", timedelta(hours=2)),
        ("-1d12h", -timedelta(days=1, hours=12)),
    ],
)
def test_signed_offsets(text: str, expected: timedelta) -> None:
    # Given a signed offset
    # When it is parsed as signed
    value = parse_duration(text, signed=True)
    # Then the sign applies to the whole duration
    assert value == expected


@pytest.mark.parametrize("text", ["-", "+", "--1d", "-0m", "- 1d", "-1x", ""])
def test_rejected_signed_offsets(text: str) -> None:
    # Given a malformed signed offset
    # When it is parsed as signed
    # Then it is refused
    with pytest.raises(DurationError):
        parse_duration(text, signed=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(days=8), "1w1d"),
        (timedelta(days=-1), "-1d"),
        (timedelta(0), "0m"),
        (timedelta(minutes=2, seconds=59), "2m"),
    ],
)
def test_format_duration_is_canonical(value: timedelta, expected: str) -> None:
    # Given a length of time
    # When it is formatted
    # Then it is spelled in the canonical form (whole minutes, largest unit first)
    assert format_duration(value) == expected


# --- properties ---------------------------------------------------------------------------------------------

_MAX_MINUTES = int(MAX_DURATION.total_seconds()) // 60


@st.composite
def canonical_durations(draw: st.DrawFn) -> str:
    """A duration spelled canonically: each unit within its range, zero units left out, not zero."""
    weeks = draw(st.integers(0, 200))
    days = draw(st.integers(0, 6))
    hours = draw(st.integers(0, 23))
    minutes = draw(st.integers(0, 59))
    parts = [(weeks, "w"), (days, "d"), (hours, "h"), (minutes, "m")]
    text = "".join(f"{n}{u}" for n, u in parts if n)
    return text or "1m"


@given(canonical_durations())
@settings(max_examples=200)
def test_format_of_parse_round_trips(text: str) -> None:
    # Given a canonically spelled duration
    # When it is parsed and formatted again
    # Then the same spelling comes back
    assert format_duration(parse_duration(text)) == text


@given(canonical_durations(), st.sampled_from(["-", "+", ""]))
@settings(max_examples=100)
def test_signed_round_trip(text: str, sign: str) -> None:
    # Given a signed offset
    # When it is parsed and formatted
    # Then the sign survives ('+' is the default, so it is dropped)
    expected = ("-" if sign == "-" else "") + text
    assert format_duration(parse_duration(sign + text, signed=True)) == expected


@given(
    st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 100), st.integers(0, 1000)).filter(
        lambda t: any(t)
    )
)
@settings(max_examples=100)
def test_any_valid_spelling_means_what_its_canonical_form_means(units: tuple[int, int, int, int]) -> None:
    # Given any valid spelling, not necessarily canonical (90m, 0w1d, 48h...)
    text = "".join(f"{n}{u}" for n, u in zip(units, "wdhm", strict=True))
    # When it is parsed, formatted and parsed again
    value = parse_duration(text)
    # Then the canonical form is the same length of time
    assert parse_duration(format_duration(value)) == value
    assert value.total_seconds() // 60 <= _MAX_MINUTES
