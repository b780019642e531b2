"""The state machine: pure functions from (definition, state, now) to (new state, effects)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

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
from automations.engine.email import ONE_CLICK, has_unsubscribe, recipients
from automations.engine.locales import localize, one
from automations.engine.state import Decision, RunState, RunStatus
from automations.errors import EngineError, TemplateError
from automations.language.conditions import MISSING, explain, resolve
from automations.language.durations import parse_duration
from automations.language.instants import parse_instant
from automations.language.localtime import delay_at, next_opening
from automations.language.model import (
    ACTION_KINDS,
    CONTACT_ZONE,
    MAX_WEBHOOK_BODY,
    RESULT_ACTIONS,
    Automation,
    CreateTask,
    DelayAt,
    DelayUntil,
    PutEvent,
    SendEmail,
    Webhook,
)
from automations.language.program import Node, Program
from automations.language.templates import DEFAULT_LOCALE, DEFAULT_ZONE, html_to_text, known_zone, render

#: Delays end before this moment (the latest an event may have occurred at is the end of 2200).
LATEST_DUE = datetime(2201, 1, 1, tzinfo=UTC)


@dataclass
class Outcome:
    """The new state of a run and what must happen because of it."""

    state: RunState
    effects: list[Effect] = field(default_factory=list)
    noop_reason: str | None = None
    #: An action the run waits on (its result is for the steps after it): the services do it, then
    #: :func:`resume` goes on. The run is stored at that step meanwhile.
    pending: ActionRequest | None = None


@dataclass(frozen=True)
class Match:
    """Whether an event starts this automation, and for whom."""

    matched: bool
    reason: str
    person: str | None = None
    run_key: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)


def scalar_key(value: Any) -> str | None:
    if value is MISSING or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def build_context(
    event: Mapping[str, Any],
    *,
    automation: Automation | None = None,
    version: int | None = None,
    run_id: str | None = None,
    started_at: datetime | None = None,
    default_timezone: str | None = None,
    default_locale: str | None = None,
) -> dict[str, Any]:
    """The names conditions and templates see: ``event``, ``contact``, ``data``, ``run``, ``automation``.

    ``automation`` carries the ``timezone`` and ``locale`` for contacts whose profile has none: the automation's
    own, else the workspace's (``default_timezone``, ``default_locale``: the engine reads no settings), else UTC
    and en."""
    context: dict[str, Any] = {
        "event": {k: event.get(k) for k in ("id", "type", "occurred_at")},
        "contact": dict(event.get("contact") or {}),
        "data": dict(event.get("data") or {}),
    }
    if run_id is not None:
        context["run"] = {"id": run_id, "started_at": started_at.isoformat() if started_at else None}
    if automation is not None:
        context["automation"] = {
            "id": automation.id,
            "name": automation.name,
            "version": version,
            "timezone": automation.timezone or default_timezone or DEFAULT_ZONE,
            "locale": automation.locale or default_locale or DEFAULT_LOCALE,
        }
    return context


def match_trigger(automation: Automation, event: Mapping[str, Any]) -> Match:
    """Type, ``where``, ``person`` and ``run_key`` of one event against one automation (no storage)."""
    if event.get("type") != automation.trigger.event:
        return Match(False, f"event type {event.get('type')!r} is not {automation.trigger.event!r}")
    context = build_context(event)
    checks: list[dict[str, Any]] = []
    if automation.trigger.where is not None:
        result, evaluated = explain(automation.trigger.where, context)
        checks = [check.as_dict() for check in evaluated]
        if not result:
            return Match(False, "filtered out by trigger.where", checks=checks)
    person = scalar_key(resolve(context, automation.person))
    if person is None:
        return Match(False, f"no person: field {automation.person!r} is missing", checks=checks)
    run_key = None
    if automation.run_key is not None:
        run_key = scalar_key(resolve(context, automation.run_key))
        if run_key is None:
            return Match(False, f"no run key: field {automation.run_key!r} is missing", checks=checks)
    return Match(True, "matched", person=person, run_key=run_key, checks=checks)


def _new_run(
    automation: Automation,
    version: int,
    event: Mapping[str, Any],
    context: dict[str, Any],
    *,
    now: datetime,
    run_id: str,
    workspace: str,
    person: str | None,
    run_key: str | None,
    reason: str,
) -> RunState:
    _aware(now)
    state = RunState(
        id=run_id,
        workspace=workspace,
        automation_id=automation.id,
        version=version,
        person=person,
        run_key=run_key,
        started_at=now,
        updated_at=now,
        context=context,
    )
    details = {"event_id": event.get("id"), "event_type": event.get("type"), "version": version}
    state.log.append(Decision(at=now, kind="started", reason=reason, details=details))
    return state


def start_run(
    automation: Automation,
    version: int,
    event: Mapping[str, Any],
    *,
    now: datetime,
    run_id: str,
    workspace: str,
    person: str | None = None,
    run_key: str | None = None,
    reason: str = "matched trigger",
    default_timezone: str | None = None,
    default_locale: str | None = None,
) -> Outcome:
    """A new run pinned to ``version``, executed up to its first delay that lies in the future (or its first
    action outside its send window). ``default_timezone`` and ``default_locale`` are the workspace's
    (:func:`build_context`)."""
    context = build_context(
        event,
        automation=automation,
        version=version,
        run_id=run_id,
        started_at=now,
        default_timezone=default_timezone,
        default_locale=default_locale,
    )
    state = _new_run(
        automation,
        version,
        event,
        context,
        now=now,
        run_id=run_id,
        workspace=workspace,
        person=person,
        run_key=run_key,
        reason=reason,
    )
    program = Program.of(automation)
    return _run_from(program, automation, state, program.first, now)


def failed_start(
    automation: Automation,
    version: int,
    event: Mapping[str, Any],
    *,
    now: datetime,
    run_id: str,
    workspace: str,
    reason: str,
    person: str | None = None,
    status: RunStatus = RunStatus.FAILED,
    default_timezone: str | None = None,
    default_locale: str | None = None,
) -> Outcome:
    """A run that failed while it started (an automation that broke on this event), recorded as failed; or one
    that was not to start (``status`` skipped: a chain of automations too deep), recorded with the reason."""
    try:
        context = build_context(
            event,
            automation=automation,
            version=version,
            run_id=run_id,
            started_at=now,
            default_timezone=default_timezone,
            default_locale=default_locale,
        )
    except Exception:  # the event itself is what broke: keep the run without it
        context = {"event": {"id": event.get("id"), "type": event.get("type")}}
    state = _new_run(
        automation,
        version,
        event,
        context,
        now=now,
        run_id=run_id,
        workspace=workspace,
        person=person,
        run_key=None,
        reason="matched trigger",
    )
    return Outcome(state, _finish(state, now, status, reason))


def advance(automation: Automation, state: RunState, *, now: datetime, step: str | None = None) -> Outcome:
    """Continue a waiting run whose delay is over (from the step after it) or whose send window has opened (from
    the action that waited, its window checked again); before its time, or on another step, nothing happens."""
    _aware(now)
    if state.status is not RunStatus.WAITING:
        return Outcome(state, noop_reason=f"run is {state.status.value}, not waiting")
    if step is not None and step != state.position:
        return Outcome(state, noop_reason=f"run waits on {state.position!r}, not {step!r}")
    if state.due_at is None or now < state.due_at:
        return Outcome(state, noop_reason=f"not due before {state.due_at.isoformat() if state.due_at else '?'}")
    program = Program.of(automation)
    if state.position is None or state.position not in program:
        raise EngineError(f"run {state.id} waits on step {state.position!r}, unknown to version {state.version}")
    node = program[state.position]
    window = state.window_wait
    if window and node.step.kind not in ACTION_KINDS:
        raise EngineError(f"run {state.id} waits for a send window on {node.id!r}, which is not an action")
    new = state.model_copy(deep=True)
    new.status = RunStatus.RUNNING
    new.log.append(
        Decision(
            at=now,
            kind="resumed",
            reason="send window open" if window else "delay over",
            step=node.id,
            details={"due_at": state.due_at.isoformat()},
        )
    )
    new.position = None
    new.due_at = None
    new.window_wait = False
    # The action that waited for its window has not run (it is not visited yet): it runs now.
    return _run_from(program, automation, new, node.id if window else node.next, now)


def cancel(state: RunState, *, now: datetime, reason: str, status: RunStatus = RunStatus.CANCELLED) -> Outcome:
    """End a run that has not ended yet (cancel_on, deactivation, deletion), dropping its call-back."""
    _aware(now)
    if state.status.ended:
        return Outcome(state, noop_reason=f"run already {state.status.value}")
    new = state.model_copy(deep=True)
    effects: list[Effect] = []
    if new.status is RunStatus.WAITING and new.position is not None:
        effects.append(CancelSchedule(new.workspace, new.id, new.position))
    effects.extend(_finish(new, now, status, reason))
    return Outcome(new, effects)


def resume(
    automation: Automation,
    state: RunState,
    *,
    now: datetime,
    step: str,
    result: Mapping[str, Any] | None = None,
    failure: str | None = None,
) -> Outcome:
    """Go on after an action the run waited on (:attr:`Outcome.pending`): its ``result`` becomes ``steps.<step>``
    for the steps after it; a ``failure`` is recorded and the action's ``on_failure`` says whether the run ends."""
    _aware(now)
    program = Program.of(automation)
    if state.position != step or step not in program:
        raise EngineError(f"run {state.id} does not wait on action {step!r}")
    node = program[step]
    new = state.model_copy(deep=True)
    new.position = None
    new.status = RunStatus.RUNNING
    new.due_at = None
    effects: list[Effect] = []
    if failure is not None:
        if _action_failed(node, new, now, failure, effects):
            return Outcome(new, effects)
    else:
        done = dict(result or {})
        new.context.setdefault("steps", {})[step] = done
        # a response body is for the steps after it (steps.<id>.body), not repeated on the timeline
        details = {key: value for key, value in done.items() if key != "body"}
        if node.step.create_task is not None:  # the locale its texts were rendered in
            details.update(localize(node.step.create_task, state.context).details)
        new.log.append(Decision(at=now, kind=node.step.kind, reason="action done", step=step, details=details))
    outcome = _run_from(program, automation, new, node.next, now)
    return Outcome(outcome.state, effects + outcome.effects, pending=outcome.pending)


