"""The pure engine: start a run, advance it, and say what must happen as effects. No clock, no AWS."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each name of the package is defined: its module is imported when the name is first asked for.
_EXPORTS = {
    "ActionRequest": "automations.engine.effects",
    "BusEvent": "automations.engine.effects",
    "CancelSchedule": "automations.engine.effects",
    "ContactUpdate": "automations.engine.effects",
    "Decision": "automations.engine.state",
    "Effect": "automations.engine.effects",
    "EmailRequest": "automations.engine.effects",
    "Finish": "automations.engine.effects",
    "Outcome": "automations.engine.machine",
    "RunState": "automations.engine.state",
    "RunStatus": "automations.engine.state",
    "ScheduleStep": "automations.engine.effects",
    "WebhookCall": "automations.engine.effects",
    "advance": "automations.engine.machine",
    "build_context": "automations.engine.machine",
    "cancel": "automations.engine.machine",
    "failed_start": "automations.engine.machine",
    "match_trigger": "automations.engine.machine",
    "reschedule": "automations.engine.machine",
    "resume": "automations.engine.machine",
    "settle": "automations.engine.machine",
    "start_run": "automations.engine.machine",
    "stop": "automations.engine.machine",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
