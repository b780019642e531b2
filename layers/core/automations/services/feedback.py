"""SES feedback: event-publishing records (via SNS) become message statuses, counters and suppressions.

Each record is applied once, in any order:

- the message is found from the record's own tags (``run``, ``step``, ``message``), with no index lookup;
  SES's ``MessageId`` (index ``by_ses_id``) and the recipient are the fallbacks;
- the record's digest joins the message's ``seen`` set in the same transaction as the counters' ``ADD``
  and the message's new status, under the condition that it was not there: a second delivery by SNS
  changes nothing, and a crash leaves either all of it or none of it;
- the status only moves up (sent < delayed < delivered < opened < clicked < rejected < bounced <
  complained), so an Open before its Delivery leaves the message "opened"; the first Open and the first
  Click also count ``opened_unique``/``clicked_unique``;
- a hard bounce or a complaint suppresses the address for every type of mail (in the same transaction);
  an unsubscribe (SES ``Subscription`` record) for promotional mail;
- after a hard bounce or a complaint the automation's rates are checked (the reputation guard).

Test emails are tracked on their record but never counted. Records without the product's tags are
ignored with a log line; records that cannot be understood raise :class:`UnprocessableFeedbackError`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from automations import ses_records
from automations.adapters import stats
from automations.adapters.messages import (
    MessageStore,
    SuppressionStore,
    message_id_for,
    message_key,
    ses_index_key,
    stats_updates,
)
from automations.adapters.ses import sanitize_tag
from automations.adapters.store import ConflictError, NotFoundError, connection
from automations.adapters.tables import MessageItem
from automations.addresses import normalize_address
from automations.observability import logger, metrics
from automations.services.deps import Deps
from automations.services.unsubscribe import unsubscribe
from automations.ses_records import (
    UnprocessableFeedbackError,
    detail_of,
    event_type,
    parse,
    recipients_of,
    tags_of,
)

#: How far back the reputation guard looks.
REPUTATION_WINDOW = timedelta(days=30)

#: Status precedence: a status only replaces a lower one.
RANKS = {
    "sent": 10,
    "delayed": 20,
    "soft_bounced": 25,
    "delivered": 30,
    "opened": 40,
    "clicked": 50,
    "rendering_failed": 70,
    "rejected": 80,
    "suppressed": 85,
    "bounced": 90,
    "complained": 100,
}

#: Bounce sub-types that mean "SES did not try": the address is on a suppression list, not a new bounce.
SUPPRESSED_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})

_ATTEMPTS = 6


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


@dataclass(frozen=True)
class Effect:
    """What one SES record does to its message."""

    counts: dict[str, int]
    at: str
    status: str | None = None
    kind: str = ""
    first: str | None = None  # the message attribute set on the first such event (opened_at...)
    unique: str | None = None  # the counter counted with that first time (opened_unique...)
    total: str | None = None  # the message's own running count (opens, clicks)
    suppress: str | None = None  # bounce | complaint | unsubscribe
    addresses: tuple[str, ...] = ()
    bounce_type: str | None = None
    reputation: bool = False


# --- reading records ----------------------------------------------------------------------------------------


def effect_of(record: Mapping[str, Any]) -> Effect:
    """What a record means for its message; ``UnprocessableFeedbackError`` for an unknown kind."""
    return replace(_effect_of(record), kind=event_type(record))


def _effect_of(record: Mapping[str, Any]) -> Effect:
    kind = event_type(record)
    mail = record["mail"]
    fallback_at = str(mail.get("timestamp") or "")
    if kind == "Send":
        return Effect({"sent": 1}, fallback_at, status="sent")
    if kind == "Delivery":
        detail = detail_of(record)
        at = str(detail.get("timestamp") or fallback_at)
        return Effect({"delivered": 1}, at, status="delivered", first="delivered_at")
    if kind == "Open":
        at = str(detail_of(record).get("timestamp") or fallback_at)
        return Effect({"opened": 1}, at, status="opened", first="opened_at", unique="opened_unique", total="opens")
    if kind == "Click":
        at = str(detail_of(record).get("timestamp") or fallback_at)
        return Effect({"clicked": 1}, at, status="clicked", first="clicked_at", unique="clicked_unique", total="clicks")
    if kind == "Bounce":
        detail = detail_of(record)
        at = str(detail.get("timestamp") or fallback_at)
        bounce_type = str(detail.get("bounceType") or "Undetermined")
        subtype = str(detail.get("bounceSubType") or "")
        described = f"{bounce_type}/{subtype}" if subtype else bounce_type
        if bounce_type == "Permanent":
            addresses = recipients_of(detail.get("bouncedRecipients"))
            if subtype in SUPPRESSED_SUBTYPES:
                return Effect(
                    {"suppressed": 1}, at, "suppressed", suppress="bounce", addresses=addresses, bounce_type=described
                )
            return Effect(
                {"bounced_hard": 1},
                at,
                status="bounced",
                suppress="bounce",
                addresses=addresses,
                bounce_type=described,
                reputation=True,
            )
        return Effect({"bounced_soft": 1}, at, status="soft_bounced", bounce_type=described)
    if kind == "Complaint":
        detail = detail_of(record)
        at = str(detail.get("timestamp") or fallback_at)
        addresses = recipients_of(detail.get("complainedRecipients"))
        return Effect(
            {"complained": 1}, at, status="complained", suppress="complaint", addresses=addresses, reputation=True
        )
    if kind == "Reject":
        return Effect({"rejected": 1}, fallback_at, status="rejected")
    if kind == "Rendering Failure":
        return Effect({"rendering_failed": 1}, fallback_at, status="rendering_failed")
    if kind == "DeliveryDelay":
        detail = detail_of(record)
        return Effect({"delayed": 1}, str(detail.get("timestamp") or fallback_at), status="delayed")
    if kind == "Subscription":
        detail = detail_of(record)
        preferences = detail.get("newTopicPreferences") or {}
        statuses = preferences.get("topicSubscriptionStatus") or [] if isinstance(preferences, dict) else []
        opted_out = bool(isinstance(preferences, dict) and preferences.get("unsubscribeAll")) or any(
            isinstance(s, dict) and s.get("subscriptionStatus") == "OptOut" for s in statuses
        )
        at = str(detail.get("timestamp") or fallback_at)
        return Effect({}, at, suppress="unsubscribe" if opted_out else None)
    raise UnprocessableFeedbackError(f"unknown event type {kind!r}")


def digest_of(record: Mapping[str, Any]) -> str:
    """The identity of a record: the same event delivered twice has the same digest."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# --- applying them ------------------------------------------------------------------------------------------


