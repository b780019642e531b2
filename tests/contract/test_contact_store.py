"""ContactStore: one profile per person of a workspace, changed by patches (the changes they made reported, a
ledger key applied once), never losing a concurrent change; listed by label and by search, page by page."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from automations.adapters.dynamodb.contacts import DynamoContactStore
from automations.adapters.dynamodb.tables import bind
from automations.ports import WHOLE, Ports, StepCount
from automations.ports.errors import InvalidInputError, SkippedError
from automations.ports.protocols import ContactStore
from automations.ports.values import MAX_LABEL_CHANGES, ContactChange, ContactPatch, ContactProfile, StoredEvent

from tests.contract.conftest import START
from tests.support.aws import Stack
from tests.support.fakes import ContactBook, FakeContactStore

_workspaces = itertools.count(1)
LATER = START + timedelta(hours=1)

StoreOf = Callable[[str], ContactStore]


@pytest.fixture(params=["fake", "moto"])
def store_of(request: pytest.FixtureRequest) -> StoreOf:
    """Stores of any workspace over one backing (one book, or the moto stack's contacts table)."""
    if request.param == "fake":
        book = ContactBook()
        return lambda workspace: FakeContactStore(workspace, book)
    stack: Stack = request.getfixturevalue("moto_stack")
    bind(stack.settings)
    return DynamoContactStore


@pytest.fixture
def contacts(store_of: StoreOf) -> ContactStore:
    """The store of a workspace no other test uses."""
    return store_of(f"contacts{next(_workspaces)}")


def people(contacts: ContactStore, **listing: Any) -> list[str]:
    found, _ = contacts.list(**listing)
    return [profile.id for profile in found]


# --- one profile ----------------------------------------------------------------------------------------------


def test_the_first_change_makes_the_profile(contacts: ContactStore) -> None:
    assert contacts.get("p1") is None

    profile, changes = contacts.apply(
        "p1", ContactPatch(set_fields={"email": " Ana@Example.com ", "first_name": "Ana"}), START
    )

    assert changes == []
    assert profile == ContactProfile(
        workspace=contacts.workspace,
        id="p1",
        email="Ana@Example.com",
        first_name="Ana",
        created_at=START,
        updated_at=START,
        version=1,
    )
    assert profile.subscriptions == {"promotional": True, "transactional": True}
    assert contacts.get("p1") == profile


def test_a_patch_reports_each_change_it_made(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(labels_add=["trial"], set_fields={"lead_status": "new"}), START)

    profile, changes = contacts.apply(
        "p1",
        ContactPatch(
            labels_add=["vip", "yoga"],
            labels_remove=["trial", "never-had"],
            points_add=15,
            badges_add=["first-class"],
            set_fields={"lead_status": "qualified", "timezone": "Europe/Zurich", "locale": "de-CH"},
            attributes_set={"plan": "pro", "seats": (1, 2)},
            subscriptions={"promotional": False},
        ),
        LATER,
    )

    assert changes == [
        ContactChange("label_added", label="vip"),
        ContactChange("label_added", label="yoga"),
        ContactChange("label_removed", label="trial"),
        ContactChange("points_changed", delta=15, points=15),
        ContactChange("badge_added", badge="first-class"),
        ContactChange("lead_status_changed", old_status="new", new_status="qualified"),
    ]
    assert [change.event_type for change in changes][-1] == "contact.lead_status_changed"
    assert (profile.labels, profile.points, profile.badges) == (("vip", "yoga"), 15, ("first-class",))
    assert (profile.timezone, profile.locale, profile.lead_status) == ("Europe/Zurich", "de-CH", "qualified")
    assert profile.attributes == {"plan": "pro", "seats": [1, 2]}
    assert profile.subscriptions == {"promotional": False, "transactional": True}
    assert (profile.created_at, profile.updated_at, profile.version) == (START, LATER, 2)
    assert contacts.get("p1") == profile

    taken, changes = contacts.apply("p1", ContactPatch(points_add=-5, attributes_unset=["seats"]), LATER)
    assert changes == [ContactChange("points_changed", delta=-5, points=10)]
    assert (taken.points, taken.attributes) == (10, {"plan": "pro"})


def test_a_patch_that_changes_nothing_writes_nothing(contacts: ContactStore) -> None:
    first, _ = contacts.apply(
        "p1", ContactPatch(labels_add=["vip"], badges_add=["gold"], set_fields={"lead_status": "new"}), START
    )

    again, changes = contacts.apply(
        "p1",
        ContactPatch(
            labels_add=["vip"],
            labels_remove=["other"],
            badges_add=["gold"],
            set_fields={"lead_status": "new"},
            attributes_unset=["none"],
        ),
        LATER,
    )

    assert changes == []
    assert again == first and again.version == 1 and again.updated_at == START
    assert contacts.get("p1") == first


def test_points_never_go_below_zero_and_a_refused_patch_writes_nothing(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(points_add=3), START)

    with pytest.raises(InvalidInputError) as refused:
        contacts.apply("p1", ContactPatch(points_add=-4, labels_add=["vip"]), LATER)

    assert [error.loc for error in refused.value.errors] == ["points"]
    found = contacts.get("p1")
    assert found is not None and (found.points, found.labels, found.version) == (3, (), 1)
    assert people(contacts, label="vip") == []


def test_bounds_that_depend_on_the_profile_name_their_field(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(labels_add=[f"l{i:03d}" for i in range(60)]), START)

    with pytest.raises(InvalidInputError) as too_many:
        contacts.apply("p1", ContactPatch(labels_add=[f"m{i:03d}" for i in range(41)]), LATER)
    with pytest.raises(InvalidInputError) as at_once:
        contacts.apply("p2", ContactPatch(labels_add=[f"m{i:03d}" for i in range(MAX_LABEL_CHANGES + 1)]), LATER)
    with pytest.raises(InvalidInputError) as too_large:
        contacts.apply("p1", ContactPatch(attributes_set={f"a{i}": "x" * 1000 for i in range(17)}), LATER)

    assert [error.loc for error in too_many.value.errors] == ["labels_add"]
    assert [error.loc for error in at_once.value.errors] == ["labels"]
    assert [error.loc for error in too_large.value.errors] == ["attributes_set"]
    assert contacts.get("p2") is None


def test_invalid_arguments_name_their_field(contacts: ContactStore) -> None:
    with pytest.raises(InvalidInputError) as patch:
        ContactPatch(set_fields={"email": "nope", "timezone": "Mars/Olympus", "locale": "German"})
    with pytest.raises(InvalidInputError) as person:
        contacts.apply("", ContactPatch(), START)
    with pytest.raises(InvalidInputError) as ledger:
        contacts.apply("p1", ContactPatch(), START, ledger_key="")
    with pytest.raises(InvalidInputError) as listing:
        contacts.list(limit=0, cursor="not a cursor")

    assert [error.loc for error in patch.value.errors] == ["email", "timezone", "locale"]
    assert [error.loc for error in person.value.errors] == ["person"]
    assert [error.loc for error in ledger.value.errors] == ["ledger_key"]
    assert [error.loc for error in listing.value.errors] == ["limit", "cursor"]
    assert contacts.get("p1") is None


# --- the ledger, and concurrent changes -------------------------------------------------------------------------


def test_a_ledger_key_applies_once(contacts: ContactStore) -> None:
    award = ContactPatch(points_add=10, labels_add=["rewarded"])

    first, changes = contacts.apply("p1", award, START, ledger_key="run-1:award")
    contacts.apply("p1", ContactPatch(labels_remove=["rewarded"]), START + timedelta(minutes=1))
    again, repeated = contacts.apply("p1", award, LATER, ledger_key="run-1:award")

    assert [change.kind for change in changes] == ["label_added", "points_changed"]
    assert repeated == []
    assert (again.points, again.labels, again.version) == (10, (), 2)
    assert contacts.get("p1") == again

    other, more = contacts.apply("p1", award, LATER, ledger_key="run-2:award")
    assert [change.kind for change in more] == ["label_added", "points_changed"]
    assert (other.points, other.version) == (20, 3)
    assert first.points == 10


def test_a_ledger_key_that_changed_nothing_still_applies_once(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(labels_add=["vip"]), START)

    _, changes = contacts.apply("p1", ContactPatch(labels_add=["vip"]), START, ledger_key="run-1:tag")
    contacts.apply("p1", ContactPatch(labels_remove=["vip"]), LATER)
    again, repeated = contacts.apply("p1", ContactPatch(labels_add=["vip"]), LATER, ledger_key="run-1:tag")

    assert changes == repeated == []
    assert again.labels == ()


def test_a_ledger_key_applied_before_is_no_change_even_when_the_patch_no_longer_fits(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(points_add=3), START)
    spend = ContactPatch(points_add=-2)

    contacts.apply("p1", spend, START, ledger_key="run-1:spend")
    again, changes = contacts.apply("p1", spend, LATER, ledger_key="run-1:spend")

    assert changes == [] and again.points == 1
    with pytest.raises(InvalidInputError) as refused:
        contacts.apply("p1", spend, LATER, ledger_key="run-2:spend")
    assert [error.loc for error in refused.value.errors] == ["points"]


def test_ledger_keys_are_per_person(contacts: ContactStore) -> None:
    contacts.apply("p1", ContactPatch(points_add=1), START, ledger_key="run-1:award")

    profile, changes = contacts.apply("p2", ContactPatch(points_add=1), START, ledger_key="run-1:award")

    assert profile.points == 1 and len(changes) == 1


@pytest.mark.usefixtures("one_request_at_a_time")
def test_concurrent_changes_are_never_lost(contacts: ContactStore) -> None:
    workers, each = 4, 5

    def work(worker: int) -> int:
        awarded = 0
        for n in range(each):
            _, changes = contacts.apply(
                "p1", ContactPatch(points_add=1, labels_add=[f"w{worker}-{n}"]), START, ledger_key=f"run-{worker}:{n}"
            )
            # and a retry of the same step, which changes nothing
            _, repeated = contacts.apply("p1", ContactPatch(points_add=1), START, ledger_key=f"run-{worker}:{n}")
            awarded += sum(change.kind == "points_changed" for change in changes + repeated)
        return awarded

    with ThreadPoolExecutor(max_workers=workers) as pool:
        awarded = list(pool.map(work, range(workers)))

    found = contacts.get("p1")
    assert awarded == [each] * workers
    assert found is not None and found.points == workers * each and found.version == workers * each
    assert len(found.labels) == workers * each
    assert people(contacts, label="w3-4") == ["p1"]


# --- events ------------------------------------------------------------------------------------------------------


def test_an_event_contact_upserts_the_fields_it_carries(contacts: ContactStore) -> None:
    contacts.apply(
        "p1", ContactPatch(labels_add=["vip"], points_add=5, set_fields={"phone": "+41 44 000 00 00"}), START
    )

    profile = contacts.upsert_from_event(
        "p1",
        {
            "id": "p1",
            "email": "ana@example.com",
            "first_name": "Ana",
            "timezone": "Mars/Olympus",
            "locale": "pt-BR",
            "plan": "pro",
            "labels": ["ignored"],
            "points": 1000,
            "company name": "not a name an attribute takes",
            "attributes": {"seats": 3},
        },
        LATER,
    )

    assert (profile.email, profile.first_name, profile.locale, profile.timezone) == (
        "ana@example.com",
        "Ana",
        "pt-BR",
        None,
    )
    assert (profile.phone, profile.labels, profile.points) == ("+41 44 000 00 00", ("vip",), 5)
    assert profile.attributes == {"plan": "pro", "seats": 3}
    assert (profile.updated_at, profile.version) == (LATER, 2)
    assert contacts.get("p1") == profile

    same = contacts.upsert_from_event("p1", {"id": "p1", "email": "ana@example.com", "plan": "pro"}, LATER)
    assert same == profile

    newer = contacts.upsert_from_event("p1", {"email": "ana@new.example", "first_name": None}, LATER)
    assert (newer.email, newer.first_name, newer.version) == ("ana@new.example", "Ana", 3)


def test_an_event_contact_makes_the_profile_of_a_new_person(contacts: ContactStore) -> None:
    profile = contacts.upsert_from_event("p9", {"id": "p9"}, START)

    assert profile == replace(ContactProfile.new(contacts.workspace, "p9", START), version=1)
    assert contacts.get("p9") == profile
    assert people(contacts) == ["p9"]


# --- listing ---------------------------------------------------------------------------------------------------


def _people(contacts: ContactStore) -> None:
    for person, first, last, email, labels in [
        ("p1", "Ana", "Silva", "ana@example.com", ["vip", "yoga"]),
        ("p2", "Bo", "Anand", "bo@example.com", ["yoga"]),
        ("p3", "Carla", "Bones", "carla@studio.example", ["vip"]),
        ("p4", "Ánh", "Nguyen", "anh@example.com", []),
        ("p5", None, None, "info@ANAlytics.example", ["vip"]),
    ]:
        fields = {"first_name": first, "last_name": last, "email": email}
        contacts.apply(person, ContactPatch(set_fields=fields, labels_add=labels), START)


def test_contacts_are_listed_by_label(contacts: ContactStore) -> None:
    _people(contacts)

    assert people(contacts) == ["p1", "p2", "p3", "p4", "p5"]
    assert people(contacts, label="vip") == ["p1", "p3", "p5"]
    assert people(contacts, label="yoga") == ["p1", "p2"]
    assert people(contacts, label="none") == []

    contacts.apply("p1", ContactPatch(labels_remove=["vip"]), LATER)
    contacts.apply("p4", ContactPatch(labels_add=["vip"]), LATER)

    assert people(contacts, label="vip") == ["p3", "p4", "p5"]
    found, _ = contacts.list(label="vip", limit=1)
    assert found == [contacts.get("p3")]


def test_a_search_finds_the_start_of_email_or_names_whatever_the_case(contacts: ContactStore) -> None:
    _people(contacts)

    assert people(contacts, query="AN") == ["p1", "p2", "p4"]  # ana@, Anand, anh@ (not "Ánh": another letter)
    assert people(contacts, query="ana s") == ["p1"]  # the full name
    assert people(contacts, query="bon") == ["p3"]  # a last name
    assert people(contacts, query="carla@studio") == ["p3"]
    assert people(contacts, query="ánh") == ["p4"]
    assert people(contacts, query="ilva") == []  # the start only
    assert people(contacts, query="info@analytics") == ["p5"]
    assert people(contacts, query="an", label="vip") == ["p1"]
    assert people(contacts, query="  ") == ["p1", "p2", "p3", "p4", "p5"]  # a blank search finds everyone

    contacts.apply("p2", ContactPatch(set_fields={"last_name": "Berg"}), LATER)
    assert people(contacts, query="an") == ["p1", "p4"]


def test_a_listing_goes_page_by_page(contacts: ContactStore) -> None:
    for n in range(7):
        contacts.apply(f"p{n}", ContactPatch(labels_add=["all"] + (["odd"] if n % 2 else [])), START)

    for listing in ({}, {"label": "all"}, {"query": ""}):
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            found, cursor = contacts.list(limit=3, cursor=cursor, **listing)
            pages.append([profile.id for profile in found])
            if cursor is None:
                break
        assert pages == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]], listing

    first, cursor = contacts.list(label="odd", limit=2)
    assert [profile.id for profile in first] == ["p1", "p3"] and cursor is not None
    rest, end = contacts.list(label="odd", limit=2, cursor=cursor)
    assert [profile.id for profile in rest] == ["p5"] and end is None
    exact, after = contacts.list(label="odd", limit=3)
    assert len(exact) == 3 and after is None


