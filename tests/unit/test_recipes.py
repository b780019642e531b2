"""docs/recipes.md against the product: the bus events it accepts and puts, the rules that route them, and the
webhook verification snippets run on real signatures (the Node one when node is on the machine)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from automations.engine import match_trigger, start_run
from automations.engine.effects import BusEvent
from automations.language.loader import dump_definition, load_definition
from automations.ports import BUS_SOURCE
from automations.services.event_input import event_from_eventbridge, workspace_from_eventbridge
from automations.services.runner import bus_entry
from automations.services.webhook_signing import headers, new_secret

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes.md"
#: Where the recipes may send a reader outside the repository: the pages where they configure their side.
VENDOR_HOSTS = ("docs.aws.amazon.com", "api.slack.com", "developers.google.com")
NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


def _text() -> str:
    return RECIPES.read_text("utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", _text(), flags=re.MULTILINE | re.DOTALL)


def _one_block(language: str, marker: str) -> str:
    found = [block for block in _blocks(language) if marker in block]
    assert len(found) == 1, f"docs/recipes.md should have one {language} block with {marker!r}"
    return found[0]


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``) read as their plain values."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_CloudFormationLoader.add_multi_constructor("!", _tagged)  # type: ignore[no-untyped-call]


def _templates() -> list[dict[str, Any]]:
    """The CloudFormation templates of the recipes (YAML blocks with Resources)."""
    found = []
    for block in _blocks("yaml"):
        data = yaml.load(block, Loader=_CloudFormationLoader)  # a safe loader, with tags added
        if isinstance(data, dict) and "Resources" in data:
            found.append(data)
    return found


def _automations() -> list[dict[str, Any]]:
    found = []
    for block in _blocks("yaml"):
        data = yaml.safe_load(block) if "Resources:" not in block else None
        if isinstance(data, dict) and "trigger" in data and "steps" in data:
            found.append(data)
    return found


def _sample_event(event_type: str) -> dict[str, Any]:
    return {
        "id": f"evt_{event_type.replace('.', '_')}",
        "type": event_type,
        "occurred_at": "2026-11-24T10:00:00Z",
        "contact": {
            "id": "c_42",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Silva",
            "phone": "+351912345678",
            "attributes": {"push_endpoint": "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/app/1"},
        },
        "data": {
            "service": {"name": "Sports massage"},
            "booking": {"id": "bk_33", "starts_at": "2026-12-03T09:00:00Z"},
            "session": {"name": "Vinyasa Flow", "starts_at": "2026-12-03T09:00:00Z"},
            "lead": {"source": "website"},
            "order": {"invoice_id": "inv_7"},
        },
    }


def _bus_events(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """What the automation's put_event steps put on the bus, as EventBridge delivers it to a rule's target (its
    delays left out, so that the steps after them run at once)."""
    automation = load_definition(definition)
    data = dump_definition(automation)
    data["steps"] = [step for step in data["steps"] if "delay" not in step]
    automation = load_definition(data)
    event = _sample_event(automation.trigger.event)
    match = match_trigger(automation, event)
    assert match.matched, f"{automation.id}: {match.reason}"
    outcome = start_run(
        automation, 1, event, now=NOW, run_id="run_1", workspace="default", person=match.person, run_key=match.run_key
    )
    delivered = []
    for effect in outcome.effects:
        if isinstance(effect, BusEvent):
            entry = bus_entry(effect).as_entry("automations-prod")
            delivered.append(
                {
                    "version": "0",
                    "id": "118f5bca-fbb9-428e-9b52-d127c71aa76f",
                    "detail-type": entry["DetailType"],
                    "source": entry["Source"],
                    "account": "123456789012",
                    "time": "2026-11-24T10:00:00Z",
                    "region": "eu-west-1",
                    "resources": [],
                    "detail": json.loads(entry["Detail"]),
                }
            )
    return delivered


def _matches(pattern: Any, value: Any) -> bool:
    """EventBridge's matching for the patterns the recipes use: lists of exact values, nested objects."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and _matches(sub, value[key]) for key, sub in pattern.items()
        )
    assert isinstance(pattern, list), f"unexpected pattern {pattern!r}"
    return value in pattern


