"""TaskStore: a task made once by its id (a retried step finds the task it made), listed newest first by status
and assignee, page by page, and marked done; each workspace sees its own tasks only."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from automations.adapters.dynamodb.tables import bind
from automations.adapters.dynamodb.tasks import DynamoTaskStore
from automations.ports.errors import InvalidInputError, NotFoundError
from automations.ports.protocols import TaskStore
from automations.ports.values import Task

from tests.contract.conftest import START
from tests.support.aws import Stack
from tests.support.fakes import FakeTaskStore, TaskBook

_workspaces = itertools.count(1)
LATER = START + timedelta(hours=1)

StoreOf = Callable[[str], TaskStore]


@pytest.fixture(params=["fake", "moto"])
def store_of(request: pytest.FixtureRequest) -> StoreOf:
    """Stores of any workspace over one backing (one book, or the moto stack's actions table)."""
    if request.param == "fake":
        book = TaskBook()
        return lambda workspace: FakeTaskStore(workspace, book)
    stack: Stack = request.getfixturevalue("moto_stack")
    bind(stack.settings)
    return DynamoTaskStore


@pytest.fixture
def tasks(store_of: StoreOf) -> TaskStore:
    """The store of a workspace no other test uses."""
    return store_of(f"tasks{next(_workspaces)}")


def task(tasks: TaskStore, task_id: str, created_at: datetime = START, **fields: Any) -> Task:
    values: dict[str, Any] = {
        "workspace": tasks.workspace,
        "id": task_id,
        "title": f"Call about {task_id}",
        "description": None,
        "assignee": "owner@acme.example",
        "due_at": None,
        "status": "open",
        "person": "c_42",
        "automation_id": "quote-follow-up",
        "run_id": "run_1",
        "step": "call",
        "created_at": created_at,
        "updated_at": created_at,
    }
    return Task(**{**values, **fields})


def ids(tasks: TaskStore, **listing: Any) -> list[str]:
    found, _ = tasks.list(**listing)
    return [t.id for t in found]


# --- one task -----------------------------------------------------------------------------------------------------


def test_a_task_is_stored_as_given_and_read_back(tasks: TaskStore) -> None:
    due = datetime(2026, 11, 26, 17, 0, tzinfo=ZoneInfo("Europe/Lisbon"))
    given = task(tasks, "task_1", description="Quote 2026-117, 640 EUR", due_at=due)

    created = tasks.create(given)

    assert created == replace(given, due_at=due.astimezone(UTC))
    assert created.due_at is not None and created.due_at.tzinfo == UTC
    assert tasks.get("task_1") == created
    assert created.as_dict() == {
        "id": "task_1",
        "title": "Call about task_1",
        "description": "Quote 2026-117, 640 EUR",
        "assignee": "owner@acme.example",
        "due_at": "2026-11-26T17:00:00+00:00",
        "status": "open",
        "person": "c_42",
        "automation_id": "quote-follow-up",
        "run_id": "run_1",
        "step": "call",
        "created_at": "2026-11-24T10:00:00+00:00",
        "updated_at": "2026-11-24T10:00:00+00:00",
    }


def test_a_task_without_an_automation_keeps_its_blanks_as_none(tasks: TaskStore) -> None:
    created = tasks.create(
        task(tasks, "t.2", description="  ", assignee="", person=None, automation_id=None, run_id=None, step=None)
    )

    assert (created.description, created.assignee, created.person, created.run_id) == (None, None, None, None)
    assert tasks.get("t.2") == created


def test_a_task_is_made_once_by_its_id(tasks: TaskStore) -> None:
    first = tasks.create(task(tasks, "task_1", title="Call Ana"))

    again = tasks.create(task(tasks, "task_1", LATER, title="Call Ana about the new quote", assignee="bo@acme.example"))

    assert again == first
    assert tasks.get("task_1") == first
    assert ids(tasks) == ["task_1"]


def test_concurrent_creates_of_one_id_make_one_task(tasks: TaskStore) -> None:
    def create(n: int) -> Task:
        return tasks.create(task(tasks, "task_1", START + timedelta(seconds=n), title=f"attempt {n}"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(create, range(8)))

    assert len(set(answers)) == 1
    assert tasks.get("task_1") == answers[0]
    assert ids(tasks) == ["task_1"]


def test_a_task_that_cannot_be_stored_names_every_field(tasks: TaskStore) -> None:
    with pytest.raises(InvalidInputError) as raised:
        tasks.create(
            task(
                tasks,
                "-not an id",
                title=" ",
                description="d" * 10_001,
                assignee="a" * 321,
                status="later",
            )
        )

    assert [e.loc for e in raised.value.errors] == ["id", "title", "description", "assignee", "status"]
    assert tasks.list() == ([], None)


def test_an_unknown_or_impossible_id_has_no_task(tasks: TaskStore) -> None:
    assert tasks.get("task_404") is None
    assert tasks.get("not/an id") is None
    assert tasks.get("") is None


# --- status -------------------------------------------------------------------------------------------------------


def test_a_task_is_marked_done_and_open_again(tasks: TaskStore) -> None:
    created = tasks.create(task(tasks, "task_1"))

    done = tasks.set_status("task_1", "done", LATER)

    assert done == replace(created, status="done", updated_at=LATER)
    assert tasks.get("task_1") == done
    assert ids(tasks, status="done") == ["task_1"] and ids(tasks, status="open") == []

    later = LATER + timedelta(hours=1)
    assert tasks.set_status("task_1", "done", later) == done  # done already: left as it was
    reopened = tasks.set_status("task_1", "open", later)
    assert (reopened.status, reopened.updated_at) == ("open", later)
    assert ids(tasks, status="open") == ["task_1"] and ids(tasks, status="done") == []


def test_an_unknown_task_or_status_is_refused(tasks: TaskStore) -> None:
    tasks.create(task(tasks, "task_1"))

    with pytest.raises(NotFoundError):
        tasks.set_status("task_404", "done", LATER)
    with pytest.raises(NotFoundError):
        tasks.set_status("not/an id", "done", LATER)
    with pytest.raises(InvalidInputError) as raised:
        tasks.set_status("task_1", "finished", LATER)

    assert [e.loc for e in raised.value.errors] == ["status"]
    found = tasks.get("task_1")
    assert found is not None and found.status == "open"


# --- listing ------------------------------------------------------------------------------------------------------


def _some(tasks: TaskStore) -> None:
    for n, assignee in enumerate(["ana@acme.example", "bo@acme.example", "ana@acme.example", None, "ana@acme.example"]):
        tasks.create(task(tasks, f"task_{n}", START + timedelta(minutes=n), assignee=assignee))
    tasks.set_status("task_2", "done", LATER)


def test_tasks_are_listed_newest_first_by_status_and_assignee(tasks: TaskStore) -> None:
    _some(tasks)

    assert ids(tasks) == ["task_4", "task_3", "task_2", "task_1", "task_0"]
    assert ids(tasks, status="open") == ["task_4", "task_3", "task_1", "task_0"]
    assert ids(tasks, status="done") == ["task_2"]
    assert ids(tasks, assignee="ana@acme.example") == ["task_4", "task_2", "task_0"]
    assert ids(tasks, status="open", assignee="ana@acme.example") == ["task_4", "task_0"]
    assert ids(tasks, assignee="nobody@acme.example") == []
    assert ids(tasks, status=" ", assignee="") == ids(tasks)  # blank asks for every one


def test_tasks_made_at_the_same_time_go_by_id(tasks: TaskStore) -> None:
    for task_id in ("b", "a", "c"):
        tasks.create(task(tasks, task_id))

    assert ids(tasks) == ["c", "b", "a"]


def test_a_listing_goes_page_by_page(tasks: TaskStore) -> None:
    for n in range(7):
        tasks.create(task(tasks, f"task_{n}", START + timedelta(minutes=n), assignee="ana" if n % 2 else "bo"))

    for listing in ({}, {"status": "open"}):
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            found, cursor = tasks.list(limit=3, cursor=cursor, **listing)
            pages.append([t.id for t in found])
            if cursor is None:
                break
        assert pages == [["task_6", "task_5", "task_4"], ["task_3", "task_2", "task_1"], ["task_0"]], listing

    first, cursor = tasks.list(assignee="ana", limit=2)
    assert [t.id for t in first] == ["task_5", "task_3"] and cursor is not None
    rest, end = tasks.list(assignee="ana", limit=2, cursor=cursor)
    assert [t.id for t in rest] == ["task_1"] and end is None
    exact, after = tasks.list(assignee="ana", limit=3)
    assert len(exact) == 3 and after is None


def test_a_listing_refuses_what_it_cannot_take_naming_each(tasks: TaskStore) -> None:
    with pytest.raises(InvalidInputError) as raised:
        tasks.list(status="closed", assignee="a" * 321, limit=0, cursor="not-a-cursor")

    assert [e.loc for e in raised.value.errors] == ["status", "assignee", "limit", "cursor"]
    with pytest.raises(InvalidInputError):
        tasks.list(limit=101)


def test_a_store_sees_its_own_workspace_only(store_of: StoreOf) -> None:
    number = next(_workspaces)
    mine, theirs = store_of(f"tasks{number}a"), store_of(f"tasks{number}b")
    made = mine.create(task(mine, "task_1"))

    assert theirs.get("task_1") is None
    assert theirs.list() == ([], None)
    assert theirs.list(status="open") == ([], None)
    with pytest.raises(NotFoundError):
        theirs.set_status("task_1", "done", LATER)

    other = theirs.create(task(mine, "task_1", title="Theirs"))  # the store's workspace, whatever the task says
    assert other.workspace == theirs.workspace and other.title == "Theirs"
    assert mine.get("task_1") == made
