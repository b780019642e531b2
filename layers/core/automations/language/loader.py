"""Reading a definition from YAML or JSON and reporting every problem with its exact location."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from automations.errors import DefinitionError, FieldError
from automations.language.model import Automation
from automations.language.program import step_id

_UNION_FIELDS = {"where", "if", "frequency", "delay"}
_CONDITION_LISTS = {"all", "any"}


def _is_union_tag(parts: list[int | str], index: int) -> bool:
    """Pydantic puts the tag of a union right after the field holding it; it is no place in the document."""
    previous = parts[index - 1] if index > 0 else None
    if previous in _UNION_FIELDS:
        return True
    return isinstance(previous, int) and index >= 2 and parts[index - 2] in _CONDITION_LISTS


def format_loc(loc: Sequence[int | str]) -> str:
    """``('steps', 2, 'then', 0, 'send_email', 'subject')`` -> ``steps[2].then[0].send_email.subject``."""
    parts = list(loc)
    out = ""
    for index, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_union_tag(parts, index):
            out += f".{part}" if out else part
    return out


def _message(error: Any) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind in {"literal_error", "enum"}:
        return msg[0].lower() + msg[1:]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg[0].lower() + msg[1:] if msg[:1].isupper() and not msg[:2].isupper() else msg


def errors_of(exc: ValidationError) -> list[FieldError]:
    """Every error of a pydantic validation, each as ``loc: message``, duplicates dropped."""
    seen: set[tuple[str, str]] = set()
    out: list[FieldError] = []
    for error in exc.errors(include_url=False):
        item = (format_loc(error["loc"]), _message(error))
        if item not in seen:
            seen.add(item)
            out.append(FieldError(*item))
    return out


def parse_document(text: str | bytes) -> Any:
    """Parse YAML (a superset of JSON) into plain data; a syntax error names its line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    import yaml  # on first use: a handler that reads no definition never loads the YAML parser

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise DefinitionError([FieldError("", f"not valid YAML or JSON: {exc.problem}{where}")]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([FieldError("", f"not valid YAML or JSON: {exc}")]) from None
    except RecursionError:
        raise DefinitionError([FieldError("", "nested too deeply to be read")]) from None


def _step_id_errors(data: dict[str, Any]) -> list[FieldError]:
    """Duplicate step ids, found in the document as written so that they come with every other error."""
    found: list[tuple[str, str, bool]] = []  # (id, loc, given)

    def walk(steps: Any, prefix: str, parent: str | None, branch: str) -> None:
        if not isinstance(steps, list):
            return
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            given = step.get("id") if isinstance(step.get("id"), str) else None
            here = step_id(given, parent, branch, index)
            loc = f"{prefix}[{index}]"
            found.append((here, loc, bool(given)))
            walk(step.get("then"), f"{loc}.then", here, "then")
            walk(step.get("else"), f"{loc}.else", here, "else")

    walk(data.get("steps"), "steps", None, "step")
    counts = Counter(found_id for found_id, _, _ in found)
    return [
        FieldError(f"{loc}.id" if given else loc, f"duplicate step id '{found_id}'")
        for found_id, loc, given in found
        if counts[found_id] > 1
    ]


def load_definition(source: str | bytes | dict[str, Any]) -> Automation:
    """Validate a definition (YAML or JSON text, or parsed data); ``DefinitionError`` lists every error."""
    data = parse_document(source) if isinstance(source, str | bytes) else source
    if not isinstance(data, dict):
        raise DefinitionError([FieldError("", "an automation must be a mapping (YAML) or an object (JSON)")])
    duplicates = _step_id_errors(data)
    try:
        automation = Automation.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(errors_of(exc) + duplicates) from None
    if duplicates:
        raise DefinitionError(duplicates)
    return automation


def dump_definition(automation: Automation) -> dict[str, Any]:
    """The definition as plain JSON-ready data, with the document's own key names."""
    data: dict[str, Any] = json.loads(automation.model_dump_json(by_alias=True, exclude_none=True))
    return data
