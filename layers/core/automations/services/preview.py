"""Previews and test emails: what an automation would do and send for a sample event, without a real run.

:func:`preview` plays the run with the real engine (delays are skipped over by moving its clock to each
due time), so the path, the branches and the rendered emails are exactly those a real run would produce;
it also renders the emails of the branches the sample does not take, and shows which way every condition
goes for it. :func:`send_test_email` renders one email and sends it to a given address through the normal
sender, marked as a test (``[Test]`` subject, ``test=true`` tag) and kept out of the statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from automations.addresses import AddressError, check_address
from automations.engine import (
    ActionRequest,
    BusEvent,
    EmailRequest,
    Outcome,
    RunStatus,
    WebhookCall,
    advance,
    build_context,
    match_trigger,
    resume,
    settle,
    start_run,
)
from automations.engine.email import NO_CONTACT_ADDRESS, has_unsubscribe, recipients, unsubscribe_headers
from automations.engine.locales import localize, one
from automations.engine.machine import render_detail, render_email, render_task, render_webhook
from automations.errors import AutomationsError, TemplateError
from automations.ids import new_id
from automations.language.conditions import explain
from automations.language.model import Automation, CreateTask, DelayAt, DelayUntil, PutEvent, SendEmail, Webhook
from automations.language.program import Node, flatten
from automations.language.templates import shown_undefined
from automations.services import sending
from automations.services.deps import Deps

#: Where the unsubscribe link of a preview points (a real one is signed per recipient at send time).
PREVIEW_UNSUBSCRIBE_LINK = "#unsubscribe"
TEST_SUBJECT_PREFIX = "[Test] "
_MAX_WAITS = 200


class PreviewError(AutomationsError):
    """A preview or test email that cannot be made: no such email step, a bad address, a template failing."""


def sample_event(automation: Automation, event: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The sample with what a real event always has: an id, the trigger's type, a time, contact and data."""
    out = dict(event or {})
    out.setdefault("id", "evt_preview")
    out.setdefault("type", automation.trigger.event)
    out.setdefault("occurred_at", now.isoformat())
    out["contact"] = dict(out.get("contact") or {})
    out["data"] = dict(out.get("data") or {})
    return out


#: What an email's view shows of each of its locales.
_LOCALE_VIEW = ("from_name", "subject", "html", "text", "error")


def render_preview(
    spec: SendEmail, context: Mapping[str, Any], link: str = PREVIEW_UNSUBSCRIBE_LINK, locale: str | None = None
) -> dict[str, Any]:
    """One email as its recipients would see it (unsubscribe link and footer included), or its error: in the
    locale it speaks to the sample's contact (or in ``locale``, one of its own). An email whose texts are maps by
    locale shows which one it chose (``locale``, ``locale_from``) and every one of them (``locales``)."""
    chosen = localize(spec, context, locale)
    view: dict[str, Any] = {
        "type": spec.type,
        "from_name": one(chosen.spec.from_name) if chosen.spec.from_name else None,
        "from": spec.from_,
        "reply_to": spec.reply_to,
        "to": list(recipients(spec, context).addresses),
        **chosen.details,
    }
    if locale is None and chosen.locales:
        view["locales"] = {
            name: {
                key: value for key, value in render_preview(spec, context, link, name).items() if key in _LOCALE_VIEW
            }
            for name in chosen.locales
        }
    try:
        subject, html, text = render_email(chosen.spec, chosen.context)
    except TemplateError as exc:
        view["error"] = str(exc)
        return view
    html, text = sending.personalize(html, text, link, promotional=has_unsubscribe(spec.type))
    view.update(subject=subject, html=html, text=text)
    view["headers"] = unsubscribe_headers(spec.type, link)
    if not view["to"]:
        view["note"] = f"no recipient for this sample ({NO_CONTACT_ADDRESS})"
    return view


def _in_locale(render: Callable[[str], Any], locale: str) -> Any:
    try:
        return render(locale)
    except TemplateError as exc:
        return {"error": str(exc)}


