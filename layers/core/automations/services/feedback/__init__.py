"""SES feedback: event-publishing records (via SNS) become message statuses, counters and suppressions.

- :mod:`.records`: what one record does to its message, pure (its effect, its digest, the one write it makes of
  the message's record as read), and the records SES would publish, for the local stack and the tests;
- :mod:`.applying`: each record applied once, in any order, through the ports;
- :mod:`.guard`: the reputation guard, after a hard bounce or a complaint.
"""

from __future__ import annotations

from automations.services.feedback.applying import FeedbackResult, handle, handle_in
from automations.services.feedback.guard import REPUTATION_WINDOW, guard_reputation, reputation_problem
from automations.services.feedback.records import (
    RANKS,
    SUPPRESSED_SUBTYPES,
    FeedbackEffect,
    digest_of,
    effect_of,
    simulated_record,
    update_for,
)
from automations.ses_records import UnprocessableFeedbackError, parse, tags_of

__all__ = [
    "RANKS",
    "REPUTATION_WINDOW",
    "SUPPRESSED_SUBTYPES",
    "FeedbackEffect",
    "FeedbackResult",
    "UnprocessableFeedbackError",
    "digest_of",
    "effect_of",
    "guard_reputation",
    "handle",
    "handle_in",
    "parse",
    "reputation_problem",
    "simulated_record",
    "tags_of",
    "update_for",
]
