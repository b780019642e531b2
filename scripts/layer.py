"""The Lambda layer that ``make build`` made (.aws-sam/build/CoreLayer): what it holds, and its size.

``make bench`` prints its figures as JSON lines, like :mod:`scripts.bench`: the unzipped size (what counts
against Lambda's 250 MB for a function and its layers), the zipped size, the file count and the largest
packages. It fails when the layer holds a development tool (the local stack, the CLI, moto, typer, rich, the
test tools), ships the SDK that the runtime provides or what the runtime never loads (dnspython), or lacks the
package's own data or Babel's root and English locale data; when the package lacks its sources or their byte
code, or a dependency ships a source (``.py``) or a ``__pycache__`` where its byte code alone should be; and when
Babel's locale data is not as layers/core/prune_locale_data.py leaves it (a locale missing, a key it drops
still there, or a key it keeps gone). Without a build it says so and prints nothing.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, cast

from scripts.bench import emit

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / ".aws-sam" / "build" / "CoreLayer"
#: Top-level names under python/ that must not be there: the tools, their dependencies, and the runtime's SDK.
FORBIDDEN = (
    "automations_local",
    "automations_cli",
    "moto",
    "typer",
    "rich",
    "pytest",
    "hypothesis",
    "boto3",
    "botocore",
    "s3transfer",
    "dns",
)
#: Files the runtime package needs at run time (its package data) and the old homes of the tools.
REQUIRED = (
    "automations/__init__.py",
    "automations/catalog/catalog.yaml",
    "automations/catalog/automations",
    "automations/catalog/events",
    "automations/language/automation.schema.json",
    "babel/locale-data/root.dat",
    "babel/locale-data/en.dat",
    # the dependencies, as byte code (a package's and a single module's)
    "babel/__init__.pyc",
    "jinja2/__init__.pyc",
    "pydantic/__init__.pyc",
    "typing_extensions.pyc",
)
GONE = ("automations/local", "automations/cli")
#: The package that keeps its sources (with their byte code in __pycache__); every other one ships byte code only.
PACKAGE = "automations"
LOCALE_DATA = "babel/locale-data"
PRUNE_LOCALE_DATA = ROOT / "layers" / "core" / "prune_locale_data.py"

MIB = 1024 * 1024


def top_level(name: str) -> str:
    """``botocore-1.38.36.dist-info`` and ``botocore`` both count as ``botocore``."""
    for suffix in (".dist-info", ".data"):
        if name.endswith(suffix):
            return name[: -len(suffix)].rsplit("-", 1)[0].lower().replace("-", "_")
    return name.split(".", 1)[0].lower()


def problems(site: Path) -> list[str]:
    """What is wrong with the layer's ``python/`` folder (nothing when it is as it should be)."""
    found = []
    present = {top_level(entry.name) for entry in site.iterdir()}
    found += [f"{name} is in the layer" for name in FORBIDDEN if name in present]
    found += [f"{path} is missing" for path in REQUIRED if not (site / path).exists()]
    found += [f"{path} is in the layer" for path in GONE if (site / path).exists()]
    found += byte_code_problems(site)
    if (site / LOCALE_DATA / "root.dat").is_file():
        found += locale_data_problems(site / LOCALE_DATA)
    return found


def byte_code_problems(site: Path) -> list[str]:
    """The package's sources each with its byte code; the dependencies' byte code in place of their sources."""
    found = []
    package = site / PACKAGE
    for source in sorted(package.rglob("*.py")):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            found.append(f"{source.relative_to(site)} has no byte code")
    sources = [path for path in site.rglob("*.py") if not path.is_relative_to(package)]
    caches = [path for path in site.rglob("__pycache__") if not path.is_relative_to(package)]
    for kind, paths in (("sources", sources), ("__pycache__ folders", caches)):
        if paths:
            shown = ", ".join(str(path.relative_to(site)) for path in sorted(paths)[:3])
            found.append(f"the dependencies ship {len(paths)} {kind} beside their byte code: {shown} ...")
    return found


def kept_keys() -> frozenset[str]:
    """The keys of Babel's locale data that the layer's build keeps (layers/core/prune_locale_data.py)."""
    spec = importlib.util.spec_from_file_location("prune_locale_data", PRUNE_LOCALE_DATA)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(cast("dict[str, str]", module.KEPT))


def _keys(path: Path) -> list[str]:
    with path.open("rb") as file:
        data: dict[str, Any] = pickle.load(file)  # the layer's own build wrote it
    return list(data)


def locale_data_problems(folder: Path) -> list[str]:
    """Babel's locale data as the build prunes it: the same locales as the Babel of the development environment
    (the same version, from the same lock), in each the keys kept, and none dropped."""
    import babel

    kept = kept_keys()
    installed = Path(babel.__file__).parent / "locale-data"
    version = next((path.name for path in folder.parent.parent.glob("babel-*.dist-info")), "babel-?")
    if version.removesuffix(".dist-info") != f"babel-{babel.__version__}":
        return [f"the layer's {version} is not the development environment's Babel {babel.__version__}"]
    found = []
    names, expected = sorted(path.name for path in folder.iterdir()), sorted(path.name for path in installed.iterdir())
    if names != expected:
        lost, more = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
        found.append(f"{LOCALE_DATA} holds other files than Babel's: {lost[:3]} missing, {more[:3]} more")
    dropped: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.dat")):
        for key in sorted(set(_keys(path)) - kept):
            dropped.setdefault(key, []).append(path.stem)
    found += [f"{LOCALE_DATA}: {len(stems)} files hold {key}, which is dropped" for key, stems in dropped.items()]
    for name in ("root.dat", "en.dat", "de.dat", "ja.dat"):
        wanted = [key for key in _keys(installed / name) if key in kept]
        if (folder / name).is_file() and _keys(folder / name) != wanted:
            found.append(f"{LOCALE_DATA}/{name} lacks kept keys: {sorted(set(wanted) - set(_keys(folder / name)))}")
    return found


def sizes(site: Path) -> dict[str, int]:
    """Bytes of each top-level package (its dist-info included), largest first."""
    totals: dict[str, int] = {}
    for path in site.rglob("*"):
        if path.is_file():
            name = top_level(path.relative_to(site).parts[0])
            totals[name] = totals.get(name, 0) + path.stat().st_size
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def zipped_size(layer: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(layer.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(layer))
        return archive.stat().st_size


def main() -> None:
    site = BUILT / "python"
    if not site.is_dir():
        sys.stderr.write(f"no built layer in {BUILT.relative_to(ROOT)}: `make build` makes it\n")
        return
    packages = sizes(site)
    files = sum(1 for path in site.rglob("*") if path.is_file())
    largest = {name: round(size / MIB, 2) for name, size in packages.items() if size >= MIB / 10}
    locale_data = sum(path.stat().st_size for path in (site / LOCALE_DATA).glob("*")) / MIB
    emit(
        "layer.unzipped_size",
        sum(packages.values()) / MIB,
        "MiB",
        files=files,
        largest_mib=largest,
        babel_locale_data_mib=round(locale_data, 2),
        goal="<= 15",
    )
    emit("layer.zipped_size", zipped_size(BUILT) / MIB, "MiB")
    wrong = problems(site)
    if wrong:
        sys.stderr.write("the built layer is not as it should be:\n" + "".join(f"  {line}\n" for line in wrong))
        sys.exit(1)


if __name__ == "__main__":
    main()
