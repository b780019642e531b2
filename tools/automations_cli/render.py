"""How the CLI shows what the API answers: rich tables, a timeline, and the email funnel as bars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from automations.engine.email import EMAIL_TYPES
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "active": "green",
    "draft": "yellow",
    "inactive": "dim",
    "waiting": "cyan",
    "running": "cyan",
    "completed": "green",
    "skipped": "yellow",
    "cancelled": "magenta",
    "failed": "red",
}

BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def status(value: str | None) -> Text:
    text = value or "-"
    return Text(text, style=STATUS_STYLES.get(text, ""))


def moment(value: str | None) -> str:
    """``2026-11-24T10:00:00+00:00`` -> ``2026-11-24 10:00:00`` (UTC, as stored)."""
    if not value:
        return "-"
    return value.replace("T", " ").replace("+00:00", "").replace("Z", "")[:19]


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def bar(value: int, top: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value`` out of ``top``, in eighths of a character."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(min(value, top) / top * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


# --- automations --------------------------------------------------------------------------------------------


def automations_table(items: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="Automations", title_justify="left")
    for column in ("id", "name", "status", "version", "trigger", "updated"):
        table.add_column(column, no_wrap=column in {"id", "status", "version"})
    for item in items:
        table.add_row(
            item["id"],
            item["name"],
            status(item["status"]),
            str(item["version"]),
            item["trigger"],
            moment(item["updated_at"]),
        )
    return table


def summary_line(item: Mapping[str, Any]) -> Text:
    text = Text()
    text.append(item["id"], style="bold")
    text.append(f" · {item['name']} · ")
    text.append_text(status(item["status"]))
    text.append(f" · version {item['version']}")
    if item.get("status_reason") and item["status"] != "active":
        text.append(f" ({item['status_reason']})", style="dim")
    return text


def automation_view(item: Mapping[str, Any]) -> Group:
    header = summary_line(item)
    facts = Table.grid(padding=(0, 2))
    facts.add_row("trigger", item["trigger"])
    if item.get("description"):
        facts.add_row("description", item["description"])
    facts.add_row("created", moment(item["created_at"]))
    facts.add_row("updated", moment(item["updated_at"]))
    shown = item.get("definition_version", item["version"])
    facts.add_row("definition", f"version {shown}" + (" (current)" if shown == item["version"] else ""))
    source = yaml.safe_dump(item["definition"], sort_keys=False, allow_unicode=True, width=110)
    return Group(header, facts, Text(""), Syntax(source, "yaml", word_wrap=True))


def versions_table(body: Mapping[str, Any]) -> Table:
    table = Table(title=f"Versions of {body['automation_id']}", title_justify="left")
    for column in ("version", "created", "name", "trigger", ""):
        table.add_column(column)
    for item in body["versions"]:
        table.add_row(
            str(item["version"]),
            moment(item["created_at"]),
            item["name"],
            item["trigger"],
            "current" if item["current"] else "",
        )
    return table


def templates_table(items: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="Templates (create a draft with: automations new <id>)", title_justify="left")
    for column in ("id", "title", "category", "trigger", "description"):
        table.add_column(column, no_wrap=column == "id")
    for item in items:
        table.add_row(item["id"], item["title"], item["category"], item["trigger"], item["description"])
    return table


# --- statistics ---------------------------------------------------------------------------------------------

COUNT_COLUMNS = (
    ("runs_started", "runs"),
    ("skipped", "skipped"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("opened_unique", "opened"),
    ("clicked_unique", "clicked"),
    ("bounced", "bounced"),
    ("complained", "complaints"),
    ("unsubscribed", "unsubscribed"),
    ("suppressed", "suppressed"),
)
RATE_COLUMNS = (
    ("delivery_rate", "delivered"),
    ("open_rate", "opened"),
    ("click_rate", "clicked"),
    ("bounce_rate", "bounced"),
    ("complaint_rate", "complaints"),
    ("unsubscribe_rate", "unsubscribed"),
)


def _counted(row: Mapping[str, Any]) -> bool:
    return any(int(row.get(name, 0) or 0) for name, _ in COUNT_COLUMNS)


def _stat_rows(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    rows: list[tuple[str, Mapping[str, Any]]] = [("all steps", body["totals"])]
    for step in body["steps"]:
        if step.get("kind") == "send_email" or _counted(step):
            label = step["step"] if step.get("kind") else f"{step['step']} (earlier version)"
            rows.append((label, step))
    return rows


def stats_view(body: Mapping[str, Any]) -> Group:
    """Counts and rates, one line per figure and one column per step (the whole automation first): as many
    columns as there are email steps, so that it reads at 80 columns."""
    period = f"{body.get('from') or 'the start'} to {body.get('to') or 'today'}"
    shown = _stat_rows(body)
    counts = Table(title=f"{body['automation_id']} · version {body['version']} · {period}", title_justify="left")
    rates = Table(title="Rates (- when nothing to divide by)", title_justify="left")
    for table in (counts, rates):
        table.add_column("", no_wrap=True)
        for label, _ in shown:
            table.add_column(label, justify="right", overflow="fold")
    for name, label in COUNT_COLUMNS:
        counts.add_row(label, *(str(row.get(name, 0)) for _, row in shown))
    for name, label in RATE_COLUMNS:
        rates.add_row(label, *(percent(row["rates"].get(name)) for _, row in shown))
    return Group(counts, rates, funnel(body["totals"]))


def funnel(totals: Mapping[str, Any]) -> Group:
    """sent → delivered → opened → clicked, as bars scaled to ``sent``, with each stage's share of sent."""
    stages = [
        ("sent", int(totals.get("sent", 0))),
        ("delivered", int(totals.get("delivered", 0))),
        ("opened", int(totals.get("opened_unique", 0))),
        ("clicked", int(totals.get("clicked_unique", 0))),
    ]
    top = max(value for _, value in stages)
    lines: list[RenderableType] = [Text("Funnel", style="bold")]
    for name, value in stages:
        line = Text(f"{name:<10} ")
        line.append(f"{bar(value, top):<{BAR_WIDTH}}", style="cyan")
        line.append(f" {value:>7}")
        if name != "sent" and stages[0][1]:
            line.append(f"  {percent(value / stages[0][1])} of sent", style="dim")
        lines.append(line)
    return Group(*lines)


