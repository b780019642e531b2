"""The CLI at 80 columns: every column of ``runs`` and ``stats`` readable, no ``<bool>`` after flags in
``--help``; ``rename`` takes ``--name`` as ``duplicate`` does; ``--json`` errors are JSON on stderr; ``delete``
with no terminal needs ``--yes``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from automations_cli import app
from automations_cli import client as cli_client
from typer.testing import CliRunner

from tests.unit.test_cli_commands import OVERDUE, SUMMARY, FakeApi, stats_body

runner = CliRunner()


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(cli_client, "transport", fake.transport)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("AUTOMATIONS_ENDPOINT", raising=False)
    monkeypatch.delenv("AUTOMATIONS_API_KEY", raising=False)
    return fake


def run_item(**changes: Any) -> dict[str, Any]:
    return {
        "id": "run_01kb2x5v6m7n8p9q0r1s2t3v4w",
        "automation_id": "overdue-invoice-reminder",
        "version": 3,
        "person": "c_42",
        "run_key": "inv_7",
        "status": "waiting",
        "position": "still-unpaid",
        "due_at": "2026-11-27T10:00:00+00:00",
        "started_at": "2026-11-24T10:00:00+00:00",
        "updated_at": "2026-11-24T10:00:00+00:00",
        "ended_at": None,
        "end_reason": None,
        **changes,
    }


def test_runs_show_every_field_within_80_columns(narrow: FakeApi) -> None:
    ended = run_item(
        id="run_01kb2x5v6m7n8p9q0r1s2t3v4x",
        status="completed",
        person="ana.silva@example.com",
        ended_at="2026-11-27T10:00:00+00:00",
        end_reason="reached the end of the automation",
    )
    narrow.on("GET", "/v1/runs", (200, {"runs": [run_item(), ended]}))
    result = runner.invoke(app, ["runs", "--automation", OVERDUE])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = result.stdout
    for shown in (
        "run_01kb2x5v6m7n8p9q0r1s2t3v4w",
        "waiting",
        "completed",
        "overdue-invoice-reminder v3",
        "c_42",
        "ana.silva@example.com",
        "due 2026-11-27 10:00:00",
        "ended 2026-11-27 10:00:00",
        "waiting on still-unpaid",
        "reached the end of the",
    ):
        assert shown in text, (shown, text)


def test_stats_headers_are_whole_within_80_columns(narrow: FakeApi) -> None:
    narrow.on("GET", f"/v1/automations/{OVERDUE}/stats", (200, stats_body()))
    result = runner.invoke(app, ["stats", OVERDUE])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
    for label in ("skipped", "delivered", "complaints", "unsubscribed", "suppressed", "all steps", "reminder"):
        assert label in result.stdout, label


@pytest.mark.parametrize("command", [[], ["delete"], ["show"], ["rename"], ["runs"], ["apply"]])
def test_help_shows_no_bool_metavar(narrow: FakeApi, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout and "--help" in result.stdout


def test_rename_and_duplicate_take_the_new_name_the_same_way(narrow: FakeApi) -> None:
    narrow.on("PATCH", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "name": "Chase"}))
    narrow.on("POST", f"/v1/automations/{OVERDUE}/duplicate", (201, {**SUMMARY, "id": "copy", "name": "Chase"}))
    renamed = runner.invoke(app, ["rename", OVERDUE, "--name", "Chase"])
    copied = runner.invoke(app, ["duplicate", OVERDUE, "--name", "Chase"])
    assert renamed.exit_code == 0 and copied.exit_code == 0, renamed.output + copied.output
    bodies = [c.body for c in narrow.calls]
    assert bodies == [{"name": "Chase"}, {"name": "Chase"}]
    # The positional form still works; both at once, or none, is a usage error
    assert runner.invoke(app, ["rename", OVERDUE, "Chase"]).exit_code == 0
    assert runner.invoke(app, ["rename", OVERDUE, "A", "--name", "B"]).exit_code == 2
    assert runner.invoke(app, ["rename", OVERDUE]).exit_code == 2


def test_json_errors_are_json_on_stderr(narrow: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    narrow.on("GET", f"/v1/automations/{OVERDUE}", (404, {"message": "no automation"}))
    refused = runner.invoke(app, ["show", OVERDUE, "--json"])
    assert refused.exit_code == 1 and refused.stdout == ""
    assert json.loads(refused.stderr) == {"status": 404, "error": {"message": "no automation"}}

    def down(*args: Any) -> tuple[int, bytes]:
        raise cli_client.UnreachableError("cannot reach http://127.0.0.1:3000: connection refused")

    monkeypatch.setattr(cli_client, "transport", down)
    unreachable = runner.invoke(app, ["list", "--json"])
    assert unreachable.exit_code == 3 and unreachable.stdout == ""
    error = json.loads(unreachable.stderr)["error"]
    assert "connection refused" in error["message"] and "make dev" in error["hint"]


def test_delete_with_no_terminal_needs_yes(narrow: FakeApi) -> None:
    narrow.on("DELETE", f"/v1/automations/{OVERDUE}", (200, {"id": OVERDUE, "deleted": True, "runs_ended": 0}))
    refused = runner.invoke(app, ["delete", OVERDUE])
    assert refused.exit_code == 2 and narrow.calls == [] and "--yes" in refused.stderr
    done = runner.invoke(app, ["delete", OVERDUE, "--yes"])
    assert done.exit_code == 0 and [(c.method, c.path) for c in narrow.calls] == [
        ("DELETE", f"/v1/automations/{OVERDUE}")
    ]
