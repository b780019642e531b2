"""Webhook calls (DESIGN.md §3 "Actions"): signing and sending one attempt, recording it on the run's timeline,
trying again later, and going on with the run once the call is delivered or has failed for good.

A run that reaches a ``webhook`` step waits on it while its call sits in the webhook queue. Each attempt:

- is made only while the run still waits on that step (a run cancelled or gone past it meanwhile is left alone; a
  run not stored at the step yet, because the pass that queued the call is still saving it, is tried again soon,
  as is a call whose run another delivery of the same message changed while this one was being made);
- is signed the Standard Webhooks way with the workspace's secret (both secrets during a rotation), with
  ``webhook-id`` and ``Idempotency-Key`` both ``<run>:<step>``, the same on every attempt;
- is recorded on the run's timeline (``webhook_attempt``: its number, outcome and status);
- delivered (2xx): the response's status and JSON body become ``steps.<id>``, and the run goes on;
- failed (another status, or a request refused: a URL that is not https, an address inside the network): the step
  fails at once, and its ``on_failure`` says whether the run ends;
- to be retried (5xx, 429, a timeout, a network failure): tried again after 30 s, 1 min, 2 min, … at most 1 h
  apart, until 24 hours after the first attempt, when the step fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from automations.engine import Decision, RunStatus, WebhookCall, resume
from automations.observability import logger, metrics
from automations.ports import NotFoundError, StepCount, WebhookSecret
from automations.services import runner, webhook_signing
from automations.services.deps import Deps

#: Seconds before a call whose run is not stored at its step yet is tried again.
NOT_YET_SECONDS = 10


class WebhookMessage(BaseModel):
    """The webhook queue's message: one call (:meth:`WebhookCall.as_message`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    workspace: str = Field(min_length=1, max_length=64)
    automation_id: str = Field(min_length=1, max_length=80)
    run_id: str = Field(min_length=1, max_length=200)
    step: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=1, max_length=8192)
    method: str = Field(pattern=r"^(POST|PUT|PATCH)$")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str

    def call(self) -> WebhookCall:
        return WebhookCall(
            workspace=self.workspace,
            automation_id=self.automation_id,
            run_id=self.run_id,
            step=self.step,
            url=self.url,
            method=self.method,
            headers=dict(self.headers),
            body=self.body,
        )


@dataclass(frozen=True)
class Attempt:
    """What one delivery of a queue message came to.

    ``state``: ``delivered``, ``failed`` (the step failed for good), ``retry`` (tried again after ``delay``
    seconds), ``waiting`` (the run is not at the step yet, or another delivery changed it meanwhile: again after
    ``delay``), ``stale`` (nothing to do: the run ended or went past the step)."""

    state: str
    reason: str = ""
    delay: int = 0
    status: int | None = None
    number: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "delay": self.delay,
            "status": self.status,
            "attempt": self.number,
        }


def signing_secret(deps: Deps, now: datetime, *, fresh: bool = False) -> WebhookSecret:
    """The workspace's signing secret, made on first use."""
    found = deps.webhook_secrets.get(fresh=fresh)
    if found is None:
        found = deps.webhook_secrets.create(WebhookSecret(current=webhook_signing.new_secret(), created_at=now))
    return found


def rotate_secret(deps: Deps, now: datetime) -> WebhookSecret:
    """Start a rotation: a new secret signs from now on, and the one before it signs beside it for a day."""
    rotated = signing_secret(deps, now, fresh=True).rotated(webhook_signing.new_secret(), now)
    deps.webhook_secrets.put(rotated)
    logger.info("webhook secret rotated", extra={"workspace": deps.settings.workspace})
    return rotated


def secret_view(secret: WebhookSecret, now: datetime) -> dict[str, Any]:
    """The secret as the API shows it: the one to verify with, and the one before it while a rotation lasts."""
    ends = secret.rotation_ends_at()
    rotating = ends is not None and now < ends
    return {
        "secret": secret.current,
        "created_at": secret.created_at.isoformat(),
        "previous": secret.previous if rotating else None,
        "rotation_ends_at": ends.isoformat() if rotating and ends else None,
        "scheme": "Standard Webhooks 1.0 (webhook-id, webhook-timestamp, webhook-signature: v1,<HMAC-SHA256>)",
    }


