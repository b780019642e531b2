"""The template catalog shipped in the package is the repository's examples, each with its gallery entry."""

from __future__ import annotations

from pathlib import Path

import yaml
from automations.services import catalog

from tests.conftest import ROOT

PACKAGE_CATALOG = ROOT / "layers" / "core" / "automations" / "catalog"
EXAMPLES_ROOT = ROOT / "examples"
SYNC = (
    "rm -rf layers/core/automations/catalog/automations layers/core/automations/catalog/events && "
    "cp -r examples/catalog.yaml examples/automations examples/events layers/core/automations/catalog/"
)


def _files(root: Path) -> dict[str, bytes]:
    found = {"catalog.yaml": (root / "catalog.yaml").read_bytes()}
    for folder, pattern in (("automations", "*.yaml"), ("events", "*.json")):
        for path in sorted((root / folder).glob(pattern)):
            found[f"{folder}/{path.name}"] = path.read_bytes()
    return found


def test_the_packaged_catalog_is_identical_to_the_examples() -> None:
    packaged, examples = _files(PACKAGE_CATALOG), _files(EXAMPLES_ROOT)
    assert sorted(packaged) == sorted(examples), f"copy the examples into the package: {SYNC}"
    changed = [name for name in examples if packaged[name] != examples[name]]
    assert changed == [], f"copy the examples into the package: {SYNC}"


def test_every_example_has_a_title_a_description_and_a_category() -> None:
    index = yaml.safe_load((EXAMPLES_ROOT / "catalog.yaml").read_text())["templates"]
    examples = {p.stem for p in (EXAMPLES_ROOT / "automations").glob("*.yaml")}
    assert set(index) == examples
    for entry in index.values():
        assert set(entry) == {"title", "description", "category"}
        assert all(isinstance(value, str) and value.strip() for value in entry.values())


def test_templates_are_valid_drafts_with_a_sample_event() -> None:
    templates = catalog.templates()
    assert len(templates) == len(list((EXAMPLES_ROOT / "automations").glob("*.yaml")))
    for template in templates:
        assert template.definition["id"] == template.id
        assert template.definition["status"] == "draft"
        assert template.sample_event is not None and template.sample_event["type"] == template.trigger
    assert catalog.get("we-miss-you").category == "Client engagement"
