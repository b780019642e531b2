"""The CLI's HTTP commands against a tiny fake API (the client's ``transport`` replaced)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import yaml
from automations.language.loader import dump_definition, load_definition
from automations_cli import app, render
from automations_cli import client as cli_client
from typer.testing import CliRunner

from tests.conftest import EXAMPLE_EVENTS, EXAMPLES

runner = CliRunner()

OVERDUE = "overdue-invoice-reminder"
SUMMARY = {
    "id": OVERDUE,
    "name": "Remind clients about overdue invoices",
    "status": "active",
    "version": 1,
    "trigger": "invoice.overdue",
    "description": None,
    "status_reason": None,
    "created_at": "2026-11-24T10:00:00+00:00",
    "updated_at": "2026-11-24T10:00:00+00:00",
}

Answer = tuple[int, Any] | Callable[[dict[str, Any]], tuple[int, Any]]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """Answers by (method, path); records every call; anything unknown is a 404 like the real API's."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Answer) -> None:
        self.routes[(method, path)] = answer

    def transport(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        self.urls.append(url)
        call = Call(
            method, unquote(parts.path), dict(parse_qsl(parts.query)), headers, json.loads(data) if data else None
        )
        self.calls.append(call)
        answer = self.routes.get((method, call.path), (404, {"message": f"no route {method} {call.path}"}))
        status, body = answer(call.__dict__) if callable(answer) else answer
        return status, json.dumps(body).encode()

    def writes(self) -> list[tuple[str, str]]:
        return [(c.method, c.path) for c in self.calls if c.method != "GET"]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(cli_client, "transport", fake.transport)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("AUTOMATIONS_ENDPOINT", raising=False)
    monkeypatch.delenv("AUTOMATIONS_API_KEY", raising=False)
    return fake


def definition_of(example: str) -> dict[str, Any]:
    return dump_definition(load_definition((EXAMPLES / f"{example}.yaml").read_text()))


# --- endpoint, key, errors ----------------------------------------------------------------------------------


def test_defaults_to_the_local_stack_with_its_key(api: FakeApi) -> None:
    api.on("GET", "/v1/automations", (200, {"automations": [SUMMARY]}))
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert api.urls == ["http://127.0.0.1:3000/v1/automations"]
    assert api.calls[0].headers["x-api-key"] == "local-dev-key"
    assert OVERDUE in result.stdout and "invoice.overdue" in result.stdout


def test_endpoint_and_key_from_the_environment_or_flags(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    api.on("GET", "/v1/automations", (200, {"automations": []}))
    monkeypatch.setenv("AUTOMATIONS_ENDPOINT", "https://api.acme.example/prod/")
    monkeypatch.setenv("AUTOMATIONS_API_KEY", "from-env")
    runner.invoke(app, ["list"])
    runner.invoke(app, ["--endpoint", "https://other.example", "--api-key", "from-flag", "list"])
    assert api.urls == ["https://api.acme.example/prod/v1/automations", "https://other.example/v1/automations"]
    assert [c.headers["x-api-key"] for c in api.calls] == ["from-env", "from-flag"]


def test_an_unreachable_server_exits_3_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any) -> tuple[int, bytes]:
        raise cli_client.UnreachableError("cannot reach http://127.0.0.1:3000/v1/automations: connection refused")

    monkeypatch.setattr(cli_client, "transport", down)
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 3
    assert "connection refused" in result.stderr and "make dev" in result.stderr


def test_the_real_transport_reports_a_closed_port_as_unreachable() -> None:
    with pytest.raises(cli_client.UnreachableError, match="cannot reach"):
        cli_client.transport("GET", "http://127.0.0.1:9/v1/automations", {}, None, 2.0)
    with pytest.raises(cli_client.UnreachableError, match="http:// or https://"):
        cli_client.transport("GET", "file:///etc/passwd", {}, None, 2.0)


@pytest.mark.parametrize(("status", "code"), [(404, 1), (409, 1), (422, 1), (500, 4), (502, 4)])
def test_error_answers_have_meaningful_exit_codes(api: FakeApi, status: int, code: int) -> None:
    api.on("GET", f"/v1/automations/{OVERDUE}", (status, {"message": "something is wrong"}))
    result = runner.invoke(app, ["show", OVERDUE])
    assert result.exit_code == code
    assert f"error {status}: something is wrong" in result.stderr


def test_a_wrong_api_key_says_so(api: FakeApi) -> None:
    api.on("GET", "/v1/automations", (403, {"message": "Forbidden"}))
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 1 and "AUTOMATIONS_API_KEY" in result.stderr


def test_an_activation_refusal_prints_its_reasons(api: FakeApi) -> None:
    reasons = ["no sender address is configured (SENDER_ADDRESS) and an email step has no 'from'"]
    api.on("POST", f"/v1/automations/{OVERDUE}/activate", (409, {"message": "cannot be activated", "reasons": reasons}))
    result = runner.invoke(app, ["activate", OVERDUE])
    assert result.exit_code == 1
    assert "SENDER_ADDRESS" in result.stderr


def test_json_mode_prints_errors_as_json_too(api: FakeApi) -> None:
    body = {"message": "invalid request", "errors": [{"loc": "query.from", "message": "bad"}]}
    api.on("GET", f"/v1/automations/{OVERDUE}/stats", (422, body))
    result = runner.invoke(app, ["stats", OVERDUE, "--from", "2026-13-01", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stderr) == {"status": 422, "error": body} and result.stdout == ""


def test_ids_are_percent_encoded_in_paths(api: FakeApi) -> None:
    api.on("GET", "/v1/contacts/ana@example.com", (200, {"person": "ana@example.com", "addresses": [], "runs": []}))
    result = runner.invoke(app, ["contact", "ana@example.com"])
    assert result.exit_code == 0, result.output
    assert api.urls == ["http://127.0.0.1:3000/v1/contacts/ana%40example.com"]


# --- apply --------------------------------------------------------------------------------------------------


def test_apply_creates_what_does_not_exist(api: FakeApi) -> None:
    created = {**SUMMARY, "status": "active"}
    api.on("POST", "/v1/automations", (201, created))
    result = runner.invoke(app, ["apply", str(EXAMPLES / f"{OVERDUE}.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert api.writes() == [("POST", "/v1/automations")]
    assert api.calls[-1].body["id"] == OVERDUE and api.calls[-1].body["status"] == "active"
    assert json.loads(result.stdout)[0]["action"] == "created"


def test_apply_leaves_an_unchanged_definition_alone(api: FakeApi) -> None:
    api.on("GET", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "definition": definition_of(OVERDUE)}))
    result = runner.invoke(app, ["apply", str(EXAMPLES / f"{OVERDUE}.yaml")])
    assert result.exit_code == 0, result.output
    assert api.writes() == []
    assert f"{OVERDUE}: unchanged (version 1, active)" in result.stdout


def test_apply_puts_a_new_version_only_when_the_definition_changed(api: FakeApi, tmp_path: Path) -> None:
    changed = yaml.safe_load((EXAMPLES / f"{OVERDUE}.yaml").read_text())
    changed["steps"][0]["delay"] = "4d"
    path = tmp_path / "overdue.yaml"
    path.write_text(yaml.safe_dump(changed))
    api.on("GET", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "definition": definition_of(OVERDUE)}))
    api.on("PUT", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "version": 2}))
    result = runner.invoke(app, ["apply", str(path)])
    assert result.exit_code == 0, result.output
    assert api.writes() == [("PUT", f"/v1/automations/{OVERDUE}")]
    assert api.calls[-1].body["steps"][0] == {"delay": "4d"}
    assert f"{OVERDUE}: updated (version 2, active)" in result.stdout


