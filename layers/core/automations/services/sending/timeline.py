"""The emails of a run as its timeline shows them, and why an address gets no email of a type."""

from __future__ import annotations

from typing import Any

from automations.addresses import normalize_address
from automations.ports import EmailRecord, Ports


def message_view(record: EmailRecord) -> dict[str, Any]:
    """One email as a run's timeline shows it."""
    return {
        "message_id": record.message_id,
        "step": record.step,
        "address": record.address,
        "type": record.type,
        "subject": record.subject,
        "test": record.test,
        "state": record.state,
        "reason": record.reason,
        "status": record.status,
        "bounce_type": record.bounce_type,
        "ses_message_id": record.ses_message_id,
        "created_at": record.created_at.isoformat(),
        "sent_at": record.sent_at.isoformat() if record.sent_at else None,
        "delivered_at": record.delivered_at,
        "opened_at": record.opened_at,
        "clicked_at": record.clicked_at,
        "opens": record.opens,
        "clicks": record.clicks,
    }


def messages_of_run(ports: Ports, run_id: str) -> list[dict[str, Any]]:
    """Every email of a run with its state and SES status, for ``GET /v1/runs/{id}``."""
    return [message_view(record) for record in ports.messages.of_run(run_id)]


def is_suppressed(ports: Ports, address: str, email_type: str) -> str | None:
    """Why an address gets no email of this type (None when it may get one)."""
    found = ports.suppressions.blocking(normalize_address(address), email_type)
    return None if found is None else found.reason
