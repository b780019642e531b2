"""What the stores share: conditional writes that answer False when their condition did not hold, the
connection that transactions go through, and epoch seconds (TTL attributes and lock expiries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError

from automations.adapters.dynamodb.tables import RunItem, shared_connection


def conditional_failed(exc: Exception) -> bool:
    """Whether a write (or a transaction) failed because one of its conditions did not hold."""
    code = getattr(exc, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


def save_if(item: Any, condition: Any) -> bool:
    """Put an item under a condition; False when the condition did not hold (nothing written)."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def delete_if(item: Any, condition: Any) -> bool:
    """Delete an item under a condition; False when the condition did not hold (nothing deleted)."""
    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def connection() -> Connection:
    """The connection transactions go through: the one the models share."""
    meta: Any = RunItem.Meta
    return shared_connection(meta.region, meta.host)
