"""Applying SES records to their messages, each exactly once, in any order (through the ports only).

- the message is found from the record's own tags (``run``, ``step``, ``message``), with no index lookup;
  SES's ``MessageId`` and the recipient are the fallbacks;
- the record's effect is one write (:meth:`MessageStore.apply_feedback <automations.ports.MessageStore>`): its
  digest joins the message's ``seen`` under the condition that it was not there, with the new status, the first
  times, the counters and the suppressions, so a second delivery by SNS changes nothing and a crash leaves all of
  it or none of it; a write that lost to another one is planned again from a fresh read;
- an unsubscribe (SES ``Subscription`` record) suppresses promotional mail, counted once when it is new;
- after a hard bounce or a complaint the automation's rates are checked (:mod:`.guard`), on a redelivery too.

Records without the product's tags are ignored with a log line; records that cannot be understood raise
:class:`~automations.ses_records.UnprocessableFeedbackError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations.engine.email import sanitize_tag
from automations.observability import logger, metrics
from automations.ports import ConflictError, UnknownWorkspaceError, message_id_for
from automations.services.deps import Deps
from automations.services.feedback import guard
from automations.services.feedback.records import Target, digest_of, effect_of, update_for
from automations.services.unsubscribe import unsubscribe
from automations.ses_records import UnprocessableFeedbackError, event_type, parse, tags_of

#: How many times a record is planned again when its write lost to another one.
ATTEMPTS = 6


@dataclass(frozen=True)
class FeedbackResult:
    status: str  # counted | duplicate | ignored
    event_type: str | None
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    message_id: str | None = None
    deactivated: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "event_type": self.event_type,
            "reason": self.reason,
            "counts": self.counts,
            "message_id": self.message_id,
            "deactivated": self.deactivated,
        }


def _ignored(kind: str, reason: str, log: str, extra: Mapping[str, Any]) -> FeedbackResult:
    logger.info(log, extra={"event_type": kind, **extra})
    metrics.add_metric(name="FeedbackIgnored", unit="Count", value=1)
    return FeedbackResult("ignored", kind, reason)


def handle_in(
    workspaces: Callable[[str | None], Deps], raw: str | bytes | Mapping[str, Any], now: datetime
) -> FeedbackResult:
    """Apply one SES record in the workspace its ``workspace`` tag names (``workspaces(name)``; the stack's own,
    ``workspaces(None)``, for a record without it): a record of a workspace the stack does not have is ignored."""
    record = parse(raw)
    named = tags_of(record["mail"]).get("workspace") or None
    try:
        deps = workspaces(named)
    except UnknownWorkspaceError as exc:
        return _ignored(event_type(record), str(exc), "SES event ignored: unknown workspace", {"workspace": named})
    return handle(deps, record, now)


def handle(deps: Deps, raw: str | bytes | Mapping[str, Any], now: datetime) -> FeedbackResult:
    """Apply one SES record (the SNS ``Message``) exactly once."""
    record = parse(raw)
    kind = event_type(record)
    mail = record["mail"]
    tags = tags_of(mail)
    workspace = deps.settings.workspace
    ses_message_id = str(mail.get("messageId") or "")
    store = deps.messages
    if not (tags.get("automation") and tags.get("run") and tags.get("step")) and ses_message_id:
        # Some records carry only the configuration set among their tags: SES's id still names our message.
        known = store.by_ses_id(ses_message_id)
        if known is not None:
            tags = {
                **tags,
                "automation": known.automation_id,
                "run": known.run_id,
                "step": known.step,
                "message": known.message_id,
                **({"test": "true"} if known.test else {}),
            }
    if not (tags.get("automation") and tags.get("run") and tags.get("step")):
        return _ignored(
            kind, "no automation tags", "SES event ignored: not one of ours", {"ses_message_id": ses_message_id}
        )
    if tags.get("workspace") not in (None, sanitize_tag(workspace)):
        reason = f"workspace {tags.get('workspace')!r}"
        return _ignored(kind, reason, "SES event ignored: another workspace", {"tags": tags})
    effect = effect_of(record)
    digest = digest_of(record)
    run_id, step = tags["run"], tags["step"]
    message_id = tags.get("message")
    if not message_id:
        found = store.by_ses_id(ses_message_id) if ses_message_id else None
        if found is not None:
            run_id, step, message_id = found.run_id, found.step, found.message_id
        else:
            destination = mail.get("destination") or []
            if not destination or not isinstance(destination[0], str):
                raise UnprocessableFeedbackError("no message tag and no destination")
            message_id = message_id_for(workspace, run_id, step, destination[0])
    automation_id = tags["automation"]

    if effect.suppress == "unsubscribe":
        # Idempotent on its own (counted only when new): done before the record is marked as seen.
        for address in mail.get("destination") or []:
            unsubscribe(deps.suppressions, str(address), automation_id, now, source="ses-subscription", step=step)

    for attempt in range(ATTEMPTS):
        item = store.get(run_id, step, message_id)
        if item is not None and digest in item.seen:
            # A redelivery: the record counted before, but what came after it (the reputation guard) may not
            # have run; it is idempotent, so the redelivery completes it.
            deactivated = None
            if effect.reputation and tags.get("test") != "true" and not item.test:
                deactivated = guard.guard_reputation(deps, automation_id, now)
            return FeedbackResult("duplicate", kind, "already counted", message_id=message_id, deactivated=deactivated)
        test = tags.get("test") == "true" or bool(item is not None and item.test)
        target = Target(workspace, run_id, step, message_id, automation_id, test)
        update = update_for(effect, item, target, mail, digest, now)
        if store.apply_feedback(run_id, step, message_id, update):
            counts = dict(update.counts)
            break
        time.sleep(0.02 * (attempt + 1))
    else:
        raise ConflictError(f"message {message_id} kept changing; SNS will deliver the event again")

    logger.info(
        "SES event counted",
        extra={
            "event_type": kind,
            "message_id": message_id,
            "automation": automation_id,
            "counts": counts,
            "test": test,
        },
    )
    deactivated = None
    if effect.reputation and not test:
        deactivated = guard.guard_reputation(deps, automation_id, now)
    return FeedbackResult("counted", kind, "applied", counts, message_id, deactivated)
