"""Ingest: store each trigger event once, match it to active automations, start, cancel and reschedule runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from automations.engine import CancelSchedule, Finish, ScheduleStep, build_context, match_trigger, reschedule
from automations.engine.machine import MAX_CHAIN_DEPTH, Match, chain_depth, scalar_key
from automations.engine.state import RunState, RunStatus
from automations.errors import FieldError
from automations.events import LATEST, TriggerEvent
from automations.language.conditions import resolve
from automations.language.durations import parse_duration
from automations.language.model import Automation
from automations.observability import logger, metrics
from automations.ports import (
    ContactProfile,
    EventReads,
    InvalidInputError,
    NotFoundError,
    RouteInfo,
    Silence,
    SkippedError,
    StoredEvent,
    schedule_name,
)
from automations.ports.values import check_person
from automations.services import runner
from automations.services.contacts import live_contact
from automations.services.deps import Deps


@dataclass
class EventResult:
    id: str  # empty for an invalid event whose id could not be read
    status: str  # "accepted" | "duplicate" | "invalid"
    runs: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)  # why an invalid event was refused
    #: Per automation the event was considered for that started no run: ``{"automation": id, "reason": why}``.
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        if self.status == "invalid":
            named = {"id": self.id} if self.id else {}
            return {**named, "status": self.status, "errors": [e.as_dict() for e in self.errors]}
        said = {"skipped": self.skipped} if self.skipped else {}
        return {"id": self.id, "status": self.status, "runs": self.runs, **said}


@dataclass
class Mark:
    """An event to mark processed: the creation of its last run carries the mark when it can (``done``)."""

    event_id: str
    done: bool = False
    #: The event when it is not stored yet: the first write of its processing (a run's creation, a countdown's
    #: restart) stores it, only if its id is new (``SkippedError("stored")`` otherwise, nothing written).
    pending: StoredEvent | None = None

    def to_store(self, last: bool) -> StoredEvent | None:
        """The event for a write to store, if it is still to be stored (processed, with no run, by the last
        route's write; the mark of a run's creation says so itself)."""
        return None if self.pending is None else replace(self.pending, status="processed" if last else "received")


@dataclass(frozen=True)
class MarkAt:
    """An event's mark as one of its routes sees it: the runs its routes started before, and whether this
    route is its last (whose write may carry the mark)."""

    mark: Mark
    started: list[str]
    last: bool


@dataclass
class Known:
    """What ingest read before processing a request's events (:meth:`RunStore.read_for_events`), kept up to date
    with the request's own writes: the run keys and the countdowns asked for, and what was found."""

    reads: EventReads = field(default_factory=EventReads)
    keys: set[tuple[str, str]] = field(default_factory=set)
    countdowns: set[tuple[str, str]] = field(default_factory=set)

    def holder(self, deps: Deps, automation_id: str, key: str) -> str | None:
        """The run holding a run key: as read (and kept up to date) when it was asked for, else read now."""
        if (automation_id, key) in self.keys:
            return self.reads.holders.get((automation_id, key))
        return deps.runs.run_for_key(automation_id, key)

    def held(self, automation_id: str, key: str, run_id: str | None) -> None:
        """A run of this request took a run key (``run_id``) or freed it (None)."""
        if (automation_id, key) not in self.keys:
            return
        if run_id is None:
            self.reads.holders.pop((automation_id, key), None)
        else:
            self.reads.holders[(automation_id, key)] = run_id


