"""The functions' IAM roles allow what the code does, and nothing it never does.

Every AWS request a handler makes is recorded (who made it, which action on which resource; see
``tests/support/recorder.py``) while the main flows run through the handlers: the fault-injection scenarios,
a welcome series (an email at once, two delays, a one-click unsubscribe, a throttled send), the reputation guard
ending a waiting run, a run that outlived its automation's deactivation, the operators' routes (tasks and coupon
pools among them), and the retries AWS makes (an event posted again, a check-in posted again whose countdown
moves its schedule again, a reply lost, an SES event that names only its message id), a run that keeps its run
key across two delays, an nth trigger, a sender paced to the account's SES rate, and webhooks (call_webhook going
on with runs, retried, postponed and failed calls, and the webhook-secret routes). The template, translated offline
by aws-sam-translator, gives each function's role; each recorded request must be allowed by it, and each grant of a
role must allow at least one recorded request, unless :data:`UNUSED` says why not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from automations.adapters.dynamodb.automations import DynamoAutomationStore
from automations.adapters.webhook_http import WebhookHttpClient
from automations.observability import logger
from automations.ports import ROOT, Task
from automations.services import access
from automations.services import deps as deps_module
from automations.settings import Settings
from aws_lambda_powertools.utilities import parameters

from tests.conftest import load_event
from tests.integration import conftest
from tests.support.aws import ROOT_KEY, LambdaContextStub, load_handler
from tests.support.email import apigw_event, sns_event
from tests.support.flows import activate, definition, sample
from tests.support.iam import Grant, IamRequest, RequestLog, allowing, function_ids, grants_of, managed_policies
from tests.support.recorder import AwsTap, Fault, throttled
from tests.support.scenarios import SCENARIOS, World, at, world
from tests.support.webhooks import Receiver, back, delete_done, receiver, webhook_event

#: call_webhook's handler (each flow invokes the others through the pipeline).
CALL_WEBHOOK = load_handler("call_webhook").handler

#: Grants no recorded request uses, each with the reason it stays.
UNUSED: dict[tuple[str, str], str] = {
    ("EvaluateStepFunction", "ContactProfiles dynamodb:ConditionCheckItem"): (
        "used when an update_contact step after a delay asks for what the profile has already (the profile is"
        " checked and the step's ledger written): the same request ingest_trigger makes in the contacts flow"
    ),
    ("EvaluateStepFunction", "TasksAndCoupons dynamodb:GetItem"): (
        "used when a step that made a task is retried: the task made before is read back (the fault injection"
        " makes those requests)"
    ),
    ("IngestTriggerFunction", "IngestTriggerFunctionEventInvokeConfigOnFailureSQSPolicy (added by SAM)"): (
        "used by Lambda itself: failed asynchronous invocations (events from the bus) go with their error to the"
        " OnFailure destination"
    ),
    ("EvaluateStepFunction", "EvaluateStepFunctionEventInvokeConfigOnFailureSQSPolicy (added by SAM)"): (
        "used by Lambda itself: failed invocations by the scheduler go with their error to the OnFailure destination"
    ),
    ("StatsWebhookFunction", "StatsWebhookFunctionEventInvokeConfigOnFailureSQSPolicy (added by SAM)"): (
        "used by Lambda itself: failed SES events from SNS go with their error to the OnFailure destination"
    ),
}


# --- the flows ---------------------------------------------------------------------------------------------


def scenarios(scene: World) -> None:
    """The scenarios of the fault injection, without faults."""
    for scenario in SCENARIOS:
        scene.fresh()
        scene.pipeline.bounces = scenario.bounces
        scenario.setup(scene.stack)
        scenario.play(scene.pipeline)


def welcome_series(scene: World) -> None:
    """A welcome email at once (queued by ingest, its first send throttled), two offers two days apart (the
    second delay scheduled by evaluate_step), and a one-click unsubscribe before the second offer, which is
    then skipped."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset()
    steps = definition("new-lead-welcome")["steps"]
    second = {**next(s for s in steps if s.get("id") == "first-offer"), "id": "second-offer"}
    activate(stack, "new-lead-welcome", steps=[*steps, {"delay": "2d"}, second])
    pipeline.post(sample("new-lead-welcome", "evt_lead", occurred_at=at(stack.clock.now())))
    with scene.tap.failing(Fault(1, "before", error=throttled, name="sesv2:SendEmail")):
        pipeline.drain()
    pipeline.publish()
    pipeline.fire_next()
    pipeline.drain()
    pipeline.publish()
    # Ana follows the unsubscribe link of the offer (the page, then the one-click POST)
    offer = next(s for s in pipeline.ses_sends if s.tags.get("step") == "first-offer")
    link = str(offer.mime()["List-Unsubscribe"]).strip().strip("<>")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    for method in ("GET", "POST"):
        assert pipeline.invoke("stats_webhook", apigw_event(method, token))["statusCode"] == 200
    pipeline.settle()
    assert [s.tags.get("step") for s in pipeline.ses_sends] == ["welcome", "first-offer"]
    # Ana changes her mind on the preferences page: every email again (her unsubscribe record goes)
    again = pipeline.invoke("stats_webhook", apigw_event("POST", token, "choice=everything"))
    assert again["statusCode"] == 200, again


