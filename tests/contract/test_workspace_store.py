"""WorkspaceStore: a workspace is created once, read back as it was given, and listed by id."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from automations.ports import AccessPorts, ConflictError, Workspace

from tests.contract.conftest import START


def workspace_named(workspace_id: str, **changes: Any) -> Workspace:
    fields: dict[str, Any] = {
        "id": workspace_id,
        "name": "Acme Yoga",
        "sender_address": "hello@acme.example",
        "sender_name": "Acme Yoga",
        "timezone": "Europe/Lisbon",
        "locale": "pt-PT",
        "brand_name": "Acme",
        **changes,
    }
    return Workspace.new(now=START, **fields)


def test_a_workspace_is_created_once(access: AccessPorts, workspace: str) -> None:
    created = workspace_named(workspace)

    access.workspaces.create(created)
    with pytest.raises(ConflictError):
        access.workspaces.create(workspace_named(workspace, name="Another"))

    assert access.workspaces.get(workspace) == created
    assert access.workspaces.get(f"{workspace}-none") is None


def test_reputation_limits_are_kept_when_given(access: AccessPorts, workspace: str) -> None:
    strict = workspace_named(workspace, hard_bounce_rate_limit=0.02, complaint_rate_limit=0.0005)
    access.workspaces.create(strict)
    found = access.workspaces.get(workspace)
    assert found == strict and found is not None
    assert (found.hard_bounce_rate_limit, found.complaint_rate_limit) == (0.02, 0.0005)


def test_workspaces_are_listed_by_id(access: AccessPorts, workspace: str) -> None:
    second, first = workspace_named(f"{workspace}-b"), workspace_named(f"{workspace}-a", locale="en")
    access.workspaces.create(second)
    access.workspaces.create(first)

    mine = [found for found in access.workspaces.all() if found.id.startswith(f"{workspace}-")]

    assert mine == [first, second]
    assert replace(first, locale="pt-PT") != first
