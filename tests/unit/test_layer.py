"""What the Lambda layer is built from: runtime code only, and dependencies locked by hash.

`make build` (sam build) is slow and needs python3.13, so these tests read the layer's inputs: the folder it is
built from (layers/core), its Makefile, the lock files and pyproject.toml's pins. `make bench` checks the layer
itself once built (scripts/layer.py).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from automations_local.template import load_template, resources_of

from scripts.lock import DEV_LOCK, LAYER_LOCK, LAYER_PLATFORM, LAYER_PYTHON, RUNTIME_LOCK, RUNTIME_PROVIDED, normalize
from scripts.lock import pins as lock_pins
from tests.conftest import ROOT, TEMPLATE

LAYER = ROOT / "layers" / "core"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Development and operator tools: never in the layer.
TOOLS = {"moto", "typer", "rich", "pytest", "hypothesis", "schemathesis", "mypy", "ruff", "cfn-lint", "uv"}
#: Files of layers/core that are no code: generated or caches, ignored by git.
IGNORED = re.compile(r"(__pycache__|\.egg-info|\.pyc$)")


def pinned(requirements: list[str]) -> dict[str, str]:
    """``name==version`` requirements as {name: version}; ``automations[cli]`` (the project itself) left out."""
    out = {}
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", requirement.strip())
        if found:
            out[normalize(found.group(1))] = found.group(3)
        else:
            assert requirement.startswith("automations["), f"not an exact pin: {requirement}"
    return out


def differences(wanted: dict[str, str], locked: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """The pins whose lock has another version, or none: {name: (pinned, locked)}."""
    return {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}


def lock_entries(lock: Path) -> list[tuple[str, list[str]]]:
    """Each entry of a lock file: its ``name==version`` line and its hashes."""
    entries = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        head = block.split(" ", 1)[0].strip()
        if "==" in head:
            entries.append((head, re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
    return entries


@pytest.fixture(scope="module")
def core_layer() -> dict[str, Any]:
    layer: dict[str, Any] = resources_of(load_template(TEMPLATE), "AWS::Serverless::LayerVersion")["CoreLayer"]
    return layer


# --- what the layer is built from ------------------------------------------------------------------------


def test_layers_core_holds_the_runtime_package_its_makefile_and_its_lock_only() -> None:
    entries = {path.name for path in LAYER.iterdir() if not IGNORED.search(path.name)}
    assert entries == {"automations", "Makefile", "requirements.lock"}
    # The tools live beside it, in their own packages (tools/), never inside the runtime package
    assert not (LAYER / "automations" / "local").exists()
    assert not (LAYER / "automations" / "cli").exists()
    assert (ROOT / "tools" / "automations_local" / "__main__.py").is_file()
    assert (ROOT / "tools" / "automations_cli" / "__init__.py").is_file()


def test_the_runtime_package_imports_no_tool() -> None:
    # lint-imports checks the imports between packages (.importlinter, "tools"); this also catches a lazy import
    tools = "|".join(["automations_local", "automations_cli", "moto", "typer", "rich"])
    pattern = re.compile(rf"^\s*(from|import)\s+({tools})\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (LAYER / "automations").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_template_builds_the_layer_with_its_makefile_for_python313_on_arm64(core_layer: dict[str, Any]) -> None:
    assert core_layer["Properties"]["ContentUri"] == "../layers/core/"
    assert core_layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert core_layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert core_layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


def test_the_layer_makefile_installs_the_lock_by_hash_for_the_runtime_without_resolving() -> None:
    makefile = (LAYER / "Makefile").read_text()
    assert re.search(r"^build-CoreLayer:", makefile, re.MULTILINE)
    lines = makefile.replace("\\\n", " ").splitlines()  # continued lines joined
    (install,) = [line for line in lines if "pip install" in line]
    for option in ("--require-hashes", "--no-deps", "--only-binary=:all:", "-r requirements.lock"):
        assert option in install
    assert f"--python-version {LAYER_PYTHON}" in install
    # The wheels of the platform the locks were made for (aarch64, manylinux up to glibc 2.34), and older ones
    arch, newest = LAYER_PLATFORM.split("-manylinux_", 1)
    assert "$(PLATFORMS)" in install
    assert re.search(rf"^GLIBC_MINORS := {newest.split('_')[1]} ", makefile, re.MULTILINE)
    assert f"--platform manylinux_2_$(minor)_{arch}" in makefile
    # The package goes in as it is in the repository (its data included), byte code for python3.13
    assert 'cp -R automations "$(SITE)/"' in makefile
    assert "compileall" in makefile


def test_the_layer_leaves_out_what_the_runtime_never_loads() -> None:
    makefile = (LAYER / "Makefile").read_text()
    # dnspython (no DNS check is ever asked for) and PyYAML's C extension; Babel's locale data stays whole, so that
    # a locale the definitions accept when saved formats the same in Lambda
    assert '"$(SITE)/dns"' in makefile
    assert '"$(SITE)"/yaml/_yaml.*.so' in makefile
    assert "locale-data" not in makefile


# --- the locks -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK, LAYER_LOCK], ids=lambda path: path.name)
def test_every_entry_of_a_lock_is_pinned_with_its_hashes(lock: Path) -> None:
    entries = lock_entries(lock)
    assert entries
    for head, hashes in entries:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==\S+", head), head
        assert hashes, f"{lock.name}: {head} has no hash"


def test_pyproject_pins_are_the_locks_versions() -> None:
    runtime, dev = lock_pins(RUNTIME_LOCK), lock_pins(DEV_LOCK)
    dependencies = pinned(PYPROJECT["project"]["dependencies"])
    extras = {
        name: version
        for requirements in PYPROJECT["project"]["optional-dependencies"].values()
        for name, version in pinned(requirements).items()
    }
    assert differences(dependencies, runtime) == {}, "pyproject.toml and requirements/runtime.lock differ: make lock"
    assert differences(extras, runtime | dev) == {}, "pyproject.toml and requirements/dev.lock differ: make lock"


def test_the_dev_lock_adds_to_the_runtime_lock_without_repeating_it() -> None:
    # make install installs both locks together: a package in both could be asked at two versions
    assert set(lock_pins(RUNTIME_LOCK)) & set(lock_pins(DEV_LOCK)) == set()


def test_the_layer_lock_is_the_runtime_lock_less_the_sdk_the_runtime_provides() -> None:
    runtime, layer = lock_pins(RUNTIME_LOCK), lock_pins(LAYER_LOCK)
    assert {name: runtime.get(name) for name in layer} == layer  # the same versions
    provided = {normalize(name) for name in RUNTIME_PROVIDED}
    assert provided <= set(runtime)
    assert set(layer) & provided == set()
    assert set(layer) & TOOLS == set()
    # Everything else the package needs on python3.13 (pycparser and cffi: CPython's, as Lambda runs)
    assert set(layer) == set(runtime) - provided
