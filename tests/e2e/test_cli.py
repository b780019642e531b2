"""The ``automations`` CLI against the running local stack, as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "automations"

WELCOME = """\
id: cli-welcome
name: Welcome from the command line
status: active
trigger:
  event: cli.signed_up
person: contact.id
frequency: once_per_person
steps:
  - id: hello
    send_email:
      type: transactional
      from_name: Acme Studio
      to: {trigger_contact: true}
      subject: "Welcome, {{ contact.first_name | default('friend') }}"
      html: "<p>Hi {{ contact.first_name | default('there') }}, thanks for signing up.</p>"
"""


def run_cli(stack: LocalStackClient, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOMATIONS_ENDPOINT": stack.base, "AUTOMATIONS_API_KEY": stack.api_key, "COLUMNS": "160"}
    return subprocess.run([str(CLI), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_apply_send_then_read_the_timeline_and_the_stats(local_stack: LocalStackClient, tmp_path: Path) -> None:
    # Given the examples, already loaded by the stack, and a new definition in a file
    unchanged = run_cli(local_stack, "apply", str(EXAMPLES))
    assert unchanged.returncode == 0, unchanged.stderr
    assert "unchanged" in unchanged.stdout
    definition = tmp_path / "cli-welcome.yaml"
    definition.write_text(WELCOME)
    # When the operator applies it, twice
    first = run_cli(local_stack, "apply", str(definition))
    again = run_cli(local_stack, "apply", str(definition))
    # Then it is created once, and the second apply changes nothing
    assert first.returncode == 0 and "created" in first.stdout, first.stdout + first.stderr
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout + again.stderr
    shown = as_json(run_cli(local_stack, "show", "cli-welcome", "--json"))
    assert shown["status"] == "active" and shown["version"] == 1

    # When an event is sent with the CLI
    event = {"id": "evt_cli_1", "type": "cli.signed_up", "contact": {"id": "c_cli", "email": "cli@example.com"}}
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    sent = as_json(run_cli(local_stack, "send", str(event_file), "--json"))
    [result] = sent["events"]
    assert result["status"] == "accepted" and len(result["runs"]) == 1
    # Then the email arrives, and the run's timeline says why
    local_stack.wait_for_email("cli@example.com", "Welcome")
    timeline = as_json(run_cli(local_stack, "run", result["runs"][0], "--json"))
    kinds = [decision["kind"] for decision in timeline["timeline"]]
    assert kinds[0] == "started" and "email" in kinds and kinds[-1] == "finished"
    assert all(decision["reason"] for decision in timeline["timeline"])
    runs = as_json(run_cli(local_stack, "runs", "--automation", "cli-welcome", "--json"))
    assert [r["id"] for r in runs["runs"]] == result["runs"]

    # And the stats count the email once SES reported it delivered
    def delivered() -> Any:
        totals = as_json(run_cli(local_stack, "stats", "cli-welcome", "--json"))["totals"]
        return totals if totals["delivered"] == 1 else None

    totals = local_stack.wait_for(delivered, what="a delivered email in the stats")
    assert totals["runs_started"] == 1 and totals["sent"] == 1
    table = run_cli(local_stack, "stats", "cli-welcome")
    assert table.returncode == 0 and "delivered" in table.stdout


def test_invalid_definitions_and_unknown_ids_fail_with_their_reason(
    local_stack: LocalStackClient, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(WELCOME.replace("id: cli-welcome", "id: cli-broken").replace("| default", "| nope"))
    validated = run_cli(local_stack, "validate", str(broken))
    assert validated.returncode == 1
    assert "steps[0].send_email.subject: unknown filter 'nope' (line 1)" in validated.stdout + validated.stderr
    missing = run_cli(local_stack, "show", "no-such-automation")
    assert missing.returncode == 1
    assert "not found" in (missing.stdout + missing.stderr).lower()