def test_apply_follows_an_explicit_status(api: FakeApi) -> None:
    stored = {**SUMMARY, "status": "inactive", "definition": {**definition_of(OVERDUE), "status": "inactive"}}
    api.on("GET", f"/v1/automations/{OVERDUE}", (200, stored))
    api.on("POST", f"/v1/automations/{OVERDUE}/activate", (200, SUMMARY))
    result = runner.invoke(app, ["apply", str(EXAMPLES / f"{OVERDUE}.yaml")])
    assert result.exit_code == 0, result.output
    assert api.writes() == [("POST", f"/v1/automations/{OVERDUE}/activate")]
    assert "activated" in result.stdout


def test_apply_applies_nothing_when_a_file_is_invalid(api: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "a-good.yaml").write_text((EXAMPLES / f"{OVERDUE}.yaml").read_text())
    (tmp_path / "b-bad.yaml").write_text("id: bad\nname: Bad\n")
    result = runner.invoke(app, ["apply", str(tmp_path)])
    assert result.exit_code == 1
    assert api.calls == []
    assert "b-bad.yaml: trigger: field required" in result.stdout
    assert "nothing applied" in result.stderr


def test_apply_goes_on_after_a_refusal_and_exits_1(api: FakeApi, tmp_path: Path) -> None:
    reasons = {"message": "the automation cannot be activated", "reasons": ["no sender"]}
    api.on("POST", "/v1/automations", lambda call: (409, reasons) if call["body"]["id"] == OVERDUE else (201, SUMMARY))
    result = runner.invoke(app, ["apply", str(EXAMPLES / f"{OVERDUE}.yaml"), str(EXAMPLES / "we-miss-you.yaml")])
    assert result.exit_code == 1
    assert api.writes() == [("POST", "/v1/automations"), ("POST", "/v1/automations")]
    assert "no sender" in result.stderr


