"""docs/language.md against the JSON Schema: every property described, listed and shown in a valid example."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from automations.errors import DefinitionError
from automations.language.loader import load_definition
from automations.language.model import Automation
from automations.language.schema import generate
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "language.md"
README = ROOT / "README.md"
ROOT_NAME = "Automation"

#: What a fragment of the reference (steps alone, or some top-level fields) is completed with to be validated.
BASE = {"id": "reference-example", "name": "Reference example", "trigger": {"event": "example.happened"}}


def _schema() -> dict[str, Any]:
    return generate()


def _definitions(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object of the schema by name: the root (``Automation``) and its ``$defs``."""
    return {ROOT_NAME: schema, **schema.get("$defs", {})}


def _refs(node: Any, suffix: str = "") -> Iterator[tuple[str, str]]:
    """The definitions a property's value may be, each with the path suffix to it (``[]`` for a list item)."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        yield suffix, node["$ref"].rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            yield from _refs(sub, suffix)
    if isinstance(node.get("items"), dict):
        yield from _refs(node["items"], suffix + "[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _refs(node["additionalProperties"], suffix + ".*")


def property_paths(schema: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Each (definition, property) of the schema with its path in a document, as error messages write it: the
    shortest way to the definition from the root (``steps[].send_email.to.additional``)."""
    definitions = _definitions(schema)
    prefix = {ROOT_NAME: ""}
    queue = deque([ROOT_NAME])
    while queue:
        name = queue.popleft()
        for prop, sub in definitions[name].get("properties", {}).items():
            path = f"{prefix[name]}.{prop}" if prefix[name] else prop
            for suffix, target in _refs(sub):
                if target not in prefix:
                    prefix[target] = path + suffix
                    queue.append(target)
    return {
        (name, prop): f"{prefix[name]}.{prop}" if prefix[name] else prop
        for name in prefix
        for prop in definitions[name].get("properties", {})
    }


def _reference() -> str:
    return REFERENCE.read_text("utf-8")


def _table_paths(text: str) -> list[str]:
    """The paths listed in the reference's field table: rows whose first cell is one code span."""
    section = text.split("## Every field", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _as_document(block: Any) -> tuple[dict[str, Any], set[str] | None]:
    """A block as a whole definition, and the top-level fields it wrote itself (None: all of them)."""
    if isinstance(block, list):
        return {**BASE, "steps": block}, {"steps"}
    assert isinstance(block, dict), f"a YAML example is a definition, a list of steps or fields of one: {block!r}"
    if "trigger" in block and "steps" in block:
        return block, None
    return {**BASE, "steps": [{"delay": "1d"}], **block}, set(block)


def _used(model: BaseModel) -> Iterator[tuple[str, str]]:
    """Every (definition, property) a validated document gives, by the names the document uses."""
    for name in model.model_fields_set:
        info = type(model).model_fields[name]
        yield type(model).__name__, info.alias or name
        yield from _inside(getattr(model, name))


def _inside(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, BaseModel):
        yield from _used(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _inside(item)


def _examples() -> list[tuple[str, Automation, set[str] | None]]:
    found = []
    for index, block in enumerate(_yaml_blocks(_reference())):
        document, given = _as_document(yaml.safe_load(block))
        try:
            automation = load_definition(document)
        except DefinitionError as exc:
            pytest.fail(f"YAML example {index + 1} of docs/language.md is not valid: {exc}\n{block}")
        found.append((block, automation, given))
    return found


def test_every_property_of_the_schema_has_a_description() -> None:
    missing = [
        path
        for (name, prop), path in property_paths(_schema()).items()
        if not _definitions(_schema())[name]["properties"][prop].get("description", "").strip()
    ]
    assert not missing, f"properties without a description (add description= to their Field): {missing}"


def test_the_stored_schema_has_every_description_too() -> None:
    from automations.language.schema import stored

    schema = stored()
    properties = _definitions(schema)
    missing = [
        path
        for (name, prop), path in property_paths(schema).items()
        if "description" not in properties[name]["properties"][prop]
    ]
    assert not missing, f"run `make schema`: the stored schema lacks descriptions of {missing}"


def test_the_reference_lists_every_property_of_the_schema_and_no_other() -> None:
    listed = _table_paths(_reference())
    expected = set(property_paths(_schema()).values())
    assert len(listed) == len(set(listed)), "a path is listed twice in docs/language.md"
    assert not expected - set(listed), f"docs/language.md does not list {sorted(expected - set(listed))}"
    extra = sorted(set(listed) - expected)
    assert not extra, f"docs/language.md lists paths the schema lacks: {extra}"


def test_every_yaml_example_of_the_reference_is_valid() -> None:
    examples = _examples()
    assert len(examples) >= 10
    whole = [block for block, _, given in examples if given is None]
    assert whole, "the reference shows at least one whole automation"


def test_every_property_of_the_schema_is_shown_in_an_example() -> None:
    shown: set[tuple[str, str]] = set()
    for _, automation, given in _examples():
        for name in automation.model_fields_set:
            info = Automation.model_fields[name]
            key = info.alias or name
            if given is None or key in given:
                shown.add((ROOT_NAME, key))
                shown.update(_inside(getattr(automation, name)))
    paths = property_paths(_schema())
    missing = sorted(path for pair, path in paths.items() if pair not in shown)
    assert not missing, f"docs/language.md has no YAML example that gives {missing}"


#: The pages whose links are checked here (recipes.md is checked, vendor links included, in test_recipes.py).
LINKED_PAGES = ("docs/language.md", "docs/operations.md", "README.md")
#: Pages written alongside these: linked before they exist.
PENDING = {"scale.md"}


@pytest.mark.parametrize("name", LINKED_PAGES)
def test_links_resolve_and_stay_in_the_repository(name: str) -> None:
    source = ROOT / name
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text("utf-8")):
        assert not re.match(r"[a-z]+:", target), f"{name} links outside the repository: {target}"
        file, _, anchor = target.partition("#")
        page = (source.parent / file) if file else source
        if page.name in PENDING and not page.exists():
            continue
        assert page.is_file(), f"{name} links to a missing file: {target}"
        if anchor and page.suffix == ".md":
            assert anchor in _anchors(page.read_text("utf-8")), f"{name} links to a missing anchor: {target}"


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as dashes."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_readme_lists_every_document() -> None:
    readme = README.read_text("utf-8")
    listed = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    names = {page.name for page in (ROOT / "docs").glob("*.md")} | PENDING | {"language.md", "recipes.md"}
    for name in sorted(names):
        assert f"(docs/{name})" in listed, f"README.md's Documentation list does not link docs/{name}"
