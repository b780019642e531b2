"""The webhook action on the fakes (DESIGN.md §3 "Actions"): a signed call per (run, step) with the same id on
every attempt, verified by the Standard Webhooks library; 5xx/429/network failures retried with backoff for 24
hours, other 4xx failing the step at once; the response read by the steps after it; every attempt on the run's
timeline; bad definitions refused at save."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from automations.errors import DefinitionError
from automations.ports import WebhookResponse
from automations.services import preview, webhooks
from automations.services.webhooks import WebhookMessage
from standardwebhooks.webhooks import Webhook

from tests.support.services import World
from tests.support.settings import settings_with

EVENT = {
    "id": "evt_1",
    "type": "lead.created",
    "contact": {"id": "c_1", "email": "ana@example.com", "first_name": "Ana"},
    "data": {"lead": {"id": "L-7", "source": "form"}},
}

HOOK: dict[str, Any] = {
    "id": "crm",
    "webhook": {
        "url": "https://crm.example.com/hooks/leads/{{ data.lead.id }}?src={{ data.lead.source }}",
        "headers": {"X-Source": "automations", "X-Lead": "{{ data.lead.id }}"},
        "body": {
            "contact": "{{ contact.id }}",
            "name": "{{ contact.first_name }}",
            "tags": ["new", "{{ data.lead.source }}"],
        },
    },
}
MAIL = {
    "id": "mail",
    "send_email": {"to": {"trigger_contact": True}, "subject": "Hi", "html": "<p>{{ steps.crm.body.deal }}</p>"},
}


def automation(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "lead-to-crm",
        "name": "Lead to CRM",
        "status": "active",
        "trigger": {"event": "lead.created"},
        "steps": list(steps) or [HOOK, MAIL],
    }


def real_time_world() -> World:
    """A world whose clock reads the real time: the Standard Webhooks library checks a signature's timestamp
    against it."""
    world = World()
    world.fakes.clock.moment = datetime.now(UTC)
    return world


def deliver_all(world: World) -> list[webhooks.Attempt]:
    """What the webhook function does with every queued call, now."""
    return [
        webhooks.deliver(world.deps, WebhookMessage.model_validate(body).call(), world.now)
        for body in world.fakes.webhook_queue.drain()
    ]


def started(world: World, *steps: dict[str, Any]) -> str:
    world.create(automation(*steps))
    [result] = world.post(EVENT)
    return result.runs[0]


def test_the_call_is_rendered_signed_and_its_answer_read_by_the_next_step() -> None:
    world = real_time_world()
    run_id = started(world)
    assert world.run(run_id).status.value == "waiting"
    world.fakes.webhooks.answers.append(WebhookResponse("delivered", 201, {"deal": "D-42"}, True))
    [attempt] = deliver_all(world)
    assert attempt.state == "delivered"
    [request] = world.fakes.webhooks.requests
    assert request["url"] == "https://crm.example.com/hooks/leads/L-7?src=form"
    assert request["method"] == "POST"
    assert json.loads(request["body"]) == {"contact": "c_1", "name": "Ana", "tags": ["new", "form"]}
    headers = request["headers"]
    assert headers["X-Lead"] == "L-7"
    assert headers["webhook-id"] == headers["Idempotency-Key"] == f"{run_id}:crm"
    secret = world.deps.webhook_secrets.get()
    assert secret is not None
    payload = Webhook(secret.current).verify(request["body"], headers)
    assert payload["contact"] == "c_1"
    run = world.run(run_id)
    assert run.status.value == "completed"
    assert run.context["steps"]["crm"] == {"status": 201, "body": {"deal": "D-42"}}
    assert [m["html"] for m in world.fakes.email_queue.drain()] == ["<p>D-42</p>"]
    kinds = [(d.kind, d.step) for d in run.log]
    assert ("webhook", "crm") in kinds and ("webhook_attempt", "crm") in kinds
    assert world.deps.stats.read("lead-to-crm")["crm"]["actions_done"] == 1


def test_a_5xx_is_tried_again_with_backoff_and_the_same_id_until_it_is_delivered() -> None:
    world = World()
    run_id = started(world)
    world.fakes.webhooks.answers += [
        WebhookResponse("retry", 503, reason="the receiver answered 503"),
        WebhookResponse("retry", None, reason="timed out after 10 s"),
        WebhookResponse("delivered", 200, {"deal": "D-1"}, True),
    ]
    call = WebhookMessage.model_validate(world.fakes.webhook_queue.drain()[0]).call()
    delays = []
    for wait in (0, 30, 60):
        world.fakes.clock.advance(timedelta(seconds=wait))
        attempt = webhooks.deliver(world.deps, call, world.now)
        delays.append((attempt.state, attempt.delay, attempt.number))
    assert delays == [("retry", 30, 1), ("retry", 60, 2), ("delivered", 0, 3)]
    ids = {r["headers"]["webhook-id"] for r in world.fakes.webhooks.requests}
    assert ids == {f"{run_id}:crm"}
    run = world.run(run_id)
    attempts = [d for d in run.log if d.kind == "webhook_attempt"]
    assert [a.details["attempt"] for a in attempts] == [1, 2, 3]
    assert [a.details["outcome"] for a in attempts] == ["retry", "retry", "delivered"]
    assert run.status.value == "completed"
    stats = world.deps.stats.read("lead-to-crm")["crm"]
    assert (stats["actions_retried"], stats["actions_done"]) == (2, 1)


def test_a_call_still_failing_24_hours_after_its_first_attempt_fails_the_step() -> None:
    world = World()
    run_id = started(world)
    call = WebhookMessage.model_validate(world.fakes.webhook_queue.drain()[0]).call()
    world.fakes.webhooks.answers += [WebhookResponse("retry", 500, reason="the receiver answered 500")] * 2
    assert webhooks.deliver(world.deps, call, world.now).state == "retry"
    world.fakes.clock.advance(timedelta(hours=24))
    attempt = webhooks.deliver(world.deps, call, world.now)
    assert attempt.state == "failed"
    run = world.run(run_id)
    assert run.status.value == "failed"
    assert "24 hours" in (run.end_reason or "")


@pytest.mark.parametrize(("on_failure", "status", "emails"), [("stop", "failed", 0), ("continue", "completed", 1)])
def test_a_4xx_fails_the_step_at_once_as_on_failure_says(on_failure: str, status: str, emails: int) -> None:
    world = World()
    run_id = started(world, {**HOOK, "webhook": {**HOOK["webhook"], "on_failure": on_failure}}, MAIL)
    world.fakes.webhooks.answers.append(WebhookResponse("failed", 404, reason="the receiver answered 404"))
    [attempt] = deliver_all(world)
    assert (attempt.state, attempt.delay) == ("failed", 0)
    run = world.run(run_id)
    assert run.status.value == status
    assert any(d.kind == "action_failed" and "404" in d.reason for d in run.log)
    assert len(world.fakes.email_queue.drain()) == emails
    assert world.deps.stats.read("lead-to-crm")["crm"]["actions_failed"] == 1


@pytest.mark.parametrize("answer", [WebhookResponse("delivered", 200, {}, True), WebhookResponse("failed", 404)])
def test_the_steps_after_the_call_see_the_live_profile_whatever_the_answer(answer: WebhookResponse) -> None:
    world = World()
    hook = {**HOOK, "webhook": {**HOOK["webhook"], "on_failure": "continue"}}
    hello = {
        "id": "hello",
        "send_email": {"to": {"trigger_contact": True}, "subject": "Hi", "html": "<p>{{ contact.first_name }}</p>"},
    }
    started(world, hook, hello)
    # While the call waits in the queue, the person's profile changes
    world.deps.contacts.upsert_from_event("c_1", {"id": "c_1", "first_name": "Anabel"}, world.now)
    world.fakes.webhooks.answers.append(answer)
    deliver_all(world)
    assert [m["html"] for m in world.fakes.email_queue.drain()] == ["<p>Anabel</p>"]


def test_a_call_of_a_run_that_ended_or_went_past_it_is_not_made_and_one_not_reached_yet_waits() -> None:
    world = World()
    run_id = started(world)
    [message] = world.fakes.webhook_queue.drain()
    call = WebhookMessage.model_validate(message).call()
    assert webhooks.deliver(world.deps, call, world.now).state == "delivered"
    again = webhooks.deliver(world.deps, call, world.now)
    assert again.state == "stale"
    assert len(world.fakes.webhooks.requests) == 1
    early = WebhookMessage.model_validate({**message, "step": "mail"}).call()
    assert webhooks.deliver(world.deps, early, world.now).state == "stale"  # visited and gone past
    other = WebhookMessage.model_validate({**message, "run_id": "run_nope"}).call()
    assert webhooks.deliver(world.deps, other, world.now).state == "stale"
    assert world.run(run_id).status.value == "completed"


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    world = real_time_world()
    run_id = started(world)
    old = webhooks.signing_secret(world.deps, world.now).current
    rotated = webhooks.rotate_secret(world.deps, world.now)
    assert rotated.previous == old and rotated.current != old
    view = webhooks.secret_view(rotated, world.now)
    assert view["previous"] == old and view["rotation_ends_at"]
    deliver_all(world)
    [request] = world.fakes.webhooks.requests
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old, rotated.current):
        Webhook(secret).verify(request["body"], request["headers"])
    assert world.run(run_id).status.value == "completed"
    later = world.fakes.clock.advance(timedelta(hours=25))
    assert rotated.signing(later) == [rotated.current]
    assert webhooks.secret_view(rotated, later)["previous"] is None


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"url": "http://crm.example.com/x"}, "steps[0].webhook.url", "https://"),
        ({"url": "https://{{ data.host }}/x"}, "steps[0].webhook.url", "path and query"),
        ({"url": "https://192.168.1.10/x"}, "steps[0].webhook.url", "private"),
        ({"url": "https://169.254.169.254/latest"}, "steps[0].webhook.url", "metadata"),
        ({"headers": {"Host": "evil.example"}}, "steps[0].webhook.headers", "set by the product"),
        ({"headers": {"webhook-signature": "x"}}, "steps[0].webhook.headers", "set by the product"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "steps[0].webhook.headers", "line break"),
        ({"method": "GET"}, "steps[0].webhook.method", ""),
        ({"body": {"a": "{{ contact.id "}}, "steps[0].webhook.body", "body.a"),
        ({"timeout": 3}, "steps[0].webhook.timeout", ""),
    ],
)
def test_bad_webhooks_are_refused_at_save_with_their_location(change: dict[str, Any], loc: str, words: str) -> None:
    world = World()
    with pytest.raises(DefinitionError) as caught:
        world.create(automation({"id": "crm", "webhook": {**HOOK["webhook"], **change}}))
    [error] = [e for e in caught.value.errors if e.loc.startswith(loc)]
    assert words in error.message


def test_plain_http_to_a_loopback_address_is_saved_only_where_the_stack_allows_it() -> None:
    local = {"id": "crm", "webhook": {"url": "http://127.0.0.1:8080/hook"}}
    with pytest.raises(DefinitionError) as caught:
        World().create(automation(local))
    assert caught.value.errors[0].loc == "steps[0].webhook.url"
    allowing = World(settings=settings_with(sender_address="hello@acme.example", webhooks_allow_loopback=True))
    assert allowing.create(automation(local)) == "lead-to-crm"


def test_preview_shows_the_request_and_goes_on_with_a_stand_in_answer() -> None:
    world = World()
    world.create(automation())
    shown = preview.preview(
        world.deps.definition("lead-to-crm", 1), {"data": EVENT["data"], "contact": EVENT["contact"]}, world.now
    )
    step = next(s for s in shown["steps"] if s["id"] == "crm")
    request = step["action"]["request"]
    assert request["url"] == "https://crm.example.com/hooks/leads/L-7?src=form"
    assert request["body"]["name"] == "Ana"
    assert shown["outcome"]["status"] == "completed"
    assert world.fakes.webhooks.requests == []