#: What does an action the run waits on: its result, or why it could not be done (one of the two is None).
Act = Callable[[ActionRequest, datetime], tuple[Mapping[str, Any] | None, str | None]]


def settle(automation: Automation, outcome: Outcome, act: Act, clock: Callable[[], datetime]) -> Outcome:
    """Do every action the pass waits on with ``act`` (at ``clock()``), going on after each with its result:
    the outcome of the whole pass, every effect in order."""
    effects = list(outcome.effects)
    while outcome.pending is not None:
        request = outcome.pending
        now = clock()
        result, failure = act(request, now)
        outcome = resume(automation, outcome.state, now=now, step=request.step, result=result, failure=failure)
        effects += outcome.effects
    return Outcome(outcome.state, effects)


def stop(state: RunState, *, now: datetime, reason: str, step: str) -> list[Effect]:
    """End a run, in place, at an action that could not be done and says ``on_failure: stop``."""
    _aware(now)
    return _finish(state, now, RunStatus.FAILED, reason, step)


# --- execution ---------------------------------------------------------------------------------------------


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise EngineError("the engine needs an aware 'now' (UTC)")


def _finish(state: RunState, now: datetime, status: RunStatus, reason: str, step: str | None = None) -> list[Effect]:
    state.status = status
    state.position = None
    state.due_at = None
    state.window_wait = False
    state.ended_at = now
    state.updated_at = now
    state.end_reason = reason
    state.log.append(Decision(at=now, kind="finished", reason=reason, step=step, details={"status": status.value}))
    return [Finish(state.workspace, state.id, status, reason)]