def _resolve(event: dict[str, Any], path: str) -> Any:
    current: Any = event
    for part in path.removeprefix("$.").split("."):
        assert isinstance(current, dict) and part in current, f"{path} is not in the event: {event}"
        current = current[part]
    return current


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


# --- events into the stack --------------------------------------------------------------------------------------


def test_the_entries_of_the_recipe_are_trigger_events_the_stack_accepts() -> None:
    entries = json.loads(_one_block("json", '"DetailType"'))
    for entry in entries:
        delivered = {
            "version": "0",
            "id": "c7f26149-406b-4227-9c36-e8225715ac11",
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": "123456789012",
            "time": "2026-11-24T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": json.loads(entry["Detail"]),
        }
        event = event_from_eventbridge(delivered, 64 * 1024)
        assert event.type == entry["DetailType"] == "invoice.paid"
        assert event.id == "inv_7-paid"
        assert workspace_from_eventbridge(delivered, "default") == "default"
        assert not entry["Source"].startswith("aws.")


def test_the_local_recipe_uses_the_local_stack_s_option_bus_and_region() -> None:
    from automations_local.__main__ import parse
    from automations_local.stack import REGION, STAGE

    text = _text()
    port = re.search(r'make dev ARGS="--moto-port (\d+)"', text)
    assert port, "the recipe starts the local stack with a fixed moto port"
    assert parse(["--moto-port", port.group(1)]).moto_port == int(port.group(1))
    assert f"--endpoint-url http://127.0.0.1:{port.group(1)} events put-events" in text
    assert f"automations-{STAGE}" in text
    assert f"AWS_DEFAULT_REGION={REGION}" in text


# --- events out of the stack -----------------------------------------------------------------------------------


def test_the_delivered_event_shown_is_the_shape_the_product_puts() -> None:
    shown = json.loads(_one_block("json", '"detail-type"'))
    put = [event for definition in _automations() for event in _bus_events(definition)]
    assert put
    for event in put:
        assert set(event) == set(shown)
        assert set(event["detail"]) == set(shown["detail"])
        assert event["source"] == shown["source"] == BUS_SOURCE


def test_every_recipe_automation_is_valid_and_puts_an_event() -> None:
    definitions = _automations()
    assert len(definitions) >= 5
    for definition in definitions:
        assert _bus_events(definition), f"{definition['id']} puts no event on the bus"


def test_every_rule_matches_what_an_automation_puts_and_reads_fields_it_has() -> None:
    put = [event for definition in _automations() for event in _bus_events(definition)]
    routed: set[str] = set()
    templates = _templates()
    assert len(templates) >= 5
    for template in templates:
        rules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
        matched = []
        for rule in rules:
            pattern = rule["Properties"]["EventPattern"]
            assert pattern["source"] == [BUS_SOURCE]
            hits = [event for event in put if _matches(pattern, event)]
            assert hits, f"no recipe automation puts an event that {pattern} matches"
            matched += hits
            routed.update(event["detail-type"] for event in hits)
            for target in rule["Properties"]["Targets"]:
                transformer = target.get("InputTransformer")
                if transformer:
                    names = set(re.findall(r"<([\w-]+)>", transformer["InputTemplate"]))
                    assert names == set(transformer["InputPathsMap"]), "every placeholder has a path, and no more"
                    json.loads(re.sub(r"<[\w-]+>", '"x"', transformer["InputTemplate"]))
        paths = [text for text in _strings(template) if re.fullmatch(r"\$\.detail(\.[\w-]+)*", text)]
        for path in paths:
            for event in matched:
                _resolve(event, path)
    assert routed == {event["detail-type"] for event in put}, "every recipe automation's event has a rule"


