"""The automation language: definitions, durations, conditions and templates. Imports nothing from AWS."""

from automations.language.conditions import evaluate, resolve
from automations.language.durations import format_duration, parse_duration
from automations.language.loader import load_definition, parse_document
from automations.language.model import Automation, Condition, SendEmail, Step

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