def _run_from(program: Program, automation: Automation, state: RunState, start: str | None, now: datetime) -> Outcome:
    effects: list[Effect] = []
    position = start
    state.updated_at = now
    while position is not None:
        node = program[position]
        if node.step.kind in ACTION_KINDS and _outside_window(node, automation, state, now, effects):
            return Outcome(state, effects)
        if node.id in state.visited:
            raise EngineError(f"step {node.id!r} of run {state.id} would run twice")
        state.visited.append(node.id)
        kind = node.step.kind
        if kind == "delay":
            nxt, done = _delay(node, state, now, effects)
            if done:
                return Outcome(state, effects)
            position = nxt
        elif kind == "if":
            position = _branch(node, state, now)
        elif kind == "send_email":
            _email(node, automation, state, now, effects)
            position = node.next
        elif kind == "update_contact":
            _update_contact(node, state, now, effects)
            position = node.next
        elif kind == "webhook":
            if _webhook(node, automation, state, now, effects):
                return Outcome(state, effects)
            position = node.next
        elif kind == "put_event":
            if not _put_event(node, state, now, effects):
                return Outcome(state, effects)
            position = node.next
        elif kind in RESULT_ACTIONS:
            request = _action_request(node, automation, state, now)
            if request is None:
                if _action_failed(node, state, now, "its text failed to render", effects):
                    return Outcome(state, effects)
                position = node.next
                continue
            effects.append(request)
            state.position = node.id
            return Outcome(state, effects, pending=request)
        else:  # pragma: no cover - the language admits no other kind
            raise EngineError(f"unknown step kind {kind!r}")
    effects.extend(_finish(state, now, RunStatus.COMPLETED, "reached the end of the automation"))
    return Outcome(state, effects)


