"""Conditions: dotted paths, every operator of DESIGN §3, typed comparisons and missing fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from automations.language.conditions import MISSING, compare, evaluate, explain, resolve
from automations.language.instants import parse_instant
from automations.language.model import All, AnyOf, Condition, Leaf
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)

ALL_OPERATORS = [
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains",
    "starts_with", "ends_with", "exists", "not_exists", "is_empty", "is_not_empty", "before", "after",
]  # fmt: skip
UNARY = {"exists", "not_exists", "is_empty", "is_not_empty"}
LISTS = {"in", "not_in"}
INSTANTS = {"before", "after"}

CONTEXT: dict[str, Any] = {
    "event": {"id": "evt_1", "type": "invoice.overdue", "occurred_at": "2026-11-23T10:00:00Z"},
    "contact": {
        "id": "c_42",
        "email": "ana@example.com",
        "first_name": "Ana",
        "labels": ["vip", "yoga"],
        "nickname": "",
        "middle_name": None,
        "tags": [],
        "prefs": {},
        "visits": 12,
    },
    "data": {
        "invoice": {
            "id": "inv_7",
            "number": "2026-117",
            "total": 640,
            "amount_text": "640.50",
            "paid": False,
        },
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "session": {"starts_at": "2026-11-30T18:30:00+02:00"},
    },
}


def leaf(field: str, op: str, value: Any = None) -> Leaf:
    return Leaf(field=field, op=op, value=value)  # type: ignore[arg-type]


def check(field: str, op: str, value: Any = None) -> bool:
    return evaluate(leaf(field, op, value), CONTEXT)


# --- resolve ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("contact.first_name", "Ana"),
        ("data.invoice.total", 640),
        ("data.items.0.sku", "A-1"),
        ("data.items.-1.sku", "B-2"),
        ("contact.labels.1", "yoga"),
        ("contact", CONTEXT["contact"]),
    ],
)
def test_resolve_follows_dotted_paths_and_list_indexes(path: str, expected: Any) -> None:
    # Given a context
    # When a dotted path is resolved
    # Then the value at that place comes back
    assert resolve(CONTEXT, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "contact.last_name",
        "contact.middle_name",
        "data.items.5.sku",
        "data.items.-3.sku",
        "data.items.x",
        "contact.first_name.length",
        "nothing",
        "data.invoice.total.cents",
    ],
)
def test_resolve_returns_missing_for_absent_and_null_fields(path: str) -> None:
    # Given a path to nothing (or to null)
    # When it is resolved
    # Then it is MISSING, which is falsy
    assert resolve(CONTEXT, path) is MISSING
    assert not MISSING


# --- operators ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("contact.first_name", "eq", "Ana", True),
        ("contact.first_name", "eq", "ana", False),
        ("data.invoice.total", "eq", 640, True),
        ("data.invoice.total", "eq", 640.0, True),
        ("data.invoice.total", "eq", "640", True),
        ("data.invoice.amount_text", "eq", 640.5, True),
        ("data.invoice.paid", "eq", False, True),
        ("data.invoice.paid", "eq", 0, False),
        ("contact.first_name", "ne", "Bob", True),
        ("contact.first_name", "ne", "Ana", False),
        ("data.invoice.total", "ne", "640", False),
        ("data.invoice.total", "gt", 500, True),
        ("data.invoice.total", "gt", 640, False),
        ("data.invoice.total", "gte", 640, True),
        ("data.invoice.total", "gte", 641, False),
        ("data.invoice.total", "lt", 1000, True),
        ("data.invoice.total", "lt", 640, False),
        ("data.invoice.total", "lte", 640, True),
        ("data.invoice.total", "lte", 639.99, False),
        ("data.invoice.amount_text", "gt", 640, True),
        ("data.invoice.amount_text", "lt", 1000, True),
        ("data.invoice.total", "gt", "99", True),
        ("contact.first_name", "gt", 10, False),
        ("contact.first_name", "in", ["Ana", "Bob"], True),
        ("contact.first_name", "in", ["Bob"], False),
        ("data.invoice.total", "in", ["640", 700], True),
        ("contact.labels", "in", ["vip", "gold"], True),
        ("contact.labels", "in", ["gold"], False),
        ("contact.first_name", "not_in", ["Bob"], True),
        ("contact.first_name", "not_in", ["Ana"], False),
        ("contact.labels", "not_in", ["gold"], True),
        ("contact.labels", "not_in", ["yoga"], False),
        ("contact.labels", "contains", "vip", True),
        ("contact.labels", "contains", "gold", False),
        ("contact.email", "contains", "@example", True),
        ("data.session", "contains", "starts_at", True),
        ("contact.labels", "not_contains", "gold", True),
        ("contact.labels", "not_contains", "vip", False),
        ("contact.email", "not_contains", "@acme", True),
        ("contact.email", "starts_with", "ana@", True),
        ("contact.email", "starts_with", "bob@", False),
        ("data.invoice.total", "starts_with", "64", False),
        ("contact.email", "ends_with", "example.com", True),
        ("contact.email", "ends_with", ".org", False),
        ("contact.first_name", "exists", None, True),
        ("contact.nickname", "exists", None, True),
        ("contact.last_name", "exists", None, False),
        ("contact.middle_name", "exists", None, False),
        ("contact.last_name", "not_exists", None, True),
        ("contact.first_name", "not_exists", None, False),
        ("contact.nickname", "is_empty", None, True),
        ("contact.tags", "is_empty", None, True),
        ("contact.prefs", "is_empty", None, True),
        ("contact.last_name", "is_empty", None, True),
        ("contact.first_name", "is_empty", None, False),
        ("data.invoice.paid", "is_empty", None, False),
        ("contact.first_name", "is_not_empty", None, True),
        ("contact.labels", "is_not_empty", None, True),
        ("contact.nickname", "is_not_empty", None, False),
        ("contact.tags", "is_not_empty", None, False),
        ("data.session.starts_at", "before", "2026-12-01T00:00:00Z", True),
        ("data.session.starts_at", "before", "2026-11-30T16:30:00Z", False),
        ("data.session.starts_at", "after", "2026-11-30T16:29:59Z", True),
        ("data.session.starts_at", "after", "2026-11-30T16:30:00Z", False),
        ("event.occurred_at", "after", "2026-11-23", True),
    ],
)
def test_operator(field: str, op: str, value: Any, expected: bool) -> None:
    # Given a leaf condition over the context
    # When it is evaluated
    # Then the operator's meaning decides
    assert check(field, op, value) is expected


def test_every_operator_of_the_design_is_covered() -> None:
    # Given the operators of DESIGN §3
    # When each is used on a present field with a fitting value
    # Then none is unknown to compare()
    for op in ALL_OPERATORS:
        value = None if op in UNARY else ["x"] if op in LISTS else "2026-01-01T00:00:00Z"
        assert isinstance(compare("2026-01-01T00:00:00Z", op, value), bool)


def test_unknown_operator_is_a_value_error() -> None:
    # Given an operator outside the language
    # When compare() is asked to apply it
    # Then it refuses
    with pytest.raises(ValueError, match="unknown operator"):
        compare(1, "equals", 1)


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        (10, "gt", 9, True),
        ("10", "gt", 9, True),
        (10, "gt", "9", True),
        ("10", "lt", 9, False),
        ("1e3", "eq", 1000, True),
        (" 42 ", "eq", 42, True),
        (2.5, "lt", 3, True),
        (-1, "lt", 0, True),
        ("abc", "gt", 1, False),
        ("abc", "lte", 1, False),
        (True, "gt", 0, False),
        ("nan", "eq", float("nan"), False),
    ],
)
def test_numbers_compare_as_numbers(actual: Any, op: str, expected: Any, result: bool) -> None:
    # Given a number on at least one side (a numeric string on the other counts as a number)
    # When they are compared
    # Then the comparison is numeric (10 > 9, not "10" < "9"); non-numbers never order against numbers
    assert compare(actual, op, expected) is result


def test_two_strings_compare_as_strings() -> None:
    # Given two non-timestamp strings
    # When they are ordered
    # Then the order is the strings' own
    assert compare("apple", "lt", "banana")
    assert compare("b", "gt", "a")


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        ("2026-01-01T10:00:00+02:00", "eq", "2026-01-01T08:00:00Z", True),
        ("2026-01-01T10:00:00+02:00", "lt", "2026-01-01T09:00:00Z", True),
        ("2026-01-01T10:00:00+02:00", "before", "2026-01-01T09:00:00Z", True),
        ("2026-01-01T10:00:00+02:00", "after", "2026-01-01T09:00:00Z", False),
        ("2026-01-01T10:00:00-05:00", "after", "2026-01-01T14:59:00Z", True),
        ("2026-01-01T10:00:00", "eq", "2026-01-01T10:00:00+00:00", True),
        ("2026-01-01", "before", "2026-01-01T00:00:01Z", True),
        ("2026-01-01T08:00:00Z", "gte", datetime(2026, 1, 1, 8, tzinfo=UTC), True),
        ("not a date", "before", "2026-01-01T00:00:00Z", False),
        ("2026-13-45T00:00:00Z", "after", "2026-01-01T00:00:00Z", False),
        (20260101, "before", "2027-01-01T00:00:00Z", False),
    ],
)
def test_timestamps_compare_as_instants(actual: Any, op: str, expected: Any, result: bool) -> None:
    # Given ISO-8601 timestamps with different offsets (naive ones are UTC)
    # When they are compared
    # Then they compare as the instants they denote, not as strings
    assert compare(actual, op, expected) is result


def test_parse_instant_reads_iso_8601_and_treats_naive_as_utc() -> None:
    # Given timestamps with and without an offset
    # When they are parsed
    # Then each is an aware instant
    assert parse_instant("2026-01-01T10:00:00+02:00") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_instant("2026-01-01T10:00:00") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_instant("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_instant("tomorrow") is None
    assert parse_instant(1767225600) is None


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        (["vip", "yoga"], "contains", "vip", True),
        ([1, 2, 3], "contains", "2", True),
        (["a"], "contains", ["a"], False),
        (["vip"], "in", ["vip", "gold"], True),
        (["basic", "gold"], "in", ["vip", "gold"], True),
        ([], "in", ["vip"], False),
        ([], "not_in", ["vip"], True),
        ("vip", "in", ["vip"], True),
        (3, "in", [1, 2, 3], True),
        ("3", "in", [1, 2, 3], True),
    ],
)
def test_lists_compare_by_membership(actual: Any, op: str, expected: Any, result: bool) -> None:
    # Given lists on either side
    # When they are compared with a membership operator
    # Then membership (with number-aware equality) decides
    assert compare(actual, op, expected) is result


@pytest.mark.parametrize("op", ALL_OPERATORS)
def test_missing_field_is_false_for_every_operator_but_not_exists_and_is_empty(op: str) -> None:
    # Given a field absent from the context
    value = None if op in UNARY else ["x"] if op in LISTS else "2026-01-01T00:00:00Z"
    condition = leaf("contact.last_name", op, value)
    # When a leaf on it is evaluated
    result = evaluate(condition, CONTEXT)
    # Then only not_exists and is_empty hold
    assert result is (op in {"not_exists", "is_empty"})


@pytest.mark.parametrize("op", ["ne", "not_in", "not_contains", "is_not_empty"])
def test_null_counts_as_missing_even_for_negative_operators(op: str) -> None:
    # Given a field that is present but null
    value = None if op in UNARY else ["x"] if op in LISTS else "x"
    # When a negative operator is applied to it
    # Then it is false, as for a missing field
    assert check("contact.middle_name", op, value) is False


# --- combinators --------------------------------------------------------------------------------------------


def test_all_and_any_nest() -> None:
    # Given the nested condition of DESIGN §3
    condition = CONDITION.validate_python(
        {
            "any": [
                {"field": "data.invoice.total", "op": "gt", "value": 5000},
                {
                    "all": [
                        {"field": "contact.labels", "op": "contains", "value": "vip"},
                        {"field": "contact.visits", "op": "gte", "value": 10},
                    ]
                },
            ]
        }
    )
    # When it is evaluated
    # Then the inner `all` makes the `any` hold
    assert isinstance(condition, AnyOf)
    assert isinstance(condition.any[1], All)
    assert evaluate(condition, CONTEXT) is True
    assert evaluate(condition, {**CONTEXT, "contact": {"labels": ["vip"], "visits": 3}}) is False


def test_all_requires_every_child_and_any_one() -> None:
    # Given one true and one false leaf
    true_leaf = {"field": "contact.first_name", "op": "eq", "value": "Ana"}
    false_leaf = {"field": "contact.first_name", "op": "eq", "value": "Bob"}
    # When they are combined
    # Then `all` is false and `any` is true
    assert evaluate(CONDITION.validate_python({"all": [true_leaf, false_leaf]}), CONTEXT) is False
    assert evaluate(CONDITION.validate_python({"any": [true_leaf, false_leaf]}), CONTEXT) is True
    assert evaluate(CONDITION.validate_python({"all": [true_leaf, true_leaf]}), CONTEXT) is True
    assert evaluate(CONDITION.validate_python({"any": [false_leaf, false_leaf]}), CONTEXT) is False


def test_explain_short_circuits_and_records_each_evaluated_leaf() -> None:
    # Given an `any` whose first leaf holds
    condition = CONDITION.validate_python(
        {
            "any": [
                {"field": "contact.first_name", "op": "eq", "value": "Ana"},
                {"field": "contact.last_name", "op": "exists"},
            ]
        }
    )
    # When it is explained
    result, checks = explain(condition, CONTEXT)
    # Then only the first leaf was evaluated, and its record says what was compared
    assert result is True
    assert [c.as_dict() for c in checks] == [
        {
            "field": "contact.first_name",
            "op": "eq",
            "value": "Ana",
            "actual": "Ana",
            "missing": False,
            "result": True,
        }
    ]


def test_explain_marks_missing_fields() -> None:
    # Given a leaf on a missing field
    condition = leaf("contact.last_name", "eq", "Silva")
    # When it is explained
    _, checks = explain(condition, CONTEXT)
    # Then the record says the field was missing
    assert checks[0].as_dict()["missing"] is True
    assert checks[0].as_dict()["actual"] is None


@pytest.mark.parametrize(
    "data",
    [
        {"all": []},
        {"any": []},
        {"field": "a", "op": "in", "value": "x"},
        {"field": "a", "op": "exists", "value": 1},
        {"field": "a", "op": "eq"},
        {"field": "a", "op": "before", "value": "tomorrow"},
        {"field": "a b", "op": "eq", "value": 1},
        {"field": "a", "op": "eq", "value": 1, "extra": True},
        "a == 1",
    ],
)
def test_malformed_conditions_are_refused(data: Any) -> None:
    # Given a malformed condition
    # When it is validated
    # Then pydantic refuses it
    with pytest.raises(ValidationError):
        CONDITION.validate_python(data)


# --- properties ---------------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).flatmap(
    lambda moment: st.integers(-14 * 4, 14 * 4).map(
        lambda quarters: moment.astimezone(timezone(timedelta(minutes=15 * quarters)))
    )
)
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(-1000, 1000).map(str),
    st.text(alphabet="abcxyz-@. ", max_size=6),
    st.booleans(),
    instants.map(lambda moment: moment.isoformat()),
)
present_values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.sampled_from("abc"), scalars))


@given(actual=present_values, expected=scalars | st.lists(scalars, max_size=3))
@settings(max_examples=300)
def test_eq_and_ne_always_disagree_on_present_fields(actual: Any, expected: Any) -> None:
    # Given any present field value and any expected value
    context = {"data": {"x": actual}}
    # When eq and ne are evaluated
    eq = evaluate(leaf("data.x", "eq", expected), context)
    ne = evaluate(leaf("data.x", "ne", expected), context)
    # Then exactly one holds
    assert eq is not ne


@given(actual=present_values, expected=st.lists(scalars, max_size=4))
@settings(max_examples=300)
def test_in_and_not_in_always_disagree_on_present_fields(actual: Any, expected: list[Any]) -> None:
    # Given any present field value and any list
    context = {"data": {"x": actual}}
    # When in and not_in are evaluated
    found = evaluate(leaf("data.x", "in", expected), context)
    not_found = evaluate(leaf("data.x", "not_in", expected), context)
    # Then exactly one holds
    assert found is not not_found


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    op = draw(st.sampled_from(ALL_OPERATORS))
    field = draw(st.sampled_from(["data.x", "data.y", "data.missing"]))
    if op in UNARY:
        value = None
    elif op in LISTS:
        value = draw(st.lists(scalars, max_size=3))
    elif op in INSTANTS:
        value = draw(instants).isoformat()
    else:
        value = draw(scalars)
    return leaf(field, op, value)


contexts = st.fixed_dictionaries({"data": st.fixed_dictionaries({"x": present_values, "y": scalars | st.none()})})


@given(condition=leaves(), context=contexts)
@settings(max_examples=200)
def test_any_of_one_leaf_is_the_leaf(condition: Leaf, context: dict[str, Any]) -> None:
    # Given one leaf and a context
    # When it is wrapped in `any`
    wrapped = AnyOf(any=[condition])
    # Then the result is the leaf's own
    assert evaluate(wrapped, context) is evaluate(condition, context)


@given(condition=leaves(), context=contexts)
@settings(max_examples=200)
def test_all_of_one_leaf_is_the_leaf(condition: Leaf, context: dict[str, Any]) -> None:
    # Given one leaf and a context
    # When it is wrapped in `all`
    wrapped = All(all=[condition])
    # Then the result is the leaf's own
    assert evaluate(wrapped, context) is evaluate(condition, context)


@given(condition=leaves())
@settings(max_examples=200)
def test_a_missing_field_only_satisfies_not_exists_and_is_empty(condition: Leaf) -> None:
    # Given any leaf on a field that is absent
    # When it is evaluated against an empty context
    result = evaluate(condition, {})
    # Then it holds exactly for not_exists and is_empty
    assert result is (condition.op in {"not_exists", "is_empty"})


@given(a=st.integers(-(10**6), 10**6), b=st.integers(-(10**6), 10**6), as_text=st.booleans())
@settings(max_examples=200)
def test_numeric_comparisons_are_a_total_order(a: int, b: int, as_text: bool) -> None:
    # Given two numbers, the first maybe spelled as a string
    actual: Any = str(a) if as_text else a
    # When they are compared
    lt, eq, gt = compare(actual, "lt", b), compare(actual, "eq", b), compare(actual, "gt", b)
    # Then exactly one of <, =, > holds, as for the numbers themselves
    assert (lt, eq, gt) == (a < b, a == b, a > b)
    assert compare(actual, "lte", b) is (a <= b)
    assert compare(actual, "gte", b) is (a >= b)


@given(a=instants, b=instants)
@settings(max_examples=200)
def test_instants_with_any_offsets_order_as_instants(a: datetime, b: datetime) -> None:
    # Given two instants written with arbitrary UTC offsets
    # When their ISO-8601 spellings are compared
    # Then before/after/eq agree with the instants, whatever the offsets
    assert compare(a.isoformat(), "before", b.isoformat()) is (a < b)
    assert compare(a.isoformat(), "after", b.isoformat()) is (a > b)
    assert compare(a.isoformat(), "eq", b.isoformat()) is (a == b)