def handle(deps: Deps, raw: str | bytes | Mapping[str, Any], now: datetime) -> FeedbackResult:
    """Apply one SES record (the SNS ``Message``) exactly once."""
    record = parse(raw)
    kind = event_type(record)
    mail = record["mail"]
    tags = tags_of(mail)
    workspace = deps.settings.workspace
    ses_message_id = str(mail.get("messageId") or "")
    store = MessageStore(workspace)
    if not (tags.get("automation") and tags.get("run") and tags.get("step")) and ses_message_id:
        # Some records carry only the configuration set among their tags: SES's id still names our message.
        known = store.by_ses_id(ses_message_id)
        if known is not None:
            tags = {
                **tags,
                "automation": str(known.automation_id),
                "run": str(known.run_id),
                "step": str(known.step),
                "message": str(known.message_id),
                **({"test": "true"} if known.test else {}),
            }
    if not (tags.get("automation") and tags.get("run") and tags.get("step")):
        logger.info("SES event ignored: not one of ours", extra={"event_type": kind, "ses_message_id": ses_message_id})
        metrics.add_metric(name="FeedbackIgnored", unit="Count", value=1)
        return FeedbackResult("ignored", kind, "no automation tags")
    if tags.get("workspace") not in (None, sanitize_tag(workspace)):
        logger.info("SES event ignored: another workspace", extra={"event_type": kind, "tags": tags})
        metrics.add_metric(name="FeedbackIgnored", unit="Count", value=1)
        return FeedbackResult("ignored", kind, f"workspace {tags.get('workspace')!r}")
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
            unsubscribe(
                SuppressionStore(workspace), str(address), automation_id, now, source="ses-subscription", step=step
            )

    for attempt in range(_ATTEMPTS):
        item = store.get(run_id, step, message_id)
        if item is not None and item.seen and digest in item.seen:
            # A redelivery: the record counted before, but what came after it (the reputation guard) may
            # not have run; it is idempotent, so the redelivery completes it.
            deactivated = None
            if effect.reputation and tags.get("test") != "true" and not item.test:
                deactivated = guard_reputation(deps, automation_id, now)
            return FeedbackResult("duplicate", kind, "already counted", message_id=message_id, deactivated=deactivated)
        test = tags.get("test") == "true" or bool(item is not None and item.test)
        counts = _apply(deps, store, item, (run_id, step, message_id), tags, mail, effect, digest, test, now)
        if counts is not None:
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
        deactivated = guard_reputation(deps, automation_id, now)
    return FeedbackResult("counted", kind, "applied", counts, message_id, deactivated)


