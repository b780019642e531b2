"""The errors a port raises on purpose: what a service may catch, whichever adapter is behind the port."""

from __future__ import annotations

from automations.errors import AutomationsError, FieldError


class ConflictError(AutomationsError):
    """A conditional write lost: the item changed or exists already."""


class NotFoundError(AutomationsError):
    """No such item."""


class UnknownWorkspaceError(NotFoundError):
    """A workspace the stack does not have (an event, a schedule or a message naming one that was never
    created)."""

    def __init__(self, workspace: str) -> None:
        super().__init__(f"unknown workspace {workspace!r}")
        self.workspace = workspace


class SkippedError(AutomationsError):
    """A new run was refused by a lock: ``reason`` is ``frequency`` or ``run_key`` (or ``exists``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SendError(AutomationsError):
    """Base of the sending errors; ``code`` is the provider's error code (or the client's exception name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class SendTransientError(SendError):
    """The email was not taken, and a later attempt may succeed (throttling, 5xx, network before send)."""


class SendRejectedError(SendError):
    """The email was refused for good (rejected, unverified sender, sending paused, bad request...)."""


class SendOutcomeUnknownError(SendError):
    """The request may have reached the provider (a read timeout): it must not be sent again."""


class TransientError(AutomationsError):
    """A port's service failed for now (throttled, unreachable, a reply lost, part of a batch refused): a retry of
    the whole request may cure it, and every step of a request is idempotent."""


def is_transient(exc: BaseException) -> bool:
    """True for a failure that a retry of the whole request may cure: a :class:`TransientError`.

    An adapter whose client raises exceptions of its own classifies them too: :attr:`Ports.is_transient
    <automations.ports.Ports.is_transient>` is the predicate of the adapters behind the ports. Anything else (a
    template that broke its bounds, a definition the engine cannot run, a bug) fails the same way on every retry,
    so it must end the one run it belongs to instead of blocking the others.
    """
    return isinstance(exc, TransientError)


class InvalidInputError(AutomationsError, ValueError):
    """A value that cannot be accepted (an unknown scope, a workspace id that is not a slug); carries every
    problem at once, each naming its field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors
