"""call_webhook under moto, with a real receiver on 127.0.0.1 (DESIGN.md §3 "Actions": webhook).

A run is started through ingest_trigger (API Gateway's event), its call taken off the webhook queue and handed to
call_webhook as Lambda's SQS event; the receiver (http.server in a thread) records each request and answers what
the test scripts. The stack allows loopback webhooks, over plain http, as the local stack does. The clock starts
at the real time: the Standard Webhooks library checks a signature's timestamp against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import boto3
import pytest
from automations.adapters.dynamodb import stats
from automations.engine import RunState
from automations.observability import logger
from automations.services import lifecycle
from standardwebhooks.webhooks import Webhook

from tests.support.aws import LambdaContextStub, Stack, aws_stack, load_handler
from tests.support.email import sqs_event, verify_sender
from tests.support.pipeline import Pipeline
from tests.support.recorder import AwsCall, AwsTap, Fault, Mode
from tests.support.webhooks import (
    Received,
    Receiver,
    back,
    delete_done,
    failed_ids,
    queue_arn,
    queued_calls,
    receiver,
    record_of,
    webhook_event,
)

CALL = load_handler("call_webhook")
SEND = load_handler("send_email")
AUTOMATION = "lead-to-crm"
MODES: tuple[Mode, ...] = ("before", "after")
_events = count(1)


# --- the stack, the receiver and the flow -------------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A stack that lets webhooks call loopback addresses (the local stack's setting), its clock at the real time."""
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "true")
    start = datetime.now(UTC).replace(microsecond=0)
    with aws_stack(monkeypatch, start, webhooks_allow_loopback=True) as created:
        assert created.settings.webhooks_allow_loopback and created.settings.webhook_queue_url
        verify_sender()
        yield created


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


@pytest.fixture
def pipeline(stack: Stack, aws_tap: AwsTap) -> Pipeline:
    return Pipeline(stack, aws_tap)


def automation(url: str, **webhook: Any) -> dict[str, Any]:
    """A lead goes to the CRM (the webhook), then an email says the deal the CRM answered."""
    return {
        "id": AUTOMATION,
        "name": "Lead to CRM",
        "status": "active",
        "trigger": {"event": "lead.created"},
        "steps": [
            {
                "id": "crm",
                "webhook": {
                    "url": url,
                    "headers": {"X-Lead": "{{ data.lead.id }}"},
                    "body": {"contact": "{{ contact.id }}", "lead": "{{ data.lead.id }}", "name": "Zoë"},
                    **webhook,
                },
            },
            {
                "id": "mail",
                "send_email": {
                    "to": {"trigger_contact": True},
                    "subject": "Your deal",
                    "html": "<p>Deal {{ steps.crm.body.deal }}</p>",
                },
            },
        ],
    }


def create(stack: Stack, hook: Receiver, **webhook: Any) -> None:
    lifecycle.create(stack.deps, automation(hook.url, **webhook), stack.clock.now())


def start(pipeline: Pipeline) -> str:
    """Post a lead (a new event id each time): the id of the run it started."""
    event = {
        "id": f"evt_lead_{next(_events)}",
        "type": "lead.created",
        "contact": {"id": "c_1", "email": "ana@example.com", "first_name": "Ana"},
        "data": {"lead": {"id": "L-7"}},
    }
    [run_id] = pipeline.post(event)["events"][0]["runs"]
    return str(run_id)


def call(event: dict[str, Any]) -> dict[str, Any]:
    """call_webhook with an SQS event, as Lambda invokes it."""
    answer: dict[str, Any] = CALL.handler(event, LambdaContextStub())
    return answer