def _delay(node: Node, state: RunState, now: datetime, effects: list[Effect]) -> tuple[str | None, bool]:
    """Wait (schedule and stop), continue at once, or end; returns (next position, stopped)."""
    spec = node.step.delay
    assert spec is not None
    due, problem = _delay_due(spec, state.context, now)
    if due is None:
        effects.extend(_finish(state, now, RunStatus.SKIPPED, problem, node.id))
        return None, True
    if due <= now:
        return (None, True) if _past(node, state, now, due, effects) else (node.next, False)
    _wait(state, node.id, due, now, effects)
    state.log.append(
        Decision(at=now, kind="wait", reason=f"waiting until {due.isoformat()}", step=node.id, details=_due(due))
    )
    return None, True


def _delay_due(
    spec: str | DelayUntil | DelayAt, context: Mapping[str, Any], reached: datetime
) -> tuple[datetime | None, str]:
    """When a delay reached at ``reached`` ends for a run's context: (the moment, ""), or (None, why there is none:
    the run is skipped)."""
    if isinstance(spec, DelayAt):
        return delay_at(reached, spec.after_delta, spec.at_time, zone_of(context, spec.timezone)), ""
    if isinstance(spec, str):
        return reached + parse_duration(spec), ""
    raw = resolve(context, spec.until)
    moment = parse_instant(raw)
    if moment is None:
        what = "missing" if raw is MISSING else f"not a timestamp ({raw!r})"
        return None, f"delay.until field {spec.until!r} is {what}"
    try:
        due = moment + spec.offset_delta
    except OverflowError:
        problem = "the offset takes it out of the range of dates"
    else:
        if due < LATEST_DUE:
            return due, ""
        problem = "a delay cannot wait beyond 2200"
    return None, f"delay.until field {spec.until!r} is {raw!r}: {problem}"


def _past(node: Node, state: RunState, now: datetime, due: datetime, effects: list[Effect]) -> bool:
    """A delay whose moment has come already: ``if_past: skip`` ends the run (True); otherwise it goes on at once."""
    spec = node.step.delay
    details: dict[str, Any] = _due(due)
    if isinstance(spec, DelayUntil):
        details["if_past"] = spec.if_past
        if spec.if_past == "skip":
            state.log.append(
                Decision(at=now, kind="past", reason="moment already passed", step=node.id, details=details)
            )
            effects.extend(_finish(state, now, RunStatus.SKIPPED, f"moment {due.isoformat()} already passed", node.id))
            return True
    state.log.append(
        Decision(at=now, kind="past", reason="moment already passed: running now", step=node.id, details=details)
    )
    return False


def _due(due: datetime) -> dict[str, Any]:
    return {"due_at": due.isoformat()}


def _wait(
    state: RunState, step: str, due: datetime, now: datetime, effects: list[Effect], *, window: bool = False
) -> None:
    """The run waits on ``step`` until ``due``, called back then by a schedule."""
    state.status = RunStatus.WAITING
    state.position = step
    state.due_at = due
    state.window_wait = window
    state.updated_at = now
    effects.append(ScheduleStep(state.workspace, state.id, step, due))


