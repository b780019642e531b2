"""The reputation guard: an automation whose recent hard-bounce or complaint rate reaches SES's review levels is
deactivated (its waiting runs end with the reason), before it costs the sender its reputation.

It runs after every hard bounce or complaint of an email that is not a test, and again when SNS delivers such
an event a second time (the first delivery may have counted the event and then failed before the guard ran):
it is idempotent, an inactive automation is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from automations.observability import logger, metrics
from automations.ports import ConflictError, NotFoundError
from automations.services import lifecycle
from automations.services.deps import Deps

#: How far back the reputation guard looks.
REPUTATION_WINDOW = timedelta(days=30)


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
    """Deactivate an active automation whose bounce or complaint rate reached SES's review levels; the reason
    when it did."""
    totals = deps.stats.reputation(automation_id, (now - REPUTATION_WINDOW).date())
    problem = reputation_problem(totals, deps)
    if problem is None:
        return None
    try:
        head = deps.automations.head(automation_id)
        if head.status != "active":
            return None
        reason = f"deactivated to protect the sender's reputation: {problem}"
        lifecycle.deactivate(deps, automation_id, now, reason=reason)
    except (NotFoundError, ConflictError) as exc:
        logger.warning("reputation guard could not deactivate", extra={"automation": automation_id, "error": str(exc)})
        return None
    metrics.add_metric(name="AutomationsDeactivatedForReputation", unit="Count", value=1)
    logger.error(
        "automation deactivated to protect the sender's reputation",
        extra={"automation": automation_id, "reason": problem},
    )
    return reason
