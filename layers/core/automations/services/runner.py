"""Running runs: starting them with their locks, applying the engine's effects, continuing them when due."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from automations.engine import (
    ActionRequest,
    BusEvent,
    CancelSchedule,
    ContactUpdate,
    Decision,
    EmailRequest,
    Finish,
    Outcome,
    RunState,
    RunStatus,
    ScheduleStep,
    WebhookCall,
    advance,
    cancel,
    failed_start,
    settle,
    start_run,
    stop,
)
from automations.ids import derived_id
from automations.language.model import Automation, EveryWindow
from automations.observability import logger, metrics
from automations.ports import (
    BusEntry,
    ContactPatch,
    InvalidInputError,
    Locks,
    NotFoundError,
    SkippedError,
    StepCount,
    StoredEvent,
    Task,
    schedule_name,
)
from automations.services import contact_changes
from automations.services.contacts import live_contact
from automations.services.deps import Deps


def run_schedule_name(run_id: str, step: str) -> str:
    return schedule_name("run", run_id, step)


def step_payload(effect: ScheduleStep) -> dict[str, Any]:
    """The input of a step's schedule: what ``evaluate_step`` is invoked with."""
    return {
        "kind": "step",
        "workspace": effect.workspace,
        "run": effect.run_id,
        "step": effect.step,
        "due_at": effect.due_at.isoformat(),
    }


def apply_effects(deps: Deps, outcome: Outcome) -> bool:
    """Make the effects real, in order: schedules, queued emails and webhook calls, cancelled schedules, contact
    updates, bus events. Each is safe to repeat (a contact update is made once per run and step; a webhook call is
    made only while its run waits on its step). An action that cannot be done is recorded on the run's timeline;
    when it says ``on_failure: stop`` the run ends there, failed, and the effects after it are dropped.
    True when the run's state changed so (it is to be saved again)."""
    emails: list[EmailRequest] = []
    calls: list[WebhookCall] = []
    changed = False
    for effect in outcome.effects:
        if isinstance(effect, ContactUpdate):
            outcome_of = _contact_update(deps, outcome.state, effect)
            changed = changed or outcome_of != "done"
            if outcome_of != "done":  # a done one is counted in the update's own write
                count_action(deps, outcome.state.automation_id, effect.step, "actions_failed")
            if outcome_of == "stopped":
                break
        elif isinstance(effect, BusEvent):
            deps.bus.put([bus_entry(effect)])
            count_action(deps, outcome.state.automation_id, effect.step, "actions_done")
        elif isinstance(effect, ScheduleStep):
            name = run_schedule_name(effect.run_id, effect.step)
            if effect.replace:
                deps.scheduler.replace(name, effect.due_at, step_payload(effect))
            else:
                deps.scheduler.create(name, effect.due_at, step_payload(effect))
        elif isinstance(effect, EmailRequest):
            emails.append(effect)
        elif isinstance(effect, WebhookCall):
            calls.append(effect)
        elif isinstance(effect, CancelSchedule):
            deps.scheduler.delete(run_schedule_name(effect.run_id, effect.step))
    if emails:
        deps.email_queue.send(emails)
    if calls:
        deps.webhook_queue.send(calls)
    return changed


def count_action(deps: Deps, automation_id: str, step: str, counter: str) -> None:
    """Count an action in its step's statistics (``actions_done``, ``actions_failed``, ``actions_retried``; the
    step's counters alone: one request); a retried pass may count it again, as a statistic may."""
    deps.stats.increment(automation_id, deps.clock.now(), {counter: 1}, step=step, whole=False)


def bus_entry(effect: BusEvent) -> BusEntry:
    """A put_event step's event: its id is the run's and the step's (a retried step puts the same event)."""
    return BusEntry.trigger(
        effect.detail_type,
        id=derived_id("evt", effect.workspace, effect.run_id, effect.step),
        workspace=effect.workspace,
        occurred_at=effect.occurred_at,
        data=effect.data,
        contact=effect.contact,
    )


def complete(deps: Deps, automation: Automation, outcome: Outcome) -> Outcome:
    """Do the actions the run waits on (a task, a coupon), each once per run and step, and go on after each
    with its result: the outcome of the whole pass, its effects in order."""
    return settle(automation, outcome, lambda request, now: act(deps, request, now), deps.clock.now)