def action_locales(spec: CreateTask | PutEvent | Webhook, context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """What an action whose texts are maps by locale would say in each of its locales (a task's title and
    description, a bus event's detail, a webhook's headers and body), and which one it chose for the sample's
    contact; nothing for an action in one language only."""
    chosen = localize(spec, context)
    if not chosen.locales:
        return {}

    def texts(name: str) -> Any:
        if isinstance(spec, CreateTask):
            values = render_task(spec, context, now, name)
            return {"title": values["title"], "description": values["description"]}
        if isinstance(spec, PutEvent):
            return {"detail": render_detail(spec, context, name)}
        _, headers, body = render_webhook(spec, context, name)
        return {"headers": headers, "body": json.loads(body)}

    return {**chosen.details, "locales": {name: _in_locale(texts, name) for name in chosen.locales}}


def _delay_view(node: Node) -> Any:
    spec = node.step.delay
    return spec.model_dump(exclude_none=True, by_alias=True) if isinstance(spec, DelayUntil | DelayAt) else spec


#: What a preview says an action the run waits on would give (nothing is claimed or created).
_PREVIEW_RESULTS = {"issue_coupon": {"code": "PREVIEW-CODE"}, "create_task": {"id": "task_preview"}}
#: What a preview says a webhook answered.
_PREVIEW_WEBHOOK = {"status": 200, "body": {}}


def _acted(automation: Automation, outcome: Outcome) -> Outcome:
    """The pass with every action it waits on answered by a stand-in result (a preview changes nothing)."""

    def stand_in(request: ActionRequest, now: datetime) -> tuple[dict[str, Any], None]:
        return {**_PREVIEW_RESULTS.get(request.kind, {}), **request.values}, None

    return settle(automation, outcome, stand_in, lambda: outcome.state.updated_at)


def preview(
    automation: Automation,
    sample: Mapping[str, Any] | None,
    now: datetime,
    *,
    version: int | None = None,
    timezone: str | None = None,
    locale: str | None = None,
) -> dict[str, Any]:
    """Every email of the automation rendered for a sample event, the path the sample takes, every branch.

    Returns ``trigger`` (does the sample start a run, and why), ``path`` (the steps a run would visit),
    ``outcome`` (how the run would end), ``timeline`` (the run's decisions, with the moments delays end),
    ``steps`` (every step: reached or not, each condition's result and checks, each email rendered),
    ``emails`` (the emails the sample's run would send, in order) and ``warnings`` (each template value the
    sample leaves empty, at its step: ``{loc, message}``). A sample that starts no run says why in ``trigger``
    and has the outcome ``not_started``, with no path and no email.
    """
    event = sample_event(automation, sample, now)
    match = match_trigger(automation, event)
    outcome = start_run(
        automation,
        version or 1,
        event,
        now=now,
        run_id="run_preview",
        workspace="preview",
        person=match.person,
        run_key=match.run_key,
        reason="preview",
        default_timezone=timezone,
        default_locale=locale,
    )
    outcome = _acted(automation, outcome)
    effects = list(outcome.effects)
    state = outcome.state
    for _ in range(_MAX_WAITS):
        if state.status is not RunStatus.WAITING or state.position is None:
            break
        if state.due_at is None:  # a webhook the run waits on: answered by a stand-in (nothing is called)
            waited = resume(automation, state, now=state.updated_at, step=state.position, result=_PREVIEW_WEBHOOK)
        else:
            waited = advance(automation, state, now=state.due_at)
        outcome = _acted(automation, waited)
        state = outcome.state
        effects += outcome.effects
    sent = [e for e in effects if isinstance(e, EmailRequest)]
    put = [e for e in effects if isinstance(e, BusEvent)]
    called = [e for e in effects if isinstance(e, WebhookCall)]
    context = state.context
    steps: list[dict[str, Any]] = []
    warnings: list[dict[str, str]] = []
    for node in flatten(automation):
        entry: dict[str, Any] = {
            "id": node.id,
            "loc": node.loc,
            "kind": node.step.kind,
            "reached": node.id in state.visited,
        }
        with shown_undefined(context) as shown:
            if node.step.kind == "if":
                assert node.step.if_ is not None
                result, checks = explain(node.step.if_, context)
                entry.update(result=result, branch="then" if result else "else", checks=[c.as_dict() for c in checks])
            elif node.step.kind == "delay":
                entry["delay"] = _delay_view(node)
                waits = [d for d in state.log if d.step == node.id and d.kind in ("wait", "past")]
                if waits:
                    entry["decision"] = waits[-1].reason
            elif node.step.send_email is not None:
                entry["email"] = render_preview(node.step.send_email, context)
            elif node.step.kind in ("create_task", "issue_coupon", "put_event"):
                # What it would do (nothing is created, claimed or put by a preview)
                done = (context.get("steps") or {}).get(node.id)
                events = [{"type": e.detail_type, "data": e.data} for e in put if e.step == node.id]
                spec = node.step.create_task or node.step.put_event
                entry["action"] = {
                    "spec": getattr(node.step, node.step.kind).model_dump(exclude_defaults=True),
                    **({"result": done} if done is not None else {}),
                    **({"put": events[0]} if events else {}),
                    **(action_locales(spec, context, state.updated_at) if spec is not None else {}),
                }
            elif node.step.webhook is not None:
                # The request it would send (signed at call time; nothing is called by a preview)
                done = (context.get("steps") or {}).get(node.id)
                requests = [c for c in called if c.step == node.id]
                entry["action"] = {
                    "spec": node.step.webhook.model_dump(exclude_defaults=True),
                    **({"result": done} if done is not None else {}),
                    **(
                        {
                            "request": {
                                "url": requests[0].url,
                                "method": requests[0].method,
                                "headers": requests[0].headers,
                                "body": json.loads(requests[0].body),
                                "id": requests[0].message_id,
                            }
                        }
                        if requests
                        else {}
                    ),
                    **action_locales(node.step.webhook, context, state.updated_at),
                }
            elif node.step.update_contact is not None:
                # What it would do (nothing is changed by a preview), as the run's timeline records it
                asked = [d for d in state.log if d.step == node.id and d.kind.startswith("contact_update")]
                entry["contact_update"] = {
                    "person": (context.get("contact") or {}).get("id"),
                    "changes": node.step.update_contact.model_dump(exclude_defaults=True, exclude={"on_failure"}),
                    "on_failure": node.step.update_contact.on_failure,
                    **({"decision": asked[-1].reason} if asked else {}),
                }
        warnings.extend(
            {"loc": node.loc, "message": f"{{{{ {name} }}}} has no value for this sample event: it renders empty"}
            for name in dict.fromkeys(shown)
        )
        steps.append(entry)
    if not match.matched:
        # No run would start: nothing is visited, ended or sent (the steps still show what they would render).
        for entry in steps:
            entry["reached"] = False
        return {
            "automation": automation.id,
            "event": event,
            "trigger": {
                "matched": False,
                "reason": match.reason,
                "person": None,
                "run_key": None,
                "checks": match.checks,
            },
            "path": [],
            "outcome": {"status": "not_started", "reason": f"the sample does not start a run: {match.reason}"},
            "timeline": [],
            "steps": steps,
            "emails": [],
            "warnings": warnings,
        }
    return {
        "automation": automation.id,
        "event": event,
        "trigger": {
            "matched": match.matched,
            "reason": match.reason,
            "person": match.person,
            "run_key": match.run_key,
            "checks": match.checks,
        },
        "path": list(state.visited),
        "outcome": {"status": state.status.value, "reason": state.end_reason},
        "timeline": [decision.model_dump(mode="json") for decision in state.log],
        "steps": steps,
        "emails": [{"step": e.step, "type": e.type, "to": list(e.recipients), "subject": e.subject} for e in sent],
        "warnings": warnings,
    }


def _email_node(automation: Automation, step_id: str | None) -> Node:
    nodes = [node for node in flatten(automation) if node.step.send_email is not None]
    if not nodes:
        raise PreviewError(f"automation {automation.id!r} has no send_email step")
    if step_id is None:
        return nodes[0]
    for node in nodes:
        if node.id == step_id:
            return node
    raise PreviewError(f"step {step_id!r} is not a send_email step of {automation.id!r}")


def send_test_email(
    deps: Deps,
    automation: Automation,
    step_id: str | None,
    sample: Mapping[str, Any] | None,
    to_address: str,
    now: datetime,
    *,
    version: int | None = None,
) -> dict[str, Any]:
    """Render one email (the first one, or ``step_id``) for a sample event and send it to ``to_address``.

    The email goes through the normal sender (suppressions apply, at most once per test), with the subject
    prefixed ``[Test]`` and the tag ``test=true``; nothing is counted. ``TransientSendError`` when SES is
    throttling: the caller may try again.
    """
    try:
        address = check_address(to_address)
    except AddressError:
        raise PreviewError(f"not an email address: {to_address!r}") from None
    node = _email_node(automation, step_id)
    spec = node.step.send_email
    assert spec is not None
    run_id = new_id("test")
    event = sample_event(automation, sample, now)
    context = build_context(
        event,
        automation=automation,
        version=version,
        run_id=run_id,
        started_at=now,
        default_timezone=deps.settings.timezone,
        default_locale=deps.settings.locale,
    )
    chosen = localize(spec, context)
    try:
        subject, html, text = render_email(chosen.spec, chosen.context)
    except TemplateError as exc:
        raise PreviewError(f"{node.loc}.send_email: {exc}") from None
    request = EmailRequest(
        workspace=deps.settings.workspace,
        automation_id=automation.id,
        version=version or 0,
        run_id=run_id,
        step=node.id,
        type=spec.type,
        recipients=(address,),
        subject=TEST_SUBJECT_PREFIX + subject,
        html=html,
        text=text,
        from_name=one(chosen.spec.from_name) if chosen.spec.from_name else None,
        from_address=spec.from_,
        reply_to=spec.reply_to,
        unsubscribe=has_unsubscribe(spec.type),
        test=True,
    )
    [delivery] = sending.send_request(deps, request, now)
    return {
        "test": True,
        "run_id": run_id,
        "step": node.id,
        "to": address,
        "subject": request.subject,
        "type": spec.type,
        **chosen.details,
        **{k: v for k, v in delivery.as_dict().items() if k != "address"},
    }
