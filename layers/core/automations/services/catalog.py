"""Suggested automations: the examples, shipped in the package, ready to create a draft from.

``automations/catalog/`` holds the repository's examples, their only copy (``catalog.yaml`` with a title,
description and category per template, ``automations/*.yaml`` and ``events/*.json``): package data, so the
Lambda layer carries them with the code that serves them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from automations.language.loader import dump_definition, load_definition
from automations.ports import ConflictError, NotFoundError
from automations.services import lifecycle
from automations.services.deps import Deps


@dataclass(frozen=True)
class Template:
    """One suggested automation: how the gallery shows it, its definition, and a sample event for previews."""

    id: str
    title: str
    description: str
    category: str
    definition: dict[str, Any]
    sample_event: dict[str, Any] | None

    @property
    def trigger(self) -> str:
        event: str = self.definition["trigger"]["event"]
        return event

    def as_dict(self, *, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "trigger": self.trigger,
            "name": self.definition["name"],
        }
        if full:
            out["definition"] = self.definition
            out["sample_event"] = self.sample_event
        return out


def _root() -> Traversable:
    return resources.files("automations").joinpath("catalog")


@lru_cache(maxsize=1)
def templates() -> tuple[Template, ...]:
    """Every template, in the catalog's order; each definition validated and set to ``draft``."""
    import yaml  # on first use: only the catalog's routes read it

    root = _root()
    index = yaml.safe_load(root.joinpath("catalog.yaml").read_text("utf-8"))["templates"]
    found: list[Template] = []
    for template_id, meta in index.items():
        source = root.joinpath("automations", f"{template_id}.yaml").read_text("utf-8")
        definition = dump_definition(load_definition(source))
        definition["status"] = "draft"
        event_file = root.joinpath("events", f"{template_id}.json")
        sample = json.loads(event_file.read_text("utf-8")) if event_file.is_file() else None
        found.append(
            Template(
                id=template_id,
                title=str(meta["title"]),
                description=str(meta["description"]),
                category=str(meta["category"]),
                definition=definition,
                sample_event=sample,
            )
        )
    return tuple(found)


def templates_in(category: str | None = None) -> list[Template]:
    """The templates of a category (every one without a category), in the catalog's order."""
    return [t for t in templates() if category is None or t.category == category]


def get(template_id: str) -> Template:
    for template in templates():
        if template.id == template_id:
            return template
    known = ", ".join(t.id for t in templates())
    raise NotFoundError(f"template {template_id!r} not found; the templates are: {known}")


def create_from_template(
    deps: Deps,
    template_id: str,
    now: datetime,
    *,
    new_id: str | None = None,
    name: str | None = None,
) -> lifecycle.Summary:
    """A draft made from a template. Without ``new_id``, the template's id, or the first free ``<id>-<n>``."""
    definition = dict(get(template_id).definition)
    if name:
        definition["name"] = name
    if new_id:
        definition["id"] = new_id
        return lifecycle.create(deps, definition, now)
    for n in range(1, 100):
        definition["id"] = template_id if n == 1 else f"{template_id}-{n}"
        try:
            return lifecycle.create(deps, definition, now)
        except ConflictError:
            continue
    raise ConflictError(f"no free id for an automation made from template {template_id!r}; give one")