def test_apply_dry_run_changes_nothing(api: FakeApi) -> None:
    result = runner.invoke(app, ["apply", "--dry-run", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert api.writes() == []
    assert result.stdout.count("would create") == len(list(EXAMPLES.glob("*.yaml")))


# --- the other commands -------------------------------------------------------------------------------------


def test_show_prints_the_definition_as_yaml(api: FakeApi) -> None:
    api.on("GET", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "definition": definition_of(OVERDUE)}))
    result = runner.invoke(app, ["show", OVERDUE, "--version", "1"])
    assert result.exit_code == 0, result.output
    assert api.calls[0].query == {"version": "1"}
    assert "run_key: data.invoice.id" in result.stdout and "version 1 (current)" in result.stdout


def test_status_changes_duplicate_rename_and_delete(api: FakeApi) -> None:
    api.on("POST", f"/v1/automations/{OVERDUE}/deactivate", (200, {**SUMMARY, "status": "inactive"}))
    copy = {**SUMMARY, "id": "mine", "name": "Mine", "status": "draft"}
    api.on("POST", f"/v1/automations/{OVERDUE}/duplicate", (201, copy))
    api.on("PATCH", f"/v1/automations/{OVERDUE}", (200, {**SUMMARY, "name": "New"}))
    api.on("DELETE", f"/v1/automations/{OVERDUE}", (200, {"id": OVERDUE, "deleted": True, "runs_ended": 2}))
    assert "is inactive" in runner.invoke(app, ["deactivate", OVERDUE]).stdout
    assert "mine: draft copy" in runner.invoke(app, ["duplicate", OVERDUE, "--id", "mine", "--name", "Mine"]).stdout
    assert "named 'New'" in runner.invoke(app, ["rename", OVERDUE, "New", "--description", "d"]).stdout
    assert "2 waiting run(s) ended" in runner.invoke(app, ["delete", OVERDUE, "--yes"]).stdout
    bodies = {(c.method, c.path): c.body for c in api.calls}
    assert bodies[("POST", f"/v1/automations/{OVERDUE}/duplicate")] == {"id": "mine", "name": "Mine"}
    assert bodies[("PATCH", f"/v1/automations/{OVERDUE}")] == {"name": "New", "description": "d"}


def test_delete_asks_first_and_without_a_terminal_needs_yes(api: FakeApi) -> None:
    result = runner.invoke(app, ["delete", OVERDUE], input="y\n")  # the runner's input is no terminal
    assert result.exit_code == 2 and api.calls == []
    assert "--yes" in result.stderr


def stats_body() -> dict[str, Any]:
    def figures(sent: int, delivered: int, opened: int, clicked: int) -> dict[str, Any]:
        rates = {
            "delivery_rate": delivered / sent if sent else None,
            "open_rate": opened / delivered if delivered else None,
            "click_rate": clicked / delivered if delivered else None,
            "bounce_rate": 0.0 if sent else None,
            "hard_bounce_rate": 0.0 if sent else None,
            "complaint_rate": 0.0 if delivered else None,
            "unsubscribe_rate": 0.0 if delivered else None,
        }
        counts = {"runs_started": 9 if sent else 0, "skipped": 1 if sent else 0, "sent": sent, "delivered": delivered}
        return {**counts, "opened_unique": opened, "clicked_unique": clicked, "rates": rates}

    return {
        "automation_id": OVERDUE,
        "version": 2,
        "from": "2026-11-01",
        "to": None,
        "totals": figures(40, 38, 15, 5),
        "steps": [
            {"step": "step-1", "kind": "delay", "loc": "steps[0]", **figures(0, 0, 0, 0)},
            {"step": "reminder", "kind": "send_email", "loc": "steps[1].else[0]", **figures(40, 38, 15, 5)},
            {"step": "gone", "kind": None, "loc": None, **figures(0, 0, 0, 0)},
        ],
    }


