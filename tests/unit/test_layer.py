"""What the Lambda layer is built from: runtime code only, and dependencies locked by hash.

`make build` (sam build) is slow and needs python3.13, so these tests read the layer's inputs: the folder it is
built from (layers/core), its Makefile, the lock files and pyproject.toml's pins. `make bench` checks the layer
itself once built (scripts/layer.py); its checks are tried here on small layers made up for the purpose.
"""

from __future__ import annotations

import ast
import pickle
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from automations_local.template import load_template, resources_of

from scripts.layer import LOCALE_DATA, byte_code_problems, kept_keys, locale_data_problems
from scripts.lock import DEV_LOCK, LAYER_LOCK, LAYER_PLATFORM, LAYER_PYTHON, RUNTIME_LOCK, RUNTIME_PROVIDED, normalize
from scripts.lock import pins as lock_pins
from tests.conftest import (
    PRUNE_LOCALE_DATA,
    ROOT,
    TEMPLATE,
    installed_locale_data,
    prune_module,
    pruned_locale_data,
)

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
    # prune_locale_data.py runs when the layer is built and is not shipped (the Makefile copies automations only)
    assert entries == {"automations", "Makefile", "requirements.lock", "prune_locale_data.py"}
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


def recipe() -> list[str]:
    """The commands of build-CoreLayer, continued lines joined, comments left out."""
    makefile = (LAYER / "Makefile").read_text().replace("\\\n", " ")
    body = makefile.split("build-CoreLayer:", 1)[1].splitlines()
    return [line.strip() for line in body if line.startswith("\t") and not line.strip().startswith("#")]


def test_the_layer_leaves_out_what_the_runtime_never_loads() -> None:
    makefile = (LAYER / "Makefile").read_text()
    # dnspython (no DNS check is ever asked for) and PyYAML's C extension
    assert '"$(SITE)/dns"' in makefile
    assert '"$(SITE)"/yaml/_yaml.*.so' in makefile


def test_the_layer_prunes_babels_locale_data_once_installed_and_before_compiling() -> None:
    # Every locale stays (a locale the definitions accept when saved formats the same in Lambda), with only the
    # data the template filters read; the script runs with the Babel it prunes (its pickles need babel's classes)
    commands = recipe()
    (prune,) = [index for index, command in enumerate(commands) if "prune_locale_data.py" in command]
    assert 'PYTHONPATH="$(SITE)" $(LAYER_PYTHON) prune_locale_data.py "$(SITE)/babel/locale-data"' in commands[prune]
    assert "PYTHONDONTWRITEBYTECODE=1" in commands[prune]  # no __pycache__ left in the installed Babel
    (install,) = [index for index, command in enumerate(commands) if "pip install" in command]
    compiles = [index for index, command in enumerate(commands) if "compileall" in command]
    assert install < prune < min(compiles)


def test_prune_locale_data_needs_the_standard_library_only() -> None:
    # It runs with the layer's python3.13 and the installed Babel only, before anything else is on the path
    tree = ast.parse(PRUNE_LOCALE_DATA.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert {name.split(".")[0] for name in imported} - {"__future__"} <= sys.stdlib_module_names


def test_the_package_keeps_its_sources_and_the_dependencies_ship_byte_code_only() -> None:
    commands = recipe()
    compiles = [command for command in commands if "compileall" in command]
    # The package: sources and byte code (in __pycache__, never checked against the sources: /opt is read-only)
    (package,) = [command for command in compiles if command.endswith('"$(SITE)/automations"')]
    assert "--invalidation-mode unchecked-hash" in package and " -b " not in package
    # The dependencies (everything else under python/): legacy byte code in place of the sources, whose paths in
    # tracebacks are those of the runtime (/opt/python)
    (dependencies,) = [command for command in compiles if "! -name automations" in command]
    assert dependencies.startswith('find "$(SITE)" -mindepth 1 -maxdepth 1 ! -name automations -exec')
    for option in (" -b ", "--invalidation-mode unchecked-hash", '-s "$(SITE)" -p /opt/python'):
        assert option in dependencies
    (delete,) = [command for command in commands if "-name '*.py'" in command]
    assert delete == """find "$(SITE)" -name '*.py' -type f ! -path "$(SITE)/automations/*" -delete"""
    assert commands.index(delete) > commands.index(dependencies) > commands.index(package)
    # The package is copied in before its byte code is made, and stale __pycache__ folders go before either
    copy = commands.index('cp -R automations "$(SITE)/"')
    caches = commands.index('find "$(SITE)" -name __pycache__ -type d -prune -exec rm -rf {} +')
    assert copy < caches < commands.index(package)


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


# --- scripts/layer.py's checks of a built layer ---------------------------------------------------------------


def test_the_layer_check_wants_the_package_sources_with_byte_code_and_the_dependencies_byte_code_only(
    tmp_path: Path,
) -> None:
    package = tmp_path / "automations"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"")
    (tmp_path / "babel").mkdir()
    (tmp_path / "babel" / "__init__.pyc").write_bytes(b"")
    (tmp_path / "typing_extensions.pyc").write_bytes(b"")
    assert byte_code_problems(tmp_path) == []
    # A module of the package without its byte code, a dependency's source, a dependency's __pycache__
    (package / "engine.py").write_text("")
    (tmp_path / "babel" / "core.py").write_text("")
    (tmp_path / "babel" / "__pycache__").mkdir()
    assert byte_code_problems(tmp_path) == [
        "automations/engine.py has no byte code",
        "the dependencies ship 1 sources beside their byte code: babel/core.py ...",
        "the dependencies ship 1 __pycache__ folders beside their byte code: babel/__pycache__ ...",
    ]


def test_the_layer_check_wants_babels_locale_data_as_pruned(tmp_path: Path) -> None:
    import babel

    assert kept_keys() == frozenset(prune_module().KEPT)
    site = tmp_path / "python"
    folder = site / LOCALE_DATA
    shutil.copytree(pruned_locale_data(), folder)
    (site / f"babel-{babel.__version__}.dist-info").mkdir()
    assert locale_data_problems(folder) == []
    # A locale lost, a dropped key still in a file, a kept key gone
    (folder / "fr_CA.dat").unlink()
    shutil.copy2(installed_locale_data() / "de.dat", folder / "de.dat")
    drop_key(folder / "ja.dat", "meta_zones")
    assert locale_data_problems(folder) == [
        f"{LOCALE_DATA} holds other files than Babel's: ['fr_CA.dat'] missing, [] more",
        *[f"{LOCALE_DATA}: 1 files hold {key}, which is dropped" for key in dropped_keys_of("de.dat")],
        f"{LOCALE_DATA}/de.dat lacks kept keys: []",
        f"{LOCALE_DATA}/ja.dat lacks kept keys: ['meta_zones']",
    ]
    # Another Babel than the development environment's: nothing to compare with
    (site / f"babel-{babel.__version__}.dist-info").rename(site / "babel-0.1.dist-info")
    assert locale_data_problems(folder) == [
        f"the layer's babel-0.1.dist-info is not the development environment's Babel {babel.__version__}"
    ]


def dropped_keys_of(name: str) -> list[str]:
    with (installed_locale_data() / name).open("rb") as file:
        keys = set(pickle.load(file))
    return sorted(keys - set(prune_module().KEPT))


def drop_key(path: Path, key: str) -> None:
    with path.open("rb") as file:
        data = pickle.load(file)
    del data[key]
    path.write_bytes(pickle.dumps(data))