def zone_of(context: Mapping[str, Any], name: str) -> ZoneInfo:
    """The time zone of a send window or a delay to a time of day: an IANA name, or ``contact``: the contact's
    zone, else the automation's (its own, else the workspace's), else UTC. An unknown zone is passed over."""
    candidates: list[Any] = [name]
    if name == CONTACT_ZONE:
        candidates = [
            holder.get("timezone")
            for holder in (context.get("contact"), context.get("automation"))
            if isinstance(holder, Mapping)
        ]
    for candidate in candidates:
        if isinstance(candidate, str) and known_zone(candidate):
            return ZoneInfo(candidate)
    return ZoneInfo(DEFAULT_ZONE)


def _outside_window(node: Node, automation: Automation, state: RunState, now: datetime, effects: list[Effect]) -> bool:
    """An action reached outside its send window (the step's own, else the automation's): the run waits for the
    next opening, on the action itself, which runs then (True). False when there is no window or it is open."""
    window = node.step.send_window or automation.send_window
    if window is None:
        return False
    zone = zone_of(state.context, window.timezone)
    opening = next_opening(now, window.local(zone))
    if opening <= now:
        return False
    described = window.describe(zone.key)
    _wait(state, node.id, opening, now, effects, window=True)
    state.log.append(
        Decision(
            at=now,
            kind="window",
            reason=f"outside the send window ({described}): waiting until {opening.isoformat()}",
            step=node.id,
            details={**_due(opening), "window": described},
        )
    )
    return True


# --- reschedule_on -------------------------------------------------------------------------------------------


def reschedule(automation: Automation, state: RunState, event: Mapping[str, Any], *, now: datetime) -> Outcome:
    """A ``reschedule_on`` event for a waiting run (``automation`` is the run's version): the event's ``data`` is
    merged into the run's (mappings key by key, anything else replaced), its ``contact`` fields too when it is the
    run's person, and the delay the run waits on is computed again as if reached when it was, from the new data.

    The run's call-back moves to the new moment (a replacing :class:`ScheduleStep`); a moment that has passed
    follows the delay's ``if_past`` (``skip`` ends the run, ``run_now`` goes on at once, as does a delay without
    ``if_past``); a moment the new data no longer gives ends the run as skipped. A run waiting for a send window or
    on a webhook only takes the new data. The same event again changes nothing more (its call-back is asked for
    again, in case the first pass stopped before making it)."""
    _aware(now)
    if state.status is not RunStatus.WAITING or state.position is None:
        return Outcome(state, noop_reason=f"run is {state.status.value}, not waiting")
    program = Program.of(automation)
    if state.position not in program:
        raise EngineError(f"run {state.id} waits on step {state.position!r}, unknown to version {state.version}")
    node = program[state.position]
    event_id, event_type = event.get("id"), event.get("type")
    by = f"{event_type} ({event_id})"
    if event_id is not None and any(
        d.kind in ("rescheduled", "updated") and d.details.get("event_id") == event_id for d in state.log
    ):
        again: list[Effect] = []
        if state.due_at is not None:
            again.append(ScheduleStep(state.workspace, state.id, node.id, state.due_at, replace=True))
        return Outcome(state, again, noop_reason=f"already updated by {by}")
    new = state.model_copy(deep=True)
    new.updated_at = now
    _take_event(new, event)
    details: dict[str, Any] = {"event_id": event_id, "event_type": event_type}
    old = state.due_at
    spec = node.step.delay
    if spec is None or state.window_wait or old is None:
        waits = "a send window" if state.window_wait else "an action"
        new.log.append(
            Decision(
                at=now, kind="updated", reason=f"data updated by {by}; waits for {waits}", step=node.id, details=details
            )
        )
        return Outcome(new)
    due, problem = _delay_due(spec, new.context, _reached(state, node.id))
    if due is None:
        new.log.append(
            Decision(
                at=now, kind="rescheduled", reason=f"rescheduled by {by}: {problem}", step=node.id, details=details
            )
        )
        effects: list[Effect] = [CancelSchedule(new.workspace, new.id, node.id)]
        effects.extend(_finish(new, now, RunStatus.SKIPPED, problem, node.id))
        return Outcome(new, effects)
    details.update({"from": old.isoformat(), "to": due.isoformat()})
    if due == old:
        new.log.append(
            Decision(
                at=now,
                kind="updated",
                reason=f"data updated by {by}; still waiting until {due.isoformat()}",
                step=node.id,
                details=details,
            )
        )
        return Outcome(new, [ScheduleStep(new.workspace, new.id, node.id, due, replace=True)])
    new.log.append(
        Decision(
            at=now,
            kind="rescheduled",
            reason=f"rescheduled by {by}: from {old.isoformat()} to {due.isoformat()}",
            step=node.id,
            details=details,
        )
    )
    if due > now:
        new.due_at = due
        return Outcome(new, [ScheduleStep(new.workspace, new.id, node.id, due, replace=True)])
    effects = [CancelSchedule(new.workspace, new.id, node.id)]
    if _past(node, new, now, due, effects):
        return Outcome(new, effects)
    new.status = RunStatus.RUNNING
    new.position = None
    new.due_at = None
    outcome = _run_from(program, automation, new, node.next, now)
    return Outcome(outcome.state, effects + outcome.effects, pending=outcome.pending)


