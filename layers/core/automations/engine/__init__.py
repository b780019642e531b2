"""The pure engine: start a run, advance it, and say what must happen as effects. No clock, no AWS."""

from automations.engine.effects import CancelSchedule, ContactUpdate, Effect, EmailRequest, Finish, ScheduleStep
from automations.engine.machine import (
    Outcome,
    advance,
    build_context,
    cancel,
    failed_start,
    match_trigger,
    start_run,
    stop,
)
from automations.engine.state import Decision, RunState, RunStatus

__all__ = [
    "CancelSchedule",
    "ContactUpdate",
    "Decision",
    "Effect",
    "EmailRequest",
    "Finish",
    "Outcome",
    "RunState",
    "RunStatus",
    "ScheduleStep",
    "advance",
    "build_context",
    "cancel",
    "failed_start",
    "match_trigger",
    "start_run",
    "stop",
]