def ingest(deps: Deps, events: list[TriggerEvent], now: datetime) -> list[EventResult]:
    """Store and process validated events; the answer has, per event, its status and the runs started."""
    bodies = [event.normalized(now) for event in events]
    routes = {body["type"]: deps.automations.routes_for(body["type"]) for body in bodies}
    received = [StoredEvent.new(body, now, "received" if routes[body["type"]] else "processed") for body in bodies]
    # The profiles the events need, read together with the run keys their cancel_on and reschedule_on rules
    # name and their countdowns; each event's contact is then merged into its person's profile, and a profile
    # that changes stores its event in the same write (a duplicate changes nothing). An event whose processing
    # begins with a write (a run's creation, a countdown's restart: nothing to cancel or move) is stored by that
    # write; the other events are stored together, before any is processed.
    known = _read(deps, bodies, routes)
    profiles = known.reads.profiles
    seen: list[bool | None] = []
    views: list[dict[str, Any]] = []
    for body, event in zip(bodies, received, strict=True):
        view, stored = upsert_contact(deps, body, event, bool(routes[body["type"]]), profiles, now)
        views.append(view)
        seen.append(stored)
    deferred = {
        index
        for index, stored in enumerate(seen)
        if stored is None and _deferrable(deps, views[index], routes[bodies[index]["type"]], known)
    }
    rest = [index for index, stored in enumerate(seen) if stored is None and index not in deferred]
    for index, new in zip(rest, deps.events.put_new([received[index] for index in rest]), strict=True):
        seen[index] = new
    results: list[EventResult] = []
    processed: list[tuple[str, list[str]]] = []
    unstored: list[tuple[int, StoredEvent]] = []  # deferred events that no write stored: stored processed at the end
    # The emails of a whole request leave in SQS batches of ten, and the events are marked processed
    # together at the end (or each with its last run's creation, see runner.start): a request that fails
    # halfway is retried whole, and every step of it is idempotent.
    with deps.email_queue.buffered():
        for index, (body, view, is_new) in enumerate(zip(bodies, views, seen, strict=True)):
            event_routes = routes[body["type"]]
            if index in deferred and not _deferrable(deps, view, event_routes, known):
                is_new = deps.events.put_new([received[index]])[0]  # an earlier event of the request changed that
            elif index in deferred:
                skipped: list[dict[str, str]] = []
                mark = Mark(body["id"], pending=received[index])
                try:
                    run_ids = process(deps, view, event_routes, now, skipped=skipped, mark=mark, known=known)
                except SkippedError as exc:
                    if exc.reason != "stored":
                        raise
                    is_new = False  # stored before: nothing was written
                else:
                    if mark.pending is not None:
                        unstored.append((len(results), replace(mark.pending, status="processed", runs=tuple(run_ids))))
                    elif not mark.done:
                        processed.append((body["id"], run_ids))
                    results.append(EventResult(body["id"], "accepted", run_ids, skipped=skipped))
                    continue
            if not is_new:
                previous = deps.events.get(body["id"])
                if previous is not None and previous.status == "processed":
                    # The mark may have come with a run's creation (or a countdown's), before its effects.
                    runner.rearm(deps, previous.runs)
                    _rearm_silence(deps, view, event_routes, now)
                    results.append(EventResult(body["id"], "duplicate", list(previous.runs)))
                    continue
                logger.info("re-processing an event received before but not finished", extra={"event": body["id"]})
                if view is body:  # its contact was not merged (the event was stored before): read the profile
                    view = with_profile(deps, body, bool(event_routes), now)
            skipped = []
            mark = Mark(body["id"])
            run_ids = process(deps, view, event_routes, now, skipped=skipped, mark=mark, known=known)
            if event_routes and not mark.done:
                processed.append((body["id"], run_ids))
            results.append(EventResult(body["id"], "accepted" if is_new else "duplicate", run_ids, skipped=skipped))
    if unstored:
        for (at, event), new in zip(unstored, deps.events.put_new([event for _, event in unstored]), strict=True):
            if new:
                continue
            # Stored before: by an earlier delivery that failed after it stored the event received (its runs'
            # changes were made, and this one found nothing left to write), or meanwhile by a concurrent one.
            results[at].status = "duplicate"
            previous = deps.events.get(event.id)
            if previous is not None and previous.status != "processed":
                processed.append((event.id, list(event.runs)))
    deps.events.mark_processed(processed)
    return results


def _person(event: dict[str, Any]) -> str | None:
    """The person of an event's ``contact``, if it names one."""
    contact = event.get("contact") or {}
    person = contact.get("id") if isinstance(contact, dict) else None
    return person if isinstance(person, str) and person else None