def _apply(
    deps: Deps,
    store: MessageStore,
    item: MessageItem | None,
    key: tuple[str, str, str],
    tags: Mapping[str, str],
    mail: Mapping[str, Any],
    effect: Effect,
    digest: str,
    test: bool,
    now: datetime,
) -> dict[str, int] | None:
    """One transaction: the message (conditionally), its counters, its suppressions. None: read again."""
    run_id, step, message_id = key
    workspace = store.workspace
    target = MessageItem(*message_key(workspace, run_id, step, message_id))
    actions: list[Any] = [MessageItem.seen.add({digest}), MessageItem.updated_at.set(now)]
    condition: Any = ~MessageItem.seen.contains(digest)
    unsettled: dict[str, int] = {}
    if item is None:
        # SES knows a message we have no record of (expired, or written by an older stack): keep what it says.
        destination = mail.get("destination") or [""]
        actions += [
            MessageItem.automation_id.set(MessageItem.automation_id | str(tags.get("automation"))),
            MessageItem.run_id.set(MessageItem.run_id | run_id),
            MessageItem.step.set(MessageItem.step | step),
            MessageItem.message_id.set(MessageItem.message_id | message_id),
            MessageItem.address.set(MessageItem.address | normalize_address(str(destination[0]))),
            MessageItem.state.set(MessageItem.state | "unrecorded"),
            MessageItem.created_at.set(MessageItem.created_at | now),
            MessageItem.test.set(MessageItem.test | test),
        ]
        condition = condition & MessageItem.pk.does_not_exist()
    else:
        condition = condition & MessageItem.pk.exists()
        ses_message_id = str(mail.get("messageId") or "")
        if item.state in ("sending", "unknown") and ses_message_id:
            # SES's own event settles what a crash left open: the email was accepted, under this id. An
            # email counted as ``send_unknown`` stops being counted so: counters follow the final state.
            if item.state == "unknown" and not test:
                unsettled = {"send_unknown": -1}
            actions += [
                MessageItem.state.set("sent"),
                MessageItem.reason.set(f"confirmed by SES's {effect.kind} event after an interrupted send"),
                MessageItem.ses_message_id.set(ses_message_id),
                MessageItem.gsi1pk.set(ses_index_key(ses_message_id)),
                MessageItem.gsi1sk.set(item.sk),
            ]
            condition = condition & (MessageItem.state == item.state)
    counts = dict(effect.counts)
    for name, value in unsettled.items():
        counts[name] = counts.get(name, 0) + value
    if effect.status is not None:
        rank = RANKS[effect.status]
        current = None if item is None else item.status_rank
        if current is None or int(current) < rank:
            actions += [
                MessageItem.status.set(effect.status),
                MessageItem.status_rank.set(rank),
                MessageItem.status_at.set(effect.at),
            ]
            if current is None:
                condition = condition & MessageItem.status_rank.does_not_exist()
            else:
                condition = condition & (MessageItem.status_rank == int(current))
    if effect.first is not None:
        attribute = getattr(MessageItem, effect.first)
        if item is None or getattr(item, effect.first) is None:
            actions.append(attribute.set(effect.at))
            condition = condition & attribute.does_not_exist()
            if effect.unique is not None:
                counts[effect.unique] = 1
    if effect.total is not None:
        actions.append(getattr(MessageItem, effect.total).add(1))
    if effect.bounce_type is not None:
        actions.append(MessageItem.bounce_type.set(effect.bounce_type))
    automation_id = str(tags.get("automation"))
    suppressions = SuppressionStore(workspace)
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.update(target, actions=actions, condition=condition)
            if not test:
                stats_updates(tx, workspace, automation_id, step, now, counts)
            if effect.suppress in ("bounce", "complaint"):
                addresses = effect.addresses or tuple(normalize_address(str(a)) for a in mail.get("destination") or [])
                for address in addresses:
                    reason = "hard bounce" if effect.suppress == "bounce" else "complaint"
                    if effect.bounce_type:
                        reason = f"{reason} ({effect.bounce_type})"
                    suppression = suppressions.item(
                        address, effect.suppress, reason=reason, source="ses", automation_id=automation_id, now=now
                    )
                    suppressions.upsert_in(tx, suppression)
    except TransactWriteError as exc:
        reasons = getattr(exc, "cancellation_reasons", None) or []
        if any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
            return None
        raise
    return {} if test else counts


