"""Identifiers: random where new, derived where a retry must land on the same item."""

from __future__ import annotations

import hashlib
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(number: int, length: int) -> str:
    out = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A sortable unique id (time first, like a ULID): ``evt_01jd5...``."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_base32(stamp, 10)}{_base32(secrets.randbits(80), 16)}"


def derived_id(prefix: str, *parts: str) -> str:
    """The same id for the same parts: a retried start of a run lands on the same run."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{_base32(int.from_bytes(digest[:15], 'big'), 24)}"