# --- runs ---------------------------------------------------------------------------------------------------


def runs_table(items: Iterable[Mapping[str, Any]]) -> Table:
    """One run a row in two columns, each field on a line of its own, so that it reads at 80 columns: the run's
    id, status and when it ended (or is due); the automation with its version, the person, and why."""
    table = Table(title="Runs (newest first)", title_justify="left")
    table.add_column("run · status · ended / due", no_wrap=True)
    table.add_column("automation · person · reason", overflow="fold", ratio=1)
    for item in items:
        when = f"ended {moment(item['ended_at'])}" if item["ended_at"] else f"due {moment(item['due_at'])}"
        reason = item["end_reason"] or (f"waiting on {item['position']}" if item["position"] else "")
        first = Text(item["id"] + "\n")
        first.append_text(status(item["status"]))
        first.append(f"\n{when}")
        about = f"{item['automation_id']} v{item['version']}\n{item['person'] or '-'}"
        table.add_row(first, f"{about}\n{reason}" if reason else about)
    return table


def _check(check: Mapping[str, Any]) -> str:
    actual = "missing" if check.get("missing") else repr(check.get("actual"))
    value = "" if check.get("value") is None else f" {check['value']!r}"
    return f"{check['field']} {check['op']}{value}: {actual} {'✓' if check.get('result') else '✗'}"


def decision_details(decision: Mapping[str, Any]) -> str:
    details = decision.get("details") or {}
    kind = decision.get("kind")
    if kind == "branch":
        return "; ".join(_check(c) for c in details.get("checks", []))
    if kind == "email":
        return f"to {', '.join(details.get('recipients', []))}: {details.get('subject', '')}"
    if kind == "started":
        return f"event {details.get('event_id')} ({details.get('event_type')}), version {details.get('version')}"
    if "due_at" in details:
        return f"due {moment(details['due_at'])}"
    return ", ".join(f"{k}={v}" for k, v in details.items())


