"""Shared fixtures: the repository's paths and its example automations."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The example automations and their sample events: the template catalog the package ships (one copy only).
CATALOG = ROOT / "layers" / "core" / "automations" / "catalog"
EXAMPLES = CATALOG / "automations"
EXAMPLE_EVENTS = CATALOG / "events"
EVENTS = ROOT / "tests" / "events"
TEMPLATE = ROOT / "infra" / "template.yaml"
#: What the layer's build runs on Babel's locale data (layers/core is no package: loaded by its path).
PRUNE_LOCALE_DATA = ROOT / "layers" / "core" / "prune_locale_data.py"


def load_event(name: str) -> dict[str, Any]:
    """An AWS-shaped sample event from ``tests/events``."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture
def root() -> Path:
    return ROOT


# --- Babel's locale data, as the layer ships it ---------------------------------------------------------------


def prune_module() -> ModuleType:
    """layers/core/prune_locale_data.py, the script the layer's build prunes Babel's locale data with."""
    spec = importlib.util.spec_from_file_location("prune_locale_data", PRUNE_LOCALE_DATA)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed_locale_data() -> Path:
    """The locale data of the installed Babel, whole."""
    import babel

    return Path(babel.__file__).parent / "locale-data"


def pruned_locale_data() -> Path:
    """A pruned copy of the installed Babel's locale data, made once for a Babel version and a prune script
    (under .pytest_cache), in a temporary folder renamed into place, so that concurrent sessions agree."""
    import babel

    key = hashlib.sha256(PRUNE_LOCALE_DATA.read_bytes()).hexdigest()[:16]
    folder = ROOT / ".pytest_cache" / "babel-locale-data" / f"{babel.__version__}-{key}"
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".partial-"))
        prune_module().prune(installed_locale_data(), partial)
        try:
            partial.rename(folder)
        except OSError:  # another session made it meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def use_locale_data(folder: Path) -> None:
    """Point Babel at the locale data in ``folder``, forgetting what it loaded or found before."""
    import babel.localedata

    babel.localedata._dirname = str(folder)
    babel.localedata.clear_caches()
    babel.localedata.exists.cache_clear()
    babel.localedata.locale_identifiers.cache_clear()


def pytest_configure(config: pytest.Config) -> None:
    """The whole session formats with the locale data the layer ships (pruned by its build), before any test
    module is imported: the tests of the templates then prove that the data kept is all the product reads."""
    use_locale_data(pruned_locale_data())