def hand(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    """call_webhook with a batch taken off the queue; the records it did not fail are deleted, as Lambda does."""
    answer = call(event)
    delete_done(stack, event, answer)
    return answer


def run(stack: Stack, run_id: str) -> RunState:
    return stack.deps.runs.get(run_id).state


def attempts(state: RunState) -> list[dict[str, Any]]:
    return [d.details for d in state.log if d.kind == "webhook_attempt"]


def step_counters(stack: Stack, step: str) -> dict[str, int]:
    found: dict[str, int] = stats.read(stack.settings.workspace, AUTOMATION).get(step, {})
    return found


def secret_of(pipeline: Pipeline, workspace: str = "default") -> dict[str, Any]:
    status, body = pipeline.keyed(workspace, "GET", "/v1/webhook-secret")
    assert status == 200, body
    return dict(body)


def verified(secret: str, request: Received) -> Any:
    """The payload of a request the receiver got, verified the Standard Webhooks way (raises when it is not)."""
    return Webhook(secret).verify(request.body, request.headers)


def signing_secrets(stack: Stack) -> list[str]:
    """The names of the workspaces' signing secrets in Secrets Manager."""
    client = boto3.client("secretsmanager", region_name=stack.settings.region)
    prefix = stack.settings.webhook_secret_prefix
    names = [s["Name"] for s in client.list_secrets()["SecretList"]]
    return [name for name in names if name.startswith(prefix + "/")]


# --- delivered, retried, failed ------------------------------------------------------------------------------


def test_a_delivered_call_is_signed_and_its_answer_continues_the_run(
    stack: Stack, hook: Receiver, pipeline: Pipeline
) -> None:
    # Given a run waiting on its webhook, the call on the webhook queue
    create(stack, hook)
    hook.answers.append((201, {"deal": "D-42"}))
    run_id = start(pipeline)
    assert (run(stack, run_id).status.value, run(stack, run_id).position) == ("waiting", "crm")
    event = webhook_event(stack)
    [record] = event["Records"]
    message = json.loads(record["body"])
    assert message["url"] == hook.url and message["run_id"] == run_id and message["step"] == "crm"
    # When call_webhook takes it
    assert hand(stack, event) == {"batchItemFailures": []}
    # Then the receiver got one signed POST, its ids the run's and the step's
    [request] = hook.requests
    assert (request.method, request.path) == ("POST", "/hook")
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["webhook-id"] == headers["idempotency-key"] == f"{run_id}:crm"
    assert headers["content-type"] == "application/json" and headers["x-lead"] == "L-7"
    secret = secret_of(pipeline)
    assert secret["previous"] is None and secret["secret"].startswith("whsec_")
    assert verified(secret["secret"], request) == {"contact": "c_1", "lead": "L-7", "name": "Zoë"}
    # And the answer went on with the run: the email says the deal, the attempt is on the timeline
    state = run(stack, run_id)
    assert state.status.value == "completed"
    assert state.context["steps"]["crm"] == {"status": 201, "body": {"deal": "D-42"}}
    assert attempts(state) == [{"attempt": 1, "outcome": "delivered", "status": 201}]
    [email] = stack.queued_emails()
    assert (email["run_id"], email["step"], email["recipients"]) == (run_id, "mail", ["ana@example.com"])
    assert "Deal D-42" in email["html"]
    assert step_counters(stack, "crm")["actions_done"] == 1
    # And the message is gone; the workspace has one signing secret, made by the first call
    assert queued_calls(stack) == []
    assert len(signing_secrets(stack)) == 1


def test_a_503_is_postponed_with_the_batch_item_failure_and_tried_again_with_the_same_id(
    stack: Stack, hook: Receiver, pipeline: Pipeline, aws_tap: AwsTap
) -> None:
    create(stack, hook)
    hook.answers += [(503, {"error": "busy"}), (200, {"deal": "D-1"})]
    run_id = start(pipeline)
    event = webhook_event(stack)
    [record] = event["Records"]
    aws_tap.reset()
    # When the receiver answers 503
    answer = hand(stack, event)
    # Then the record is a batch item failure, kept away for the first backoff (30 s)
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    [postponed] = [c for c in aws_tap.calls if c.name == "sqs:ChangeMessageVisibility"]
    assert postponed.function == "call_webhook"
    assert postponed.params["QueueUrl"] == stack.settings.webhook_queue_url
    assert postponed.params["ReceiptHandle"] == record["receiptHandle"]
    assert postponed.params["VisibilityTimeout"] == 30
    assert webhook_event(stack)["Records"] == []  # not visible meanwhile
    # And the run still waits on the step, the attempt on its timeline
    state = run(stack, run_id)
    assert (state.status.value, state.position) == ("waiting", "crm")
    assert attempts(state) == [{"attempt": 1, "outcome": "retry", "status": 503, "retry_in": 30}]
    assert step_counters(stack, "crm")["actions_retried"] == 1
    assert stack.queued_emails() == []
    # When the queue hands it back (the wait skipped) and the receiver answers 200
    back(stack, event)
    stack.clock.offset += timedelta(seconds=30)
    again = webhook_event(stack)
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert hand(stack, again) == {"batchItemFailures": []}
    # Then the second request carries the same id, and the run went on once
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"{run_id}:crm"
    secret = secret_of(pipeline)["secret"]
    assert verified(secret, first) == verified(secret, second)
    state = run(stack, run_id)
    assert state.status.value == "completed"
    assert [(a["attempt"], a["outcome"], a["status"]) for a in attempts(state)] == [
        (1, "retry", 503),
        (2, "delivered", 200),
    ]
    assert ["Deal D-1" in e["html"] for e in stack.queued_emails()] == [True]


def test_a_404_fails_the_step_and_ends_the_run(stack: Stack, hook: Receiver, pipeline: Pipeline) -> None:
    create(stack, hook)
    hook.answers.append((404, {"error": "no such lead"}))
    run_id = start(pipeline)

    assert hand(stack, webhook_event(stack)) == {"batchItemFailures": []}  # done with: never tried again

    state = run(stack, run_id)
    assert state.status.value == "failed"
    assert "404" in (state.end_reason or "")
    assert attempts(state) == [{"attempt": 1, "outcome": "failed", "status": 404}]
    assert any(d.kind == "action_failed" and d.step == "crm" and "404" in d.reason for d in state.log)
    assert stack.queued_emails() == []
    assert queued_calls(stack) == []
    assert step_counters(stack, "crm")["actions_failed"] == 1
    assert len(hook.requests) == 1


def test_a_4xx_with_on_failure_continue_goes_on_without_the_answer(
    stack: Stack, hook: Receiver, pipeline: Pipeline
) -> None:
    create(stack, hook, on_failure="continue")
    hook.answers.append((410, {"error": "gone"}))
    run_id = start(pipeline)

    assert hand(stack, webhook_event(stack)) == {"batchItemFailures": []}

    state = run(stack, run_id)
    assert state.status.value == "completed"
    [email] = stack.queued_emails()
    assert email["run_id"] == run_id and "Deal </p>" in email["html"]


def test_a_rotation_signs_with_both_secrets(stack: Stack, hook: Receiver, pipeline: Pipeline) -> None:
    create(stack, hook)
    old = secret_of(pipeline)["secret"]
    status, rotated = pipeline.keyed("default", "POST", "/v1/webhook-secret/rotate")
    assert status == 200 and rotated["previous"] == old
    start(pipeline)

    assert hand(stack, webhook_event(stack)) == {"batchItemFailures": []}

    [request] = hook.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(old, request) == verified(rotated["secret"], request)


# --- a batch: each record on its own ------------------------------------------------------------------------


def test_a_malformed_record_fails_alone_and_the_others_of_its_batch_are_made(
    stack: Stack, hook: Receiver, pipeline: Pipeline
) -> None:
    create(stack, hook)
    run_id = start(pipeline)
    event = webhook_event(stack)
    [good] = event["Records"]
    arn = queue_arn(stack)
    message = json.loads(good["body"])
    not_json = record_of("{not json", message_id="bad-json", arn=arn)
    not_a_call = record_of({"workspace": "default", "run_id": run_id}, message_id="bad-shape", arn=arn)
    bad_method = record_of({**message, "method": "DELETE"}, message_id="bad-method", arn=arn)
    event["Records"] = [not_json, good, not_a_call, bad_method]

    answer = call(event)

    assert failed_ids(answer) == {"bad-json", "bad-shape", "bad-method"}
    assert len(hook.requests) == 1
    assert run(stack, run_id).status.value == "completed"
    assert len(stack.queued_emails()) == 1


def test_a_call_of_an_unknown_workspace_is_a_batch_item_failure(
    stack: Stack, hook: Receiver, pipeline: Pipeline
) -> None:
    create(stack, hook)
    run_id = start(pipeline)
    event = webhook_event(stack)
    [good] = event["Records"]
    stranger = record_of(
        {**json.loads(good["body"]), "workspace": "nope"}, message_id="unknown-workspace", arn=queue_arn(stack)
    )
    event["Records"] = [stranger, good]

    answer = call(event)

    assert failed_ids(answer) == {"unknown-workspace"}
    assert len(hook.requests) == 1  # the other workspace's call was never made
    assert run(stack, run_id).status.value == "completed"


def test_a_call_whose_run_went_on_already_is_dropped_without_a_request(
    stack: Stack, hook: Receiver, pipeline: Pipeline
) -> None:
    create(stack, hook)
    run_id = start(pipeline)
    event = webhook_event(stack, visibility=0)
    assert call(event) == {"batchItemFailures": []}
    # When SQS hands the same message again (delivered at least once)
    again = webhook_event(stack)
    assert [r["messageId"] for r in again["Records"]] == [r["messageId"] for r in event["Records"]]
    assert hand(stack, again) == {"batchItemFailures": []}
    # Then the receiver was called once, the run went on once
    assert len(hook.requests) == 1
    assert len(stack.queued_emails()) == 1
    assert len(attempts(run(stack, run_id))) == 1


# --- failures of AWS on the way -----------------------------------------------------------------------------


def deliver_until_done(stack: Stack, tap: AwsTap, fault: Fault | None) -> tuple[int, AwsCall | None]:
    """Hand the queued call to call_webhook, the first time with ``fault``, again while it fails (as the queue
    gives it back): how many times it was handed, and the request that failed."""
    tap.reset(fault)
    fired = None
    for handed in range(1, 5):
        event = webhook_event(stack)
        assert len(event["Records"]) == 1, event
        answer = hand(stack, event)
        fired = fired or tap.fired
        tap.reset()
        if not answer["batchItemFailures"]:
            return handed, fired
        back(stack, event)
    raise AssertionError("the call was never delivered")


def sent_once(stack: Stack, tap: AwsTap, run_id: str) -> int:
    """Hand every queued email to send_email; how many emails SES accepted for the run."""
    bodies = stack.queued_emails()
    differences = [{k: v for k, v in body.items() if v != bodies[0].get(k)} for body in bodies]
    assert bodies and not any(differences), f"queued again, it is the same request: {differences}"
    tap.reset()
    assert SEND.handler(sqs_event(*bodies), LambdaContextStub()) == {"batchItemFailures": []}
    sends = [c for c in tap.calls if c.name == "sesv2:SendEmail"]
    return sum(1 for c in sends if {"Name": "run", "Value": run_id} in c.params["EmailTags"])


def test_a_failure_of_aws_at_any_request_never_continues_the_run_twice(
    stack: Stack, hook: Receiver, pipeline: Pipeline, aws_tap: AwsTap, summary: Callable[[str], None]
) -> None:
    # Given a delivery made once, cold, so that the next ones make the same requests
    create(stack, hook)
    start(pipeline)
    deliver_until_done(stack, aws_tap, None)
    stack.queued_emails()
    start(pipeline)
    aws_tap.reset()
    assert hand(stack, webhook_event(stack)) == {"batchItemFailures": []}
    stack.queued_emails()
    points = [c.name for c in aws_tap.calls if c.function == "call_webhook"]
    assert "dynamodb:TransactWriteItems" in points and "sqs:SendMessage" in points, points
    previous = logger.log_level
    logger.setLevel("CRITICAL")  # each failure is logged on purpose
    try:
        handed = [
            check_point(stack, hook, pipeline, aws_tap, Fault(at, mode), points[at - 1])
            for at in range(1, len(points) + 1)
            for mode in MODES
        ]
    finally:
        logger.setLevel(previous)
    summary(
        f"call_webhook fault injection: {len(handed)} points ({', '.join(points)}; before and after), each"
        f" consistent; handed again at {sum(1 for h in handed if h > 1)} of them"
    )


def check_point(stack: Stack, hook: Receiver, pipeline: Pipeline, tap: AwsTap, fault: Fault, name: str) -> int:
    """Play one point: the run goes on once whatever failed; how many times the call was handed."""
    where = f"{name} failing {fault.mode} (request {fault.at})"
    run_id = start(pipeline)
    hook.requests.clear()
    handed, fired = deliver_until_done(stack, tap, fault)
    assert fired is not None and fired.name == name, f"{where}: the fault did not fire where expected ({fired})"
    state = run(stack, run_id)
    assert state.status.value == "completed", where
    done = [d for d in state.log if d.kind == "webhook" and d.reason == "action done"]
    assert len(done) == 1, f"{where}: the run went on {len(done)} times"
    assert [d.kind for d in state.log].count("finished") == 1, where
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert ids == {f"{run_id}:crm"} and len(hook.requests) <= 2, where
    assert sent_once(stack, tap, run_id) == 1, where
    return handed


def test_a_signing_secret_whose_creation_reply_was_lost_is_the_one_that_signs(
    stack: Stack, hook: Receiver, pipeline: Pipeline, aws_tap: AwsTap
) -> None:
    create(stack, hook)
    run_id = start(pipeline)

    handed, fired = deliver_until_done(stack, aws_tap, Fault(1, "after", name="secretsmanager:CreateSecret"))

    assert handed == 2 and fired is not None
    assert len(signing_secrets(stack)) == 1
    [request] = hook.requests  # the first attempt failed before its request
    verified(secret_of(pipeline)["secret"], request)
    assert run(stack, run_id).status.value == "completed"


# --- the webhook-secret routes ------------------------------------------------------------------------------


def test_the_webhook_secret_is_made_once_rotated_and_admin_only(stack: Stack, pipeline: Pipeline) -> None:
    # GET makes the secret once: the second GET answers the same one
    first = secret_of(pipeline)
    assert secret_of(pipeline) == first
    assert first["previous"] is None and first["rotation_ends_at"] is None
    assert first["scheme"].startswith("Standard Webhooks")
    assert len(signing_secrets(stack)) == 1
    # A rotation makes a new one; the previous one signs beside it for 24 hours
    status, rotated = pipeline.keyed("default", "POST", "/v1/webhook-secret/rotate")
    assert status == 200
    assert rotated["secret"] != first["secret"] and rotated["previous"] == first["secret"]
    ends = datetime.fromisoformat(rotated["rotation_ends_at"])
    assert ends == stack.clock.now() + timedelta(hours=24)
    assert secret_of(pipeline) == rotated
    stack.clock.offset += timedelta(hours=25)
    later = secret_of(pipeline)
    assert later["secret"] == rotated["secret"] and later["previous"] is None
    # A key without the admin scope is refused, naming the scope
    for method, path in (("GET", "/v1/webhook-secret"), ("POST", "/v1/webhook-secret/rotate")):
        status, body = pipeline.keyed("default", method, path, scopes="events:write,automations:read")
        assert (status, body["scope"]) == (403, "admin"), (method, body)
    assert secret_of(pipeline)["secret"] == rotated["secret"]


def test_each_workspace_has_its_own_webhook_secret(stack: Stack, pipeline: Pipeline) -> None:
    acme = {
        "id": "acme",
        "name": "Acme",
        "sender": stack.settings.sender_address,
        "sender_name": "Acme",
        "brand_name": "Acme",
    }
    assert pipeline.keyed("", "POST", "/v1/workspaces", acme, scopes="root")[0] == 201

    mine, theirs = secret_of(pipeline), secret_of(pipeline, "acme")

    assert mine["secret"] != theirs["secret"]
    prefix = stack.settings.webhook_secret_prefix
    assert sorted(signing_secrets(stack)) == [f"{prefix}/acme", f"{prefix}/default"]


# --- the same message delivered twice at once ---------------------------------------------------------------


def test_a_delivery_overtaken_by_another_of_the_same_message_keeps_the_message(
    stack: Stack, hook: Receiver, pipeline: Pipeline, aws_tap: AwsTap
) -> None:
    # Given the same message received twice (SQS delivers at least once)
    create(stack, hook)
    run_id = start(pipeline)
    first = webhook_event(stack, visibility=0)
    second = webhook_event(stack, visibility=0)
    assert [r["messageId"] for r in first["Records"]] == [r["messageId"] for r in second["Records"]]
    # When the second delivery's attempt (503) is recorded while the first one's request (200) is under way
    answers: list[dict[str, Any]] = []
    hook.answers += [(200, {"deal": "D-1"}), (503, {"error": "busy"}), (200, {"deal": "D-1"})]  # idempotent
    hook.meanwhile.append(lambda: answers.append(hand(stack, second)))
    overtaken = hand(stack, first)
    # Then neither drops the message: the retry is postponed, and so is the delivery that lost the race
    assert failed_ids(answers[0]) == failed_ids(overtaken) == {first["Records"][0]["messageId"]}
    state = run(stack, run_id)
    assert (state.status.value, state.position) == ("waiting", "crm")
    assert attempts(state) == [{"attempt": 1, "outcome": "retry", "status": 503, "retry_in": 30}]
    # And when the queue hands it back, the call is made again and the run goes on once
    back(stack, first)
    assert hand(stack, webhook_event(stack)) == {"batchItemFailures": []}
    state = run(stack, run_id)
    assert state.status.value == "completed"
    assert [a["outcome"] for a in attempts(state)] == ["retry", "delivered"]
    assert {r.headers["webhook-id"] for r in hook.requests} == {f"{run_id}:crm"} and len(hook.requests) == 3
    assert sent_once(stack, aws_tap, run_id) == 1  # the overtaken pass queued the same email request: sent once
    assert queued_calls(stack) == []