def test_stats_show_counts_rates_and_the_funnel(api: FakeApi) -> None:
    api.on("GET", f"/v1/automations/{OVERDUE}/stats", (200, stats_body()))
    result = runner.invoke(app, ["stats", OVERDUE, "--from", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert api.calls[0].query == {"from": "2026-11-01"}
    out = result.stdout
    assert "2026-11-01 to today" in out and "reminder" in out and "gone" not in out
    assert "95.0%" in out and "39.5%" in out
    funnel = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["sent"], ["clicked"])}
    assert funnel["sent"].count("█") == render.BAR_WIDTH
    assert "12.5% of sent" in funnel["clicked"]


def test_bars_scale_to_the_top_value() -> None:
    assert render.bar(0, 10) == "" and render.bar(5, 0) == ""
    assert render.bar(10, 10, width=8) == "█" * 8
    assert render.bar(1, 16, width=8) == "▌"


def test_runs_and_a_runs_timeline(api: FakeApi) -> None:
    run = {
        "id": "run_1",
        "automation_id": OVERDUE,
        "version": 1,
        "person": "c_42",
        "run_key": "inv_7",
        "status": "completed",
        "position": None,
        "due_at": None,
        "started_at": "2026-11-24T10:00:00+00:00",
        "updated_at": "2026-11-27T10:00:00+00:00",
        "ended_at": "2026-11-27T10:00:00+00:00",
        "end_reason": "reached the end of the automation",
        "event": {"id": "evt_1", "type": "invoice.overdue"},
        "emails": 1,
    }
    check = {"field": "data.invoice.total", "op": "gt", "value": 500, "actual": 640, "missing": False, "result": True}
    timeline = [
        {"at": "2026-11-24T10:00:00+00:00", "kind": "wait", "reason": "waiting", "step": "step-1", "details": {}},
        {
            "at": "2026-11-27T10:00:00+00:00",
            "kind": "branch",
            "reason": "condition held: took then",
            "step": "still-unpaid",
            "details": {"checks": [check]},
        },
    ]
    message = {"step": "reminder", "address": "ana@example.com", "state": "sent", "status": "delivered"}
    api.on("GET", "/v1/runs", (200, {"runs": [run]}))
    api.on("GET", "/v1/runs/run_1", (200, {**run, "timeline": timeline, "context": {}, "messages": [message]}))
    listed = runner.invoke(app, ["runs", "--automation", OVERDUE, "--person", "c_42", "--limit", "5"])
    assert listed.exit_code == 0, listed.output
    assert api.calls[0].query == {"automation_id": OVERDUE, "person": "c_42", "limit": "5"}
    assert "run_1" in listed.stdout
    shown = runner.invoke(app, ["run", "run_1"])
    assert shown.exit_code == 0, shown.output
    assert "condition held: took then" in shown.stdout
    assert "data.invoice.total gt 500: 640 ✓" in shown.stdout
    assert "delivered" in shown.stdout


def test_runs_need_an_automation_or_a_person(api: FakeApi) -> None:
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 2 and api.calls == []


def test_send_posts_an_event_from_a_file_inline_or_a_list(api: FakeApi) -> None:
    answer = {"events": [{"id": "evt_1", "status": "accepted", "runs": ["run_1"]}]}
    api.on("POST", "/v1/events", (202, answer))
    from_file = runner.invoke(app, ["send", str(EXAMPLE_EVENTS / f"{OVERDUE}.json")])
    inline = runner.invoke(app, ["send", '{"type": "invoice.paid"}', "--json"])
    batch = runner.invoke(app, ["send", '[{"type": "a.b"}, {"type": "c.d"}]'])
    assert [r.exit_code for r in (from_file, inline, batch)] == [0, 0, 0]
    assert "run_1" in from_file.stdout and json.loads(inline.stdout) == answer
    assert api.calls[0].body["type"] == "invoice.overdue"
    assert api.calls[1].body == {"type": "invoice.paid"}
    assert api.calls[2].body == {"events": [{"type": "a.b"}, {"type": "c.d"}]}


def test_send_refuses_what_is_not_json(api: FakeApi) -> None:
    assert runner.invoke(app, ["send", "no-such-file.json"]).exit_code == 1
    result = runner.invoke(app, ["send", "{not json"])
    assert result.exit_code == 1 and "not valid JSON" in result.stderr
    assert api.calls == []