def reputation_guard(scene: World) -> None:
    """Two overdue invoices; the first one's reminder bounces, and the guard ends the second one's waiting run."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset({"owner@acme.example"})
    activate(stack, "overdue-invoice-reminder")
    pipeline.post(sample("overdue-invoice-reminder", "evt_inv_7", occurred_at=at(stack.clock.now())))
    stack.clock.offset += timedelta(days=1)
    pipeline.post(
        sample("overdue-invoice-reminder", "evt_inv_8", occurred_at=at(stack.clock.now()), data__invoice__id="inv_8")
    )
    pipeline.fire_next()
    pipeline.settle(schedules=False)
    assert stack.schedules() == [], "the guard ended the waiting run and deleted its schedule"


def late_deactivation(scene: World) -> None:
    """A run whose automation was deactivated without reaching it (it started meanwhile): when its schedule
    fires, evaluate_step ends it with the deactivation's reason and drops its schedule."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset()
    activate(stack, "overdue-invoice-reminder")
    pipeline.post(sample("overdue-invoice-reminder", "evt_late", occurred_at=at(stack.clock.now())))
    stack.deps.automations.set_status("overdue-invoice-reminder", "inactive", stack.clock.now(), "paused")
    pipeline.settle()
    [run] = stack.deps.runs.by_automation("overdue-invoice-reminder")
    assert (run.status.value, run.end_reason) == ("cancelled", "paused")