def act(deps: Deps, request: ActionRequest, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """One action the run waits on: its result, or why it could not be done (each counted on its step)."""
    result, failure = _act(deps, request, now)
    count_action(deps, request.automation_id, request.step, "actions_done" if failure is None else "actions_failed")
    return result, failure


def _act(deps: Deps, request: ActionRequest, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    values = request.values
    try:
        if request.kind == "issue_coupon":
            pool = str(values["pool"])
            code = deps.coupons.claim(pool, request.claimant, now)
            if code is None:
                logger.error("coupon pool empty", extra={"pool": pool, "run": request.run_id, "step": request.step})
                metrics.add_metric(name="CouponPoolEmpty", unit="Count", value=1)
                return None, f"the coupon pool {pool!r} has no code left"
            return {"code": code, "pool": pool}, None
        due = values.get("due_at")
        task = deps.tasks.create(
            Task(
                workspace=request.workspace,
                id=derived_id("task", request.workspace, request.run_id, request.step),
                title=str(values["title"]),
                description=values.get("description"),
                assignee=values.get("assignee"),
                due_at=datetime.fromisoformat(due) if isinstance(due, str) else None,
                status="open",
                person=request.person,
                automation_id=request.automation_id,
                run_id=request.run_id,
                step=request.step,
                created_at=now,
                updated_at=now,
            )
        )
        created = BusEntry.trigger(
            "task.created",
            id=derived_id("evt", request.workspace, task.id),
            workspace=request.workspace,
            occurred_at=now,
            data={"task": task.as_dict()},
            contact={"id": request.person} if request.person else None,
        )
        deps.bus.put([created])
        return {"id": task.id, "title": task.title, "assignee": task.assignee}, None
    except InvalidInputError as exc:
        metrics.add_metric(name="ActionFailures", unit="Count", value=1)
        return None, f"{request.kind} could not be done: {exc}"


def _contact_update(deps: Deps, state: RunState, effect: ContactUpdate) -> str:
    """Make a step's contact update (once per run and step): ``done``; or, when it cannot be made, ``failed``
    (recorded, the run goes on) or ``stopped`` (the run ends)."""
    now = deps.clock.now()
    try:
        patch = ContactPatch(
            set_fields=effect.set_fields,
            labels_add=effect.add_labels,
            labels_remove=effect.remove_labels,
            points_add=effect.add_points,
            floor_points=True,
            badges_add=effect.add_badges,
            attributes_set=effect.set_attributes,
            attributes_unset=effect.unset_attributes,
        )
        done = StepCount(state.automation_id, effect.step, "actions_done")
        contact_changes.change(
            deps, effect.person, patch, now, depth=effect.depth, ledger_key=effect.ledger_key, count=done
        )
        return "done"
    except InvalidInputError as exc:
        reason = f"the contact could not be updated: {exc}"
    logger.warning("action failed", extra={"run": effect.run_id, "step": effect.step, "reason": reason})
    metrics.add_metric(name="ActionFailures", unit="Count", value=1)
    state.log.append(Decision(at=now, kind="action_failed", reason=reason, step=effect.step))
    if effect.on_failure == "continue":
        return "failed"
    stop(state, now=now, reason=f"step {effect.step!r} failed: {reason}", step=effect.step)
    return "stopped"


@dataclass(frozen=True)
class Started:
    run_id: str | None
    skipped: str | None = None
    #: The event was marked processed in the run's creation (see :func:`start`).
    marked: bool = False
    #: The event was stored in the run's creation (see :func:`start`).
    stored: bool = False
    #: The run was created now, and holds its run key (it has not ended).
    holds_key: bool = False


def locks_for(automation: Automation, run_key: str | None, now: datetime, *, ended: bool) -> Locks:
    forever = automation.frequency == "once_per_person"
    until = None
    if isinstance(automation.frequency, EveryWindow):
        window = automation.window
        assert window is not None
        until = now + window
    return Locks(frequency_until=until, frequency_forever=forever, run_key=None if ended else run_key)


def start(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    *,
    person: str,
    run_key: str | None,
    now: datetime,
    reason: str = "matched trigger",
    mark: tuple[str, Sequence[str]] | None = None,
    stored: StoredEvent | None = None,
) -> Started:
    """Start a run for an event (the same event and automation always give the same run id).

    ``mark`` (the event's id and the runs it started before this one): when the run's only first effects are
    the schedule of the step it waits on and emails, the event is marked processed (with this run) in the run's
    own creation. A retry of the event then finds it processed, and :func:`rearm` makes that schedule again and
    queues those emails again (the sender sends each message once). ``stored``: the event, not stored yet, stored
    in the run's creation only if its id is new (``SkippedError("stored")`` otherwise, nothing written)."""
    run_id = derived_id("run", deps.settings.workspace, event["id"], automation.id)
    outcome = start_run(
        automation,
        version,
        event,
        now=now,
        run_id=run_id,
        workspace=deps.settings.workspace,
        person=person,
        run_key=run_key,
        reason=reason,
        default_timezone=deps.settings.timezone,
        default_locale=deps.settings.locale,
    )
    locks = locks_for(automation, run_key, now, ended=outcome.state.status.ended)
    marked = mark is not None and _waits_only(outcome)
    processed = (mark[0], (*mark[1], run_id)) if mark is not None and marked else None
    try:
        deps.runs.create(outcome.state, locks, now, processed=processed, stored=stored)
    except SkippedError as exc:
        if exc.reason == "stored":
            raise
        if exc.reason == "exists":
            return _resume_existing(deps, run_id)
        logger.info(
            "run not started",
            extra={"automation": automation.id, "person": person, "event": event["id"], "reason": exc.reason},
        )
        return Started(None, skipped=exc.reason)
    metrics.add_metric(name="RunsStarted", unit="Count", value=1)
    stored_at = outcome.state.position
    acted = outcome.pending is not None
    outcome = complete(deps, automation, outcome)
    if apply_effects(deps, outcome) or acted:
        deps.runs.save(outcome.state, 0, position=stored_at, now=now)
    holds_key = run_key is not None and not outcome.state.status.ended
    return Started(run_id, marked=marked, stored=stored is not None, holds_key=holds_key)


def _waits_only(outcome: Outcome) -> bool:
    """Whether a new run's only first effects are the schedule of the step it waits on and emails (no action, no
    contact update, no bus event, no webhook call): what :func:`rearm` makes again."""
    state = outcome.state
    if outcome.pending is not None:
        return False
    wanted = None
    if state.status is RunStatus.WAITING and state.position and state.due_at:
        wanted = ScheduleStep(state.workspace, state.id, state.position, state.due_at)
    return all(isinstance(effect, EmailRequest | Finish) or effect == wanted for effect in outcome.effects)


def rearm(deps: Deps, run_ids: Sequence[str]) -> None:
    """The runs of an event that comes again: each that waits makes the schedule of its step again (under its
    fixed name: made once), and each untouched since its creation that was marked with it queues its first emails
    again (the sender claims each message once: never sent twice), for an event marked processed in its run's
    creation, before those effects."""
    for run_id in run_ids:
        try:
            stored = deps.runs.get(run_id)
        except NotFoundError:
            continue
        state = stored.state
        if stored.revision == 0 and state.status is not RunStatus.FAILED:
            replay = _replay(deps, state)
            emails = [effect for effect in replay.effects if isinstance(effect, EmailRequest)]
            if emails and _waits_only(replay):
                deps.email_queue.send(emails)
        _rearm(deps, state)


def _rearm(deps: Deps, state: RunState) -> None:
    if state.status is RunStatus.WAITING and state.position and state.due_at:
        effect = ScheduleStep(state.workspace, state.id, state.position, state.due_at)
        deps.scheduler.create(run_schedule_name(state.id, state.position), state.due_at, step_payload(effect))


def record_failure(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    now: datetime,
    reason: str,
    *,
    status: RunStatus = RunStatus.FAILED,
) -> str | None:
    """Keep a failed run for an automation that broke on an event (or a skipped one, for a run that was not to
    start), so its timeline says why."""
    run_id = derived_id("run", deps.settings.workspace, event["id"], automation.id)
    outcome = failed_start(
        automation,
        version,
        event,
        now=now,
        run_id=run_id,
        workspace=deps.settings.workspace,
        reason=reason,
        status=status,
        default_timezone=deps.settings.timezone,
        default_locale=deps.settings.locale,
    )
    try:
        deps.runs.create(outcome.state, Locks(), now)
    except SkippedError:
        return run_id  # recorded by an earlier attempt
    return run_id


def _resume_existing(deps: Deps, run_id: str) -> Started:
    """The event was processed before but not finished (a retry): make sure the run's first effects happened.

    A run untouched since its creation (revision 0) may have been stored by an attempt that failed before
    its effects were applied (an email of its first steps, its first schedule): the engine is pure, so
    starting it again from its stored event, version and moment gives the same effects, and repeating them
    is safe (schedules have fixed names; the sender sends each (run, step, recipient) once). A run that has
    moved on since only needs the schedule it waits on.
    """
    stored = deps.runs.get(run_id)
    state = stored.state
    if state.status is RunStatus.FAILED:
        return Started(run_id)  # recorded as failed when it started: nothing of it is to be repeated
    if stored.revision == 0:
        replay = _replay(deps, state)
        acted = replay.pending is not None
        replay = complete(deps, deps.definition(state.automation_id, state.version), replay)
        if apply_effects(deps, replay) or acted:
            deps.runs.save(replay.state, 0, position=state.position, now=replay.state.updated_at)
    else:
        _rearm(deps, state)
    return Started(run_id)


def _replay(deps: Deps, state: RunState) -> Outcome:
    """The start of a stored run made again from its stored event, version and moment (the engine is pure: the
    same effects)."""
    context = state.context
    event = {**context.get("event", {}), "contact": context.get("contact"), "data": context.get("data")}
    return start_run(
        deps.definition(state.automation_id, state.version),
        state.version,
        event,
        now=state.started_at,
        run_id=state.id,
        workspace=state.workspace,
        person=state.person,
        run_key=state.run_key,
        reason=state.log[0].reason if state.log else "matched trigger",
        # the defaults the run started with (its own are the automation's, which have not changed)
        default_timezone=(context.get("automation") or {}).get("timezone"),
        default_locale=(context.get("automation") or {}).get("locale"),
    )


@dataclass(frozen=True)
class StepResult:
    status: str  # "advanced" | "noop" | "ended"
    reason: str
    run_status: str | None = None


def evaluate_step(deps: Deps, payload: dict[str, Any], now: datetime) -> StepResult:
    """Continue a run that waits on ``payload['step']``, at most once and never before its time."""
    run_id = str(payload["run"])
    step = str(payload["step"])
    try:
        stored = deps.runs.get(run_id)
    except NotFoundError:
        return StepResult("noop", f"run {run_id} not found")
    state = stored.state
    if state.status.ended:
        return StepResult("noop", f"run already {state.status.value}", state.status.value)
    if state.position != step:
        return StepResult("noop", f"run waits on {state.position!r}, not {step!r}", state.status.value)
    try:
        head = deps.automations.head(state.automation_id)
    except NotFoundError:
        return end_run(deps, state, stored.revision, now, "automation deleted")
    if head.status != "active":
        # A deactivation that had not reached this run yet: end it with the deactivation's own reason.
        return end_run(deps, state, stored.revision, now, head.status_reason or f"automation {head.status}")
    automation = deps.definition(state.automation_id, state.version)
    state = with_live_contact(deps, state)
    try:
        outcome = advance(automation, state, now=now, step=step)
    except Exception as exc:
        if deps.is_transient(exc):
            raise
        logger.exception("run failed while advancing", extra={"run": run_id, "step": step})
        metrics.add_metric(name="AutomationFailures", unit="Count", value=1)
        reason = f"the automation failed at step {step!r}: {type(exc).__name__}: {str(exc)[:300]}"
        return end_run(deps, state, stored.revision, now, reason, status=RunStatus.FAILED)
    if outcome.noop_reason:
        _heal_early_delivery(deps, state, payload, now)
        return StepResult("noop", outcome.noop_reason, state.status.value)
    outcome = complete(deps, automation, outcome)
    apply_effects(deps, outcome)
    if not deps.runs.save(outcome.state, stored.revision, position=step, now=now):
        return StepResult("noop", "another delivery advanced the run first", state.status.value)
    return StepResult("advanced", "delay over", outcome.state.status.value)


def with_live_contact(deps: Deps, state: RunState) -> RunState:
    """The run with its ``contact`` read again: the person's live profile merged over what the run had (one
    read), so that a condition after a delay sees today's labels and points. Unchanged without a profile."""
    contact = state.context.get("contact") or {}
    person = contact.get("id") if isinstance(contact, dict) else None
    if not isinstance(person, str) or not person:
        return state
    try:
        profile = deps.contacts.get(person)
    except InvalidInputError:
        return state
    if profile is None:
        return state
    return state.model_copy(update={"context": {**state.context, "contact": live_contact(profile, contact)}})


def _heal_early_delivery(deps: Deps, state: RunState, payload: dict[str, Any], now: datetime) -> None:
    """A schedule that fired before the run's due time (two racing deliveries): call back when due."""
    if state.status is RunStatus.WAITING and state.due_at and state.due_at > now and state.position:
        effect = ScheduleStep(state.workspace, state.id, state.position, state.due_at)
        name = schedule_name("run", state.id, state.position, "due")
        if payload.get("due_at") != state.due_at.isoformat() and state.due_at - now < timedelta(minutes=5):
            deps.scheduler.create(name, state.due_at, step_payload(effect))


def end_run(
    deps: Deps,
    state: RunState,
    revision: int,
    now: datetime,
    reason: str,
    status: RunStatus = RunStatus.CANCELLED,
) -> StepResult:
    """End a run that has not ended (deactivation, deletion, ``cancel_on``), with the reason recorded."""
    outcome = cancel(state, now=now, reason=reason, status=status)
    if outcome.noop_reason:
        return StepResult("noop", outcome.noop_reason, state.status.value)
    if not deps.runs.save(outcome.state, revision, position=state.position, now=now):
        return StepResult("noop", "the run changed meanwhile", state.status.value)
    apply_effects(deps, outcome)
    logger.info("run ended", extra={"run": state.id, "reason": reason})
    return StepResult("ended", reason, outcome.state.status.value)


def end_waiting_runs(deps: Deps, automation_id: str, now: datetime, reason: str) -> int:
    """End every run of an automation that has not ended yet; returns how many were ended."""
    ended = 0
    for stored in deps.runs.waiting_of(automation_id):
        if end_run(deps, stored.state, stored.revision, now, reason).status == "ended":
            ended += 1
    return ended
