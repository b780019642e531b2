"""Sending the queued emails, each (run, step, recipient) at most once (DESIGN.md §6.5), in parts:

- :mod:`.queue_message`: a message of the email queue (:class:`EmailMessage`), read into its :class:`EmailRequest`;
- :mod:`.compose`: building one recipient's email (unsubscribe link and footer, headers, tags, sender);
- :mod:`.delivery`: delivering to each recipient through the ports (suppressions, the message store's claim,
  the sender), within the invocation's time;
- :mod:`.pacing`: spacing the sends to the stack's share of the sending rate;
- :mod:`.backoff`: keeping a message the provider could not take now away for a while;
- :mod:`.timeline`: the emails of a run, as its timeline shows them.
"""

from __future__ import annotations

from automations.services.sending.backoff import BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS, postpone, retry_delay
from automations.services.sending.compose import email_headers, email_tags, outgoing, personalize, sender_problem
from automations.services.sending.delivery import (
    RESERVE_MARGIN_SECONDS,
    SKIP_REASONS,
    UNSUBSCRIBE_REASONS,
    Delivery,
    OutOfTimeError,
    TransientSendError,
    reserve_seconds,
    send_request,
    skip_reason,
)
from automations.services.sending.pacing import (
    FALLBACK_SEND_RATE,
    RATE_REFRESH_SECONDS,
    RATE_RETRY_SECONDS,
    Pacer,
    Pacing,
    current_pacing,
    pacer,
    stack_send_rate,
)
from automations.services.sending.queue_message import (
    REQUIRED_FIELDS,
    EmailMessage,
    InvalidEmailMessageError,
    reason_of,
    request_from_body,
)
from automations.services.sending.timeline import is_suppressed, message_view, messages_of_run

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "FALLBACK_SEND_RATE",
    "RATE_REFRESH_SECONDS",
    "RATE_RETRY_SECONDS",
    "REQUIRED_FIELDS",
    "RESERVE_MARGIN_SECONDS",
    "SKIP_REASONS",
    "UNSUBSCRIBE_REASONS",
    "Delivery",
    "EmailMessage",
    "InvalidEmailMessageError",
    "OutOfTimeError",
    "Pacer",
    "Pacing",
    "TransientSendError",
    "current_pacing",
    "email_headers",
    "email_tags",
    "is_suppressed",
    "message_view",
    "messages_of_run",
    "outgoing",
    "pacer",
    "personalize",
    "postpone",
    "reason_of",
    "request_from_body",
    "reserve_seconds",
    "retry_delay",
    "send_request",
    "sender_problem",
    "skip_reason",
    "stack_send_rate",
]