def _overtaken() -> Attempt:
    """Another delivery of the same message changed the run between this one's read and its save. That one may
    have recorded an attempt to be retried (postponing the message), so this one must not drop the message: it is
    looked at again soon, and then made again, or found stale."""
    return Attempt("waiting", "another delivery of the call changed the run first", delay=NOT_YET_SECONDS)


def deliver(deps: Deps, call: WebhookCall, now: datetime) -> Attempt:
    """Make one attempt of a call (see the module's description) and record it."""
    try:
        stored = deps.runs.get(call.run_id)
    except NotFoundError:
        return Attempt("stale", f"run {call.run_id} not found")
    state = stored.state
    if state.status.ended:
        return Attempt("stale", f"run already {state.status.value}")
    if state.position != call.step or state.status is not RunStatus.WAITING:
        if call.step in state.visited:
            return Attempt("stale", f"the run went past step {call.step!r}")
        return Attempt("waiting", f"the run has not reached step {call.step!r} yet", delay=NOT_YET_SECONDS)
    automation = deps.definition(state.automation_id, state.version)
    earlier = [d for d in state.log if d.kind == "webhook_attempt" and d.step == call.step]
    number = len(earlier) + 1
    first_at = earlier[0].at if earlier else now
    body = call.body.encode()
    signed = webhook_signing.headers(
        signing_secret(deps, now).signing(now), call.message_id, int(now.timestamp()), body
    )
    response = deps.webhooks.post(call.url, {**call.headers, **signed}, body, method=call.method)
    details: dict[str, Any] = {"attempt": number, "outcome": response.outcome, "status": response.status}
    giving_up = response.retryable and webhook_signing.gives_up(first_at, now)
    delay = webhook_signing.backoff(number) if response.retryable and not giving_up else 0
    if delay:
        details["retry_in"] = delay
    reason = f"the receiver answered {response.status}" if response.ok else response.reason
    new = state.model_copy(deep=True)
    new.log.append(Decision(at=now, kind="webhook_attempt", reason=reason, step=call.step, details=details))
    new.updated_at = now
    log = {"run": call.run_id, "step": call.step, "attempt": number, "outcome": response.outcome}
    if delay:
        logger.warning("webhook to be retried", extra={**log, "reason": reason, "retry_in": delay})
        metrics.add_metric(name="WebhooksRetried", unit="Count", value=1)
        retried = StepCount(state.automation_id, call.step, "actions_retried")
        if not deps.runs.save(new, stored.revision, position=call.step, now=now, count=retried):
            return _overtaken()
        return Attempt("retry", reason, delay=delay, status=response.status, number=number)
    new = runner.with_live_contact(deps, new)  # the steps after it see today's profile, as after a delay
    if response.ok:
        result: dict[str, Any] = {"status": response.status, "body": response.body}
        if response.truncated:
            result["truncated"] = True
        outcome = resume(automation, new, now=now, step=call.step, result=result)
        metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
        logger.info("webhook delivered", extra={**log, "status": response.status})
    else:
        failure = reason if not giving_up else f"{reason} (still failing 24 hours after the first attempt)"
        outcome = resume(automation, new, now=now, step=call.step, failure=f"the webhook failed: {failure}")
        metrics.add_metric(name="WebhooksFailed", unit="Count", value=1)
        metrics.add_metric(name="ActionFailures", unit="Count", value=1)
        logger.error("webhook failed", extra={**log, "reason": failure})
    outcome = runner.complete(deps, automation, outcome)
    runner.apply_effects(deps, outcome)
    counted = StepCount(state.automation_id, call.step, "actions_done" if response.ok else "actions_failed")
    if not deps.runs.save(outcome.state, stored.revision, position=call.step, now=now, count=counted):
        return _overtaken()
    return Attempt("delivered" if response.ok else "failed", reason, status=response.status, number=number)
