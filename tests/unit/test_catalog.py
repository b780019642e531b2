"""The examples are the template catalog the package ships, each with its gallery entry, in one copy only."""

from __future__ import annotations

import tomllib

import yaml
from automations.services import catalog

from tests.conftest import CATALOG, EXAMPLES, ROOT


def test_the_examples_exist_once_in_the_package_and_examples_only_points_there() -> None:
    # Given the repository's examples folder
    copies = [p.relative_to(ROOT) for p in (ROOT / "examples").rglob("*") if p.suffix in (".yaml", ".yml", ".json")]
    # Then it holds no definition, event or catalog of its own, and says where the examples are
    assert copies == []
    assert "layers/core/automations/catalog/" in (ROOT / "examples" / "README.md").read_text()
    # And the package (so the Lambda layer, built from layers/core/) carries the catalog as package data
    assert CATALOG.parent == ROOT / "layers" / "core" / "automations"
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"**/*.yaml", "**/*.json"} <= set(package_data["automations"])


def test_every_example_has_a_title_a_description_and_a_category() -> None:
    index = yaml.safe_load((CATALOG / "catalog.yaml").read_text())["templates"]
    examples = {p.stem for p in EXAMPLES.glob("*.yaml")}
    assert set(index) == examples
    for entry in index.values():
        assert set(entry) == {"title", "description", "category"}
        assert all(isinstance(value, str) and value.strip() for value in entry.values())


def test_templates_are_valid_drafts_with_a_sample_event() -> None:
    templates = catalog.templates()
    assert len(templates) == len(list(EXAMPLES.glob("*.yaml")))
    for template in templates:
        assert template.definition["id"] == template.id
        assert template.definition["status"] == "draft"
        assert template.sample_event is not None and template.sample_event["type"] == template.trigger
    assert catalog.get("we-miss-you").category == "Client engagement"