def test_preview_uses_the_templates_sample_event_by_default(api: FakeApi) -> None:
    sample = json.loads((EXAMPLE_EVENTS / f"{OVERDUE}.json").read_text())
    template = {"id": OVERDUE, "title": "t", "description": "d", "category": "c", "trigger": "invoice.overdue"}
    api.on("GET", "/v1/templates", (200, {"templates": [{**template, "sample_event": sample}]}))
    preview = {
        "trigger": {"matched": True, "reason": "matched"},
        "outcome": {"status": "completed", "reason": "reached the end of the automation"},
        "steps": [
            {"id": "still-unpaid", "kind": "if", "reached": True, "branch": "then", "checks": []},
            {
                "id": "reminder",
                "kind": "send_email",
                "reached": True,
                "email": {"to": ["ana@example.com"], "subject": "Invoice 2026-117 is overdue", "text": "Hi Ana"},
            },
        ],
    }
    api.on("POST", f"/v1/automations/{OVERDUE}-2/preview", (200, preview))
    result = runner.invoke(app, ["preview", f"{OVERDUE}-2"])
    assert result.exit_code == 0, result.output
    assert api.calls[-1].body == sample
    assert "Invoice 2026-117 is overdue" in result.stdout and "Hi Ana" in result.stdout
    runner.invoke(app, ["preview", f"{OVERDUE}-2", "--event", '{"data": {}}'])
    assert api.calls[-1].body == {"data": {}}


def test_test_email_templates_and_new(api: FakeApi) -> None:
    api.on("GET", "/v1/templates", (200, {"templates": []}))
    api.on("POST", f"/v1/automations/{OVERDUE}/test-email", (202, {"step": "reminder", "to": "me@acme.example"}))
    api.on("POST", "/v1/automations", (201, {**SUMMARY, "status": "draft", "id": "late"}))
    sent = runner.invoke(app, ["test-email", OVERDUE, "--to", "me@acme.example", "--step", "reminder"])
    assert sent.exit_code == 0, sent.output
    assert api.calls[-1].body == {"to": "me@acme.example", "event": {}, "step": "reminder"}
    listed = runner.invoke(app, ["templates", "--category", "Invoices and payments"])
    assert listed.exit_code == 0 and api.calls[-1].query == {"category": "Invoices and payments"}
    made = runner.invoke(app, ["new", OVERDUE, "--id", "late"])
    assert made.exit_code == 0 and "late: draft created" in made.stdout
    assert api.calls[-1].body == {"template": OVERDUE, "id": "late"}


def test_coupon_codes_are_loaded_from_a_file_a_thousand_per_request(api: FakeApi, tmp_path: Path) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join([" A0001 ", "", *(f"A{n:04d}" for n in range(1, 1500))]) + "\n")

    def load(call: dict[str, Any]) -> tuple[int, Any]:
        added = len(call["body"]["codes"]) - 1
        return 201, {"pool": "spring-10", "added": added, "left": 1498, "claimed": 0}

    api.on("POST", "/v1/coupon-pools/spring-10/codes", load)
    result = runner.invoke(app, ["coupons", "load", "spring-10", str(codes)])

    assert result.exit_code == 0, result.output
    assert [len(c.body["codes"]) for c in api.calls] == [1000, 500]
    assert api.calls[0].body["codes"][:2] == ["A0001", "A0001"]  # the API skips what the pool has
    assert "1498 code(s) added, 2 skipped; 1498 left, 0 claimed" in result.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert runner.invoke(app, ["coupons", "load", "spring-10", str(empty)]).exit_code == 1


def test_coupon_pools_and_tasks_are_listed_and_a_task_marked_done(api: FakeApi) -> None:
    api.on("GET", "/v1/coupon-pools", (200, {"pools": [{"pool": "spring-10", "left": 3, "claimed": 1}]}))
    task = {
        "id": "task_1",
        "title": "Call Ana",
        "status": "open",
        "assignee": "owner@acme.example",
        "due_at": None,
        "person": "c_42",
    }
    api.on("GET", "/v1/tasks", (200, {"tasks": [task], "next_cursor": "abc"}))
    api.on("PATCH", "/v1/tasks/task_1", (200, {**task, "status": "done"}))

    pools = runner.invoke(app, ["coupons", "list"])
    assert pools.exit_code == 0 and "spring-10" in pools.stdout
    listed = runner.invoke(app, ["tasks", "list", "--status", "open", "--limit", "1"])
    assert listed.exit_code == 0 and "Call Ana" in listed.stdout and "--cursor abc" in listed.stdout
    assert api.calls[-1].query == {"status": "open", "limit": "1"}
    done = runner.invoke(app, ["tasks", "done", "task_1"])
    assert done.exit_code == 0 and "task task_1 is done" in done.stdout
    assert api.calls[-1].body == {"status": "done"}


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("automations ")
    result = runner.invoke(app, [])
    assert result.exit_code in (0, 2) and "validate" in result.output