def _take_event(state: RunState, event: Mapping[str, Any]) -> None:
    """Merge a later event's ``data`` into the run's, and its ``contact`` when it is the run's person."""
    data = event.get("data")
    if isinstance(data, Mapping):
        state.context["data"] = _merged(state.context.get("data") or {}, data)
    contact = event.get("contact")
    mine = state.context.get("contact") or {}
    if isinstance(contact, Mapping) and contact and contact.get("id") in (None, mine.get("id")):
        state.context["contact"] = {**mine, **contact}


def _merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        previous = out.get(key)
        out[key] = _merged(previous, value) if isinstance(value, Mapping) and isinstance(previous, Mapping) else value
    return out


def _reached(state: RunState, step: str) -> datetime:
    """When the run reached the delay it waits on: the moment it started waiting there."""
    for decision in reversed(state.log):
        if decision.step == step and decision.kind == "wait":
            return decision.at
    return state.updated_at


def _branch(node: Node, state: RunState, now: datetime) -> str | None:
    condition = node.step.if_
    assert condition is not None
    result, checks = explain(condition, state.context)
    branch = "then" if result else "else"
    first = node.then_first if result else node.else_first
    state.log.append(
        Decision(
            at=now,
            kind="branch",
            reason=f"condition {'held' if result else 'did not hold'}: took {branch}" + ("" if first else " (empty)"),
            step=node.id,
            details={"result": result, "branch": branch, "checks": [c.as_dict() for c in checks]},
        )
    )
    return first or node.next


def render_email(spec: SendEmail, context: Mapping[str, Any], locale: str | None = None) -> tuple[str, str, str]:
    """Subject, HTML and text of an email for a context, in the locale it speaks to the contact (or in ``locale``,
    one of its own); raises ``TemplateError``."""
    chosen = localize(spec, context, locale)
    spec, context = chosen.spec, chosen.context
    subject = " ".join(render(one(spec.subject), context, html=False).split())
    html = render(one(spec.html), context, html=True)
    text = render(one(spec.text), context, html=False) if spec.text else html_to_text(html)
    return subject, html, text


def render_task(
    spec: CreateTask, context: Mapping[str, Any], now: datetime, locale: str | None = None
) -> dict[str, Any]:
    """A task's fields for a context, its texts in the locale it speaks to the contact (or in ``locale``);
    raises ``TemplateError``."""
    chosen = localize(spec, context, locale)
    spec, context = chosen.spec, chosen.context
    return {
        "title": " ".join(render(one(spec.title), context, html=False).split()),
        "description": render(one(spec.description), context, html=False) if spec.description else None,
        "assignee": render(spec.assignee, context, html=False).strip() if spec.assignee else None,
        "due_at": (now + parse_duration(spec.due)).isoformat() if spec.due else None,
    }


def render_detail(spec: PutEvent, context: Mapping[str, Any], locale: str | None = None) -> dict[str, Any]:
    """A bus event's detail for a context, in the locale it speaks to the contact (or in ``locale``); raises
    ``TemplateError``."""
    chosen = localize(spec, context, locale)
    detail: dict[str, Any] = _rendered(chosen.spec.detail, chosen.context)
    return detail


