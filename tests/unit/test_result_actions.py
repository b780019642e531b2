"""create_task, issue_coupon and put_event on the fakes (DESIGN.md §3 "Actions"): each done once per run and
step however often the step is retried, its result read by the steps after it (``steps.<id>``), a failure
following ``on_failure``, bad definitions refused at save and a pool never loaded refused at activation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from automations.engine import start_run
from automations.errors import DefinitionError
from automations.language.loader import load_definition
from automations.services import lifecycle, preview, runner

from tests.support.services import World

EVENT = {
    "id": "evt_1",
    "type": "client.checked_in",
    "contact": {"id": "c_1", "email": "ana@example.com", "first_name": "Ana"},
}


def automation(steps: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "id": "act",
        "name": "Act",
        "status": "active",
        "trigger": {"event": "client.checked_in"},
        "steps": steps,
        **more,
    }


def email(html: str) -> dict[str, Any]:
    return {"id": "mail", "send_email": {"to": {"trigger_contact": True}, "subject": "Hi", "html": html}}


def sent_html(world: World) -> list[str]:
    return [str(m["html"]) for m in world.fakes.email_queue.drain()]


def test_a_coupon_code_reaches_the_email_that_follows_and_each_run_gets_its_own() -> None:
    world = World()
    world.deps.coupons.load("comeback", ["A-1", "A-2"], world.now)
    world.create(
        automation([{"id": "coupon", "issue_coupon": {"pool": "comeback"}}, email("<p>{{ steps.coupon.code }}</p>")])
    )
    [first] = world.post(EVENT)
    world.post({**EVENT, "id": "evt_2", "contact": {"id": "c_2", "email": "bo@example.com"}})
    codes = sorted(html.removeprefix("<p>").removesuffix("</p>") for html in sent_html(world))
    assert codes == ["A-1", "A-2"]
    assert world.run(first.runs[0]).context["steps"]["coupon"]["code"] in codes
    counts = world.deps.coupons.counts("comeback")
    assert (counts.left, counts.claimed) == (0, 2)


@pytest.mark.parametrize(("on_failure", "status", "emails"), [("stop", "failed", 0), ("continue", "completed", 1)])
def test_an_empty_pool_fails_the_step_as_on_failure_says(on_failure: str, status: str, emails: int) -> None:
    world = World()
    world.deps.coupons.load("comeback", ["A-1"], world.now)
    world.deps.coupons.claim("comeback", "someone:else", world.now)
    steps = [{"id": "coupon", "issue_coupon": {"pool": "comeback", "on_failure": on_failure}}, email("<p>hi</p>")]
    world.create(automation(steps))
    [result] = world.post(EVENT)
    run = world.run(result.runs[0])
    assert run.status.value == status, run.log
    [failed] = [d for d in run.log if d.kind == "action_failed"]
    assert "has no code left" in failed.reason
    assert len(sent_html(world)) == emails


def test_a_task_is_created_and_announced_on_the_bus() -> None:
    world = World()
    task = {
        "id": "call",
        "create_task": {"title": "Call {{ contact.first_name }}", "assignee": "owner@acme.example", "due": "1d"},
    }
    world.create(automation([{"delay": "1h"}, task, email("<p>task {{ steps.call.id }}</p>")]))
    [result] = world.post(EVENT)
    world.later(timedelta(hours=1))
    [made] = world.deps.tasks.list()[0]
    assert (made.title, made.assignee, made.status, made.person) == ("Call Ana", "owner@acme.example", "open", "c_1")
    assert made.due_at == world.now + timedelta(days=1)
    assert sent_html(world) == [f"<p>task {made.id}</p>"]
    [announced] = [e for e in world.fakes.bus.events if e["DetailType"] == "task.created"]
    assert announced["Detail"]["data"]["task"]["id"] == made.id
    assert world.run(result.runs[0]).status.value == "completed"


def test_the_same_runs_actions_done_again_make_one_task_and_claim_one_code() -> None:
    world = World()
    world.deps.coupons.load("comeback", ["A-1", "A-2"], world.now)
    steps = [{"id": "coupon", "issue_coupon": {"pool": "comeback"}}, {"id": "call", "create_task": {"title": "Call"}}]
    definition = load_definition(automation(steps))
    results = []
    for _ in range(3):  # the same start replayed, as a retried request replays it
        outcome = start_run(
            definition,
            1,
            {**EVENT, "occurred_at": world.now.isoformat()},
            now=world.now,
            run_id="run_1",
            workspace="default",
        )
        results.append(runner.complete(world.deps, definition, outcome).state.context["steps"])
    assert results[0] == results[1] == results[2]
    assert len(world.deps.tasks.list()[0]) == 1
    assert world.deps.coupons.counts("comeback").claimed == 1


def test_put_event_puts_the_rendered_detail_with_the_runs_id() -> None:
    world = World()
    chat = {
        "id": "chat",
        "put_event": {
            "detail_type": "chat.message.requested",
            "detail": {"to": "{{ contact.id }}", "text": "Hi {{ contact.first_name }}"},
        },
    }
    world.create(automation([chat]))
    [result] = world.post(EVENT)
    [put] = world.fakes.bus.events
    assert put["Source"] == "automations" and put["DetailType"] == "chat.message.requested"
    assert put["Detail"]["data"] == {"to": "c_1", "text": "Hi Ana"}
    assert put["Detail"]["workspace"] == "default" and put["Detail"]["contact"]["id"] == "c_1"
    assert world.run(result.runs[0]).status.value == "completed"


@pytest.mark.parametrize(
    ("step", "loc"),
    [
        ({"create_task": {"title": "x", "due": "-1d"}}, "steps[0].create_task.due"),
        ({"create_task": {"title": "line\nbreak"}}, "steps[0].create_task.title"),
        ({"issue_coupon": {"pool": "Not A Slug"}}, "steps[0].issue_coupon.pool"),
        (
            {"put_event": {"detail_type": "chat.message", "detail": {"text": "{{ unclosed"}}},
            "steps[0].put_event.detail",
        ),
        ({"put_event": {"detail_type": "chat.message", "nope": 1}}, "steps[0].put_event.nope"),
    ],
)
def test_bad_actions_are_refused_at_save_with_their_location(step: dict[str, Any], loc: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_definition(automation([step]))
    assert loc in [e.loc for e in refused.value.errors], refused.value.errors


def test_a_pool_never_loaded_keeps_the_automation_from_activating() -> None:
    world = World()
    draft = automation([{"id": "coupon", "issue_coupon": {"pool": "nowhere"}}], status="draft")
    created = lifecycle.create(world.deps, draft, world.now)
    with pytest.raises(Exception, match="nowhere"):
        lifecycle.activate(world.deps, created.id, world.now)
    world.deps.coupons.load("nowhere", ["N-1"], world.now)
    assert lifecycle.activate(world.deps, created.id, world.now).status == "active"


def test_preview_shows_what_each_action_would_do_and_changes_nothing() -> None:
    world = World()
    steps = [
        {"id": "coupon", "issue_coupon": {"pool": "comeback"}},
        {
            "id": "chat",
            "put_event": {"detail_type": "chat.message.requested", "detail": {"code": "{{ steps.coupon.code }}"}},
        },
        email("<p>{{ steps.coupon.code }}</p>"),
    ]
    found = preview.preview(load_definition(automation(steps)), EVENT, world.now)
    by_id = {s["id"]: s for s in found["steps"]}
    assert by_id["coupon"]["action"]["result"]["code"] == "PREVIEW-CODE"
    assert by_id["chat"]["action"]["put"] == {"type": "chat.message.requested", "data": {"code": "PREVIEW-CODE"}}
    assert "PREVIEW-CODE" in by_id["mail"]["email"]["html"]
    assert world.fakes.bus.events == [] and world.deps.coupons.counts("comeback").claimed == 0
