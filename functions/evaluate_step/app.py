"""evaluate_step: invoked by a one-time schedule when a run's delay (or a person's silence) is over.

The schedule's Input is checked before anything is read: ``step`` {kind, workspace, run, step, due_at} or
``silence`` {kind, workspace, automation, version, person, event, due_at}. Anything else (Scheduler's default
notification for a schedule without Input, a payload of another shape) is answered ``invalid`` with the
reason, logged and counted (``InvalidSchedulePayloads``): retrying it could never help. The payload's workspace
is the one whose run (or countdown) it resumes; one the stack does not have is invalid too.
"""

# No ``from __future__ import annotations`` here: the payload models are built when the module loads, which
# may be by its path (the local stack, the tests), where postponed annotations could not be resolved.
import functools
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from automations import settings as stack_settings
from automations.observability import logger, metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

# In Lambda, a variable this function cannot work without is an error at start, naming it.
stack_settings.require()

#: How much of an invalid payload its log line shows.
LOGGED_PAYLOAD_CHARS = 1000

_Text = Annotated[str, StringConstraints(min_length=1)]


class StepPayload(BaseModel):
    """A run waits on ``step`` until ``due_at``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["step"]
    workspace: _Text
    run: _Text
    step: _Text
    due_at: datetime


class SilencePayload(BaseModel):
    """``person`` sent no trigger event since ``event`` until ``due_at`` (an ``after_silence`` trigger)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["silence"]
    workspace: _Text
    automation: _Text
    version: int = Field(ge=1)
    person: _Text
    event: _Text
    due_at: datetime


_KINDS = ("step", "silence")


@functools.cache
def _payload() -> TypeAdapter[StepPayload | SilencePayload]:
    """The validator of either payload, built on first use."""
    return TypeAdapter(Annotated[StepPayload | SilencePayload, Field(discriminator="kind")])


def _reason(event: Any) -> str | None:
    """Why the payload cannot be evaluated; None when it is a valid step or silence payload."""
    if not isinstance(event, dict):
        return f"the payload is a {type(event).__name__}, not an object"
    kind = event.get("kind")
    if kind not in _KINDS:
        if event.get("source") == "aws.scheduler" or event.get("detail-type") == "Scheduled Event":
            return "Scheduler's default notification (a schedule without Input), not a step or silence payload"
        return f"unknown kind {kind!r}: expected 'step' or 'silence'" if kind is not None else "no kind"
    try:
        _payload().validate_python(event)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc'][1:]) or kind}: {error['msg']}" for error in exc.errors()
        ]
        return f"invalid {kind} payload: {'; '.join(problems)}"
    return None


def _excerpt(event: Any) -> str:
    try:
        text = json.dumps(event, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(event)
    return text[:LOGGED_PAYLOAD_CHARS]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    # The services load with the first invocation, not with the module.
    from automations.ports import UnknownWorkspaceError
    from automations.services.deps import get_deps
    from automations.services.ingest import silence_over
    from automations.services.runner import evaluate_step

    reason = _reason(event)
    if reason is not None:
        schedule = event.get("resources") if isinstance(event, dict) else None
        logger.error(
            "invalid schedule payload",
            extra={"reason": reason, "schedule": schedule, "payload": _excerpt(event)},
        )
        metrics.add_metric(name="InvalidSchedulePayloads", unit="Count", value=1)
        return {"status": "invalid", "reason": reason}
    try:
        deps = get_deps(event["workspace"])
    except UnknownWorkspaceError as exc:
        logger.error("schedule of an unknown workspace", extra={"reason": str(exc), "payload": _excerpt(event)})
        metrics.add_metric(name="InvalidSchedulePayloads", unit="Count", value=1)
        return {"status": "invalid", "reason": str(exc)}
    now = deps.clock.now()
    if event["kind"] == "silence":
        result = silence_over(deps, event, now)
    else:
        result = evaluate_step(deps, event, now)
    logger.info("step evaluated", extra={"payload": event, "result": result.status, "reason": result.reason})
    metrics.add_metric(name="StepsAdvanced" if result.status == "advanced" else "StepsNoop", unit="Count", value=1)
    return {"status": result.status, "reason": result.reason, "run_status": result.run_status}
