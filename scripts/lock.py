"""The lock files, made from pyproject.toml's pins by uv (``make lock``): every entry pinned, with its hashes.

- ``requirements/runtime.lock``: the package's dependencies (pyproject's ``dependencies``), for every Python
  the project supports and every platform.
- ``requirements/dev.lock``: the ``dev`` extra (the CLI, the local stack's moto, the tests and checks) less
  what runtime.lock holds, at runtime.lock's versions. ``make install`` installs both, then the project itself
  with ``--no-deps``.
- ``layers/core/requirements.lock``: what the Lambda layer installs (layers/core/Makefile): runtime.lock for
  python3.13 on manylinux arm64, less the AWS SDK that the Lambda runtime provides (:data:`RUNTIME_PROVIDED`).

A pin already in a lock is kept unless pyproject.toml asks for another version; ``--upgrade`` (``make lock
UPGRADE=1``) moves the unpinned ones (the dependencies' dependencies) to their newest releases.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
LAYER_LOCK = ROOT / "layers" / "core" / "requirements.lock"

#: The Lambda runtime's own AWS SDK for Python: boto3, botocore and what they depend on. The layer leaves them
#: out; the code calls only operations that the runtime's botocore has (the SDK note in docs/operations.md).
#: urllib3 is not among them: the layer ships its pinned version, which the webhook client relies on.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six")
#: The Lambda runtime: python3.13 on arm64 (Amazon Linux 2023, glibc 2.34).
LAYER_PYTHON = "3.13"
LAYER_PLATFORM = "aarch64-manylinux_2_34"
#: The oldest Python the project supports (requires-python).
OLDEST_PYTHON = "3.11"

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """The ``name==version`` entries of a lock file (names normalized), whatever their markers."""
    return {normalize(name): version for name, version in PIN.findall(lock.read_text())}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def compile_lock(output: Path, *options: str, upgrade: bool) -> None:
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        relative(PYPROJECT),
        "--quiet",
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        "--output-file",
        relative(output),
        *options,
    ]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="move the unpinned dependencies to their newest")
    args = parser.parse_args(argv)

    RUNTIME_LOCK.parent.mkdir(exist_ok=True)
    compile_lock(RUNTIME_LOCK, "--universal", "--python-version", OLDEST_PYTHON, upgrade=args.upgrade)
    runtime = relative(RUNTIME_LOCK)
    in_runtime = [option for name in sorted(pins(RUNTIME_LOCK)) for option in ("--no-emit-package", name)]
    compile_lock(
        DEV_LOCK,
        *("--extra", "dev", "--universal", "--python-version", OLDEST_PYTHON, "--constraint", runtime),
        *in_runtime,
        upgrade=args.upgrade,
    )
    not_in_layer = [option for name in RUNTIME_PROVIDED for option in ("--no-emit-package", name)]
    compile_lock(
        LAYER_LOCK,
        *("--python-version", LAYER_PYTHON, "--python-platform", LAYER_PLATFORM, "--constraint", runtime),
        *not_in_layer,
        upgrade=False,
    )


if __name__ == "__main__":
    main()
