"""send_email within its limits: the invocation's time (a recipient is taken only when its SES call can finish),
the stack's sending rate (paced, the account's own rate read from SES), and the senders the stack may use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from automations.adapters import ses
from automations.services import deps as deps_module
from automations.services import lifecycle, sending
from automations.services.deps import Deps

from tests.support.aws import LambdaContextStub, Stack, load_handler
from tests.support.email import message, request, sent_messages, spy_ses, sqs_event, verify_sender
from tests.support.flows import definition


@pytest.fixture
def handler(stack: Stack) -> Any:
    verify_sender()
    return load_handler("send_email").handler


def with_settings(stack: Stack, **changes: Any) -> Deps:
    """The process's dependencies with some settings changed (as a function deployed with them would have)."""
    deps = replace(stack.deps, settings=stack.deps.settings.model_copy(update=changes))
    deps_module._current = deps
    return deps


@dataclass
class Countdown(LambdaContextStub):
    """A Lambda context whose remaining time drops to ``after`` once SES was called ``calls`` times."""

    spy: Any = None
    calls: int = 1
    before: int = 60_000
    after: int = 15_000

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return self.after if len(self.spy.calls) >= self.calls else self.before


@dataclass
class FakeTime:
    """A monotonic clock that only sleeping moves."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- the invocation's time ---------------------------------------------------------------------------------


def test_records_are_left_for_later_when_too_little_time_is_left(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch of three emails, and an invocation with 15 s left once the first one is sent
    spy = spy_ses(stack, monkeypatch)
    event = sqs_event(request(run_id="run_a"), request(run_id="run_b"), request(run_id="run_c"))
    assert sending.reserve_seconds(stack.deps.email_sender) > 15
    # When send_email consumes it
    result = handler(event, Countdown(spy=spy))
    # Then the first is sent, and the two it did not take come back as batch item failures
    ids = [r["messageId"] for r in event["Records"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}
    assert len(spy.calls) == 1
    assert message("run_a", "reminder", "ana@example.com").state == "sent"
    # And nothing was claimed for the records left: no record is left "sending" (then "unknown")
    for run in ("run_b", "run_c"):
        with pytest.raises(AssertionError, match="no message record"):
            message(run, "reminder", "ana@example.com")
    # When they come back to an invocation with time to spare, they go out
    result = handler(sqs_event(request(run_id="run_b"), request(run_id="run_c")), LambdaContextStub())
    assert result == {"batchItemFailures": []}
    assert len(spy.calls) == 3


def test_a_request_stops_between_recipients_and_its_retry_sends_only_the_rest(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_ses(stack, monkeypatch)
    body = request(recipients=("ana@example.com", "owner@acme.example"))
    event = sqs_event(body)
    # When time runs short after the first recipient
    result = handler(event, Countdown(spy=spy))
    # Then the message comes back; the first recipient is sent, the second was never claimed
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert message("run_0001", "reminder", "ana@example.com").state == "sent"
    with pytest.raises(AssertionError, match="no message record"):
        message("run_0001", "reminder", "owner@acme.example")
    # And its retry sends to the second recipient only
    assert handler(sqs_event(body, receive_count=2), LambdaContextStub()) == {"batchItemFailures": []}
    assert [c["Destination"]["ToAddresses"] for c in spy.calls] == [["ana@example.com"], ["owner@acme.example"]]
    assert sorted(m["To"] for m in sent_messages()) == ["ana@example.com", "owner@acme.example"]


# --- the sending rate --------------------------------------------------------------------------------------


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    """Pacers made during the test use a fake clock and sleep (nothing waits for real)."""
    fake = FakeTime()
    original = sending.Pacer.__init__

    def init(self: sending.Pacer, rate: float, *args: Any, **kwargs: Any) -> None:
        original(self, rate, fake.clock, fake.sleep)

    monkeypatch.setattr(sending.Pacer, "__init__", init)
    yield fake


def test_sends_are_paced_to_the_instance_share_of_the_stack_rate(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    # Given a stack rate of 10 emails a second shared by two instances
    with_settings(stack, max_send_rate=10.0, sending_concurrency=2)
    spy_ses(stack, monkeypatch)
    # When one instance sends three emails at once
    event = sqs_event(request(run_id="run_a"), request(run_id="run_b"), request(run_id="run_c"))
    assert handler(event, LambdaContextStub()) == {"batchItemFailures": []}
    # Then they are spaced by 1 / (10 / 2) = 0.2 s
    assert fake_time.slept == pytest.approx([0.2, 0.2])
    assert len(sent_messages()) == 3


def test_the_account_rate_is_read_from_ses_when_no_rate_is_set(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    # Given MaxSendRate 0 (the account's own rate; moto's account sends one a second, as the sandbox does)
    deps = with_settings(stack, max_send_rate=0.0, sending_concurrency=2)
    # Then each of two instances sends at half of it
    pacer = sending.pacer(deps)
    assert pacer is not None and pacer.rate == pytest.approx(0.5)
    # And the rate is kept, not read again for each send
    assert sending.pacer(deps) is pacer


def test_a_rate_ses_cannot_tell_falls_back_to_the_sandbox_rate_and_is_read_again_soon(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    deps = with_settings(stack, max_send_rate=0.0, sending_concurrency=1)

    def refuse(client: Any) -> float:
        raise ses.SesTransientError("AccessDenied", "not allowed")

    monkeypatch.setattr(ses, "account_send_rate", refuse)
    pacer = sending.pacer(deps)
    assert pacer is not None and pacer.rate == sending.FALLBACK_SEND_RATE
    pacing = sending.current_pacing()
    assert pacing is not None and pacing.fresh_for == sending.RATE_RETRY_SECONDS


def test_without_a_rate_setting_nothing_is_paced(stack: Stack) -> None:
    assert stack.deps.settings.max_send_rate is None
    assert sending.pacer(stack.deps) is None


# --- the senders the stack may use -------------------------------------------------------------------------


def test_an_email_from_a_sender_the_stack_may_not_use_fails_without_calling_ses(
    stack: Stack, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an email whose 'from' is neither the sender address nor an allowed sender
    spy = spy_ses(stack, monkeypatch)
    result = handler(sqs_event(request(from_address="ceo@acme.example")), LambdaContextStub())
    # Then it fails for good, with the reason, and SES (whose permission would refuse it) is not called
    assert result == {"batchItemFailures": []}
    record = message("run_0001", "reminder", "ana@example.com")
    assert record.state == "failed" and record.reason and "SenderNotAllowed" in record.reason
    assert spy.calls == []


def test_an_allowed_sender_may_be_used(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # (The sending service itself, not the handler: the permissions proof checks every handler request against
    # one test stack's role, whose AllowedSenders is empty. The role's side is tests/unit/test_template_operations.py.)
    deps = with_settings(stack, allowed_senders="billing@acme.example,*@news.acme.example")
    verify_sender("billing@acme.example")
    spy = spy_ses(stack, monkeypatch)
    email = sending.request_from_body(request(from_address="billing@acme.example"))
    [delivery] = sending.send_request(deps, email, stack.clock.now())
    assert delivery.state == "sent"
    assert [c["FromEmailAddress"] for c in spy.calls] == ["billing@acme.example"]


def test_an_automation_sending_from_a_sender_the_stack_may_not_use_is_not_activated(stack: Stack) -> None:
    created = definition("overdue-invoice-reminder", status="active")
    step = next(s for s in created["steps"] if "if" in s)["then"][0]["send_email"]
    step["from"] = "ceo@acme.example"
    with pytest.raises(lifecycle.ActivationError, match=r"ceo@acme\.example is not an allowed sender"):
        lifecycle.create(stack.deps, created, stack.clock.now())
