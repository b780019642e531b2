"""Typed errors of the product. Every error a caller may handle ends in ``Error``."""

from __future__ import annotations

from dataclasses import dataclass, field


class AutomationsError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one place of a document: ``steps[2].then[0].send_email.subject``."""

    loc: str
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "message": self.message}


@dataclass
class DefinitionError(AutomationsError):
    """An automation definition that cannot be accepted; carries every problem at once."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors)


class DurationError(AutomationsError, ValueError):
    """A duration string outside the language (``15m 2h 3d 1w 1d12h``)."""


class TemplateError(AutomationsError, ValueError):
    """A template that does not compile, or fails while rendering."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"{self.message} (line {self.line})" if self.line else self.message


class EngineError(AutomationsError):
    """The engine was asked something inconsistent (a bug in a caller, never bad user input)."""