def render_webhook(
    spec: Webhook, context: Mapping[str, Any], locale: str | None = None
) -> tuple[str, dict[str, str], str]:
    """A webhook's URL, headers and JSON body for a context, in the locale it speaks to the contact (or in
    ``locale``); raises ``TemplateError``."""
    chosen = localize(spec, context, locale)
    spec, context = chosen.spec, chosen.context
    url = render(spec.url, context, html=False).strip()
    headers = {name: render(one(value), context, html=False).strip() for name, value in spec.headers.items()}
    body = json.dumps(_rendered(spec.body, context), ensure_ascii=False, separators=(",", ":"))
    return url, headers, body


def _action_failed(node: Node, state: RunState, now: datetime, reason: str, effects: list[Effect]) -> bool:
    """Record an action that could not be done; True when its ``on_failure`` ends the run (ended here)."""
    spec = getattr(node.step, node.step.kind)
    state.log.append(Decision(at=now, kind="action_failed", reason=reason, step=node.id))
    if getattr(spec, "on_failure", "stop") == "continue":
        return False
    effects.extend(_finish(state, now, RunStatus.FAILED, f"step {node.id!r} failed: {reason}", node.id))
    return True


def _action_request(node: Node, automation: Automation, state: RunState, now: datetime) -> ActionRequest | None:
    """The action with its texts rendered for this run; None (recorded) when one of them fails to render."""
    contact = state.context.get("contact") or {}
    person = contact.get("id") if isinstance(contact.get("id"), str) else state.person
    values: dict[str, Any]
    try:
        if node.step.issue_coupon is not None:
            values = {"pool": node.step.issue_coupon.pool}
        else:
            spec = node.step.create_task
            assert spec is not None
            values = render_task(spec, state.context, now)
    except TemplateError as exc:
        state.log.append(Decision(at=now, kind="render_failed", reason=str(exc), step=node.id))
        return None
    return ActionRequest(
        workspace=state.workspace,
        run_id=state.id,
        step=node.id,
        kind=node.step.kind,
        values=values,
        person=person,
        automation_id=automation.id,
    )