def test_a_store_sees_its_own_workspace_only(store_of: StoreOf) -> None:
    number = next(_workspaces)
    mine, theirs = store_of(f"contacts{number}a"), store_of(f"contacts{number}b")
    mine.apply("p1", ContactPatch(labels_add=["vip"], set_fields={"first_name": "Ana"}), START, ledger_key="r:s")

    assert theirs.get("p1") is None
    assert theirs.list() == ([], None)
    assert theirs.list(label="vip") == ([], None)
    assert theirs.list(query="ana") == ([], None)
    assert not theirs.delete("p1")

    profile, changes = theirs.apply("p1", ContactPatch(points_add=2), START, ledger_key="r:s")
    assert profile.workspace == theirs.workspace and profile.points == 2 and changes
    mine_now = mine.get("p1")
    assert mine_now is not None and mine_now.points == 0 and mine_now.labels == ("vip",)


def test_a_deleted_profile_is_gone_with_its_labels_but_its_ledger_stays(contacts: ContactStore) -> None:
    labels = [f"l{i:03d}" for i in range(100)]
    contacts.apply("p1", ContactPatch(labels_add=labels[:50]), START)
    contacts.apply("p1", ContactPatch(labels_add=labels[50:], points_add=1), START, ledger_key="run-1:award")
    contacts.apply("p2", ContactPatch(labels_add=["l099"]), START)

    assert contacts.delete("p1")

    assert contacts.get("p1") is None
    assert not contacts.delete("p1")
    assert people(contacts) == ["p2"]
    assert people(contacts, label="l000") == []
    assert people(contacts, label="l099") == ["p2"]
    blank, changes = contacts.apply("p1", ContactPatch(points_add=1), LATER, ledger_key="run-1:award")
    assert changes == [] and blank.version == 0 and contacts.get("p1") is None
    again, _ = contacts.apply("p1", ContactPatch(labels_add=["l000"]), LATER)
    assert again.version == 1 and again.labels == ("l000",)
    assert people(contacts, label="l000") == ["p1"]


