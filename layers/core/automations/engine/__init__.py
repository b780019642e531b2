"""The pure engine: start a run, advance it, and say what must happen as effects. No clock, no AWS."""

from automations.engine.effects import (
    ActionRequest,
    BusEvent,
    CancelSchedule,
    ContactUpdate,
    Effect,
    EmailRequest,
    Finish,
    ScheduleStep,
    WebhookCall,
)
from automations.engine.machine import (
    Outcome,
    advance,
    build_context,
    cancel,
    failed_start,
    match_trigger,
    reschedule,
    resume,
    settle,
    start_run,
    stop,
)
from automations.engine.state import Decision, RunState, RunStatus

__all__ = [
    "ActionRequest",
    "BusEvent",
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
    "WebhookCall",
    "advance",
    "build_context",
    "cancel",
    "failed_start",
    "match_trigger",
    "reschedule",
    "resume",
    "settle",
    "start_run",
    "stop",
]
