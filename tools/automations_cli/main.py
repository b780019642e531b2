"""``automations``: validate definitions with no server, and manage automations over the HTTP API.

Exit codes: 0 done; 1 invalid input, or the API refused (4xx); 2 wrong usage; 3 the server cannot be
reached; 4 the server failed (5xx). ``--json`` prints the API's answers as JSON, for scripts.
"""

import functools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from automations import __version__
from automations.errors import DefinitionError, FieldError
from automations.language.loader import dump_definition, load_definition, parse_document
from automations.language.program import flatten
from rich.console import Console, RenderableType
from rich.text import Text
from typer.core import TyperOption

from automations_cli import render
from automations_cli.client import DEFAULT_API_KEY, DEFAULT_ENDPOINT, ApiError, Client, UnreachableError, segment

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_SERVER = 4

SUFFIXES = (".yaml", ".yml", ".json")


def _flag_type(option: TyperOption, ctx: Any) -> str | None:
    """No ``<bool>`` after a flag in ``--help``: a flag takes no value."""
    return None if option.is_flag else _option_type(option, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="automations",
    help="Customer-communication automations: validate definitions, apply them, and read runs and statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CliContext:
    """What the command's global options set up for its subcommands: the API client."""

    client: Client


def _out() -> Console:
    return Console(soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, soft_wrap=True)


def show(renderable: RenderableType) -> None:
    _out().print(renderable)


def emit_json(value: Any, *, err: bool = False) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False), err=err)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    _err().print(Text(message, style="red"))
    raise typer.Exit(code)


def _client(ctx: typer.Context) -> Client:
    found = ctx.find_object(CliContext)
    return found.client if found is not None else Client()


JsonOption = Annotated[bool, typer.Option("--json", help="Print the answer as JSON (for scripts).")]


def api_command(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the client's errors into clear messages and exit codes (the answer as JSON with ``--json``)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UnreachableError as exc:
            hint = (
                "Is the server running? Start the local stack with `make dev`, "
                "or give --endpoint (or AUTOMATIONS_ENDPOINT)."
            )
            if kwargs.get("as_json"):
                emit_json({"status": None, "error": {"message": str(exc), "hint": hint}}, err=True)
                raise typer.Exit(EXIT_UNREACHABLE) from None
            fail(f"{exc}\n{hint}", EXIT_UNREACHABLE)
        except ApiError as exc:
            code = EXIT_SERVER if exc.status >= 500 else EXIT_INVALID
            if kwargs.get("as_json"):  # on stderr, as JSON: stdout holds answers only
                emit_json({"status": exc.status, "error": exc.body}, err=True)
                raise typer.Exit(code) from None
            fail(api_error_text(exc), code)

    return wrapper


def api_error_text(exc: ApiError) -> str:
    lines = [f"error {exc.status}: {exc}"]
    body = exc.body if isinstance(exc.body, dict) else {}
    lines += [f"  {FieldError(e.get('loc', ''), e.get('message', ''))}" for e in body.get("errors") or []]
    lines += [f"  {reason}" for reason in body.get("reasons") or []]
    if exc.status in (401, 403):
        lines.append("  check the API key: --api-key or AUTOMATIONS_API_KEY")
    return "\n".join(lines)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"automations {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    endpoint: Annotated[
        str, typer.Option(envvar="AUTOMATIONS_ENDPOINT", help="The API's base URL.")
    ] = DEFAULT_ENDPOINT,
    api_key: Annotated[
        str, typer.Option(envvar="AUTOMATIONS_API_KEY", help="The API key (x-api-key header).", show_default=False)
    ] = DEFAULT_API_KEY,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server.")] = 30.0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Manage automations. The endpoint and key default to the local stack (`make dev`)."""
    ctx.obj = CliContext(Client(endpoint=endpoint, api_key=api_key, timeout=timeout))


# --- files --------------------------------------------------------------------------------------------------


def collect(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the definition files (.yaml, .yml, .json) directly inside each directory given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES))
        else:
            found.append(path)
    return found


@dataclass
class Checked:
    path: Path
    data: dict[str, Any] | None = None
    definition: dict[str, Any] | None = None
    errors: list[FieldError] | None = None
    steps: int = 0

    @property
    def id(self) -> str:
        return str((self.definition or {}).get("id", ""))


