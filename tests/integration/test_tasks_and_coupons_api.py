"""The routes of tasks and coupon pools through manage_api under moto, with the authorizer's context of a key:
tasks listed newest first (by status, by assignee, page by page) and marked done; codes loaded into a pool
(those it has skipped), claimed by runs' steps, and counted; bad input answered 422 naming its field; each
workspace seeing its own tasks and pools only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from automations.ports import ROOT, Task
from automations.services.deps import get_deps

from tests.integration.conftest import START
from tests.support.aws import aws_stack
from tests.support.email import verify_sender
from tests.support.pipeline import Pipeline
from tests.support.recorder import AwsTap


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, aws_tap: AwsTap) -> Iterator[Pipeline]:
    with aws_stack(monkeypatch, START) as stack:
        verify_sender()
        yield Pipeline(stack, aws_tap)


def make_task(workspace: str, task_id: str, minutes: int, **fields: Any) -> Task:
    """A task as a create_task step makes it (straight through the store, as the engine does)."""
    at = START + timedelta(minutes=minutes)
    values: dict[str, Any] = {
        "workspace": workspace,
        "id": task_id,
        "title": f"Call about {task_id}",
        "description": None,
        "assignee": "owner@acme.example",
        "due_at": at + timedelta(days=2),
        "status": "open",
        "person": "c_42",
        "automation_id": "quote-follow-up",
        "run_id": f"run_{task_id}",
        "step": "call",
        "created_at": at,
        "updated_at": at,
    }
    return get_deps(workspace).tasks.create(Task(**{**values, **fields}))


def errors_of(answer: Any) -> list[str]:
    return [error["loc"] for error in answer.get("errors", [])]


# --- tasks --------------------------------------------------------------------------------------------------------


def test_tasks_are_listed_newest_first_and_marked_done(pipeline: Pipeline) -> None:
    for n, assignee in enumerate(["ana@acme.example", "bo@acme.example", "ana@acme.example"]):
        make_task("default", f"task_{n}", n, assignee=assignee)

    status, listed = pipeline.keyed("default", "GET", "/v1/tasks", scopes="contacts:read")
    assert status == 200, listed
    assert [t["id"] for t in listed["tasks"]] == ["task_2", "task_1", "task_0"] and listed["next_cursor"] is None
    first = listed["tasks"][-1]
    assert first == {
        "id": "task_0",
        "title": "Call about task_0",
        "description": None,
        "assignee": "ana@acme.example",
        "due_at": "2026-11-26T10:00:00+00:00",
        "status": "open",
        "person": "c_42",
        "automation_id": "quote-follow-up",
        "run_id": "run_task_0",
        "step": "call",
        "created_at": "2026-11-24T10:00:00+00:00",
        "updated_at": "2026-11-24T10:00:00+00:00",
    }

    status, done = pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {"status": "done"}, scopes="contacts:write")
    assert status == 200, done
    assert done["status"] == "done" and done["updated_at"] == pipeline.stack.clock.now().isoformat()

    def listing(**query: str) -> list[str]:
        status, answer = pipeline.keyed("default", "GET", "/v1/tasks", query=query)
        assert status == 200, answer
        return [t["id"] for t in answer["tasks"]]

    assert listing(status="open") == ["task_2", "task_0"]
    assert listing(status="done") == ["task_1"]
    assert listing(assignee="ana@acme.example") == ["task_2", "task_0"]
    assert listing(status="open", assignee="bo@acme.example") == []

    status, page = pipeline.keyed("default", "GET", "/v1/tasks", query={"limit": "2"})
    assert [t["id"] for t in page["tasks"]] == ["task_2", "task_1"] and page["next_cursor"]
    status, rest = pipeline.keyed("default", "GET", "/v1/tasks", query={"limit": "2", "cursor": page["next_cursor"]})
    assert [t["id"] for t in rest["tasks"]] == ["task_0"] and rest["next_cursor"] is None

    # Done again: left as it was; open again
    assert pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {"status": "done"}) == (200, done)
    status, reopened = pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {"status": "open"})
    assert status == 200 and reopened["status"] == "open"


def test_an_unknown_task_is_a_404_and_bad_input_a_422_naming_the_field(pipeline: Pipeline) -> None:
    make_task("default", "task_1", 0)

    status, answer = pipeline.keyed("default", "PATCH", "/v1/tasks/task_404", {"status": "done"})
    assert status == 404, answer
    status, answer = pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {"status": "finished"})
    assert (status, errors_of(answer)) == (422, ["status"]), answer
    status, answer = pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {"status": "done", "note": "x"})
    assert status == 422 and "body.note" in errors_of(answer), answer
    status, answer = pipeline.keyed("default", "PATCH", "/v1/tasks/task_1", {})
    assert status == 422 and "body.status" in errors_of(answer), answer

    for query, loc in (({"status": "closed"}, "status"), ({"cursor": "nope"}, "cursor"), ({"limit": "0"}, "limit")):
        status, answer = pipeline.keyed("default", "GET", "/v1/tasks", query=query)
        assert status == 422 and any(e.endswith(loc) for e in errors_of(answer)), (query, answer)

    status, answer = pipeline.keyed("default", "GET", "/v1/tasks")
    assert [t["status"] for t in answer["tasks"]] == ["open"]  # nothing changed


# --- coupon pools -------------------------------------------------------------------------------------------------


def test_codes_are_loaded_claimed_and_counted(pipeline: Pipeline) -> None:
    path = "/v1/coupon-pools/spring-10/codes"
    codes = {"codes": ["A1", "A2", "A3", "A2"]}
    status, loaded = pipeline.keyed("default", "POST", path, codes, scopes="automations:write")
    assert (status, loaded) == (201, {"pool": "spring-10", "added": 3, "left": 3, "claimed": 0}), loaded

    coupons = get_deps("default").coupons
    claimed = coupons.claim("spring-10", "run_1:coupon", START)
    assert claimed in {"A1", "A2", "A3"}
    assert coupons.claim("spring-10", "run_1:coupon", START) == claimed

    status, again = pipeline.keyed("default", "POST", path, {"codes": [claimed, "A4"]})
    assert (status, again) == (201, {"pool": "spring-10", "added": 1, "left": 3, "claimed": 1}), again

    status, counts = pipeline.keyed("default", "GET", "/v1/coupon-pools/spring-10", scopes="automations:read")
    assert (status, counts) == (200, {"pool": "spring-10", "left": 3, "claimed": 1})
    pipeline.keyed("default", "POST", "/v1/coupon-pools/winter/codes", {"codes": ["W1"]})
    status, pools = pipeline.keyed("default", "GET", "/v1/coupon-pools", scopes="automations:read")
    assert (status, pools) == (
        200,
        {"pools": [{"pool": "spring-10", "left": 3, "claimed": 1}, {"pool": "winter", "left": 1, "claimed": 0}]},
    )
    assert pipeline.keyed("default", "GET", "/v1/coupon-pools/autumn") == (
        200,
        {"pool": "autumn", "left": 0, "claimed": 0},
    )


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/coupon-pools/Spring 10/codes", {"codes": ["A1"]}, "pool"),
        ("/v1/coupon-pools/spring-10/codes", {"codes": ["A1", "", "B\n1"]}, "codes[1]"),
        ("/v1/coupon-pools/spring-10/codes", {"codes": []}, "codes"),
        ("/v1/coupon-pools/spring-10/codes", {"codes": [f"C{n}" for n in range(1001)]}, "codes"),
        ("/v1/coupon-pools/spring-10/codes", {"codes": "A1"}, "body.codes"),
        ("/v1/coupon-pools/spring-10/codes", {"code": ["A1"]}, "body.code"),
    ],
)
def test_a_bad_load_is_a_422_naming_its_field(pipeline: Pipeline, path: str, body: Any, loc: str) -> None:
    status, answer = pipeline.keyed("default", "POST", path, body)
    assert status == 422 and loc in errors_of(answer), answer
    assert pipeline.keyed("default", "GET", "/v1/coupon-pools") == (200, {"pools": []})


def test_each_workspace_sees_its_own_tasks_and_pools(pipeline: Pipeline) -> None:
    body = {"id": "acme", "name": "Acme", "sender": "hello@acme.example", "sender_name": "Acme", "brand_name": "Acme"}
    assert pipeline.keyed("", "POST", "/v1/workspaces", body, scopes=ROOT)[0] == 201
    make_task("default", "task_1", 0)
    pipeline.keyed("default", "POST", "/v1/coupon-pools/spring-10/codes", {"codes": ["A1"]})

    assert pipeline.keyed("acme", "GET", "/v1/tasks") == (200, {"tasks": [], "next_cursor": None})
    assert pipeline.keyed("acme", "PATCH", "/v1/tasks/task_1", {"status": "done"})[0] == 404
    assert pipeline.keyed("acme", "GET", "/v1/coupon-pools") == (200, {"pools": []})
    status, loaded = pipeline.keyed("acme", "POST", "/v1/coupon-pools/spring-10/codes", {"codes": ["A1"]})
    assert (status, loaded["added"]) == (201, 1)

    status, mine = pipeline.keyed("default", "GET", "/v1/tasks")
    assert [t["status"] for t in mine["tasks"]] == ["open"]
    assert pipeline.keyed("default", "GET", "/v1/coupon-pools/spring-10")[1] == {
        "pool": "spring-10",
        "left": 1,
        "claimed": 0,
    }