def test_times_are_kept_in_utc(contacts: ContactStore) -> None:
    zurich = datetime(2026, 11, 24, 11, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Zurich"))

    profile, _ = contacts.apply("p1", ContactPatch(points_add=1), zurich)

    assert profile.created_at.tzinfo == UTC and profile.created_at == zurich
    assert contacts.get("p1") == profile


def test_a_steps_count_goes_with_its_ledger_key_once(ports: Ports) -> None:
    done = StepCount("welcome", "award", "actions_done")
    patch = ContactPatch(points_add=10)

    ports.contacts.apply("p1", patch, START, ledger_key="run_1:award", count=done)
    again, changes = ports.contacts.apply("p1", patch, LATER, ledger_key="run_1:award", count=done)
    ports.contacts.apply("p1", ContactPatch(), LATER, ledger_key="run_2:award", count=done)  # changes nothing

    assert (again.points, changes) == (10, [])
    steps = ports.stats.read("welcome")
    assert (steps["award"]["actions_done"], steps[WHOLE]["actions_done"]) == (2, 0)
    with pytest.raises(ValueError):
        ports.contacts.apply("p1", patch, LATER, count=done)
    assert ports.contacts.get("p1").points == 10  # type: ignore[union-attr]


# --- an event's contact, read together and written with its event ------------------------------------------------


def test_profiles_are_read_together(contacts: ContactStore) -> None:
    _people(contacts)

    found = contacts.get_many(["p3", "p1", "p404"])

    assert sorted(found) == ["p1", "p3"] and found["p1"] == contacts.get("p1")
    assert contacts.get_many([]) == {}
    assert contacts.get_many(["p2"]) == {"p2": contacts.get("p2")}
    with pytest.raises(InvalidInputError):
        contacts.get_many(["p1", ""])


def test_an_event_is_stored_with_the_profile_it_changes_and_only_once(ports: Ports) -> None:
    received = StoredEvent.new({"id": "evt_u1", "type": "lead.created", "contact": {"id": "u1"}}, START, "received")
    contact = {"id": "u1", "email": "ana@example.com"}

    profile, stored = ports.contacts.upsert_with_event(received, "u1", contact, START, current=None)

    assert stored and profile.email == "ana@example.com" and ports.contacts.get("u1") == profile
    assert ports.events.get("evt_u1") == received
    # the same event again changes nothing, even with other contact fields
    with pytest.raises(SkippedError):
        ports.contacts.upsert_with_event(received, "u1", {**contact, "first_name": "Ana"}, LATER, current=profile)
    assert ports.contacts.get("u1") == profile
    # a contact that brings nothing new writes nothing: the event is not stored
    other = replace(received, id="evt_u2", body={**received.body, "id": "evt_u2"})
    same, stored = ports.contacts.upsert_with_event(other, "u1", contact, LATER, current=profile)
    assert (same, stored) == (profile, False) and ports.events.get("evt_u2") is None
    # a profile read before another change is read again
    ports.contacts.apply("u1", ContactPatch(labels_add=["vip"]), LATER)
    newer, stored = ports.contacts.upsert_with_event(
        other, "u1", {**contact, "first_name": "Ana"}, LATER, current=profile
    )
    assert stored and (newer.labels, newer.first_name, newer.version) == (("vip",), "Ana", 3)
    assert ports.events.get("evt_u2") == other