# --- the reputation guard -----------------------------------------------------------------------------------


def reputation_problem(totals: Mapping[str, int], deps: Deps) -> str | None:
    """Why an automation's recent sending hurts the sender's reputation (None while it does not)."""
    settings = deps.settings
    attempted = totals.get("delivered", 0) + totals.get("bounced_hard", 0) + totals.get("bounced_soft", 0)
    sent = max(totals.get("sent", 0), attempted)
    if sent <= 0 or sent < settings.min_sends_for_reputation:
        return None
    bounced = totals.get("bounced_hard", 0)
    complained = totals.get("complained", 0)
    days = REPUTATION_WINDOW.days
    if bounced / sent >= settings.hard_bounce_rate_limit:
        return (
            f"hard-bounce rate {bounced / sent:.2%} reached the limit of {settings.hard_bounce_rate_limit:.2%} "
            f"({bounced} of {sent} emails in {days} days)"
        )
    if complained / sent >= settings.complaint_rate_limit:
        return (
            f"complaint rate {complained / sent:.2%} reached the limit of {settings.complaint_rate_limit:.2%} "
            f"({complained} of {sent} emails in {days} days)"
        )
    return None


def guard_reputation(deps: Deps, automation_id: str, now: datetime) -> str | None:
    """Deactivate an active automation whose bounce or complaint rate reached SES's review levels."""
    totals = stats.read(deps.settings.workspace, automation_id, start=(now - REPUTATION_WINDOW).date())[stats.WHOLE]
    problem = reputation_problem(totals, deps)
    if problem is None:
        return None
    from automations.services import automations as manage

    try:
        head = deps.automations.head(automation_id)
        if head.status != "active":
            return None
        reason = f"deactivated to protect the sender's reputation: {problem}"
        manage.deactivate(deps, automation_id, now, reason=reason)
    except (NotFoundError, ConflictError) as exc:
        logger.warning("reputation guard could not deactivate", extra={"automation": automation_id, "error": str(exc)})
        return None
    metrics.add_metric(name="AutomationsDeactivatedForReputation", unit="Count", value=1)
    logger.error(
        "automation deactivated to protect the sender's reputation",
        extra={"automation": automation_id, "reason": problem},
    )
    return reason


# --- SES's part, for the local stack and tests --------------------------------------------------------------


def simulated_record(
    item: MessageItem,
    kind: str,
    now: datetime,
    *,
    sender: str,
    configuration_set: str = "automations",
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The SES event-publishing record of one of our messages (:mod:`automations.ses_records`), with the
    message's tags as the sender sets them. ``detail`` overrides the event's own object (``bounce``...)."""
    tags = {
        "workspace": item.pk.split("#", 1)[0],
        "automation": item.automation_id,
        "version": str(int(item.version or 0)),
        "run": item.run_id,
        "step": item.step,
        "message": item.message_id,
        "type": item.type,
    }
    if item.test:
        tags["test"] = "true"
    mail = ses_records.mail_object(
        message_id=item.ses_message_id or item.message_id,
        source=sender,
        destination=[item.address],
        sent_at=item.sent_at or now,
        tags={name: sanitize_tag(value) for name, value in tags.items()},
        subject=item.subject or "",
        configuration_set=configuration_set,
    )
    return ses_records.record(kind, mail, {**ses_records.detail_for(kind, now, [item.address]), **(detail or {})})
