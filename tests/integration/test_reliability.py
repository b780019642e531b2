"""Nothing lost, nothing stuck: a run's ending, its locks, isolation of a broken automation, lost replies.

Each test injects the failure a flaky cloud produces (a request that fails, or one applied whose reply is
lost) and then redelivers what AWS would redeliver, as the fault-injection suite does at every request.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from automations.adapters.dynamodb import stats
from automations.adapters.dynamodb.messages import DynamoMessageStore
from automations.adapters.dynamodb.tables import MessageItem, StateItem
from automations.engine import RunStatus
from automations.ports import EmailRecord, Suppression
from automations.services import lifecycle
from automations.services.feedback import guard
from botocore.exceptions import EndpointConnectionError
from pynamodb.transactions import TransactWrite

from tests.conftest import load_event
from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import ses_record, sns_event, sqs_event, verify_sender
from tests.support.flows import activate, sample

INGEST = load_handler("ingest_trigger")
EVALUATE = load_handler("evaluate_step")
SEND = load_handler("send_email")
WEBHOOK = load_handler("stats_webhook")

LOST = EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")


def post(event: dict[str, Any]) -> dict[str, Any]:
    request = load_event("apigw_post_event.json")
    request["body"] = json.dumps(event)
    response: dict[str, Any] = INGEST.handler(request, LambdaContextStub())
    return response


def accepted(event: dict[str, Any]) -> list[str]:
    response = post(event)
    assert response["statusCode"] == 202, response
    return list(json.loads(response["body"])["events"][0]["runs"])


def schedule_of(stack: Stack, run_id: str) -> dict[str, Any]:
    [schedule] = [s for s in stack.schedules() if s["Input"].get("run") == run_id]
    return schedule


def counters(stack: Stack, automation_id: str) -> dict[str, int]:
    return {k: v for k, v in stats.read(stack.settings.workspace, automation_id)["-"].items() if v}


def run_key_locks() -> list[StateItem]:
    return [item for item in StateItem.scan() if item.sk == "runkey"]


def lose_reply_of_transaction(monkeypatch: pytest.MonkeyPatch, times: int = 1) -> list[int]:
    """The next ``times`` transactions are applied, then their replies are lost."""
    real_exit = TransactWrite.__exit__
    left = [times]

    def exit_then_lose(self: Any, *args: Any) -> Any:
        result = real_exit(self, *args)
        if left[0] > 0 and args[0] is None:
            left[0] -= 1
            raise LOST
        return result

    monkeypatch.setattr(TransactWrite, "__exit__", exit_then_lose)
    return left


# --- a run's ending is one transaction ----------------------------------------------------------------------


def test_a_run_ends_counts_and_frees_its_run_key_in_one_transaction(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an overdue-invoice run waiting three days, holding the invoice's run key
    activate(stack, "overdue-invoice-reminder")
    [run_id] = accepted(sample("overdue-invoice-reminder", "evt_end", data__invoice__id="inv_1"))
    assert [lock.run_id for lock in run_key_locks()] == [run_id]
    payload = schedule_of(stack, run_id)["Input"]
    stack.clock.offset = timedelta(days=3)
    # When the transaction that ends it fails before it is applied, then Scheduler retries
    real_exit = TransactWrite.__exit__
    failures = [LOST]

    def fail_once(self: Any, *args: Any) -> Any:
        if failures and args[0] is None:
            raise failures.pop()
        return real_exit(self, *args)

    monkeypatch.setattr(TransactWrite, "__exit__", fail_once)
    with pytest.raises(EndpointConnectionError):
        EVALUATE.handler(payload, LambdaContextStub())
    # Then nothing of the ending was half-written: the run still waits, the lock is still held
    assert stack.deps.runs.get(run_id).state.status is RunStatus.WAITING
    assert [lock.run_id for lock in run_key_locks()] == [run_id]
    # And the retry ends it, counts it once, and frees the key
    result = EVALUATE.handler(payload, LambdaContextStub())
    assert result["run_status"] == "completed"
    assert run_key_locks() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_completed"] == 1
    # So the next event for the same invoice starts a run
    assert len(accepted(sample("overdue-invoice-reminder", "evt_next", data__invoice__id="inv_1"))) == 1


def test_a_lost_reply_to_the_ending_leaves_no_lock_and_counts_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    activate(stack, "overdue-invoice-reminder")
    [run_id] = accepted(sample("overdue-invoice-reminder", "evt_lost", data__invoice__id="inv_2"))
    payload = schedule_of(stack, run_id)["Input"]
    stack.clock.offset = timedelta(days=3)
    lose_reply_of_transaction(monkeypatch)
    with pytest.raises(EndpointConnectionError):
        EVALUATE.handler(payload, LambdaContextStub())
    again = EVALUATE.handler(payload, LambdaContextStub())
    assert again["status"] == "noop" and again["run_status"] == "completed"
    assert run_key_locks() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_completed"] == 1
    assert len(accepted(sample("overdue-invoice-reminder", "evt_lost2", data__invoice__id="inv_2"))) == 1


def test_cancel_on_frees_the_run_key_with_the_ending(stack: Stack) -> None:
    activate(stack, "overdue-invoice-reminder")
    [run_id] = accepted(sample("overdue-invoice-reminder", "evt_c1", data__invoice__id="inv_3"))
    paid = {"id": "evt_paid", "type": "invoice.paid", "contact": {"id": "c_1"}, "data": {"invoice": {"id": "inv_3"}}}
    assert post(paid)["statusCode"] == 202
    assert stack.deps.runs.get(run_id).state.status is RunStatus.CANCELLED
    assert run_key_locks() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_cancelled"] == 1


def test_a_run_key_lock_carries_an_expiry_that_moves_with_the_run(stack: Stack) -> None:
    activate(stack, "overdue-invoice-reminder")
    [run_id] = accepted(sample("overdue-invoice-reminder", "evt_exp", data__invoice__id="inv_4"))
    [lock] = run_key_locks()
    due = stack.deps.runs.get(run_id).state.due_at
    assert due is not None
    assert lock.until == int((due + timedelta(days=2)).timestamp())
    assert lock.expires_at is not None and lock.expires_at > lock.until


def test_a_lock_past_its_expiry_gives_way_to_a_new_run(stack: Stack) -> None:
    # Given a run key held by a run that never moved again (its schedule was lost)
    activate(stack, "overdue-invoice-reminder")
    [stuck] = accepted(sample("overdue-invoice-reminder", "evt_stuck", data__invoice__id="inv_5"))
    assert accepted(sample("overdue-invoice-reminder", "evt_busy", data__invoice__id="inv_5")) == []
    # When the lock's expiry has passed
    stack.clock.offset = timedelta(days=6)
    # Then a new event for the same key starts a run, and the new run holds the key
    [fresh] = accepted(sample("overdue-invoice-reminder", "evt_after", data__invoice__id="inv_5"))
    assert fresh != stuck
    assert [lock.run_id for lock in run_key_locks()] == [fresh]


def test_a_run_whose_key_was_taken_over_still_ends(stack: Stack) -> None:
    # Given a run whose lock expired and was taken by a newer run of the same key
    activate(stack, "overdue-invoice-reminder")
    [old] = accepted(sample("overdue-invoice-reminder", "evt_old", data__invoice__id="inv_6"))
    old_payload = schedule_of(stack, old)["Input"]
    stack.clock.offset = timedelta(days=6)
    [new] = accepted(sample("overdue-invoice-reminder", "evt_new", data__invoice__id="inv_6"))
    # When the old run's call-back finally comes, the old run ends and the new run keeps the key
    result = EVALUATE.handler(old_payload, LambdaContextStub())
    assert result["run_status"] == "completed"
    assert [lock.run_id for lock in run_key_locks()] == [new]


# --- one broken automation never blocks the others ----------------------------------------------------------


def test_an_automation_that_breaks_on_an_event_fails_alone(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two active automations on the same event type, the first of which breaks while it runs
    activate(stack, "booking-approved", id="a-broken")
    activate(stack, "booking-approved", id="b-fine")
    from automations.engine import machine

    real = machine.render_email

    def breaks_for_a(spec: Any, context: Any) -> Any:
        if context.get("automation", {}).get("id") == "a-broken":
            raise RecursionError("maximum recursion depth exceeded")
        return real(spec, context)

    monkeypatch.setattr(machine, "render_email", breaks_for_a)
    # When an event arrives
    response = post(sample("booking-approved", "evt_iso"))
    # Then it is accepted, the fine automation runs and queues its email
    assert response["statusCode"] == 202
    runs = json.loads(response["body"])["events"][0]["runs"]
    assert len(runs) == 2
    [email] = stack.queued_emails()
    assert email["automation_id"] == "b-fine"
    # And the broken one has a failed run that says why, and counts it
    [broken] = [r for r in runs if stack.deps.runs.get(r).state.automation_id == "a-broken"]
    state = stack.deps.runs.get(broken).state
    assert state.status is RunStatus.FAILED
    assert state.end_reason is not None and "RecursionError" in state.end_reason
    assert counters(stack, "a-broken") == {"runs_started": 1, "runs_failed": 1}
    # And a retry of the same event starts nothing and fails nothing again: the same runs, the same counters;
    # the fine run's email is queued again (the event was marked processed in a run's creation, before the
    # request's emails were queued), the same message, which the sender sends once
    retry = post(sample("booking-approved", "evt_iso"))
    assert retry["statusCode"] == 202
    [answer] = json.loads(retry["body"])["events"]
    assert answer["status"] == "duplicate" and sorted(answer["runs"]) == sorted(runs)
    assert counters(stack, "a-broken") == {"runs_started": 1, "runs_failed": 1}
    assert stack.deps.runs.get(broken).state == state
    assert stack.queued_emails() == [email]
    verify_sender()
    for body in (email, email):
        assert SEND.handler(sqs_event(body), LambdaContextStub()) == {"batchItemFailures": []}
    assert ses_sent_count(stack) == 1


def test_a_run_that_breaks_when_it_resumes_ends_failed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    activate(stack, "overdue-invoice-reminder")
    [run_id] = accepted(sample("overdue-invoice-reminder", "evt_adv", data__invoice__id="inv_7"))
    payload = schedule_of(stack, run_id)["Input"]
    from automations.engine import machine

    def explode(spec: Any, context: Any) -> Any:
        raise MemoryError()

    monkeypatch.setattr(machine, "render_email", explode)
    stack.clock.offset = timedelta(days=3)
    result = EVALUATE.handler(payload, LambdaContextStub())
    assert result["status"] == "ended" and result["run_status"] == "failed"
    state = stack.deps.runs.get(run_id).state
    assert state.end_reason is not None and "MemoryError" in state.end_reason
    assert run_key_locks() == []
    assert counters(stack, "overdue-invoice-reminder")["runs_failed"] == 1


# --- emails: a lost reply to the claim, and counters that follow the final state ----------------------------


def queued_record(stack: Stack, receive_count: int = 1) -> dict[str, Any]:
    verify_sender()
    [body] = stack.queued_emails()
    record: dict[str, Any] = load_event("sqs_email_message.json")["Records"][0]
    record = {**record, "body": json.dumps(body), "messageId": "m-1"}
    record["attributes"] = {**record["attributes"], "ApproximateReceiveCount": str(receive_count)}
    return record


def ses_sent_count(stack: Stack) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return len(ses_backends[DEFAULT_ACCOUNT_ID][stack.settings.region].sent_messages)


def test_a_lost_reply_to_the_claim_still_sends_the_email_once(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a queued booking confirmation
    activate(stack, "booking-approved")
    accepted(sample("booking-approved", "evt_claim"))
    record = queued_record(stack)
    # When the claim of its record is written but the reply is lost
    real_claim = DynamoMessageStore.claim_unless_suppressed
    lost = [LOST]

    def claim_then_lose(self: DynamoMessageStore, record: EmailRecord) -> tuple[bool, Suppression | None]:
        result = real_claim(self, record)
        if lost:
            raise lost.pop()
        return result

    monkeypatch.setattr(DynamoMessageStore, "claim_unless_suppressed", claim_then_lose)
    result = SEND.handler({"Records": [record]}, LambdaContextStub())
    # Then the attempt knows the claim is its own: SES is called once and the email is sent
    assert result == {"batchItemFailures": []}
    [item] = MessageItem.scan()
    assert item.state == "sent"
    assert ses_sent_count(stack) == 1
    # And a redelivery sends nothing more
    SEND.handler({"Records": [record]}, LambdaContextStub())
    assert ses_sent_count(stack) == 1
    assert counters(stack, "booking-approved").get("send_unknown", 0) == 0


def test_an_unknown_email_confirmed_by_ses_stops_counting_as_unknown(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an email whose send crashed after SES was called, before its mark (its record left "unknown", counted so)
    def crash(*args: Any) -> bool:
        raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(DynamoMessageStore, "mark_sent", crash)
    activate(stack, "booking-approved")
    accepted(sample("booking-approved", "evt_unknown"))
    record = queued_record(stack)
    SEND.handler({"Records": [record]}, LambdaContextStub())
    monkeypatch.undo()
    [item] = MessageItem.scan()
    assert item.state == "sending"
    item.update(actions=[MessageItem.state.set("unknown")])
    stats.increment(stack.settings.workspace, "booking-approved", stack.clock.now(), {"send_unknown": 1})
    assert counters(stack, "booking-approved")["send_unknown"] == 1
    # When SES's own Send event for it arrives
    [result] = WEBHOOK.handler(sns_event(ses_record("ses_send.json", item)), LambdaContextStub())["results"]
    # Then the email is sent, and no longer counted as unknown
    assert result["status"] == "counted"
    [after] = MessageItem.scan()
    assert after.state == "sent"
    found = counters(stack, "booking-approved")
    assert found.get("send_unknown", 0) == 0 and found["sent"] == 1


# --- feedback: the reputation guard is part of what a redelivery completes ----------------------------------


def test_a_bounce_redelivered_after_the_guard_failed_runs_the_guard(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an automation whose one email hard-bounced, with a reputation limit that one bounce reaches
    monkeypatch.setattr(guard, "reputation_problem", lambda totals, deps: "hard-bounce rate 100.00%")
    activate(stack, "booking-approved")
    accepted(sample("booking-approved", "evt_bounce"))
    SEND.handler({"Records": [queued_record(stack)]}, LambdaContextStub())
    [item] = MessageItem.scan()
    bounce = sns_event(ses_record("ses_bounce_permanent.json", item))
    # When the guard fails after the bounce was counted (the Lambda errors; SNS delivers again)
    real_guard = guard.guard_reputation
    failures = [LOST]

    def flaky_guard(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_guard(*args)

    monkeypatch.setattr(guard, "guard_reputation", flaky_guard)
    with pytest.raises(EndpointConnectionError):
        WEBHOOK.handler(bounce, LambdaContextStub())
    assert lifecycle.get(stack.deps, "booking-approved").status == "active"
    # Then the redelivery, though a duplicate for the counters, runs the guard
    [result] = WEBHOOK.handler(bounce, LambdaContextStub())["results"]
    assert result["status"] == "duplicate"
    assert lifecycle.get(stack.deps, "booking-approved").status == "inactive"
    assert counters(stack, "booking-approved")["bounced_hard"] == 1