def _read(deps: Deps, bodies: list[dict[str, Any]], routes: dict[str, list[RouteInfo]]) -> Known:
    """The profiles of the people whose events carry contact fields, or that an automation listens to, with the
    run keys that the events' cancel_on and reschedule_on rules name and the countdowns their after_silence
    triggers restart (as the events say them before their profiles are merged), read together (one request per
    hundred keys)."""
    people: set[str] = set()
    known = Known()
    for body in bodies:
        keys, countdowns = _keys_of(deps, body, routes[body["type"]])
        known.keys.update(keys)
        known.countdowns.update(countdowns)
        person = _person(body)
        if person is None or not (routes[body["type"]] or any(name != "id" for name in body["contact"])):
            continue
        try:
            check_person(person)
        except InvalidInputError:
            continue  # refused by the profiles: the event goes on without one (see upsert_contact)
        people.add(person)
    if known.keys or known.countdowns:
        known.reads = deps.runs.read_for_events(sorted(people), sorted(known.keys), sorted(known.countdowns))
    elif people:
        known.reads = EventReads(profiles=deps.contacts.get_many(sorted(people)))
    return known


def _keys_of(
    deps: Deps, event: dict[str, Any], routes: list[RouteInfo]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The run keys (automation, key) an event's cancel and reschedule routes look for, and the countdowns
    (automation, person) its after_silence triggers restart."""
    keys: set[tuple[str, str]] = set()
    countdowns: set[tuple[str, str]] = set()
    for route in routes:
        try:
            automation = deps.definition(route.automation_id, route.version)
            if route.role in ("cancel", "reschedule"):
                keys.update((automation.id, key) for key in _route_keys(automation, route.role, event))
            elif route.role == "trigger" and automation.trigger.after_silence is not None:
                match = match_trigger(automation, event)
                if match.matched and match.person is not None:
                    countdowns.add((automation.id, match.person))
        except Exception as exc:  # a broken automation is isolated when the event is processed
            if deps.is_transient(exc):
                raise
    return keys, countdowns


def _route_keys(automation: Automation, role: str, event: dict[str, Any]) -> list[str]:
    """The run keys an event's cancel_on (``cancel``) or reschedule_on (``reschedule``) rules name."""
    context = build_context(event)
    rules = automation.cancel_on if role == "cancel" else automation.reschedule_on
    keys = [scalar_key(resolve(context, rule.key)) for rule in rules if rule.event == event["type"]]
    return [key for key in keys if key is not None]


def _deferrable(deps: Deps, event: dict[str, Any], routes: list[RouteInfo], known: Known) -> bool:
    """Whether the event's processing begins with a write that can store it: it cancels and moves nothing (the
    run keys its rules name are free, as read), and every automation it triggers matches it and starts a run or
    restarts a countdown as read (no nth count, no chain stopped)."""
    if not routes:
        return False
    try:
        for route in routes:
            automation = deps.definition(route.automation_id, route.version)
            if route.role in ("cancel", "reschedule"):
                for key in _route_keys(automation, route.role, event):
                    if (automation.id, key) not in known.keys or known.holder(deps, automation.id, key) is not None:
                        return False
                continue
            if route.role != "trigger" or automation.trigger.nth is not None:
                return False
            match = match_trigger(automation, event)
            if not match.matched or match.person is None:
                return False
            if chain_depth({"event": event, "data": event.get("data")}) > MAX_CHAIN_DEPTH:
                return False
            if automation.trigger.after_silence is not None and (automation.id, match.person) not in known.countdowns:
                return False
    except Exception as exc:  # a broken automation: processed the usual way, which isolates it
        if deps.is_transient(exc):
            raise
        return False
    return True


def upsert_contact(
    deps: Deps,
    event: dict[str, Any],
    stored: StoredEvent,
    matched: bool,
    profiles: dict[str, ContactProfile],
    now: datetime,
) -> tuple[dict[str, Any], bool | None]:
    """:func:`with_profile` from the profiles read together (``profiles``, kept up to date), ``stored`` written
    with the profile when it changes. The event as automations see it, and whether the event was stored so
    (True), was stored before (False: nothing changed, and the event is answered unchanged) or is yet to be
    stored (None)."""
    person = _person(event)
    if person is None:
        return event, None
    contact = event["contact"]
    try:
        check_person(person)
        if any(name != "id" for name in contact):
            profile, written = deps.contacts.upsert_with_event(
                stored, person, contact, now, current=profiles.get(person)
            )
            profiles[person] = profile
        elif matched:
            return {**event, "contact": live_contact(profiles.get(person), contact)}, None
        else:
            return event, None
    except SkippedError:
        return event, False  # stored before: its profile is read again if it is to be processed again
    except InvalidInputError as exc:  # a person id the profiles cannot hold: the event goes on without one
        logger.warning("contact profile not updated", extra={"event": event.get("id"), "reason": str(exc)})
        return event, None
    return {**event, "contact": live_contact(profile, contact)}, True if written else None


def with_profile(deps: Deps, event: dict[str, Any], matched: bool, now: datetime) -> dict[str, Any]:
    """The event as automations see it: its ``contact`` upserted into the person's profile (the fields it
    carries win, DESIGN.md §3), then the live profile merged over it. An event whose contact carries only its
    id changes no profile; its profile is read only when an automation listens to the event."""
    contact = event.get("contact") or {}
    person = contact.get("id") if isinstance(contact, dict) else None
    if not isinstance(person, str) or not person:
        return event
    try:
        if any(name != "id" for name in contact):
            profile: ContactProfile | None = deps.contacts.upsert_from_event(person, contact, now)
        elif matched:
            profile = deps.contacts.get(person)
        else:
            return event
    except InvalidInputError as exc:  # a person id the profiles cannot hold: the event goes on without one
        logger.warning("contact profile not updated", extra={"event": event.get("id"), "reason": str(exc)})
        return event
    return {**event, "contact": live_contact(profile, contact)}


def process(
    deps: Deps,
    event: dict[str, Any],
    routes: list[RouteInfo],
    now: datetime,
    *,
    skipped: list[dict[str, str]] | None = None,
    mark: Mark | None = None,
    known: Known | None = None,
) -> list[str]:
    """Cancel what the event cancels, move what it reschedules, then start what it triggers; returns the ids of the
    runs started, and adds to ``skipped`` why each automation it triggers started none. The last route's run
    may carry ``mark`` (see :func:`runner.start`), and the first write stores the event when it is pending
    (``SkippedError("stored")`` when it was stored before). ``known``: what was read before (run keys, countdowns).
    """
    known = known if known is not None else Known()
    started: list[str] = []
    ordered = sorted(routes, key=lambda r: _ROLE_ORDER.get(r.role, len(_ROLE_ORDER)))
    for position, route in enumerate(ordered):
        try:
            automation = deps.definition(route.automation_id, route.version)
        except NotFoundError:
            deps.automations.forget_routes()
            continue
        try:
            if route.role == "cancel":
                _cancel_runs(deps, automation, event, now, known)
                continue
            if route.role == "reschedule":
                _reschedule_runs(deps, automation, event, now, known)
                continue
            last = position == len(ordered) - 1
            with_mark = MarkAt(mark, started, last) if mark is not None else None
            run_id = _trigger(deps, automation, route.version, event, now, skipped, with_mark, known)
        except SkippedError as exc:
            if exc.reason == "stored":
                raise  # the event was stored before, and nothing was written: a duplicate
            run_id = _isolate(deps, automation, route, event, now, exc)
        except Exception as exc:
            if deps.is_transient(exc):
                raise  # the cloud failed: the whole request is retried, and every step of it is idempotent
            run_id = _isolate(deps, automation, route, event, now, exc)
        if run_id:
            started.append(run_id)
    return started


def _isolate(
    deps: Deps, automation: Automation, route: RouteInfo, event: dict[str, Any], now: datetime, exc: BaseException
) -> str | None:
    """One automation broke on this event: record a failed run with the reason; the others go on."""
    reason = f"the automation failed on this event: {type(exc).__name__}: {str(exc)[:300]}"
    logger.exception(
        "automation failed on an event",
        extra={"automation": automation.id, "event": event.get("id"), "role": route.role},
    )
    metrics.add_metric(name="AutomationFailures", unit="Count", value=1)
    if route.role != "trigger":
        return None
    return runner.record_failure(deps, automation, route.version, event, now, reason)


def _cancel_runs(deps: Deps, automation: Automation, event: dict[str, Any], now: datetime, known: Known) -> None:
    context = build_context(event)
    for rule in automation.cancel_on:
        if rule.event != event["type"]:
            continue
        key = resolve(context, rule.key)
        key = scalar_key(key)
        if key is None:
            continue
        run_id = known.holder(deps, automation.id, str(key))
        if run_id is None:
            continue
        try:
            stored = deps.runs.get(run_id)
        except NotFoundError:
            continue
        reason = f"cancelled by {event['type']} ({event['id']})"
        result = runner.end_run(deps, stored.state, stored.revision, now, reason)
        if result.status == "ended":
            known.held(automation.id, str(key), None)
        logger.info("cancel_on", extra={"run": run_id, "result": result.status, "automation": automation.id})


def _reschedule_runs(deps: Deps, automation: Automation, event: dict[str, Any], now: datetime, known: Known) -> None:
    """Move the waiting run of the event's key (``reschedule_on``): its data updated, its delay computed again."""
    context = build_context(event)
    done: set[str] = set()
    for rule in automation.reschedule_on:
        if rule.event != event["type"]:
            continue
        key = scalar_key(resolve(context, rule.key))
        run_id = known.holder(deps, automation.id, key) if key is not None else None
        if run_id is None or run_id in done:
            continue
        done.add(run_id)
        try:
            stored = deps.runs.get(run_id)
        except NotFoundError:
            continue
        status = _reschedule_run(deps, stored.state, stored.revision, event, now)
        logger.info("reschedule_on", extra={"run": run_id, "result": status, "automation": automation.id})


def _reschedule_run(deps: Deps, state: RunState, revision: int, event: dict[str, Any], now: datetime) -> str:
    """One run moved by an event, with the version it started with; what became of it."""
    automation = deps.definition(state.automation_id, state.version)
    outcome = reschedule(automation, runner.with_live_contact(deps, state), event, now=now)
    if outcome.noop_reason:
        runner.apply_effects(deps, outcome)  # the same event again: its call-back, in case it was not made
        return outcome.noop_reason
    if all(isinstance(effect, ScheduleStep | CancelSchedule | Finish) for effect in outcome.effects):
        # Moved, or ended: the stored run is what counts, its call-back follows (the same event again makes it).
        if not deps.runs.save(outcome.state, revision, position=state.position, now=now):
            return "the run changed meanwhile"
        runner.apply_effects(deps, outcome)
        return outcome.state.status.value
    # The new moment has passed and the run goes on now, as when its schedule fires.
    outcome = runner.complete(deps, automation, outcome)
    runner.apply_effects(deps, outcome)
    if not deps.runs.save(outcome.state, revision, position=state.position, now=now):
        return "the run changed meanwhile"
    return outcome.state.status.value


#: The order an event's routes are followed in: what it ends, what it moves, what it starts.
_ROLE_ORDER = {"cancel": 0, "reschedule": 1, "trigger": 2}


def _skip(deps: Deps, automation: Automation, now: datetime, counter: str) -> None:
    deps.stats.increment(automation.id, now, {counter: 1})


#: The counter of each reason an event of the automation's type starts no run (its prefix, as match_trigger says it).
_UNMATCHED_COUNTERS = {
    "filtered out by trigger.where": "skipped_filter",
    "no person:": "skipped_no_person",
    "no run key:": "skipped_no_run_key",
}


def _said(skipped: list[dict[str, str]] | None, automation: Automation, reason: str) -> None:
    if skipped is not None:
        skipped.append({"automation": automation.id, "reason": reason})


def _trigger(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    now: datetime,
    skipped: list[dict[str, str]] | None = None,
    mark: MarkAt | None = None,
    known: Known | None = None,
) -> str | None:
    """Start the automation's run for the event, or restart its countdown; ``mark``: the event's mark as this
    route sees it."""
    match = match_trigger(automation, event)
    if not match.matched:
        counter = next((c for prefix, c in _UNMATCHED_COUNTERS.items() if match.reason.startswith(prefix)), None)
        if counter is not None:  # an event of another type is not one the automation considers
            _skip(deps, automation, now, counter)
            _said(skipped, automation, match.reason)
        logger.debug("not matched", extra={"automation": automation.id, "reason": match.reason})
        return None
    assert match.person is not None
    depth = chain_depth({"event": event, "data": event.get("data")})
    if depth > MAX_CHAIN_DEPTH:
        # Automations starting one another through contact changes: the chain stops here, and says so.
        reason = f"not started: a chain of {depth} automations starting one another (at most {MAX_CHAIN_DEPTH})"
        logger.warning("chain of automations stopped", extra={"automation": automation.id, "event": event["id"]})
        metrics.add_metric(name="ChainsStopped", unit="Count", value=1)
        return runner.record_failure(deps, automation, version, event, now, reason, status=RunStatus.SKIPPED)
    trigger = automation.trigger
    if trigger.after_silence is not None:
        _restart_silence(deps, automation, version, event, match, now, mark, known)
        _said(skipped, automation, f"after_silence: starts after {trigger.after_silence} without {trigger.event}")
        return None
    if trigger.nth is not None:
        count = deps.counters.bump(automation.id, match.person, event["id"])
        if count != trigger.nth:
            _said(skipped, automation, f"not the nth: the person's event number {count}, not {trigger.nth}")
            return None
        reason = f"the person's event number {count} of type {trigger.event}"
    else:
        reason = "matched trigger"
    return _start(deps, automation, version, event, match, now, reason, skipped, mark, known)


def _start(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    match: Match,
    now: datetime,
    reason: str,
    skipped: list[dict[str, str]] | None = None,
    mark: MarkAt | None = None,
    known: Known | None = None,
) -> str | None:
    """Start the run; ``mark``: the event's mark as this route sees it, for the run's creation (which stores the
    event when it is pending)."""
    assert match.person is not None
    started = runner.start(
        deps,
        automation,
        version,
        event,
        person=match.person,
        run_key=match.run_key,
        now=now,
        reason=reason,
        mark=(mark.mark.event_id, tuple(mark.started)) if mark is not None and mark.last else None,
        stored=mark.mark.to_store(False) if mark is not None else None,
    )
    if mark is not None and started.stored:
        mark.mark.pending = None
    if mark is not None and started.marked:
        mark.mark.done = True
    if known is not None and started.run_id is not None and started.holds_key and match.run_key is not None:
        known.held(automation.id, match.run_key, started.run_id)  # a later event of the request finds it
    if started.skipped:
        _skip(deps, automation, now, f"skipped_{started.skipped}")
        _said(skipped, automation, _START_SKIPS.get(started.skipped, started.skipped).format(match=match))
    return started.run_id


#: Why a matched event started no run, by what the runs store answered.
_START_SKIPS = {
    "frequency": "frequency: the person {match.person} already had a run within the automation's frequency",
    "run_key": "run_key busy: a run of key {match.run_key} is in flight",
}


def silence_schedule_name(workspace: str, automation_id: str, person: str) -> str:
    """The one countdown of a person for an automation of a workspace (ids are unique only in a workspace)."""
    return schedule_name("silence", workspace, automation_id, person)


def _silence_due(automation: Automation, event: dict[str, Any], now: datetime) -> datetime | None:
    """When the silence after the event is over; None when no countdown is to start from it."""
    assert automation.trigger.after_silence is not None
    silence = parse_duration(automation.trigger.after_silence)
    occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    try:
        due = occurred + silence
    except OverflowError:
        due = LATEST
    if due >= LATEST:  # intake keeps occurred_at within 1970-2200; an event stored before may not be
        logger.warning("occurred_at too late for a countdown", extra={"event": event["id"]})
        return None
    if due <= now:
        logger.info("event too old to start a countdown", extra={"event": event["id"], "automation": automation.id})
        return None
    return due


def _arm_silence(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    person: str,
    due: datetime,
    *,
    existing: bool,
) -> None:
    """Make the person's countdown schedule, due at ``due`` (move it, when ``existing``: it was made before)."""
    payload = {
        "kind": "silence",
        "workspace": deps.settings.workspace,
        "automation": automation.id,
        "version": version,
        "person": person,
        "event": event["id"],
        "due_at": due.isoformat(),
    }
    name = silence_schedule_name(deps.settings.workspace, automation.id, person)
    deps.scheduler.replace(name, due, payload, existing=existing)


def _restart_silence(
    deps: Deps,
    automation: Automation,
    version: int,
    event: dict[str, Any],
    match: Match,
    now: datetime,
    mark: MarkAt | None = None,
    known: Known | None = None,
) -> None:
    """Every event restarts the person's countdown: the run starts ``after_silence`` after the last one. A pending
    event is stored (processed, when this is its last route) in the countdown's own write; a replay of it finds it
    processed and moves the schedule again (:func:`_rearm_silence`)."""
    assert match.person is not None and automation.trigger.after_silence is not None
    due = _silence_due(automation, event, now)
    if due is None:
        return
    countdown = (automation.id, match.person)
    if mark is not None and mark.mark.pending is not None and known is not None and countdown in known.countdowns:
        store = mark.mark.to_store(mark.last)
        assert store is not None
        current = known.reads.countdowns.get(countdown)
        restarted = deps.counters.restart_silence(
            automation.id, match.person, event, due, stored=store, current=current
        )
        mark.mark.pending = None
        mark.mark.done = mark.last
    else:
        restarted = deps.counters.set_silence(automation.id, match.person, event, due)
    if restarted is None:
        logger.info("a later event already restarted the countdown", extra={"event": event["id"]})
        return
    if known is not None and countdown in known.countdowns:
        known.reads.countdowns[countdown] = Silence(str(event["id"]), due, event)
    # a moved countdown has its schedule already
    _arm_silence(deps, automation, version, event, match.person, due, existing=restarted == "moved")


def _rearm_silence(deps: Deps, event: dict[str, Any], routes: list[RouteInfo], now: datetime) -> None:
    """An event that comes again, processed before: each countdown still running from it moves its schedule to
    the time it recorded again (the event was marked processed in the countdown's own write, before the schedule
    moved); one whose time has passed is left as it is (its schedule fired; a retry that late makes none)."""
    for route in routes:
        if route.role != "trigger":
            continue
        try:
            automation = deps.definition(route.automation_id, route.version)
        except NotFoundError:
            continue
        if automation.trigger.after_silence is None:
            continue
        match = match_trigger(automation, event)
        if not match.matched or match.person is None:
            continue
        countdown = deps.counters.silence(automation.id, match.person)
        if countdown is None or countdown.event_id != event["id"] or countdown.due_at <= now:
            continue
        _arm_silence(deps, automation, route.version, event, match.person, countdown.due_at, existing=True)


def silence_over(deps: Deps, payload: dict[str, Any], now: datetime) -> runner.StepResult:
    """The person stayed silent: start the run with their last event, if it is still the last one."""
    automation_id = str(payload["automation"])
    person = str(payload["person"])
    countdown = deps.counters.silence(automation_id, person)
    if countdown is None or countdown.event_id != payload["event"]:
        return runner.StepResult("noop", "a newer event restarted the countdown")
    if now < countdown.due_at:
        return runner.StepResult("noop", "not due yet")
    try:
        head = deps.automations.head(automation_id)
    except NotFoundError:
        return runner.StepResult("noop", "automation deleted")
    if head.status != "active":
        deps.counters.clear_silence(automation_id, person, str(payload["event"]))
        return runner.StepResult("noop", f"automation {head.status}")
    automation = deps.definition(automation_id, head.version)
    event = dict(countdown.event)
    match = match_trigger(automation, event)
    if not match.matched:
        deps.counters.clear_silence(automation_id, person, str(payload["event"]))
        return runner.StepResult("noop", match.reason)
    silence = automation.trigger.after_silence
    try:
        run_id = _start(
            deps, automation, head.version, event, match, now, f"no {automation.trigger.event} for {silence}"
        )
    except Exception as exc:
        if deps.is_transient(exc):
            raise
        run_id = _isolate(deps, automation, RouteInfo(automation_id, "trigger", head.version), event, now, exc)
    deps.counters.clear_silence(automation_id, person, str(payload["event"]))
    if run_id is None:
        return runner.StepResult("noop", "skipped by frequency or run key")
    return runner.StepResult("advanced", "run started", deps.runs.get(run_id).state.status.value)
