"""The SAM template translates offline and lints clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import TEMPLATE

CFN_LINT = Path(__import__("sys").executable).parent / "cfn-lint"


def test_cfn_lint_passes_on_the_sam_template() -> None:
    result = subprocess.run([str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
