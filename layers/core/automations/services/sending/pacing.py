"""Pacing the sends of one process, so that the stack stays under its sending rate: the rate is a setting, or
the account's own maximum (read from the provider, and read again every :data:`RATE_REFRESH_SECONDS`), shared
by the ``sending_concurrency`` instances that may send at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from automations.observability import logger
from automations.ports import EmailSender
from automations.services.deps import Deps

#: How long the account's sending rate is trusted before it is read again (after a failed read: a minute).
RATE_REFRESH_SECONDS = 900.0
RATE_RETRY_SECONDS = 60.0
#: The rate used when the account's cannot be read: the SES sandbox's (one email per second).
FALLBACK_SEND_RATE = 1.0


@dataclass
class Pacer:
    """Spaces the sends of one process: at most ``rate`` per second (no pacing when ``rate`` is 0).

    :meth:`wait` returns when the next send may start. ``clock`` and ``sleep`` are the process's monotonic
    clock and sleep, replaceable in tests.
    """

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def interval(self) -> float:
        """Seconds between two sends."""
        return 1.0 / self.rate if self.rate > 0 else 0.0

    def delay(self) -> float:
        """How long the next send would wait now."""
        return max(0.0, self._next - self.clock())

    def wait(self) -> float:
        """Wait for the next send's turn (and take it); returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        waited = start - now
        if waited > 0:
            self.sleep(waited)
        return waited


@dataclass
class Pacing:
    """The process's pacer, for the sender and the rate settings it was made for; its rate is trusted for
    ``fresh_for`` seconds after ``read_at`` (monotonic)."""

    pacer: Pacer
    sender: EmailSender
    settings: tuple[float | None, int]
    read_at: float
    fresh_for: float


_PACING_LOCK = threading.Lock()
_pacing: Pacing | None = None


def stack_send_rate(deps: Deps) -> tuple[float, bool]:
    """The stack's sending rate (emails per second), and whether it was read from the provider.

    The setting when it is positive; otherwise the account's maximum send rate, or the sandbox's rate (one
    per second) when the provider cannot tell (logged).
    """
    configured = deps.settings.max_send_rate
    if configured:
        return configured, True
    try:
        return deps.email_sender.max_send_rate(), True
    except Exception as exc:
        logger.warning(
            "cannot read the account's SES sending rate; sending at the sandbox's rate",
            extra={"error": f"{type(exc).__name__}: {exc}", "rate": FALLBACK_SEND_RATE},
        )
        return FALLBACK_SEND_RATE, False


def pacer(deps: Deps) -> Pacer | None:
    """The process's pacer: the stack's rate shared by ``sending_concurrency`` instances (None: not paced).

    The account's rate is read again every :data:`RATE_REFRESH_SECONDS` (leaving the SES sandbox or a raised
    quota takes effect without a deployment), and at once for another sender or other rate settings.
    """
    global _pacing
    settings = deps.settings
    if settings.max_send_rate is None:
        return None
    wanted = (settings.max_send_rate, settings.sending_concurrency)
    with _PACING_LOCK:
        found = _pacing
        if found is not None and (found.sender is not deps.email_sender or found.settings != wanted):
            found = None
        if found is not None and time.monotonic() - found.read_at < found.fresh_for:
            return found.pacer
        rate, known = stack_send_rate(deps)
        per_instance = rate / settings.sending_concurrency
        fresh_for = RATE_REFRESH_SECONDS if known else RATE_RETRY_SECONDS
        if found is None:
            found = Pacing(Pacer(per_instance), deps.email_sender, wanted, time.monotonic(), fresh_for)
            logger.info("sending rate", extra={"stack_rate": rate, "instance_rate": per_instance})
        else:
            found.pacer.rate, found.read_at, found.fresh_for = per_instance, time.monotonic(), fresh_for
        _pacing = found
        return found.pacer


def current_pacing() -> Pacing | None:
    """The process's pacing as :func:`pacer` last left it (None before it paced anything)."""
    return _pacing