def operators(scene: World) -> None:
    """The operators' routes: create, read, change, (de)activate with waiting runs, test email, delete."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack

    def api(method: str, path: str, body: Any = None, query: dict[str, str] | None = None, ok: int = 200) -> Any:
        status, answer = pipeline.http("manage_api", method, path, body, query=query)
        assert status == ok, (method, path, status, answer)
        return answer

    draft = definition("overdue-invoice-reminder", id="ops-overdue", status="draft")
    api("POST", "/v1/automations", draft, ok=201)
    api("GET", "/v1/automations")
    api("GET", "/v1/automations/ops-overdue")
    api("PUT", "/v1/automations/ops-overdue", {**draft, "name": "Overdue invoices"})
    api("PATCH", "/v1/automations/ops-overdue", {"description": "Reminds clients"})
    api("POST", "/v1/automations/ops-overdue/activate")
    pipeline.post(sample("overdue-invoice-reminder", "evt_ops_1", occurred_at=at(stack.clock.now())))
    api("POST", "/v1/automations/ops-overdue/deactivate")
    api("POST", "/v1/automations/ops-overdue/activate")
    pipeline.post(sample("overdue-invoice-reminder", "evt_ops_2", occurred_at=at(stack.clock.now())))
    api("POST", "/v1/automations/ops-overdue/duplicate", {"id": "ops-copy"}, ok=201)
    api("GET", "/v1/automations/ops-overdue/versions")
    api("GET", "/v1/automations/ops-overdue/stats")
    api("POST", "/v1/automations/ops-overdue/preview", {})
    api("POST", "/v1/automations/ops-overdue/test-email", {"to": "qa@acme.example"}, ok=202)
    runs = api("GET", "/v1/runs", query={"automation_id": "ops-overdue"})["runs"]
    api("GET", f"/v1/runs/{runs[0]['id']}")
    api("GET", "/v1/runs", query={"person": "c_42"})
    api("GET", "/v1/contacts/c_42")
    api("GET", "/v1/templates")
    api("POST", "/v1/automations", {"template": "we-miss-you", "id": "ops-from-template"}, ok=201)
    api("GET", "/v1/schema")
    admin = api("POST", "/v1/keys", {"name": "ops admin", "scopes": ["admin"]}, ok=201)
    key = api("POST", "/v1/keys", {"name": "ops app", "scopes": ["events:write"]}, ok=201)
    api("GET", "/v1/keys")
    api("DELETE", f"/v1/keys/{key['id']}")
    assert admin["id"] != key["id"]
    acme = {
        "id": "ops-acme",
        "name": "Acme",
        "sender": "hello@acme.example",
        "sender_name": "Acme",
        "brand_name": "Acme",
    }
    api("POST", "/v1/workspaces", acme, ok=201)
    api("GET", "/v1/workspaces")
    api("DELETE", "/v1/automations/ops-overdue")
    assert stack.schedules() == [], "deactivating and deleting ended the waiting runs and their schedules"


def retries(scene: World) -> None:
    """What AWS's retries and lost replies make the functions do: an event posted again (read back), an email
    claim whose reply was lost (read back by send_email, and by a test email), an SES event that carries only
    SES's message id (found through the index), a run that keeps its run key across two delays, the ``nth``
    counter of a check-in, and a check-in posted again, whose countdown is read back to move its schedule again."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset()
    steps = definition("overdue-invoice-reminder")["steps"]
    activate(stack, "overdue-invoice-reminder", steps=[{"delay": "1d"}, *steps])
    activate(stack, "tenth-checkin-reward")
    event = sample("overdue-invoice-reminder", "evt_retried", occurred_at=at(stack.clock.now()))
    pipeline.post(event)
    assert pipeline.post(event)["events"][0]["status"] == "duplicate"
    pipeline.post(sample("tenth-checkin-reward", "evt_checkin", occurred_at=at(stack.clock.now())))
    pipeline.fire_next()  # the first delay: the run waits again, its run key held past the next due time
    pipeline.fire_next()
    with scene.tap.failing(Fault(1, "after", name="dynamodb:TransactWriteItems")):
        pipeline.drain()
    record = pipeline.ses_record(pipeline.ses_sends[0], "Delivery")
    record["mail"]["tags"] = {"ses:configuration-set": [stack.settings.configuration_set]}
    pipeline.deliver("stats_webhook", sns_event(record, message_id="95df01b4-ee98-5cb9-9903-4c2200000001"), "SES")
    with scene.tap.failing(Fault(1, "after", name="dynamodb:TransactWriteItems")):
        status, answer = pipeline.http(
            "manage_api", "POST", "/v1/automations/overdue-invoice-reminder/test-email", {"to": "qa@acme.example"}
        )
    assert status == 202, answer
    # A check-in posted again, processed before: its countdown is read back and its schedule made again
    activate(stack, "we-miss-you")
    checkin = sample("we-miss-you", "evt_silence", occurred_at=at(stack.clock.now()))
    pipeline.post(checkin)
    assert pipeline.post(checkin)["events"][0]["status"] == "duplicate"


