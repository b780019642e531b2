"""What operators read: statistics with rates, runs and their timelines, and a contact's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from automations.addresses import is_address, normalize_address
from automations.engine.email import EMAIL_TYPES, scope_blocks
from automations.engine.state import RunState
from automations.errors import AutomationsError, FieldError
from automations.language.program import flatten
from automations.ports import COUNTERS, WHOLE, ContactProfile, InvalidInputError
from automations.services import sending
from automations.services.contacts import shown_subscriptions
from automations.services.deps import Deps

MAX_RUNS = 200
#: The longest daily series of statistics, in days.
MAX_DAYS = 366


class QueryError(AutomationsError):
    """A request that asks something impossible (``from`` after ``to``, runs of nobody)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


#: rate name -> (numerator, denominator); a rate is ``None`` when its denominator is 0.
RATES: dict[str, tuple[str, str]] = {
    "delivery_rate": ("delivered", "sent"),
    "open_rate": ("opened_unique", "delivered"),
    "click_rate": ("clicked_unique", "delivered"),
    "bounce_rate": ("bounced", "sent"),
    "hard_bounce_rate": ("bounced_hard", "sent"),
    "complaint_rate": ("complained", "delivered"),
    "unsubscribe_rate": ("unsubscribed", "delivered"),
}


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def figures(counters: Mapping[str, int]) -> dict[str, Any]:
    """Every counter, the sums ``skipped`` and ``bounced``, and the rates."""
    out: dict[str, Any] = {name: int(counters.get(name, 0)) for name in COUNTERS}
    out["skipped"] = sum(out[name] for name in COUNTERS if name.startswith("skipped_"))
    out["bounced"] = out["bounced_hard"] + out["bounced_soft"]
    out["rates"] = {name: rate(out[num], out[den]) for name, (num, den) in RATES.items()}
    return out


