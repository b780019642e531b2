"""The Lambda layer that ``make build`` made (.aws-sam/build/CoreLayer): what it holds, and its size.

``make bench`` prints its figures as JSON lines, like :mod:`scripts.bench`: the unzipped size (what counts
against Lambda's 250 MB for a function and its layers), the zipped size, the file count and the largest
packages. It fails when the layer holds a development tool (the local stack, the CLI, moto, typer, rich, the
test tools), ships the SDK that the runtime provides or what the runtime never loads (dnspython), or lacks the
package's own data or Babel's root and English locale data. Without a
build it says so and prints nothing.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

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
)
GONE = ("automations/local", "automations/cli")

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
    emit("layer.unzipped_size", sum(packages.values()) / MIB, "MiB", files=files, largest_mib=largest, goal="<= 15")
    emit("layer.zipped_size", zipped_size(BUILT) / MIB, "MiB")
    wrong = problems(site)
    if wrong:
        sys.stderr.write("the built layer is not as it should be:\n" + "".join(f"  {line}\n" for line in wrong))
        sys.exit(1)


if __name__ == "__main__":
    main()