def paced(scene: World) -> None:
    """A sender paced to the account's own SES rate (MaxSendRate 0): it reads the rate before its first send."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset()
    deps = deps_module.get_deps()
    deps_module._current = replace(deps, settings=deps.settings.model_copy(update={"max_send_rate": 0.0}))
    try:
        activate(stack, "new-lead-welcome")
        pipeline.post(sample("new-lead-welcome", "evt_paced", occurred_at=at(stack.clock.now())))
        pipeline.drain()
    finally:
        deps_module._current = deps
    assert len(pipeline.ses_sends) == 1


def authorizer(scene: World) -> None:
    """API Gateway's authorizer: a workspace's key (found by its hash, its last use written), the root key (read
    from its secret, cold), an unknown key and a revoked one."""
    scene.fresh()
    handler = load_handler("authorizer").handler
    created = access.create_key(deps_module.get_access(), "acme", "the app", ["admin"])
    other = access.create_key(deps_module.get_access(), "acme", "old app", ["events:write"])
    access.revoke_key(deps_module.get_access(), "acme", other.key.id)

    def authorize(secret: str) -> dict[str, Any] | None:
        event = load_event("apigw_authorizer_request.json")
        event["headers"]["X-Api-Key"] = event["multiValueHeaders"]["X-Api-Key"][0] = secret
        try:
            answer: dict[str, Any] = handler(event, LambdaContextStub())
        except Exception as exc:
            assert str(exc) == "Unauthorized"
            return None
        return answer

    parameters.clear_caches()
    assert authorize(created.secret)["context"]["workspace"] == "acme"  # type: ignore[index]
    assert authorize(ROOT_KEY)["context"]["scopes"] == "root"  # type: ignore[index]
    assert authorize(other.secret) is None
    assert authorize("ak_0000000000000000_unknown") is None
    assert authorize("not-the-root-key") is None


def workspaces(scene: World) -> None:
    """A second workspace: created with the root key, an automation of its own, an event posted with its key, its
    email sent and SES's events counted in it, each function reading the workspace's profile (cold)."""
    scene.fresh()
    pipeline = scene.pipeline
    body = {
        "id": "acme",
        "name": "Acme",
        "sender": scene.stack.settings.sender_address,
        "sender_name": "Acme Studio",
        "brand_name": "Acme Studio",
    }
    assert pipeline.keyed("", "POST", "/v1/workspaces", body, scopes=ROOT)[0] == 201
    assert pipeline.keyed("acme", "POST", "/v1/automations", definition("invoice-paid-thank-you"))[0] == 201
    status, answer = pipeline.keyed("acme", "POST", "/v1/events", sample("invoice-paid-thank-you", "evt_ws_1"))
    assert status == 202 and answer["events"][0]["runs"], answer
    pipeline.settle()
    assert pipeline.ses_sends[-1].tags["workspace"] == "acme"


def contacts(scene: World) -> None:
    """The contacts routes: a profile put, labels and points given, a label taken away (each change an event on
    the bus), listed by label, searched, paged and read."""
    scene.fresh()
    pipeline = scene.pipeline
    profile = {"email": "ana@example.com", "first_name": "Ana", "attributes": {"plan": "pro"}}
    assert pipeline.keyed("default", "PUT", "/v1/contacts/c_1", profile)[0] == 200
    change = {"add_labels": ["vip"], "add_points": 10}
    assert pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", change)[0] == 200
    assert pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"remove_labels": ["vip"]})[0] == 200
    # An automation that changes the profile at once (ingest_trigger makes the change)
    lost = {
        "id": "lead-lost",
        "name": "A lost lead",
        "status": "active",
        "trigger": {"event": "lead.lost"},
        "steps": [
            {"id": "mark", "update_contact": {"add_labels": ["lost", "vip"], "remove_labels": ["lead"]}},
            {"id": "coupon", "issue_coupon": {"pool": "winback"}},
            {"id": "call", "create_task": {"title": "Call {{ contact.id }}"}},
            {
                "id": "chat",
                "put_event": {"detail_type": "chat.message.requested", "detail": {"code": "{{ steps.coupon.code }}"}},
            },
        ],
    }
    scene.stack.deps.coupons.load("winback", ["W-1"], scene.stack.clock.now())
    assert pipeline.keyed("default", "POST", "/v1/automations", lost)[0] == 201
    assert pipeline.keyed("default", "PATCH", "/v1/contacts/c_1", {"add_labels": ["lead"]})[0] == 200
    pipeline.post({"id": "evt_lost", "type": "lead.lost", "contact": {"id": "c_1"}})
    # Lost again: the change it asks for is made already (the profile only checked, the step's ledger written)
    pipeline.post({"id": "evt_lost_again", "type": "lead.lost", "contact": {"id": "c_1"}})
    for query in ({"label": "vip"}, {"q": "ana"}, {"limit": "1"}):
        assert pipeline.keyed("default", "GET", "/v1/contacts", query=query)[0] == 200
    assert pipeline.keyed("default", "GET", "/v1/contacts/c_1")[0] == 200


def tasks_and_coupons(scene: World) -> None:
    """The routes of tasks and coupon pools: a task (made as a create_task step makes it) listed, by status, and
    marked done twice (the second time it is read: done already); codes loaded into a pool twice (the second
    time one is in the pool already), the pool's counts and every pool's."""
    scene.fresh()
    pipeline, now = scene.pipeline, scene.stack.clock.now()
    task = Task(
        workspace="default",
        id="task_flow",
        title="Call Ana about quote 2026-117",
        description=None,
        assignee="owner@acme.example",
        due_at=now + timedelta(days=2),
        status="open",
        person="c_42",
        automation_id="quote-follow-up",
        run_id="run_flow",
        step="call",
        created_at=now,
        updated_at=now,
    )
    deps_module.get_deps("default").tasks.create(task)
    for query in (None, {"status": "open"}, {"assignee": "owner@acme.example", "limit": "1"}):
        assert pipeline.keyed("default", "GET", "/v1/tasks", query=query)[0] == 200
    for _ in range(2):
        assert pipeline.keyed("default", "PATCH", "/v1/tasks/task_flow", {"status": "done"})[0] == 200
    assert pipeline.keyed("default", "PATCH", "/v1/tasks/task_none", {"status": "done"})[0] == 404
    for codes in (["A1", "A2"], ["A2", "A3"]):
        assert pipeline.keyed("default", "POST", "/v1/coupon-pools/spring-10/codes", {"codes": codes})[0] == 201
    assert pipeline.keyed("default", "GET", "/v1/coupon-pools/spring-10")[1]["left"] == 3
    assert pipeline.keyed("default", "GET", "/v1/coupon-pools")[0] == 200


def webhooks(scene: World) -> None:
    """Webhooks, on a stack that lets them call a receiver on 127.0.0.1: a lead goes to the CRM (503 once: the
    call postponed; then 200, but the next call cannot be queued, so the call is handed again and the task made
    before is read back), and call_webhook goes on with the run (its run key's lock moved, a label removed, a
    coupon, a task, an event on the bus, a second webhook, an email, a delay); after the delay (evaluate_step
    queues the follow-up), the follow-up call ends the run (its lock freed) after a profile change it has already
    (only checked). A second lead's CRM call answers 404 and ends its run. call_webhook makes the default
    workspace's signing secret; the webhook-secret routes make, read and rotate another workspace's."""
    scene.fresh()
    pipeline, stack = scene.pipeline, scene.stack
    pipeline.bounces = frozenset()
    deps = deps_module.get_deps()
    loopback = deps.settings.model_copy(update={"webhooks_allow_loopback": True})
    deps_module._current = replace(deps, settings=loopback, webhooks=WebhookHttpClient(allow_loopback_http=True))
    try:
        with receiver() as hook:
            _webhook_runs(scene, hook)
    finally:
        deps_module._current = deps
        deps.forget_workspaces()
    body = {
        "id": "hooks",
        "name": "Hooks",
        "sender": stack.settings.sender_address,
        "sender_name": "Hooks",
        "brand_name": "Hooks",
    }
    assert pipeline.keyed("", "POST", "/v1/workspaces", body, scopes=ROOT)[0] == 201
    status, made = pipeline.keyed("hooks", "GET", "/v1/webhook-secret")
    assert status == 200 and made["previous"] is None, made
    status, rotated = pipeline.keyed("hooks", "POST", "/v1/webhook-secret/rotate")
    assert status == 200 and rotated["previous"] == made["secret"], rotated


def _webhook_runs(scene: World, hook: Receiver) -> None:
    pipeline, stack = scene.pipeline, scene.stack
    deps_module.get_deps().coupons.load("winback", ["W-1", "W-2"], stack.clock.now())
    contact = {"id": "c_42", "email": "ana@example.com", "first_name": "Ana"}
    assert pipeline.keyed("default", "PUT", "/v1/contacts/c_42", {"email": contact["email"]})[0] == 200
    assert pipeline.keyed("default", "PATCH", "/v1/contacts/c_42", {"add_labels": ["cold"]})[0] == 200
    deal = "{{ steps.crm.body.deal }}"
    lead = {
        "id": "lead-to-crm",
        "name": "Lead to CRM",
        "status": "active",
        "trigger": {"event": "lead.created"},
        "run_key": "data.lead.id",
        "steps": [
            {"id": "crm", "webhook": {"url": hook.url, "body": {"contact": "{{ contact.id }}"}}},
            {"id": "mark", "update_contact": {"add_labels": ["lead"], "remove_labels": ["cold"], "add_points": 5}},
            {"id": "coupon", "issue_coupon": {"pool": "winback"}},
            {"id": "call", "create_task": {"title": f"Call {{{{ contact.id }}}} about {deal}"}},
            {"id": "tell", "put_event": {"detail_type": "lead.synced", "detail": {"deal": deal}}},
            {"id": "erp", "webhook": {"url": hook.url, "method": "PUT", "body": {"code": "{{ steps.coupon.code }}"}}},
            {"id": "hello", "send_email": {"to": {"trigger_contact": True}, "subject": "Hi", "html": f"<p>{deal}</p>"}},
            {"delay": "1d"},
            {"id": "followup", "webhook": {"url": hook.url, "method": "PATCH", "body": {"deal": deal}}},
            {"id": "again", "update_contact": {"add_labels": ["lead"]}},
        ],
    }
    assert pipeline.keyed("default", "POST", "/v1/automations", lead)[0] == 201
    hook.answers += [(503, {"error": "busy"}), (200, {"deal": "D-42"}), (200, {"deal": "D-42"}), (200, {"ok": True})]
    pipeline.post({"id": "evt_lead_1", "type": "lead.created", "contact": contact, "data": {"lead": {"id": "L-1"}}})
    _call_webhooks(scene, batches=1)  # 503: postponed
    with scene.tap.failing(Fault(1, "before", name="sqs:SendMessage")):  # the second webhook's call, not queued
        _call_webhooks(scene, batches=1)
        assert scene.tap.fired is not None and scene.tap.fired.params["QueueUrl"] == stack.settings.webhook_queue_url
    _call_webhooks(scene)
    hook.answers.append((404, {"error": "no such lead"}))
    pipeline.post({"id": "evt_lead_2", "type": "lead.created", "contact": contact, "data": {"lead": {"id": "L-2"}}})
    _call_webhooks(scene)
    pipeline.settle()
    _call_webhooks(scene)
    assert [r.method for r in hook.requests] == ["POST", "POST", "POST", "PUT", "POST", "PATCH"]
    runs = list(deps_module.get_deps().runs.by_automation("lead-to-crm"))
    assert sorted(run.status.value for run in runs) == ["completed", "failed"], runs
    assert [s.tags.get("step") for s in pipeline.ses_sends] == ["hello"]


def _call_webhooks(scene: World, batches: int = 8) -> None:
    """Lambda's SQS event source on the webhook queue: each batch to call_webhook (a cold process), the records it
    did not fail deleted, the failed ones handed again at once (their wait skipped), until the queue is empty (or
    for ``batches`` batches)."""
    stack = scene.stack
    for _ in range(batches):
        event = webhook_event(stack)
        if not event["Records"]:
            return
        answer = _cold(CALL_WEBHOOK, event)
        delete_done(stack, event, answer)
        back(stack, event, answer)
    assert batches < 8, "the webhook queue was never emptied"


def _cold(handler: Callable[[Any, Any], Any], event: Any) -> Any:
    """A handler invoked in a process of its own: no definition, version, workspace or secret read before."""
    deps = deps_module.get_deps()
    automations = deps.automations
    assert isinstance(automations, DynamoAutomationStore)
    parameters.clear_caches()
    deps_module._current = replace(
        deps, automations=replace(automations, _versions={}, _routes={}), _parsed={}, _workspaces={}
    )
    try:
        return handler(event, LambdaContextStub())
    finally:
        deps_module._current = deps


FLOWS: tuple[Callable[[World], None], ...] = (
    authorizer,
    workspaces,
    contacts,
    tasks_and_coupons,
    scenarios,
    welcome_series,
    reputation_guard,
    late_deactivation,
    operators,
    retries,
    paced,
    webhooks,
)


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[RequestLog, Settings]]:
    """The requests each function made during the flows (recorded once for the module's tests)."""
    log = RequestLog()
    previous = logger.log_level
    logger.setLevel("ERROR")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(botocore.session, "create_loader", conftest._LOADER)
        tap = AwsTap(on_request=[log.record, conftest.HANDLER_REQUESTS.record])
        tap.install(monkeypatch)
        try:
            with world(monkeypatch, tap, frozenset()) as scene:
                scene.pipeline.cold = True
                for flow in FLOWS:
                    flow(scene)
                settings = scene.stack.settings
        finally:
            deps_module._current = None
            logger.setLevel(previous)
    yield log, settings


# --- the checks --------------------------------------------------------------------------------------------


def denied(log: RequestLog, grants: list[Grant]) -> list[str]:
    found = []
    for (function, request), operation in sorted(log.seen.items()):
        if not allowing(grants, function, request):
            found.append(f"{function} may not {request} (needed by {operation})")
    found += [f"{function}: no IAM mapping for {call}" for (function, _), call in sorted(log.unmapped.items())]
    return found


def unused(log: RequestLog, grants: list[Grant]) -> list[Grant]:
    used: set[Grant] = set()
    for function, request in log.seen:
        used.update(allowing(grants, function, request))
    return [g for g in grants if g not in used]


def test_every_request_of_the_main_flows_is_allowed_by_the_function_role(
    recorded: tuple[RequestLog, Settings], summary: Callable[[str], None]
) -> None:
    log, settings = recorded
    for function in log.functions():
        summary(f"permissions, {function} requests:")
        for line in log.operations(function):
            summary(f"  {line}")
    assert set(log.functions()) == set(function_ids().values()), "every function made requests"
    problems = denied(log, grants_of(settings))
    assert not problems, "requests the roles do not allow:\n" + "\n".join(problems)


def test_every_grant_is_used_by_a_request_of_the_main_flows(
    recorded: tuple[RequestLog, Settings], summary: Callable[[str], None]
) -> None:
    log, settings = recorded
    idle = unused(log, grants_of(settings))
    for grant in idle:
        reason = UNUSED.get((grant.function, grant.label), "NOT ALLOWED")
        summary(f"permissions, unused grant: {grant.function} {grant.label} ({reason})")
    for function, policies in sorted(managed_policies().items()):
        summary(f"permissions, managed policies (not evaluated): {function_ids()[function]} {', '.join(policies)}")
    unexpected = [f"{g.function}: {g.label}" for g in idle if (g.function, g.label) not in UNUSED]
    assert not unexpected, "grants no request uses (remove them, or say why in UNUSED):\n" + "\n".join(unexpected)
    stale = sorted(set(UNUSED) - {(g.function, g.label) for g in idle})
    assert not stale, f"UNUSED lists grants that are used or gone: {stale}"


def any_stack(settings: Settings) -> Settings:
    """The settings of every test stack: they differ only in the random suffix of the secret's ARN."""
    secrets = {
        name: re.sub(r"-[0-9A-Za-z]{6}$", "-??????", getattr(settings, name))
        for name in ("unsubscribe_secret_arn", "root_secret_arn")
    }
    return settings.model_copy(update=secrets)


def test_every_request_the_integration_tests_made_is_allowed(recorded: tuple[RequestLog, Settings]) -> None:
    # Runs last (see conftest): it sees the requests of every integration test that ran before it.
    _, settings = recorded
    problems = denied(conftest.HANDLER_REQUESTS, grants_of(any_stack(settings)))
    assert not problems, "requests the roles do not allow:\n" + "\n".join(problems)


def test_the_evaluator_reads_conditions_and_wildcards() -> None:
    grant = Grant(
        "F",
        "PassRole",
        (
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::1:role/r-*",
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            },
        ),
    )
    scheduler = (("iam:PassedToService", "scheduler.amazonaws.com"),)
    assert grant.allows(IamRequest("iam:PassRole", "arn:aws:iam::1:role/r-1", scheduler))
    assert not grant.allows(IamRequest("iam:PassRole", "arn:aws:iam::1:role/r-1"))
    assert not grant.allows(IamRequest("iam:PassRole", "arn:aws:iam::1:role/other", scheduler))
    assert not grant.allows(IamRequest("iam:PassRole", "arn:aws:iam::1:role/r-1", (("iam:PassedToService", "x"),)))
