"""The functions of ``functions/<name>/app.py``, loaded and invoked in this process as Lambda would invoke them.

Each module is loaded by its path (no ``sys.path`` edits) and reloaded when its file changes, one load at a
time. Invocations are not put one after the other here (on Lambda, concurrent invocations get instances of
their own): what keeps concurrent work right is what keeps it right on AWS, DynamoDB's conditional writes.
A function whose file is not there yet is reported as missing rather than failing the whole stack.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from automations.errors import AutomationsError

from automations_local.cfn import ACCOUNT
from automations_local.log import LOG


class FunctionMissingError(AutomationsError):
    """``functions/<name>/app.py`` does not exist (yet)."""


class FunctionLoadError(AutomationsError):
    """``functions/<name>/app.py`` exists but could not be imported."""


@dataclass
class LambdaContext:
    """The attributes of a Lambda context that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_seconds: int = 30
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self.started)
        return max(0, int(left * 1000))


@dataclass
class _Loaded:
    module: ModuleType
    mtime: float


class Functions:
    """Loads and invokes the handlers; only loading a module is done one at a time."""

    def __init__(
        self, root: Path, *, region: str, prefix: str = "automations-local", timeouts: dict[str, int] | None = None
    ) -> None:
        self.root = root
        self.region = region
        self.prefix = prefix
        self.timeouts = dict(timeouts or {})  # folder -> seconds, as the template gives each function
        self._loading = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}
        self._failed: dict[str, float] = {}

    def path(self, name: str) -> Path:
        return self.root / "functions" / name / "app.py"

    def available(self, name: str) -> bool:
        return self.path(name).is_file()

    def ready(self, name: str) -> bool:
        """The function exists and imports (it is loaded now if it was not)."""
        try:
            self.module(name)
        except (FunctionMissingError, FunctionLoadError):
            return False
        return True

    def status(self, names: list[str]) -> dict[str, bool]:
        return {name: self.available(name) for name in names}

    def module(self, name: str) -> ModuleType:
        """The handler's module, (re)loaded from its file when it is new or changed."""
        path = self.path(name)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            raise FunctionMissingError(f"functions/{name}/app.py does not exist yet") from None
        loaded = self._loaded.get(name)
        if loaded is not None and loaded.mtime == mtime:
            return loaded.module
        with self._loading:
            return self._load(name, path, mtime)

    def _load(self, name: str, path: Path, mtime: float) -> ModuleType:
        loaded = self._loaded.get(name)
        if loaded is not None and loaded.mtime == mtime:  # loaded by another thread meanwhile
            return loaded.module
        module_name = f"functions_{name}_app"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            if self._failed.get(name) != mtime:
                self._failed[name] = mtime
                LOG.exception("functions/%s/app.py failed to import", name)
            raise FunctionLoadError(f"functions/{name}/app.py failed to import: {exc}") from exc
        if not callable(getattr(module, "handler", None)):
            raise FunctionLoadError(f"functions/{name}/app.py has no handler(event, context)")
        self._loaded[name] = _Loaded(module, mtime)
        self._failed.pop(name, None)
        LOG.info("%s functions/%s/app.py", "reloaded" if loaded else "loaded", name)
        return module

    def context(self, name: str) -> LambdaContext:
        function = f"{self.prefix}-{name.replace('_', '-')}"
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{function}"
        return LambdaContext(
            function_name=function,
            invoked_function_arn=arn,
            log_group_name=f"/aws/lambda/{function}",
            timeout_seconds=self.timeouts.get(name, LambdaContext.timeout_seconds),
        )

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call ``handler(event, context)`` of the function (other invocations may be running meanwhile)."""
        return self.module(name).handler(event, self.context(name))
