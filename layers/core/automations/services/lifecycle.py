"""The lifecycle of automations: create, replace (new version), activate, deactivate, rename, duplicate, delete,
and the sample event a preview or a test email is made for."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.errors import AutomationsError, DefinitionError, FieldError
from automations.events import parse_events
from automations.language.loader import dump_definition, load_definition, parse_document
from automations.language.model import Automation
from automations.language.program import flatten
from automations.ports import AutomationInfo, ConflictError, NotFoundError
from automations.services import preview, runner, sending
from automations.services.deps import Deps
from automations.services.queries import QueryError

#: The longest name of an automation.
MAX_NAME = 200


class ActivationError(AutomationsError):
    """An automation that cannot run, with the reasons."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Summary:
    id: str
    name: str
    status: str
    version: int
    trigger: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None

    @classmethod
    def of(cls, head: AutomationInfo) -> Summary:
        return cls(
            id=head.id,
            name=head.name,
            status=head.status,
            version=head.version,
            trigger=head.trigger_event,
            description=head.description,
            created_at=head.created_at,
            updated_at=head.updated_at,
            status_reason=head.status_reason,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "version": self.version,
            "trigger": self.trigger,
            "description": self.description,
            "status_reason": self.status_reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def activation_problems(deps: Deps, automation: Automation) -> list[str]:
    """What keeps an automation from running (checked when it is activated)."""
    problems = []
    pools = {node.step.issue_coupon.pool: node.loc for node in flatten(automation) if node.step.issue_coupon}
    for pool, loc in pools.items():
        counts = deps.coupons.counts(pool)
        if counts.left + counts.claimed == 0:
            problems.append(f"{loc}.issue_coupon.pool: no code was ever loaded into the coupon pool {pool!r}")
    emails = [node.step.send_email for node in flatten(automation) if node.step.send_email is not None]
    if not emails:
        return problems
    if not deps.settings.sender_address and not all(email.from_ for email in emails):
        problems.append("no sender address is configured (SENDER_ADDRESS) and an email step has no 'from'")
    for address in dict.fromkeys(str(email.from_) for email in emails if email.from_):
        problem = sending.sender_problem(deps, address)
        if problem:
            problems.append(f"'from': {problem}")
    if not deps.settings.email_queue_url:
        problems.append("no email queue is configured (EMAIL_QUEUE_URL)")
    return problems


def load_for_stack(deps: Deps, source: str | bytes | dict[str, Any]) -> Automation:
    """A definition validated by the language and by what this stack allows: a plain ``http://`` webhook URL
    (to a loopback address) only on a stack whose webhooks may reach loopback addresses (the local stack)."""
    automation = load_definition(source)
    if not deps.settings.webhooks_allow_loopback:
        problems = [
            FieldError(f"{node.loc}.webhook.url", "a webhook URL starts with https://")
            for node in flatten(automation)
            if node.step.webhook is not None and not node.step.webhook.url.lower().startswith("https://")
        ]
        if problems:
            raise DefinitionError(problems)
    return automation


def validate(
    deps: Deps, source: str | bytes | dict[str, Any], event: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a definition without saving it: ``DefinitionError`` with every problem, or the definition as it
    would be stored and what would stop it from being activated (empty when it could be); with a sample
    ``event``, also ``warnings``: each template value that sample leaves empty (as its preview says them)."""
    automation = load_for_stack(deps, source)
    warnings: list[dict[str, str]] = []
    if event is not None:
        given = {"type": automation.trigger.event, **event}
        [parsed] = parse_events(given)
        now = deps.clock.now()
        shown = preview.preview(
            automation, parsed.normalized(now), now, timezone=deps.settings.timezone, locale=deps.settings.locale
        )
        warnings = shown["warnings"]
    return {
        "valid": True,
        "definition": dump_definition(automation),
        "activation_problems": activation_problems(deps, automation),
        "warnings": warnings,
    }


def create(deps: Deps, source: str | bytes | dict[str, Any], now: datetime) -> Summary:
    """Validate and store version 1; refuses an id that exists."""
    automation = load_for_stack(deps, source)
    if automation.status == "active":
        _check_activation(deps, automation)
    definition = dump_definition(automation)
    try:
        head = deps.automations.create(definition, now)
    except ConflictError as exc:
        raise ConflictError(f"{exc}; use PUT to make a new version") from None
    return Summary.of(head)


def replace(deps: Deps, automation_id: str, source: str | bytes | dict[str, Any], now: datetime) -> Summary:
    """A new immutable version; runs in flight keep the version they started with."""
    data = parse_document(source) if isinstance(source, str | bytes) else source
    automation = load_for_stack(deps, data)
    if automation.id != automation_id:
        raise DefinitionError([FieldError("id", f"must be {automation_id!r}, the automation being replaced")])
    head = deps.automations.head(automation_id)
    definition = dump_definition(automation)
    if not isinstance(data, dict) or "status" not in data:
        definition["status"] = head.status
    if definition["status"] == "active":
        _check_activation(deps, automation)
    deps.automations.replace(definition, now)
    return get(deps, automation_id)


def get(deps: Deps, automation_id: str) -> Summary:
    return Summary.of(deps.automations.head(automation_id))


def detail(deps: Deps, automation_id: str, version: int | None = None) -> dict[str, Any]:
    """The automation's summary with the definition of a version (the current one by default)."""
    summary = get(deps, automation_id)
    definition = definition_of(deps, automation_id, version)
    return {**summary.as_dict(), "definition": definition, "definition_version": version or summary.version}


def definition_of(deps: Deps, automation_id: str, version: int | None = None) -> dict[str, Any]:
    head = deps.automations.head(automation_id)
    current = head.version
    definition = dict(deps.automations.version(automation_id, version or current))
    definition["status"] = head.status
    if (version or current) == current:
        # A rename changes the head, not the versions: the current definition shows the new name.
        definition["name"] = head.name
        if head.description is not None:
            definition["description"] = head.description
    return definition


def list_all(deps: Deps, status: str | None = None) -> list[Summary]:
    return [Summary.of(h) for h in deps.automations.heads() if status is None or h.status == status]


def _check_activation(deps: Deps, automation: Automation) -> None:
    problems = activation_problems(deps, automation)
    if problems:
        raise ActivationError(problems)


def activate(deps: Deps, automation_id: str, now: datetime) -> Summary:
    head = deps.automations.head(automation_id)
    _check_activation(deps, deps.definition(automation_id, head.version))
    if head.status == "active":
        return Summary.of(head)
    return Summary.of(deps.automations.set_status(automation_id, "active", now))


def deactivate(deps: Deps, automation_id: str, now: datetime, reason: str = "automation deactivated") -> Summary:
    """Stop matching new events, and end every waiting run with the reason."""
    head = deps.automations.head(automation_id)
    if head.status != "inactive":
        head = deps.automations.set_status(automation_id, "inactive", now, reason)
    runner.end_waiting_runs(deps, automation_id, now, reason)
    return Summary.of(head)


def delete(deps: Deps, automation_id: str, now: datetime) -> int:
    """Delete the automation; its waiting runs end with the reason. Returns how many ended."""
    deps.automations.delete(automation_id)
    return runner.end_waiting_runs(deps, automation_id, now, "automation deleted")


def _checked_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise DefinitionError([FieldError("name", f"must be 1 to {MAX_NAME} characters")])
    return name.strip()


def rename(deps: Deps, automation_id: str, name: str, description: str | None, now: datetime) -> Summary:
    return Summary.of(deps.automations.rename(automation_id, _checked_name(name), description, now))


def edit(
    deps: Deps, automation_id: str, now: datetime, *, name: str | None = None, description: str | None = None
) -> Summary:
    """Rename, change the description, or both; what is not given stays as it is."""
    if name is None and description is None:
        raise QueryError([FieldError("body", "give a name, a description, or both")])
    if name is None:
        name = get(deps, automation_id).name
    return rename(deps, automation_id, name, description, now)


def _free_id(deps: Deps, base: str) -> str:
    stem = re.sub(r"-copy(-\d+)?$", "", base)[:70]
    for n in range(1, 100):
        candidate = f"{stem}-copy" if n == 1 else f"{stem}-copy-{n}"
        try:
            deps.automations.head(candidate)
        except NotFoundError:
            return candidate
    raise ConflictError(f"no free id for a copy of {base!r}")


def duplicate(
    deps: Deps, automation_id: str, now: datetime, new_id: str | None = None, name: str | None = None
) -> Summary:
    """A draft copy with a new id (``<id>-copy``, ``<id>-copy-2``, ... unless given) and a new name ("Copy of
    <name>" unless given), stored in one write: the copy exists with its id and name, or not at all."""
    definition = definition_of(deps, automation_id)
    definition["id"] = new_id or _free_id(deps, automation_id)
    definition["name"] = _checked_name(name) if name else f"Copy of {definition['name']}"[:MAX_NAME]
    definition["status"] = "draft"
    return create(deps, definition, now)


@dataclass(frozen=True)
class Sample:
    """What a preview or a test email is made for: the automation's current version and a sample event."""

    automation: Automation
    version: int
    event: dict[str, Any]


def event_in(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sample event of a preview request: the body itself, or ``event`` of a body ``{"event": {...}}``."""
    body = body or {}
    inner = body.get("event")
    if set(body) == {"event"} and isinstance(inner, Mapping):
        return dict(inner)
    return dict(body)


def sample(deps: Deps, automation_id: str, event: Mapping[str, Any] | None) -> Sample:
    """The automation's current version and the sample event, validated as a trigger event and normalized;
    its type defaults to the trigger's. ``EventValidationError`` for an event that is not valid."""
    head = get(deps, automation_id)
    automation = deps.definition(automation_id, head.version)
    given = dict(event or {})
    given.setdefault("type", automation.trigger.event)
    [parsed] = parse_events(given)
    return Sample(automation, head.version, parsed.normalized(deps.clock.now()))