def check(path: Path) -> Checked:
    """Parse and validate one file with the language's own rules (no server)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Checked(path, errors=[FieldError("", f"cannot read the file: {exc}")])
    try:
        data = parse_document(text)
        automation = load_definition(data)
    except DefinitionError as exc:
        return Checked(path, errors=exc.errors)
    return Checked(path, data=data, definition=dump_definition(automation), steps=len(flatten(automation)))


def _report_invalid(checked: Iterable[Checked]) -> None:
    for item in checked:
        for error in item.errors or []:
            typer.echo(f"{item.path}: {error}")


PathsArgument = Annotated[
    list[Path],
    typer.Argument(
        exists=True, dir_okay=True, readable=True, help="Definition files, or directories of them.", show_default=False
    ),
]


@app.command()
def validate(paths: PathsArgument, as_json: JsonOption = False) -> None:
    """Check definitions locally, with no server: every error is printed as `file: loc: message`."""
    checked = [check(path) for path in collect(paths)]
    if not checked:
        fail("no definition files (.yaml, .yml, .json) found")
    invalid = [c for c in checked if c.errors]
    if as_json:
        emit_json(
            [
                {
                    "file": str(c.path),
                    "id": c.id or None,
                    "valid": not c.errors,
                    "errors": [e.as_dict() for e in c.errors or []],
                }
                for c in checked
            ]
        )
    else:
        _report_invalid(invalid)
        for item in checked:
            if not item.errors:
                plural = "s" if item.steps != 1 else ""
                _out().print(Text(f"✓ {item.path} ({item.id}, {item.steps} step{plural})", style="green"))
        if invalid:
            fail(f"{len(invalid)} of {len(checked)} definitions are invalid")
    if invalid:
        raise typer.Exit(EXIT_INVALID)


# --- apply --------------------------------------------------------------------------------------------------


def _without_status(definition: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in definition.items() if k != "status"}


def apply_one(client: Client, item: Checked, *, dry_run: bool) -> dict[str, Any]:
    """Create the automation, or make a new version if its definition changed; follow an explicit status."""
    assert item.data is not None and item.definition is not None
    automation_id = item.id
    path = f"/v1/automations/{segment(automation_id)}"
    wanted = item.data.get("status")
    try:
        current = client.get(path)
    except ApiError as exc:
        if exc.status != 404:
            raise
        if dry_run:
            return {"id": automation_id, "action": "would create", "status": wanted or "draft"}
        created = client.post("/v1/automations", item.data)
        return {"id": automation_id, "action": "created", "version": created["version"], "status": created["status"]}
    if _without_status(current["definition"]) != _without_status(item.definition):
        if dry_run:
            return {"id": automation_id, "action": "would update", "version": current["version"] + 1}
        updated = client.request("PUT", path, body=item.data)
        return {"id": automation_id, "action": "updated", "version": updated["version"], "status": updated["status"]}
    result = {"id": automation_id, "action": "unchanged", "version": current["version"], "status": current["status"]}
    if wanted in ("active", "inactive") and wanted != current["status"]:
        verb = "activate" if wanted == "active" else "deactivate"
        if dry_run:
            return {**result, "action": f"would {verb}"}
        changed = client.post(f"{path}/{verb}")
        return {**result, "action": f"{verb}d", "status": changed["status"]}
    if wanted == "draft" and current["status"] != "draft":
        result["note"] = f"the file says draft but it is {current['status']}; a definition cannot go back to draft"
    return result


@app.command()
@api_command
def apply(
    ctx: typer.Context,
    paths: PathsArgument,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change, change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create each automation, or make a new version only when its definition changed.

    Nothing is applied when a file is invalid. An explicit `status: active|inactive` is followed.
    """
    client = _client(ctx)
    checked = [check(path) for path in collect(paths)]
    if not checked:
        fail("no definition files (.yaml, .yml, .json) found")
    invalid = [c for c in checked if c.errors]
    if invalid:
        _report_invalid(invalid)
        fail(f"nothing applied: {len(invalid)} of {len(checked)} definitions are invalid")
    results: list[dict[str, Any]] = []
    refused = 0
    for item in checked:
        try:
            results.append({"file": str(item.path), **apply_one(client, item, dry_run=dry_run)})
        except ApiError as exc:
            if exc.status >= 500:
                raise
            refused += 1
            results.append({"file": str(item.path), "id": item.id, "action": "refused", "error": exc.body})
            if not as_json:
                _err().print(Text(f"{item.path}: {api_error_text(exc)}", style="red"))
    if as_json:
        emit_json(results)
    else:
        for result in results:
            if result["action"] == "refused":
                continue
            line = Text(f"{result['id']}: {result['action']}", style="bold" if result["action"] != "unchanged" else "")
            if "version" in result:
                line.append(
                    f" (version {result['version']}" + (f", {result['status']})" if "status" in result else ")")
                )
            if result.get("note"):
                line.append(f" - {result['note']}", style="yellow")
            _out().print(line)
    if refused:
        raise typer.Exit(EXIT_INVALID)


