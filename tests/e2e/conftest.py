"""The local stack, started once for the e2e session as a user starts it, and a small HTTP client for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

API_KEY = "local-dev-key"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class LocalStackClient:
    """Talks to the running stack over HTTP (urllib only), as an app, an operator or a recipient would."""

    base: str
    api_key: str
    log: Path
    moto_url: str = ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        *,
        key: str | None = API_KEY,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data: bytes | None
        sent = dict(headers or {})
        if isinstance(body, dict | list):
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        if key is not None:
            sent["x-api-key"] = key
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers.items()), error.read())

    # --- the product's routes ------------------------------------------------------------------------------

    def post_event(self, event: dict[str, Any]) -> Answer:
        return self.request("POST", "/v1/events", event)

    def totals(self, automation_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/v1/automations/{automation_id}/stats")
        assert answer.status == 200, answer.text
        totals: dict[str, Any] = answer.json()["totals"]
        return totals

    # --- the local tools -----------------------------------------------------------------------------------

    def outbox(self, to: str | None = None) -> list[dict[str, Any]]:
        query = f"?to={urllib.parse.quote(to)}" if to else ""
        answer = self.request("GET", f"/_local/outbox{query}", key=None)
        assert answer.status == 200, answer.text
        emails: list[dict[str, Any]] = answer.json()["emails"]
        return emails

    def advance(self, duration: str) -> dict[str, Any]:
        answer = self.request("POST", "/_local/clock", {"advance": duration}, key=None)
        assert answer.status == 200, answer.text
        moved: dict[str, Any] = answer.json()
        return moved

    def wait_for(self, check: Callable[[], Any], timeout: float = 8.0, what: str = "condition") -> Any:
        """Poll until ``check()`` returns something truthy (the pump also runs on its own every half second)."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.2)

    def emails_about(self, to: str, subject_contains: str) -> list[dict[str, Any]]:
        return [e for e in self.outbox(to) if subject_contains in e["subject"]]

    def wait_for_email(self, to: str, subject_contains: str, timeout: float = 8.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.outbox(to) if subject_contains in e["subject"]), None)

        email: dict[str, Any] = self.wait_for(found, timeout, f"an email to {to} about {subject_contains!r}")
        return email

    def functions(self) -> dict[str, bool]:
        status: dict[str, bool] = self.request("GET", "/_local/status", key=None).json()["functions"]
        return status

    def require(self, *names: str) -> None:
        """Every handler the test goes through is loaded by the stack (a missing one fails the test)."""
        missing = [name for name, present in self.functions().items() if name in names and not present]
        assert not missing, f"the local stack has no {', '.join(f'functions/{n}/app.py' for n in missing)}"


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def running_stack(log: Path, *options: str) -> Iterator[LocalStackClient]:
    """``python -m automations_local`` on free ports (with further ``options``), ready; stopped with SIGTERM."""
    port, moto_port = free_port(), free_port()
    command = [sys.executable, "-m", "automations_local", "--port", str(port), "--moto-port", str(moto_port), *options]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONUNBUFFERED": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env=env)
    client = LocalStackClient(f"http://127.0.0.1:{port}", API_KEY, log, f"http://127.0.0.1:{moto_port}")
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the local stack exited with {process.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{client.base}/_local/status", timeout=2) as response:
                    if json.loads(response.read()).get("ready"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the local stack was not ready within {START_TIMEOUT:.0f}s:\n{_tail(log)}")
            time.sleep(0.1)
        yield client
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"the local stack did not stop on SIGTERM:\n{_tail(log)}")
        if process.returncode != 0:
            pytest.fail(f"the local stack ended with {process.returncode}:\n{_tail(log)}")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackClient]:
    """The local stack shared by the session, as ``make dev`` starts it."""
    with running_stack(tmp_path_factory.mktemp("local-stack") / "stack.log") as client:
        yield client
