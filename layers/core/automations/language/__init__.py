"""The automation language: definitions, durations, conditions and templates. Imports nothing from AWS."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.language.conditions import evaluate, resolve
    from automations.language.durations import format_duration, parse_duration
    from automations.language.loader import load_definition, parse_document
    from automations.language.model import Automation, Condition, SendEmail, Step

#: Where each name of the package is defined: its module is imported when the name is first asked for.
_EXPORTS = {
    "Automation": "automations.language.model",
    "Condition": "automations.language.model",
    "SendEmail": "automations.language.model",
    "Step": "automations.language.model",
    "evaluate": "automations.language.conditions",
    "format_duration": "automations.language.durations",
    "load_definition": "automations.language.loader",
    "parse_document": "automations.language.loader",
    "parse_duration": "automations.language.durations",
    "resolve": "automations.language.conditions",
}

__all__ = [
    "Automation",
    "Condition",
    "SendEmail",
    "Step",
    "evaluate",
    "format_duration",
    "load_definition",
    "parse_document",
    "parse_duration",
    "resolve",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
