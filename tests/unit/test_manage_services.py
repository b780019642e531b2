"""The services behind the management API's routes, on an in-memory automation store: duplicate (one write),
rename and description changes, the sample event of previews and test emails, the template category filter,
and the status each typed error is answered with."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from automations.api.errors import status_of
from automations.errors import DefinitionError
from automations.events import EventValidationError
from automations.ports import ConflictError, NotFoundError
from automations.services import catalog, lifecycle, preview
from automations.services.deps import Deps
from automations.services.lifecycle import ActivationError
from automations.services.queries import QueryError
from automations.services.sending import TransientSendError

from tests.conftest import EXAMPLES
from tests.support.settings import settings_with

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OVERDUE = "overdue-invoice-reminder"


@dataclass
class Head:
    """The fields of a stored automation head that the services read."""

    id: str
    name: str
    status: str
    version: int
    trigger_event: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None

    @property
    def sk(self) -> str:
        """The head's id under the name of its key in the table."""
        return self.id


class InMemoryAutomations:
    """The automation store's reads and writes the management services use; every write is recorded."""

    def __init__(self) -> None:
        self.heads: dict[str, Head] = {}
        self.definitions: dict[tuple[str, int], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []

    def head(self, automation_id: str) -> Head:
        try:
            return self.heads[automation_id]
        except KeyError:
            raise NotFoundError(f"automation {automation_id!r} not found") from None

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        return self.definitions[(automation_id, version)]

    def create(self, definition: dict[str, Any], now: datetime) -> Head:
        automation_id = definition["id"]
        if automation_id in self.heads:
            raise ConflictError(f"automation {automation_id!r} already exists")
        self.writes.append(("create", automation_id, definition["name"]))
        head = Head(
            automation_id,
            definition["name"],
            definition.get("status", "draft"),
            1,
            definition["trigger"]["event"],
            definition.get("description"),
            now,
            now,
        )
        self.heads[automation_id] = head
        self.definitions[(automation_id, 1)] = definition
        return head

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> Head:
        head = self.head(automation_id)
        self.writes.append(("rename", automation_id, name))
        head.name, head.updated_at = name, now
        if description is not None:
            head.description = description
        return head


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
def store() -> InMemoryAutomations:
    return InMemoryAutomations()


@pytest.fixture
def deps(store: InMemoryAutomations) -> Deps:
    """Dependencies with the in-memory automation store and a fixed clock; these services use nothing else."""
    given: dict[str, Any] = {"settings": settings_with(), "automations": store, "clock": FixedClock()}
    required = [f.name for f in fields(Deps) if f.default is MISSING and f.default_factory is MISSING]
    return Deps(**{name: given.get(name) for name in required})


def overdue() -> dict[str, Any]:
    definition: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{OVERDUE}.yaml").read_text())
    definition["status"] = "draft"
    return definition


@pytest.fixture
def stored(deps: Deps, store: InMemoryAutomations) -> lifecycle.Summary:
    summary = lifecycle.create(deps, overdue(), NOW)
    store.writes.clear()
    return summary


# --- duplicate ----------------------------------------------------------------------------------------------


def test_a_duplicate_with_a_new_id_and_name_is_one_write(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary
) -> None:
    # When the automation is duplicated with an id and a name
    copy = lifecycle.duplicate(deps, OVERDUE, NOW, new_id="mine", name="  Mine  ")
    # Then one write creates the copy with its id and its name: there is no moment without the name
    assert store.writes == [("create", "mine", "Mine")]
    assert (copy.id, copy.name, copy.status, copy.version) == ("mine", "Mine", "draft", 1)
    assert store.version("mine", 1)["name"] == "Mine"
    assert store.version("mine", 1)["steps"] == store.version(OVERDUE, 1)["steps"]


def test_a_duplicate_without_a_name_is_a_copy_with_a_free_id(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary
) -> None:
    first = lifecycle.duplicate(deps, OVERDUE, NOW)
    second = lifecycle.duplicate(deps, OVERDUE, NOW, name="")
    assert (first.id, first.name) == (f"{OVERDUE}-copy", f"Copy of {stored.name}")
    assert (second.id, second.name) == (f"{OVERDUE}-copy-2", f"Copy of {stored.name}")
    assert [write[0] for write in store.writes] == ["create", "create"]


@pytest.mark.parametrize("name", ["   ", "x" * 201])
def test_a_duplicate_with_a_bad_name_writes_nothing(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary, name: str
) -> None:
    with pytest.raises(DefinitionError) as refused:
        lifecycle.duplicate(deps, OVERDUE, NOW, new_id="mine", name=name)
    assert [str(e) for e in refused.value.errors] == ["name: must be 1 to 200 characters"]
    assert store.writes == []
    assert "mine" not in store.heads


def test_a_duplicate_onto_a_taken_id_writes_nothing(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary
) -> None:
    with pytest.raises(ConflictError):
        lifecycle.duplicate(deps, OVERDUE, NOW, new_id=OVERDUE, name="Mine")
    assert store.writes == []
    assert store.head(OVERDUE).name == stored.name


def test_duplicating_an_unknown_automation_is_not_found(deps: Deps) -> None:
    with pytest.raises(NotFoundError):
        lifecycle.duplicate(deps, "nope", NOW)


# --- rename and description ---------------------------------------------------------------------------------


def test_a_new_description_keeps_the_current_name(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary
) -> None:
    lifecycle.edit(deps, OVERDUE, NOW, name="Overdue: 3 days")
    summary = lifecycle.edit(deps, OVERDUE, NOW, description="v2")
    assert (summary.name, summary.description) == ("Overdue: 3 days", "v2")
    assert store.writes == [("rename", OVERDUE, "Overdue: 3 days"), ("rename", OVERDUE, "Overdue: 3 days")]


def test_an_edit_needs_a_name_or_a_description(
    deps: Deps, store: InMemoryAutomations, stored: lifecycle.Summary
) -> None:
    with pytest.raises(QueryError) as refused:
        lifecycle.edit(deps, OVERDUE, NOW)
    assert [(e.loc, e.message) for e in refused.value.errors] == [("body", "give a name, a description, or both")]
    assert store.writes == []


# --- the sample event of previews and test emails ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "event"),
    [
        (None, {}),
        ({}, {}),
        ({"event": {"id": "e1"}}, {"id": "e1"}),
        ({"event": {"id": "e1"}, "type": "x"}, {"event": {"id": "e1"}, "type": "x"}),
        ({"event": "not an object"}, {"event": "not an object"}),
        ({"id": "e1", "type": "invoice.overdue"}, {"id": "e1", "type": "invoice.overdue"}),
    ],
)
def test_the_sample_event_of_a_preview_request(body: dict[str, Any] | None, event: dict[str, Any]) -> None:
    assert lifecycle.event_in(body) == event