def daily_series(deps: Deps, automation_id: str, start: date | None, end: date | None) -> list[dict[str, Any]]:
    """The automation's figures of every day from ``start`` (by default the first day counted, at most
    :data:`MAX_DAYS` before the end) to ``end`` (by default today, UTC), days with nothing counted included."""
    counted = deps.stats.daily(automation_id, start, end)
    last = end or max([deps.clock.now().date(), *(date.fromisoformat(day) for day in counted)])
    first = start or min([last, *(date.fromisoformat(day) for day in counted)])
    if (last - date.min).days >= MAX_DAYS:
        first = max(first, last - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [{"day": day.isoformat(), **figures(counted.get(day.isoformat(), {}))} for day in days]


def stats(
    deps: Deps, automation_id: str, start: date | None = None, end: date | None = None, interval: str | None = None
) -> dict[str, Any]:
    """Counters and rates of an automation as a whole and of each step, over an optional range of days (UTC);
    with ``interval="day"``, also the automation's figures of each day of the range (:func:`daily_series`)."""
    if start is not None and end is not None and start > end:
        raise QueryError([FieldError("query.from", f"{start.isoformat()} is after 'to' ({end.isoformat()})")])
    if interval is not None and interval != "day":
        raise QueryError([FieldError("query.interval", f"unknown interval {interval!r}: use day")])
    if interval == "day" and start is not None and end is not None and (end - start).days >= MAX_DAYS:
        raise QueryError([FieldError("query.from", f"a daily series covers at most {MAX_DAYS} days")])
    head = deps.automations.head(automation_id)
    automation = deps.definition(automation_id, head.version)
    raw = deps.stats.read(automation_id, start, end)
    steps: list[dict[str, Any]] = []
    seen = set()
    for node in flatten(automation):
        seen.add(node.id)
        steps.append({"step": node.id, "kind": node.step.kind, "loc": node.loc, **figures(raw.get(node.id, {}))})
    for step_id in sorted(set(raw) - seen - {WHOLE}):
        # A step of an earlier version, still counted in the range.
        steps.append({"step": step_id, "kind": None, "loc": None, **figures(raw[step_id])})
    out: dict[str, Any] = {
        "automation_id": automation_id,
        "version": head.version,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "totals": figures(raw.get(WHOLE, {})),
        "steps": steps,
    }
    if interval == "day":
        out["days"] = daily_series(deps, automation_id, start, end)
    return out


def versions(deps: Deps, automation_id: str) -> dict[str, Any]:
    """Every version of an automation, oldest first, the current one marked."""
    head = deps.automations.head(automation_id)
    found = [
        {
            "version": item.version,
            "created_at": item.created_at.isoformat(),
            "name": item.definition.get("name", ""),
            "trigger": item.definition.get("trigger", {}).get("event", ""),
            "current": item.version == head.version,
        }
        for item in deps.automations.versions(automation_id)
    ]
    return {"automation_id": automation_id, "versions": sorted(found, key=lambda v: v["version"])}


# --- runs ---------------------------------------------------------------------------------------------------


def run_summary(state: RunState) -> dict[str, Any]:
    event = state.context.get("event") or {}
    return {
        "id": state.id,
        "automation_id": state.automation_id,
        "version": state.version,
        "person": state.person,
        "run_key": state.run_key,
        "status": state.status.value,
        "position": state.position,
        "due_at": state.due_at.isoformat() if state.due_at else None,
        "started_at": state.started_at.isoformat(),
        "updated_at": state.updated_at.isoformat(),
        "ended_at": state.ended_at.isoformat() if state.ended_at else None,
        "end_reason": state.end_reason,
        "event": {"id": event.get("id"), "type": event.get("type")},
        "emails": sum(1 for d in state.log if d.kind == "email"),
    }


def _take(items: Iterable[RunState], limit: int) -> list[RunState]:
    out: list[RunState] = []
    for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out


def runs(deps: Deps, *, automation_id: str | None, person: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """Runs of an automation, of a person, or of a person in an automation; newest first."""
    limit = max(1, min(limit, MAX_RUNS))
    if person is not None:
        found: Iterable[RunState] = deps.runs.by_person(person, limit=limit if automation_id is None else 1000)
        if automation_id is not None:
            found = (s for s in found if s.automation_id == automation_id)
    elif automation_id is not None:
        found = deps.runs.by_automation(automation_id, limit=limit)
    else:
        raise QueryError([FieldError("query", "give automation_id, person, or both")])
    return [run_summary(state) for state in _take(found, limit)]


def run_detail(deps: Deps, run_id: str) -> dict[str, Any]:
    """A run and its timeline: every decision, with its time, step, reason and details; and its emails."""
    state = deps.runs.get(run_id).state
    return {
        **run_summary(state),
        "timeline": [decision.model_dump(mode="json") for decision in state.log],
        "context": state.context,
        "messages": sending.messages_of_run(deps, run_id),
    }


# --- contacts -----------------------------------------------------------------------------------------------


def _addresses(person: str, recent: list[RunState], profile: ContactProfile | None = None) -> list[str]:
    """The addresses a person is known by: their profile's, the trigger contact's email of their runs (or the
    person itself)."""
    found: dict[str, None] = {}
    if profile is not None and profile.email and is_address(profile.email):
        found[normalize_address(profile.email)] = None
    if is_address(person):
        found[normalize_address(person)] = None
    for state in recent:
        email = (state.context.get("contact") or {}).get("email")
        if is_address(email):
            found[normalize_address(email)] = None
    return list(found)


def contact(deps: Deps, person: str, *, limit: int = 20) -> dict[str, Any]:
    """A person's addresses and what each still receives, their suppressions and unsubscribes (each with its
    scope: ``promotional``, or ``non_essential`` for essential email only), and recent runs.

    ``person`` is the automation's person value (``contact.id``) or an email address; ``profile`` is the
    person's contact profile (None when there is none), its ``subscriptions`` those of its email address's
    preference level (the recipient may have changed it on the preferences page).
    """
    recent = _take(deps.runs.by_person(person, limit=limit), limit)
    try:
        profile = deps.contacts.get(person)
    except InvalidInputError:  # not a person id a profile can have (an email address may be longer)
        profile = None
    addresses: list[dict[str, Any]] = []
    suppressions: list[dict[str, Any]] = []
    unsubscribed: list[dict[str, Any]] = []
    shown = profile.as_dict() if profile is not None else None
    own = normalize_address(profile.email) if profile is not None and is_address(profile.email) else None
    for address in _addresses(person, recent, profile):
        items = deps.suppressions.of(address)
        if shown is not None and profile is not None and address == own:
            shown["subscriptions"] = shown_subscriptions(profile, items)
        for item in items:
            entry = {
                "address": item.address,
                "kind": item.kind,
                "scope": item.scope,
                "reason": item.reason,
                "source": item.source,
                "automation_id": item.automation_id,
                "at": item.at.isoformat(),
            }
            (unsubscribed if item.kind == "unsubscribe" else suppressions).append(entry)
        blocked = {kind: any(scope_blocks(i.scope, kind) for i in items) for kind in EMAIL_TYPES}
        addresses.append({"address": address, "receives": {kind: not blocked[kind] for kind in EMAIL_TYPES}})
    return {
        "person": person,
        "profile": shown,
        "addresses": addresses,
        "suppressions": suppressions,
        "unsubscribed": unsubscribed,
        "runs": [run_summary(state) for state in recent],
    }
