"""The queue's backoff: a message whose email the provider could not take now stays away for a while, longer
at each receive, before it comes back (the queue's own retries, then its dead-letter queue, still apply)."""

from __future__ import annotations

import random

from automations.observability import logger
from automations.ports import Ports

#: Visibility backoff of a queue message that will be retried: 30 s, 60 s, 120 s ... at most 15 minutes.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900


def retry_delay(receive_count: int) -> int:
    """Seconds until a queue message comes back: exponential in its receive count, with jitter, capped."""
    exponent = max(0, min(receive_count - 1, 10))
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**exponent)
    return int(delay * random.uniform(0.8, 1.0))


def postpone(ports: Ports, receipt: str, receive_count: int, queue_arn: str | None = None) -> int:
    """Keep a failed message of the email queue away for the backoff delay (``receipt``: its receipt handle,
    ``queue_arn``: the queue it came from); returns the delay (0 if it could not be kept away)."""
    delay = retry_delay(receive_count)
    try:
        ports.email_queue.postpone(receipt, delay, queue_arn)
    except Exception as exc:  # the message comes back after the queue's own timeout anyway
        logger.warning("could not postpone the email message", extra={"error": f"{type(exc).__name__}: {exc}"})
        return 0
    return delay
