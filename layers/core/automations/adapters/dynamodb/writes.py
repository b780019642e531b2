"""What the stores share: conditional writes that answer False when their condition did not hold, the
connection that transactions go through, why a transaction was cancelled, the pause before trying one again,
and epoch seconds (TTL attributes and lock expiries)."""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError

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


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """Each item's reason for cancelling a transaction (None: that item was fine), in the transaction's order."""
    found = getattr(exc, "cancellation_reasons", None) or []
    return [reason.code if reason is not None else None for reason in found]


def lost_race(exc: TransactWriteError) -> bool:
    """Whether a transaction was cancelled by a condition or by another transaction on one of its items: reading
    again and trying again may succeed."""
    return any(code in ("ConditionalCheckFailed", "TransactionConflict") for code in cancellation_codes(exc))


def pause(attempt: int) -> None:
    """Wait a little (random, growing with the attempt, at most 0.2 s) before trying a lost write again."""
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