def _rendered(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, context, html=False)
    if isinstance(value, dict):
        return {key: _rendered(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_rendered(item, context) for item in value]
    return value


def _put_event(node: Node, state: RunState, now: datetime, effects: list[Effect]) -> bool:
    """Ask for the bus event, its texts rendered; False when the run ends here (a text failed to render)."""
    spec = node.step.put_event
    assert spec is not None
    chosen = localize(spec, state.context)
    try:
        data = render_detail(chosen.spec, chosen.context)
    except TemplateError as exc:
        return not _action_failed(node, state, now, f"its detail failed to render: {exc}", effects)
    contact = {k: v for k, v in (state.context.get("contact") or {}).items() if k in ("id", "email", "first_name")}
    effects.append(BusEvent(state.workspace, state.id, node.id, spec.detail_type, data, contact, now))
    details = {"type": spec.detail_type, **chosen.details}
    state.log.append(Decision(at=now, kind="put_event", reason="bus event requested", step=node.id, details=details))
    return True


def _webhook(node: Node, automation: Automation, state: RunState, now: datetime, effects: list[Effect]) -> bool:
    """Ask for the webhook call, its texts rendered, and wait on it (True: the run stops here, waiting or ended);
    False when it could not be rendered and the step says ``on_failure: continue``."""
    spec = node.step.webhook
    assert spec is not None
    chosen = localize(spec, state.context)
    try:
        url, headers, body = render_webhook(chosen.spec, chosen.context)
    except TemplateError as exc:
        return _action_failed(node, state, now, f"the webhook failed to render: {exc}", effects)
    if len(body.encode()) > MAX_WEBHOOK_BODY:
        return _action_failed(node, state, now, f"the webhook's body is over {MAX_WEBHOOK_BODY} bytes", effects)
    call = WebhookCall(
        workspace=state.workspace,
        automation_id=automation.id,
        run_id=state.id,
        step=node.id,
        url=url,
        method=spec.method,
        headers=headers,
        body=body,
    )
    effects.append(call)
    state.status = RunStatus.WAITING
    state.position = node.id
    state.due_at = None
    state.log.append(
        Decision(
            at=now,
            kind="webhook",
            reason="webhook requested",
            step=node.id,
            details={"url": url, "method": spec.method, "id": call.message_id, **chosen.details},
        )
    )
    return True


#: The longest chain of automations starting one another through contact.<change> events.
MAX_CHAIN_DEPTH = 5


def chain_depth(context: Mapping[str, Any]) -> int:
    """How deep in a chain a run is: the ``depth`` of the contact.<change> event that started it (0 otherwise)."""
    if not str((context.get("event") or {}).get("type") or "").startswith("contact."):
        return 0
    depth = (context.get("data") or {}).get("depth")
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth > 0 else 0


def _update_contact(node: Node, state: RunState, now: datetime, effects: list[Effect]) -> None:
    """Ask for the change, and let the rest of this pass see it in ``contact`` (the profile itself is read again
    at the next step after a delay)."""
    spec = node.step.update_contact
    assert spec is not None
    contact = state.context.setdefault("contact", {})
    person = contact.get("id")
    if not isinstance(person, str) or not person:
        state.log.append(
            Decision(at=now, kind="contact_update_skipped", reason="the event's contact has no id", step=node.id)
        )
        return
    effect = ContactUpdate(
        workspace=state.workspace,
        run_id=state.id,
        step=node.id,
        person=person,
        add_labels=tuple(spec.add_labels),
        remove_labels=tuple(spec.remove_labels),
        add_points=spec.add_points,
        add_badges=tuple(spec.add_badges),
        set_fields={str(name): value for name, value in spec.set.items()},
        set_attributes=dict(spec.set_attributes),
        unset_attributes=tuple(spec.unset_attributes),
        depth=chain_depth(state.context) + 1,
        on_failure=spec.on_failure,
    )
    effects.append(effect)
    labels = [label for label in contact.get("labels") or [] if isinstance(label, str)]
    labels = sorted((set(labels) - set(spec.remove_labels)) | set(spec.add_labels))
    points = contact.get("points") if isinstance(contact.get("points"), int) else 0
    badges = [badge for badge in contact.get("badges") or [] if isinstance(badge, str)]
    contact.update(
        labels=labels,
        points=max(0, points + spec.add_points),
        badges=sorted(set(badges) | set(spec.add_badges)),
        **spec.set,
    )
    for name in spec.unset_attributes:
        contact.pop(name, None)
    contact.update(spec.set_attributes)
    details: dict[str, Any] = {
        name: value
        for name, value in (
            ("add_labels", list(spec.add_labels)),
            ("remove_labels", list(spec.remove_labels)),
            ("add_points", spec.add_points),
            ("add_badges", list(spec.add_badges)),
            ("set", dict(spec.set)),
            ("set_attributes", sorted(spec.set_attributes)),
            ("unset_attributes", list(spec.unset_attributes)),
        )
        if value
    }
    state.log.append(
        Decision(at=now, kind="contact_update", reason="contact update requested", step=node.id, details=details)
    )


def _email(node: Node, automation: Automation, state: RunState, now: datetime, effects: list[Effect]) -> None:
    spec = node.step.send_email
    assert spec is not None
    to = recipients(spec, state.context)
    note = to.note
    if not to.addresses:
        reason = note or "no recipients"
        state.log.append(Decision(at=now, kind="email_skipped", reason=reason, step=node.id))
        return
    chosen = localize(spec, state.context)
    try:
        subject, html, text = render_email(chosen.spec, chosen.context)
    except TemplateError as exc:
        state.log.append(
            Decision(at=now, kind="email_failed", reason=f"template failed to render: {exc}", step=node.id)
        )
        return
    unsubscribe = has_unsubscribe(spec.type)
    headers = {"List-Unsubscribe-Post": ONE_CLICK} if unsubscribe else {}
    effects.append(
        EmailRequest(
            workspace=state.workspace,
            automation_id=automation.id,
            version=state.version,
            run_id=state.id,
            step=node.id,
            type=spec.type,
            recipients=to.addresses,
            subject=subject,
            html=html,
            text=text,
            from_name=one(chosen.spec.from_name) if chosen.spec.from_name else None,
            from_address=spec.from_,
            reply_to=spec.reply_to,
            person=state.person,
            headers=headers,
            unsubscribe=unsubscribe,
        )
    )
    details: dict[str, Any] = {"recipients": list(to.addresses), "type": spec.type, "subject": subject}
    details.update(chosen.details)
    if note:
        details["note"] = note
    state.log.append(Decision(at=now, kind="email", reason="email requested", step=node.id, details=details))