# --- verifying webhooks ----------------------------------------------------------------------------------------

BODY = json.dumps({"external_id": "c_42", "name": "Zoë", "total": 640}, ensure_ascii=False).encode()


def _cases() -> list[dict[str, Any]]:
    """Signed calls, each with the secret a receiver holds and whether it must verify."""
    now = int(time.time())
    old, new = new_secret(), new_secret()

    def signed(secrets: list[str], at: int = now, body: bytes = BODY) -> dict[str, str]:
        return {name.lower(): value for name, value in headers(secrets, "run_1:step-2", at, body).items()}

    tampered = BODY.replace(b"640", b"6400")
    return [
        {"name": "signed", "secret": new, "headers": signed([new]), "body": BODY, "valid": True},
        {"name": "secret without padding", "secret": new.rstrip("="), "headers": signed([new]), "body": BODY,
         "valid": True},
        {"name": "rotation, new secret", "secret": new, "headers": signed([new, old]), "body": BODY, "valid": True},
        {"name": "rotation, old secret", "secret": old, "headers": signed([new, old]), "body": BODY, "valid": True},
        {"name": "another secret", "secret": old, "headers": signed([new]), "body": BODY, "valid": False},
        {"name": "body changed", "secret": new, "headers": signed([new]), "body": tampered, "valid": False},
        {"name": "ten minutes old", "secret": new, "headers": signed([new], now - 600), "body": BODY,
         "valid": False},
        {"name": "id changed", "secret": new, "headers": {**signed([new]), "webhook-id": "run_1:step-3"},
         "body": BODY, "valid": False},
        {"name": "no signature", "secret": new,
         "headers": {k: v for k, v in signed([new]).items() if k != "webhook-signature"}, "body": BODY,
         "valid": False},
    ]  # fmt: skip


def test_the_python_snippet_verifies_real_signatures() -> None:
    code = _one_block("python", "def verify_webhook")
    imported = set(re.findall(r"^import (\w+)", code, flags=re.MULTILINE))
    assert imported <= set(sys.stdlib_module_names), "the snippet uses the standard library only"
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/recipes.md", "exec"), namespace)  # the documented snippet itself
    verify = namespace["verify_webhook"]
    for case in _cases():
        assert verify(case["secret"], case["headers"], case["body"]) is case["valid"], case["name"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_snippet_verifies_real_signatures(tmp_path: Path) -> None:
    code = _one_block("javascript", "function verifyWebhook")
    assert set(re.findall(r'require\("([^"]+)"\)', code)) == {"node:crypto"}, "the snippet uses node:crypto only"
    cases = _cases()
    script = tmp_path / "verify.js"
    script.write_text(
        code
        + """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const results = cases.map((c) => verifyWebhook(c.secret, c.headers, Buffer.from(c.body, "base64")));
process.stdout.write(JSON.stringify(results));
"""
    )
    import base64

    given = [{**case, "body": base64.b64encode(case["body"]).decode()} for case in cases]
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(script)], input=json.dumps(given), capture_output=True, text=True, timeout=30, check=True
    )
    results = json.loads(done.stdout)
    assert results == [case["valid"] for case in cases], list(zip([c["name"] for c in cases], results, strict=True))


# --- links ------------------------------------------------------------------------------------------------------


def test_links_stay_in_the_repository_or_go_to_vendor_pages() -> None:
    for target in re.findall(r"\]\(([^)]+)\)", _text()):
        if re.match(r"[a-z]+:", target):
            host = re.sub(r"^https://([^/]+)/.*$", r"\1", target)
            assert host in VENDOR_HOSTS, f"docs/recipes.md links outside the repository: {target}"
            continue
        file = target.partition("#")[0]
        assert (RECIPES.parent / file).is_file(), f"docs/recipes.md links to a missing file: {target}"