# --- automations --------------------------------------------------------------------------------------------

IdArgument = Annotated[str, typer.Argument(help="The automation's id.", show_default=False)]


@app.command("list")
@api_command
def list_automations(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only draft, active or inactive ones.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List automations."""
    body = _client(ctx).get("/v1/automations", status=status)
    if as_json:
        emit_json(body)
    else:
        show(render.automations_table(body["automations"]))


@app.command("show")
@api_command
def show_automation(
    ctx: typer.Context,
    automation_id: IdArgument,
    version: Annotated[int | None, typer.Option(help="Show this version's definition.")] = None,
    versions: Annotated[bool, typer.Option("--versions", help="List the versions instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show an automation: status, version and definition (or its versions)."""
    client = _client(ctx)
    path = f"/v1/automations/{segment(automation_id)}"
    body = client.get(f"{path}/versions") if versions else client.get(path, version=version)
    if as_json:
        emit_json(body)
    elif versions:
        show(render.versions_table(body))
    else:
        show(render.automation_view(body))


def _status_change(ctx: typer.Context, automation_id: str, verb: str, as_json: bool) -> None:
    body = _client(ctx).post(f"/v1/automations/{segment(automation_id)}/{verb}")
    if as_json:
        emit_json(body)
    else:
        line = Text(f"{body['id']} is ")
        line.append_text(render.status(body["status"]))
        line.append(f" (version {body['version']})")
        show(line)


@app.command()
@api_command
def activate(ctx: typer.Context, automation_id: IdArgument, as_json: JsonOption = False) -> None:
    """Activate: start matching events (refused, with the reasons, when it cannot run)."""
    _status_change(ctx, automation_id, "activate", as_json)


@app.command()
@api_command
def deactivate(ctx: typer.Context, automation_id: IdArgument, as_json: JsonOption = False) -> None:
    """Deactivate: stop matching events; waiting runs end with that reason."""
    _status_change(ctx, automation_id, "deactivate", as_json)


@app.command()
@api_command
def duplicate(
    ctx: typer.Context,
    automation_id: IdArgument,
    new_id: Annotated[str | None, typer.Option("--id", help="The copy's id (default: <id>-copy).")] = None,
    name: Annotated[str | None, typer.Option(help='The copy\'s name (default: "Copy of <name>").')] = None,
    as_json: JsonOption = False,
) -> None:
    """Duplicate an automation as a draft, with a new id."""
    body = {k: v for k, v in {"id": new_id, "name": name}.items() if v is not None}
    copy = _client(ctx).post(f"/v1/automations/{segment(automation_id)}/duplicate", body or None)
    if as_json:
        emit_json(copy)
    else:
        show(Text(f"{copy['id']}: draft copy of {automation_id} ({copy['name']})"))


@app.command()
@api_command
def rename(
    ctx: typer.Context,
    automation_id: IdArgument,
    name_option: Annotated[
        str | None, typer.Option("--name", help="The new name (as duplicate takes it).", show_default=False)
    ] = None,
    name: Annotated[str | None, typer.Argument(help="The new name (or --name).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A new description too.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Rename an automation (no new version): `rename <id> --name "New name"`."""
    if (name is None) == (name_option is None):
        raise typer.BadParameter("give the new name once: --name <name>")
    body = {k: v for k, v in {"name": name or name_option, "description": description}.items() if v is not None}
    renamed = _client(ctx).request("PATCH", f"/v1/automations/{segment(automation_id)}", body=body)
    if as_json:
        emit_json(renamed)
    else:
        show(Text(f"{renamed['id']} is now named {renamed['name']!r}"))


@app.command()
@api_command
def delete(
    ctx: typer.Context,
    automation_id: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete an automation and its versions; its waiting runs end. Asks first; with no terminal, needs --yes."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"not deleting {automation_id}: no terminal to confirm on; pass --yes", EXIT_USAGE)
        if not typer.confirm(f"Delete {automation_id} and end its waiting runs?"):
            raise typer.Exit(EXIT_INVALID)
    body = _client(ctx).request("DELETE", f"/v1/automations/{segment(automation_id)}")
    if as_json:
        emit_json(body)
    else:
        show(Text(f"{automation_id} deleted; {body['runs_ended']} waiting run(s) ended"))


@app.command()
@api_command
def stats(
    ctx: typer.Context,
    automation_id: IdArgument,
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Statistics per automation and per step, with rates and the email funnel."""
    body = _client(ctx).get(f"/v1/automations/{segment(automation_id)}/stats", **{"from": start, "to": end})
    if as_json:
        emit_json(body)
    else:
        show(render.stats_view(body))


# --- runs, events, preview --------------------------------------------------------------------------------


@app.command()
@api_command
def runs(
    ctx: typer.Context,
    automation: Annotated[str | None, typer.Option(help="Runs of this automation.")] = None,
    person: Annotated[str | None, typer.Option(help="Runs of this person.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs of an automation, of a person, or both, newest first."""
    if automation is None and person is None:
        raise typer.BadParameter("give --automation, --person, or both")
    body = _client(ctx).get("/v1/runs", automation_id=automation, person=person, limit=limit)
    if as_json:
        emit_json(body)
    else:
        show(render.runs_table(body["runs"]))


@app.command("run")
@api_command
def run_timeline(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """A run's timeline: every decision with its time, step and reason, and its emails."""
    body = _client(ctx).get(f"/v1/runs/{segment(run_id)}")
    if as_json:
        emit_json(body)
    else:
        show(render.run_view(body))


def read_json(source: str, what: str) -> Any:
    """JSON from a file, from stdin (``-``), or given inline."""
    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text("utf-8")
    elif source.lstrip().startswith(("{", "[")):
        text = source
    else:
        fail(f"{what}: no such file, and not inline JSON: {source!r}")
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{what}: not valid JSON: {exc}")


@app.command()
@api_command
def send(
    ctx: typer.Context,
    event: Annotated[str, typer.Argument(help="A JSON file, inline JSON, or - for stdin.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Post a trigger event (or a list of them) to POST /v1/events."""
    body = read_json(event, "event")
    if isinstance(body, list):
        body = {"events": body}
    answer = _client(ctx).post("/v1/events", body)
    if as_json:
        emit_json(answer)
    else:
        show(render.events_table(answer))


@app.command()
@api_command
def preview(
    ctx: typer.Context,
    automation_id: IdArgument,
    event: Annotated[
        str | None, typer.Option(help="A sample event: JSON file, inline JSON, or -. Default: the template's.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render every email of an automation for a sample event, with the branch each condition takes."""
    client = _client(ctx)
    sample = read_json(event, "event") if event is not None else _template_sample(client, automation_id)
    body = client.post(f"/v1/automations/{segment(automation_id)}/preview", sample)
    if as_json:
        emit_json(body)
    else:
        show(render.preview_view(body))


def _template_sample(client: Client, automation_id: str) -> dict[str, Any]:
    """The sample event of the template the automation comes from (by id), or an empty event."""
    for template in client.get("/v1/templates")["templates"]:
        if automation_id == template["id"] or automation_id.startswith(template["id"] + "-"):
            sample: dict[str, Any] = template.get("sample_event") or {}
            return sample
    return {}


@app.command("test-email")
@api_command
def test_email(
    ctx: typer.Context,
    automation_id: IdArgument,
    to: Annotated[str, typer.Option(help="Where to send it.", show_default=False)],
    event: Annotated[str | None, typer.Option(help="A sample event: JSON file, inline JSON, or -.")] = None,
    step: Annotated[str | None, typer.Option(help="The send_email step (default: the first).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send one rendered email to an address, marked as a test and kept out of the statistics."""
    client = _client(ctx)
    sample = read_json(event, "event") if event is not None else _template_sample(client, automation_id)
    body = {"to": to, "event": sample, **({"step": step} if step else {})}
    answer = client.post(f"/v1/automations/{segment(automation_id)}/test-email", body)
    if as_json:
        emit_json(answer)
    else:
        show(Text(f"test email of step {answer['step']} to {answer['to']}: {answer.get('state', 'sent')}"))


# --- templates, contacts ----------------------------------------------------------------------------------


@app.command()
@api_command
def templates(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the suggested automations (templates)."""
    body = _client(ctx).get("/v1/templates", category=category)
    if as_json:
        emit_json(body)
    else:
        show(render.templates_table(body["templates"]))


@app.command()
@api_command
def new(
    ctx: typer.Context,
    template: Annotated[str, typer.Argument(help="The template's id (see `automations templates`).")],
    new_id: Annotated[str | None, typer.Option("--id", help="The automation's id (default: the template's).")] = None,
    name: Annotated[str | None, typer.Option(help="The automation's name.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a draft from a template."""
    body = {k: v for k, v in {"template": template, "id": new_id, "name": name}.items() if v is not None}
    created = _client(ctx).post("/v1/automations", body)
    if as_json:
        emit_json(created)
    else:
        hint = f"activate it with: automations activate {created['id']}"
        show(Text(f"{created['id']}: draft created from template {template} ({hint})"))


@app.command()
@api_command
def contact(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="The person's id (contact.id) or an email address.")],
    as_json: JsonOption = False,
) -> None:
    """A person's suppressions, unsubscribes, what each address still receives, and recent runs."""
    body = _client(ctx).get(f"/v1/contacts/{segment(person)}")
    if as_json:
        emit_json(body)
    else:
        show(render.contact_view(body))


# --- tasks, coupon pools ----------------------------------------------------------------------------------

tasks_app = typer.Typer(help="The tasks automations made: list them, mark them done.")
coupons_app = typer.Typer(help="Coupon pools: load codes, see what is left and claimed.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(coupons_app, name="coupons")

#: The most codes one request loads (the API's limit): a longer file is loaded in several requests.
CODES_PER_REQUEST = 1000


@tasks_app.command("list")
@api_command
def tasks_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only open or done ones.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page's cursor, as the previous page printed it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tasks, newest first."""
    body = _client(ctx).get("/v1/tasks", status=status, assignee=assignee, limit=limit, cursor=cursor)
    if as_json:
        emit_json(body)
        return
    rows = [
        [t["id"], t["status"], t["title"], t.get("assignee") or "", t.get("due_at") or "", t.get("person") or ""]
        for t in body["tasks"]
    ]
    show(_table(["id", "status", "title", "assignee", "due", "person"], rows))
    if body.get("next_cursor"):
        show(Text(f"more: --cursor {body['next_cursor']}"))


@tasks_app.command("done")
@api_command
def tasks_done(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="The task's id (see `automations tasks list`).")],
    reopen: Annotated[bool, typer.Option("--reopen", help="Mark it open again instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Mark a task done (or open again)."""
    status = "open" if reopen else "done"
    body = _client(ctx).request("PATCH", f"/v1/tasks/{segment(task_id)}", body={"status": status})
    if as_json:
        emit_json(body)
    else:
        show(Text(f"task {body['id']} is {body['status']}"))


def read_codes(source: str) -> list[str]:
    """The codes of a file (or ``-``: stdin), one per line; blank lines and surrounding spaces are ignored."""
    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text("utf-8")
    else:
        fail(f"codes: no such file: {source!r}")
    return [line.strip() for line in text.splitlines() if line.strip()]


@coupons_app.command("load")
@api_command
def coupons_load(
    ctx: typer.Context,
    pool: Annotated[str, typer.Argument(help="The pool: a-z, 0-9, '_' and '-' (made by its first load).")],
    source: Annotated[str, typer.Argument(help="A file of codes, one per line, or - for stdin.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Load codes into a pool (1000 per request); codes the pool has already are skipped."""
    codes = read_codes(source)
    if not codes:
        fail(f"{source}: no codes")
    added, answer = 0, dict[str, Any]()
    for start in range(0, len(codes), CODES_PER_REQUEST):
        batch = codes[start : start + CODES_PER_REQUEST]
        answer = _client(ctx).post(f"/v1/coupon-pools/{segment(pool)}/codes", {"codes": batch})
        added += int(answer["added"])
    result = {**answer, "added": added}
    if as_json:
        emit_json(result)
    else:
        counts = f"{result['left']} left, {result['claimed']} claimed"
        show(Text(f"{pool}: {added} code(s) added, {len(codes) - added} skipped; {counts}"))


@coupons_app.command("list")
@api_command
def coupons_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every pool with its codes left and claimed."""
    body = _client(ctx).get("/v1/coupon-pools")
    if as_json:
        emit_json(body)
        return
    show(_table(["pool", "left", "claimed"], ([p["pool"], str(p["left"]), str(p["claimed"])] for p in body["pools"])))


# --- keys, workspaces -------------------------------------------------------------------------------------

keys_app = typer.Typer(help="The keys of the API key's workspace (an admin key): create, list, revoke.")
workspaces_app = typer.Typer(help="The workspaces of the stack (the root key): create, list.")
app.add_typer(keys_app, name="keys")
app.add_typer(workspaces_app, name="workspaces")


def _table(columns: list[str], rows: Iterable[list[str]]) -> RenderableType:
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    return table


def _secret_notice(secret: str) -> Text:
    line = Text("secret (shown this once, keep it now): ", style="bold")
    line.append(secret, style="green")
    return line


@keys_app.command("create")
@api_command
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="A scope (repeat): events:write, automations:read, automations:write, contacts:read, "
            "contacts:write, admin.",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Create a key; its secret is printed this once."""
    body = _client(ctx).post("/v1/keys", {"name": name, "scopes": scope})
    if as_json:
        emit_json(body)
    else:
        show(Text(f"key {body['id']} {body['name']!r} created: {', '.join(body['scopes'])}"))
        show(_secret_notice(body["secret"]))


@keys_app.command("list")
@api_command
def keys_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the keys: name, scopes, when created and last used (never their secrets)."""
    body = _client(ctx).get("/v1/keys")
    if as_json:
        emit_json(body)
        return
    rows = [
        [
            key["id"],
            key["name"],
            ", ".join(key["scopes"]),
            key["created_at"],
            key.get("last_used_at") or "never",
            f"revoked {key['revoked_at']}" if key.get("revoked_at") else "active",
        ]
        for key in body["keys"]
    ]
    show(_table(["id", "name", "scopes", "created", "last used", "state"], rows))


@keys_app.command("revoke")
@api_command
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `automations keys list`).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a key (it stops working within 5 minutes: the authorizer's cache)."""
    body = _client(ctx).request("DELETE", f"/v1/keys/{segment(key_id)}")
    if as_json:
        emit_json(body)
    else:
        show(Text(f"key {body['id']} {body['name']!r} revoked"))


@workspaces_app.command("create")
@api_command
def workspaces_create(
    ctx: typer.Context,
    workspace_id: Annotated[str, typer.Argument(help="A slug: a-z, 0-9 and '-'.")],
    name: Annotated[str, typer.Option(help="The workspace's name.")],
    sender: Annotated[str, typer.Option(help="The address its emails are sent from.")],
    sender_name: Annotated[str, typer.Option(help="The sender's name.")],
    brand_name: Annotated[str | None, typer.Option(help="The brand on the preferences page (default: name).")] = None,
    timezone: Annotated[str, typer.Option(help="The default IANA time zone.")] = "UTC",
    locale: Annotated[str, typer.Option(help="The default locale.")] = "en",
    as_json: JsonOption = False,
) -> None:
    """Create a workspace and its first admin key (its secret is printed this once)."""
    body = _client(ctx).post(
        "/v1/workspaces",
        {
            "id": workspace_id,
            "name": name,
            "sender": sender,
            "sender_name": sender_name,
            "timezone": timezone,
            "locale": locale,
            "brand_name": brand_name or name,
        },
    )
    if as_json:
        emit_json(body)
    else:
        show(Text(f"workspace {body['workspace']['id']} created; admin key {body['key']['id']}"))
        show(_secret_notice(body["key"]["secret"]))


@workspaces_app.command("list")
@api_command
def workspaces_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the workspaces of the stack."""
    body = _client(ctx).get("/v1/workspaces")
    if as_json:
        emit_json(body)
        return
    rows = [
        [w["id"], w["name"], f"{w['sender_name']} <{w['sender']}>", w["timezone"], w["locale"], w["created_at"]]
        for w in body["workspaces"]
    ]
    show(_table(["id", "name", "sender", "time zone", "locale", "created"], rows))
