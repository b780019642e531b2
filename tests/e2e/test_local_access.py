"""Keys and scopes on the local stack (DESIGN.md §5): the keys it prints at start, a key's scopes, and an admin
key creating and revoking another key."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


def printed_key(local_stack: LocalStackClient, label: str) -> str:
    """A key the local stack printed at start (``events-only key: ak_…``)."""
    deadline = time.monotonic() + 5
    while True:
        found = re.search(rf"{label}: (\S+)", local_stack.log.read_text("utf-8", "replace"))
        if found:
            return found.group(1)
        if time.monotonic() > deadline:
            pytest.fail(f"the local stack printed no {label}")
        time.sleep(0.1)


def test_the_events_only_key_posts_events_and_nothing_else(local_stack: LocalStackClient) -> None:
    local_stack.require("ingest_trigger", "manage_api")
    events_key = printed_key(local_stack, "events-only key")
    event = {"id": f"evt_keys_{uuid.uuid4().hex[:8]}", "type": "lead.created", "contact": {"id": "c_keys_1"}}
    posted = local_stack.request("POST", "/v1/events", event, key=events_key)
    assert posted.status == 202, posted.text
    # The scope check of the handlers (403 naming the scope the key lacks)
    refused = local_stack.request("GET", "/v1/automations", key=events_key)
    assert refused.status == 403, refused.text
    assert "automations:read" in refused.text
    # Keys are the admin scope's
    assert local_stack.request("GET", "/v1/keys", key=events_key).status == 403


def test_an_admin_key_creates_a_key_and_revokes_it(local_stack: LocalStackClient) -> None:
    local_stack.require("manage_api")
    created = local_stack.request("POST", "/v1/keys", {"name": "e2e reader", "scopes": ["automations:read"]})
    assert created.status == 201, created.text
    key = created.json()
    assert key["scopes"] == ["automations:read"] and key["secret"].startswith(f"ak_{key['id']}_")
    assert local_stack.request("GET", "/v1/automations", key=key["secret"]).status == 200

    listed = local_stack.request("GET", "/v1/keys").json()["keys"]
    mine = next(k for k in listed if k["id"] == key["id"])
    assert "secret" not in mine and mine["last_used_at"] is not None and mine["revoked_at"] is None

    revoked = local_stack.request("DELETE", f"/v1/keys/{key['id']}")
    assert revoked.status == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    # The local stack has no authorizer cache: a revoked key stops at once (on AWS, within 5 minutes)
    assert local_stack.request("GET", "/v1/automations", key=key["secret"]).status == 401
    assert local_stack.request("DELETE", "/v1/keys/0123456789abcdef").status == 404


def test_bad_key_requests_name_the_field(local_stack: LocalStackClient) -> None:
    local_stack.require("manage_api")
    for scopes in (["nope"], []):
        answer = local_stack.request("POST", "/v1/keys", {"name": "bad", "scopes": scopes})
        assert answer.status == 422, answer.text
        assert [e["loc"] for e in answer.json()["errors"]] == ["scopes"]


def test_the_root_key_creates_a_workspace_with_its_first_admin_key(local_stack: LocalStackClient) -> None:
    local_stack.require("manage_api")
    root = printed_key(local_stack, "root key")
    workspace = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {
        "id": workspace,
        "name": "E2E",
        "sender": f"{workspace}@example.com",
        "sender_name": "E2E",
        "timezone": "Europe/Lisbon",
        "locale": "pt",
        "brand_name": "E2E",
    }
    created = local_stack.request("POST", "/v1/workspaces", body, key=root)
    assert created.status == 201, created.text
    admin = created.json()["key"]
    assert admin["workspace"] == workspace and admin["scopes"] == ["admin"]
    # The new workspace's admin key sees its own keys only
    keys = local_stack.request("GET", "/v1/keys", key=admin["secret"]).json()["keys"]
    assert [k["id"] for k in keys] == [admin["id"]]
    # ... and none of default's automations (default's own key lists the examples)
    theirs = local_stack.request("GET", "/v1/automations", key=admin["secret"])
    assert theirs.status == 200 and theirs.json()["automations"] == [], theirs.text
    assert local_stack.request("GET", "/v1/automations").json()["automations"]
    # An event posted with its key starts none of default's automations
    event = {"id": f"evt_{workspace}", "type": "invoice.paid", "contact": {"id": "c_1", "email": "ana@example.com"}}
    posted = local_stack.request("POST", "/v1/events", event, key=admin["secret"])
    assert posted.status == 202 and posted.json()["events"][0]["runs"] == [], posted.text
    # Its last admin key cannot be revoked
    assert local_stack.request("DELETE", f"/v1/keys/{admin['id']}", key=admin["secret"]).status == 409
    for sender in ("not an address", "hello@elsewhere.example"):  # the second: not among the stack's senders
        again = local_stack.request("POST", "/v1/workspaces", {**body, "sender": sender}, key=root)
        assert again.status == 422 and {e["loc"] for e in again.json()["errors"]} == {"sender"}, again.text
    taken = local_stack.request("POST", "/v1/workspaces", body, key=root)
    assert taken.status == 422 and [e["loc"] for e in taken.json()["errors"]] == ["id"]
    listed = local_stack.request("GET", "/v1/workspaces", key=root).json()["workspaces"]
    assert workspace in {w["id"] for w in listed}
