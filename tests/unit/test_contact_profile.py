"""The contact profile's rules, pure: what a patch accepts and changes, what an event's contact carries into a
profile, and the ``contact`` a run reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from automations.ports.errors import InvalidInputError
from automations.ports.values import (
    MAX_ATTRIBUTES_BYTES,
    MAX_LABEL_CHANGES,
    MAX_LABELS,
    ContactChange,
    ContactListing,
    ContactPatch,
    ContactProfile,
    attributes_size,
    contact_cursor,
    json_size,
)
from automations.services.contacts import apply_patch, live_contact, merge_event_contact
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
WS = "acme"


def profile(**fields: Any) -> ContactProfile:
    values: dict[str, Any] = {"workspace": WS, "id": "p1", "created_at": NOW, "updated_at": NOW, "version": 1}
    values.update(fields)
    return ContactProfile(**values)


def apply(current: ContactProfile | None, patch: ContactPatch) -> tuple[ContactProfile, list[ContactChange]]:
    return apply_patch(current, patch, LATER, workspace=WS, person="p1")


def locs(error: pytest.ExceptionInfo[InvalidInputError]) -> list[str]:
    return [e.loc for e in error.value.errors]


# --- a patch ---------------------------------------------------------------------------------------------------


def test_a_patch_is_normalized_when_made() -> None:
    patch = ContactPatch(
        set_fields={"email": " Ana@Example.com ", "first_name": "  Ana ", "phone": None},
        labels_add=["yoga", " vip ", "vip"],
        labels_remove=("trial",),
        badges_add=["gold", "gold"],
        attributes_set={"seats": (1, 2), "plan": "pro"},
        attributes_unset=["old", "old"],
        subscriptions={"promotional": False},
    )

    assert patch.set_fields == {"email": "Ana@Example.com", "first_name": "Ana", "phone": None}
    assert (patch.labels_add, patch.labels_remove, patch.badges_add) == (("vip", "yoga"), ("trial",), ("gold",))
    assert patch.attributes_set == {"seats": [1, 2], "plan": "pro"}
    assert patch.attributes_unset == ("old",)
    assert not patch.empty and ContactPatch().empty


def test_a_patch_names_every_field_it_cannot_accept() -> None:
    with pytest.raises(InvalidInputError) as error:
        ContactPatch(
            set_fields={
                "email": "not-an-address",
                "timezone": "Europe/Nowhere",
                "locale": "English",
                "phone": "",
                "last_name": "x" * 257,
                "lead_status": "\x00",
                "labels": "vip",
            },
            labels_add=["", "x" * 101, "ok"],
            labels_remove=["ok"],
            points_add=True,
            badges_add="gold",
            attributes_set={"a.b": 1, "labels": 2, "x" * 65: 3, "nan": float("nan"), "obj": object()},
            attributes_unset=["plan", "1st"],
            subscriptions={"weekly": True, "promotional": "no"},  # type: ignore[dict-item]
        )

    assert locs(error) == [
        "email",
        "timezone",
        "locale",
        "phone",
        "last_name",
        "lead_status",
        "labels",
        "labels_add[0]",
        "labels_add[1]",
        "labels_remove",
        "points",
        "badges_add",
        "attributes_set.a.b",
        "attributes_set.labels",
        f"attributes_set.{'x' * 65}",
        "attributes_set.nan",
        "attributes_set.obj",
        "attributes_unset[1]",
        "subscriptions.weekly",
        "subscriptions.promotional",
    ]
    messages = {e.loc: e.message for e in error.value.errors}
    assert "both added and removed" in messages["labels_remove"]
    assert "field of the profile" in messages["attributes_set.labels"]


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"timezone": "America/Sao_Paulo"}, True),
        ({"timezone": "../etc/passwd"}, False),
        ({"timezone": ""}, False),
        ({"locale": "de-CH"}, True),
        ({"locale": "pt-BR"}, True),
        ({"locale": "de_CH"}, False),
        ({"email": "ana@bücher.example"}, True),
        ({"email": "ana@localhost"}, False),
        ({"lead_status": None}, True),
    ],
)
def test_field_rules(fields: dict[str, str | None], ok: bool) -> None:
    if ok:
        assert ContactPatch(set_fields=fields).set_fields == fields
    else:
        with pytest.raises(InvalidInputError) as error:
            ContactPatch(set_fields=fields)
        assert locs(error) == list(fields)


def test_attributes_set_and_unset_at_once_or_too_large_are_refused() -> None:
    with pytest.raises(InvalidInputError) as both:
        ContactPatch(attributes_set={"plan": "pro"}, attributes_unset=["plan"])
    with pytest.raises(InvalidInputError) as large:
        ContactPatch(attributes_set={"notes": "x" * MAX_ATTRIBUTES_BYTES})

    assert locs(both) == ["attributes_unset[0]"]
    assert locs(large) == ["attributes_set"]


def test_attributes_are_measured_as_compact_json() -> None:
    for attributes in ({}, {"a": 1}, {"a": 1, "b": ["ü", {"c": None}]}):
        assert attributes_size(attributes) == json_size(attributes)


# --- applying a patch ------------------------------------------------------------------------------------------


def test_the_first_patch_makes_the_profile() -> None:
    made, changes = apply(None, ContactPatch())

    assert made == ContactProfile(workspace=WS, id="p1", created_at=LATER, updated_at=LATER, version=1)
    assert made.subscriptions == {"promotional": True, "transactional": True}
    assert changes == []


def test_each_change_is_reported_in_order() -> None:
    current = profile(labels=("trial",), lead_status="new", points=2, badges=("a",))

    changed, changes = apply(
        current,
        ContactPatch(
            labels_add=["vip", "trial"],
            labels_remove=["old"],
            points_add=3,
            badges_add=["b", "a"],
            set_fields={"lead_status": "won"},
        ),
    )

    assert changes == [
        ContactChange("label_added", label="vip"),
        ContactChange("points_changed", delta=3, points=5),
        ContactChange("badge_added", badge="b"),
        ContactChange("lead_status_changed", old_status="new", new_status="won"),
    ]
    assert (changed.labels, changed.points, changed.badges, changed.lead_status) == (
        ("trial", "vip"),
        5,
        ("a", "b"),
        "won",
    )
    assert (changed.created_at, changed.updated_at, changed.version) == (NOW, LATER, 2)
    assert current.labels == ("trial",)  # the profile given is left as it was


def test_a_patch_that_changes_nothing_answers_the_same_profile() -> None:
    current = profile(labels=("vip",), badges=("gold",), lead_status="new", email="a@example.com", points=1)

    same, changes = apply(
        current,
        ContactPatch(
            labels_add=["vip"],
            labels_remove=["absent"],
            badges_add=["gold"],
            set_fields={"lead_status": "new", "email": "a@example.com"},
            attributes_unset=["absent"],
            subscriptions={"promotional": True},
        ),
    )

    assert same is current and changes == []


def test_removing_labels_and_clearing_the_lead_status() -> None:
    current = profile(labels=("a", "b"), lead_status="lost")

    changed, changes = apply(current, ContactPatch(labels_remove=["a"], set_fields={"lead_status": None}))

    assert changes == [
        ContactChange("label_removed", label="a"),
        ContactChange("lead_status_changed", old_status="lost", new_status=None),
    ]
    assert changes[1].as_data() == {"old_status": "lost", "new_status": None}
    assert (changed.labels, changed.lead_status) == (("b",), None)


def test_fields_attributes_and_subscriptions_change_without_events() -> None:
    current = profile(
        attributes={"plan": "free", "seats": 1},
        phone="+1 555",
        subscriptions={"promotional": True, "transactional": True},
    )

    changed, changes = apply(
        current,
        ContactPatch(
            set_fields={"phone": None, "timezone": "Europe/Zurich"},
            attributes_set={"plan": "pro"},
            attributes_unset=["seats"],
            subscriptions={"promotional": False},
        ),
    )

    assert changes == []
    assert (changed.phone, changed.timezone, changed.attributes) == (None, "Europe/Zurich", {"plan": "pro"})
    assert changed.subscriptions == {"promotional": False, "transactional": True}
    assert changed.version == 2


def test_points_never_go_below_zero() -> None:
    current = profile(points=3)

    with pytest.raises(InvalidInputError) as error:
        apply(current, ContactPatch(points_add=-4))
    emptied, changes = apply(current, ContactPatch(points_add=-3))

    assert locs(error) == ["points"] and "has 3" in error.value.errors[0].message
    assert emptied.points == 0 and changes == [ContactChange("points_changed", delta=-3, points=0)]
    assert changes[0].as_data() == {"delta": -3, "points": 0} and changes[0].event_type == "contact.points_changed"


def test_label_bounds() -> None:
    full = profile(labels=tuple(f"l{i:03d}" for i in range(MAX_LABELS)))

    with pytest.raises(InvalidInputError) as too_many:
        apply(full, ContactPatch(labels_add=["one-more"]))
    swapped, _ = apply(full, ContactPatch(labels_add=["one-more"], labels_remove=["l000"]))
    with pytest.raises(InvalidInputError) as at_once:
        apply(None, ContactPatch(labels_add=[f"n{i}" for i in range(MAX_LABEL_CHANGES + 1)]))

    assert locs(too_many) == ["labels_add"]
    assert len(swapped.labels) == MAX_LABELS and "one-more" in swapped.labels
    assert locs(at_once) == ["labels"]
    assert len(apply(None, ContactPatch(labels_add=[f"n{i}" for i in range(MAX_LABEL_CHANGES)]))[0].labels) == 90


def test_attributes_stay_within_their_bound_after_the_change() -> None:
    half = "x" * (MAX_ATTRIBUTES_BYTES // 2)
    current = profile(attributes={"a": half})

    with pytest.raises(InvalidInputError) as error:
        apply(current, ContactPatch(attributes_set={"b": half}))
    replaced, _ = apply(current, ContactPatch(attributes_set={"a": half[:-10], "b": "small"}))

    assert locs(error) == ["attributes"]
    assert replaced.attributes == {"a": half[:-10], "b": "small"}


def test_every_problem_of_an_application_is_named_at_once() -> None:
    with pytest.raises(InvalidInputError) as error:
        apply(
            profile(points=0, badges=tuple(f"b{i}" for i in range(100))),
            ContactPatch(points_add=-1, badges_add=["new"]),
        )

    assert locs(error) == ["points", "badges_add"]


def test_times_are_utc_and_the_profile_must_be_the_persons() -> None:
    zurich = LATER.astimezone(ZoneInfo("Europe/Zurich"))

    made, _ = apply_patch(None, ContactPatch(), zurich, workspace=WS, person="p1")

    assert made.created_at.tzinfo is UTC and made.created_at == LATER
    with pytest.raises(ValueError, match="not 'p2'"):
        apply_patch(profile(), ContactPatch(), LATER, workspace=WS, person="p2")


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4),
    st.integers(min_value=0, max_value=5),
)
def test_a_patch_applied_twice_adds_no_label_or_badge_the_second_time(
    labels: list[str], badges: list[str], points: int
) -> None:
    patch = ContactPatch(labels_add=labels, badges_add=badges, points_add=points)

    once, changes = apply(None, patch)
    twice, again = apply(once, patch)

    assert [c.kind for c in again] == (["points_changed"] if points else [])
    assert twice.labels == once.labels == tuple(sorted(set(labels)))
    assert len(changes) == len(set(labels)) + len(set(badges)) + (1 if points else 0)
    assert twice.points == 2 * points


# --- an event's contact ------------------------------------------------------------------------------------------


def test_an_event_carries_its_fields_and_the_rest_to_attributes() -> None:
    current = profile(email="old@example.com", first_name="Ana", attributes={"plan": "free"}, labels=("vip",))

    patch = merge_event_contact(
        current,
        {
            "id": "p1",
            "email": "new@example.com",
            "first_name": "Ana",
            "last_name": None,
            "timezone": "Nowhere/Else",
            "locale": "pt-BR",
            "labels": ["ignored"],
            "points": 99,
            "subscriptions": {"promotional": False},
            "plan": "pro",
            "company name": "not an attribute name",
            "attributes": {"seats": 3, "plan": "team", "a.b": 1},
        },
    )

    assert patch.set_fields == {"email": "new@example.com", "locale": "pt-BR"}
    assert patch.attributes_set == {"plan": "team", "seats": 3}
    assert not (patch.labels_add or patch.points_add or patch.subscriptions or patch.attributes_unset)
    changed, changes = apply(current, patch)
    assert changes == [] and changed.labels == ("vip",) and changed.first_name == "Ana"


def test_an_event_that_carries_nothing_new_changes_nothing() -> None:
    current = profile(email="a@example.com", attributes={"plan": "pro"})

    patch = merge_event_contact(current, {"id": "p1", "email": "a@example.com", "plan": "pro"})

    assert patch.empty
    assert apply(current, patch)[0] is current


def test_an_event_never_takes_the_attributes_past_their_bound() -> None:
    big = "x" * (MAX_ATTRIBUTES_BYTES - 100)
    current = profile(attributes={"notes": big})

    patch = merge_event_contact(current, {"b_small": "ok", "a_large": "y" * 200, "notes": big + "!"})

    assert patch.attributes_set == {"b_small": "ok", "notes": big + "!"}  # the large one left out
    changed, _ = apply(current, patch)
    assert attributes_size(changed.attributes) <= MAX_ATTRIBUTES_BYTES
    assert merge_event_contact(None, {"a": float("inf")}).attributes_set == {}


# --- the run's contact -----------------------------------------------------------------------------------------


def test_the_live_profile_is_merged_over_the_events_contact() -> None:
    snapshot = {"id": "c-1", "email": "old@example.com", "first_name": "Ana", "plan": "free", "labels": ["stale"]}
    live = profile(
        id="ana@example.com",
        email="ana@example.com",
        labels=("vip",),
        points=40,
        badges=("gold",),
        lead_status="won",
        attributes={"plan": "pro", "seats": [1]},
        subscriptions={"promotional": False, "transactional": True},
    )

    contact = live_contact(live, snapshot)

    assert contact == {
        "id": "c-1",
        "email": "ana@example.com",
        "first_name": "Ana",
        "plan": "pro",
        "seats": [1],
        "labels": ["vip"],
        "points": 40,
        "badges": ["gold"],
        "lead_status": "won",
        "subscriptions": {"promotional": False, "transactional": True},
        "attributes": {"plan": "pro", "seats": [1]},
    }
    contact["seats"].append(2)
    assert live.attributes["seats"] == [1] and snapshot["labels"] == ["stale"]


def test_without_a_profile_the_events_contact_with_nothing_earned() -> None:
    assert live_contact(None, {"id": "c-1", "points": 3}) == {"id": "c-1", "labels": [], "points": 3, "badges": []}
    assert live_contact(None, None) == {"labels": [], "points": 0, "badges": []}


# --- reading ---------------------------------------------------------------------------------------------------


def test_a_search_matches_the_start_of_the_email_or_a_name() -> None:
    ana = profile(email="Ana.Silva@Example.com", first_name="Ána", last_name="Straße")

    assert ana.search_terms() == ("ana.silva@example.com", "ána strasse", "strasse")
    assert all(ana.matches(q) for q in ("ana.s", "ÁNA", "ána str", "STRASS", "straße"))
    assert not any(ana.matches(q) for q in ("silva", "example", "ana str"))
    assert not profile().matches("a")


def test_a_listing_is_checked_and_its_cursor_round_trips() -> None:
    cursor = contact_cursor("ana@example.com")

    listing = ContactListing.parse(label=" vip ", query=" ANA ", limit=10, cursor=cursor)

    assert listing == ContactListing("vip", "ana", 10, "ana@example.com")
    assert ContactListing.parse(label="", query=" ", limit=1, cursor="") == ContactListing(None, None, 1, None)
    with pytest.raises(InvalidInputError) as error:
        ContactListing.parse(label="x" * 101, query="q" * 101, limit=101, cursor=cursor + "x")
    assert locs(error) == ["label", "q", "limit", "cursor"]


def test_a_profile_as_json() -> None:
    shown = replace(profile(labels=("a",), attributes={"x": [1]}), lead_status="new").as_dict()

    assert shown["labels"] == ["a"] and shown["attributes"] == {"x": [1]} and shown["lead_status"] == "new"
    assert shown["created_at"] == NOW.isoformat() and shown["version"] == 1
    assert ContactChange("label_added", label="vip").as_data() == {"label": "vip"}
    assert ContactChange("badge_added", badge="gold").event_type == "contact.badge_added"