def run_view(body: Mapping[str, Any]) -> Group:
    header = Text()
    header.append(body["id"], style="bold")
    header.append(f" · {body['automation_id']} v{body['version']} · person {body['person'] or '-'} · ")
    header.append_text(status(body["status"]))
    if body.get("end_reason"):
        header.append(f" ({body['end_reason']})", style="dim")
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("at", "step", "decision", "reason", "details"):
        timeline.add_column(column, no_wrap=column in {"at", "decision"})
    for decision in body["timeline"]:
        timeline.add_row(
            moment(decision["at"]),
            decision.get("step") or "",
            decision["kind"],
            decision["reason"],
            decision_details(decision),
        )
    parts: list[RenderableType] = [header, timeline]
    messages = body.get("messages") or []
    if messages:
        emails = Table(title="Emails", title_justify="left")
        for column in ("step", "to", "state", "status", "sent", "reason"):
            emails.add_column(column)
        for item in messages:
            emails.add_row(
                item["step"],
                item["address"] + (" (test)" if item.get("test") else ""),
                item["state"],
                item.get("status") or "-",
                moment(item.get("sent_at")),
                item.get("reason") or "",
            )
        parts.append(emails)
    return Group(*parts)


def events_table(body: Mapping[str, Any]) -> Table:
    table = Table(title="Events", title_justify="left")
    for column in ("id", "status", "runs started / errors"):
        table.add_column(column)
    for item in body.get("events", []):
        errors = "; ".join(f"{e.get('loc') or '-'}: {e.get('message')}" for e in item.get("errors", []))
        table.add_row(item.get("id") or "-", item["status"], errors or ", ".join(item.get("runs", [])) or "-")
    return table


# --- preview and contacts ---------------------------------------------------------------------------------


def preview_view(body: Mapping[str, Any]) -> Group:
    trigger = body.get("trigger", {})
    parts: list[RenderableType] = []
    head = Text("Trigger: ", style="bold")
    head.append(
        "matched" if trigger.get("matched") else "not matched", style="green" if trigger.get("matched") else "red"
    )
    head.append(f" ({trigger.get('reason')})", style="dim")
    parts.append(head)
    outcome = body.get("outcome", {})
    parts.append(Text(f"Outcome: {outcome.get('status')} ({outcome.get('reason') or '-'})"))
    steps = Table(title="Steps", title_justify="left")
    for column in ("", "step", "kind", "for this sample"):
        steps.add_column(column)
    for step in body.get("steps", []):
        if step["kind"] == "if":
            checks = "; ".join(_check(c) for c in step.get("checks", []))
            detail = f"takes {step.get('branch')}: {checks}"
        elif step["kind"] == "delay":
            detail = step.get("decision") or f"delay {step.get('delay')}"
        else:
            email = step.get("email") or {}
            detail = email.get("error") or f"to {', '.join(email.get('to', [])) or '-'}: {email.get('subject', '')}"
        steps.add_row("✓" if step.get("reached") else "·", step["id"], step["kind"], detail)
    parts.append(steps)
    for step in body.get("steps", []):
        email = step.get("email")
        if step.get("reached") and email and "text" in email:
            parts.append(Text(f"\n── {step['id']}: {email.get('subject')}", style="bold"))
            parts.append(Text(email["text"]))
    return Group(*parts)


def contact_view(body: Mapping[str, Any]) -> Group:
    parts: list[RenderableType] = [Text(f"Contact {body['person']}", style="bold")]
    addresses = Table(title="Addresses", title_justify="left")
    for column in ("address", *(kind.replace("_", " ") for kind in EMAIL_TYPES)):
        addresses.add_column(column)
    for item in body.get("addresses", []):
        receives = item["receives"]
        addresses.add_row(item["address"], *("yes" if receives.get(k) else "no" for k in EMAIL_TYPES))
    parts.append(addresses)
    blocks = [*body.get("suppressions", []), *body.get("unsubscribed", [])]
    if blocks:
        table = Table(title="Suppressions and unsubscribes", title_justify="left")
        for column in ("address", "kind", "scope", "reason", "at", "automation"):
            table.add_column(column)
        for item in blocks:
            table.add_row(
                item["address"],
                item["kind"],
                item["scope"],
                item["reason"],
                moment(item["at"]),
                item.get("automation_id") or "-",
            )
        parts.append(table)
    parts.append(runs_table(body.get("runs", [])))
    return Group(*parts)
