"""`automations validate`: definitions checked locally, with no server, every error with its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automations_cli import app
from automations_cli import client as cli_client
from typer.testing import CliRunner

from tests.conftest import EXAMPLES

runner = CliRunner()

BROKEN = """\
id: broken
name: Broken
trigger: {event: invoice.overdue}
colour: blue
steps:
  - delay: 3 days
  - send_email:
      to: {trigger_contact: true}
      subject: "{{ data.invoice.number | upper2 }}"
      html: "<p>Hi</p>"
"""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, bytes]:
        raise AssertionError("validate must not call the server")

    monkeypatch.setattr(cli_client, "transport", refuse)
    monkeypatch.setenv("COLUMNS", "200")


def test_valid_examples_pass() -> None:
    result = runner.invoke(app, ["validate", *map(str, sorted(EXAMPLES.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("✓") == len(list(EXAMPLES.glob("*.yaml")))
    assert "overdue-invoice-reminder, 4 steps" in result.stdout


def test_a_directory_is_every_definition_in_it() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0
    assert "we-miss-you.yaml" in result.stdout


def test_every_error_is_printed_as_file_loc_message_and_the_exit_code_is_1(tmp_path: Path) -> None:
    # Given one broken definition and one good one
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    good = EXAMPLES / "we-miss-you.yaml"
    # When both are validated
    result = runner.invoke(app, ["validate", str(broken), str(good)])
    # Then every error of the broken one is printed with its place, and the good one passes
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{broken}: colour: unknown field" in lines
    assert f"{broken}: steps[0].delay: invalid duration '3 days': use 15m, 2h, 3d, 1w or 1d12h" in lines
    assert f"{broken}: steps[1].send_email.subject: unknown filter 'upper2' (line 1)" in lines
    assert any(line.startswith("✓") and "we-miss-you" in line for line in lines)
    assert "1 of 2 definitions are invalid" in result.stderr


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nname: [unclosed\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "not valid YAML or JSON" in result.stdout and "line 3" in result.stdout


def test_json_definitions_are_validated_too(tmp_path: Path) -> None:
    path = tmp_path / "thing.json"
    path.write_text(json.dumps({"id": "thing", "name": "Thing", "trigger": {"event": "a.b"}, "steps": []}))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}: steps: List should have at least 1 item after validation, not 0".lower() in result.stdout.lower()


def test_json_output_for_scripts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    result = runner.invoke(app, ["validate", "--json", str(broken), str(EXAMPLES / "we-miss-you.yaml")])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(r["id"], r["valid"]) for r in report] == [(None, False), ("we-miss-you", True)]
    assert {"loc": "colour", "message": "unknown field"} in report[0]["errors"]


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2


def test_a_directory_without_definitions_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "no definition files" in result.stderr


def test_no_arguments_is_a_usage_error() -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2