def test_a_sample_is_the_current_version_with_the_triggers_event_type(deps: Deps, stored: lifecycle.Summary) -> None:
    given = {"id": "evt_1", "contact": {"id": "c_1", "email": "ana@example.com"}}
    sample = lifecycle.sample(deps, OVERDUE, given)
    assert (sample.automation.id, sample.version) == (OVERDUE, 1)
    assert sample.event["type"] == sample.automation.trigger.event
    assert sample.event["id"] == "evt_1" and sample.event["contact"]["email"] == "ana@example.com"
    assert given == {"id": "evt_1", "contact": {"id": "c_1", "email": "ana@example.com"}}  # not changed


def test_a_sample_keeps_its_own_type_and_refuses_an_invalid_event(deps: Deps, stored: lifecycle.Summary) -> None:
    assert lifecycle.sample(deps, OVERDUE, {"type": "invoice.paid"}).event["type"] == "invoice.paid"
    with pytest.raises(EventValidationError):
        lifecycle.sample(deps, OVERDUE, {"occurred_at": "not a time"})
    with pytest.raises(NotFoundError):
        lifecycle.sample(deps, "nope", {})


# --- templates ----------------------------------------------------------------------------------------------


def test_templates_of_a_category() -> None:
    every = catalog.templates()
    assert catalog.templates_in(None) == list(every)
    category = every[0].category
    found = catalog.templates_in(category)
    assert found and all(t.category == category for t in found)
    assert [t for t in every if t.category == category] == found
    assert catalog.templates_in("no such category") == []


# --- errors as answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("x"), 404),
        (ConflictError("x"), 409),
        (ActivationError(["no sender"]), 409),
        (DefinitionError([]), 422),
        (QueryError([]), 422),
        (preview.PreviewError("x"), 422),
        (EventValidationError([]), 422),
        (TransientSendError("x", []), 503),
        (RuntimeError("x"), 500),
    ],
)
def test_each_typed_error_has_its_status(error: Exception, status: int) -> None:
    assert status_of(error) == status
