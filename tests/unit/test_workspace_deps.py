"""The dependencies of a workspace (``Deps.in_workspace``): its own stores, its profile over the stack's
settings, read once per while, and an unknown workspace refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from automations.ports import UnknownWorkspaceError, Workspace
from automations.services import deps as deps_module
from automations.services import lifecycle

from tests.support.flows import definition
from tests.support.services import World
from tests.support.settings import settings_with

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def acme(**changes: object) -> Workspace:
    values: dict[str, object] = {
        "id": "acme",
        "name": "Acme",
        "sender_address": "hello@acme.example",
        "sender_name": "Acme Studio",
        "timezone": "Europe/Lisbon",
        "locale": "pt",
        "brand_name": "Acme Studio",
        "now": NOW,
    }
    values.update(changes)
    return Workspace.new(**values)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    settings = settings_with(
        sender_address="hello@example.com",
        allowed_senders="*@acme.example,billing@example.com,*@other.example",
        email_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/emails",
    )
    return World(settings=settings)


def test_a_workspace_has_its_own_stores_and_its_profile_over_the_stacks_settings(world: World) -> None:
    world.fakes.workspaces.create(acme(hard_bounce_rate_limit=0.02))
    theirs = world.deps.in_workspace("acme")
    assert theirs.settings.workspace == "acme"
    assert (theirs.settings.sender_address, theirs.settings.sender_name) == ("hello@acme.example", "Acme Studio")
    assert (theirs.settings.timezone, theirs.settings.locale, theirs.settings.brand_name) == (
        "Europe/Lisbon",
        "pt",
        "Acme Studio",
    )
    assert theirs.settings.hard_bounce_rate_limit == 0.02
    assert theirs.settings.complaint_rate_limit == world.settings.complaint_rate_limit
    # Only its own domain among the stack's senders: never another workspace's address
    assert theirs.settings.senders() == ("hello@acme.example", "*@acme.example")
    # Its stores are not the stack's, the clock, the scheduler and the sender are shared
    assert theirs.automations is not world.deps.automations and theirs.runs is not world.deps.runs
    assert theirs.scheduler is world.deps.scheduler and theirs.email_sender is world.deps.email_sender
    lifecycle.create(theirs, definition("invoice-paid-thank-you"), NOW)
    assert [a.id for a in lifecycle.list_all(theirs, None)] == ["invoice-paid-thank-you"]
    assert lifecycle.list_all(world.deps, None) == []


def test_the_stacks_own_workspace_is_the_stack_deps_without_a_stored_profile(world: World) -> None:
    assert world.deps.in_workspace("default") is world.deps
    with pytest.raises(UnknownWorkspaceError, match="nowhere"):
        world.deps.in_workspace("nowhere")


def test_a_profile_is_read_once_per_while_and_an_unknown_one_asked_again_sooner(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    original = world.fakes.workspaces.get

    def counted(workspace_id: str) -> Workspace | None:
        reads.append(workspace_id)
        return original(workspace_id)

    monkeypatch.setattr(world.fakes.workspaces, "get", counted)
    moment = [1000.0]
    monkeypatch.setattr(deps_module.time, "monotonic", lambda: moment[0])
    with pytest.raises(UnknownWorkspaceError):
        world.deps.in_workspace("acme")
    world.fakes.workspaces.create(acme())
    with pytest.raises(UnknownWorkspaceError):  # still known as unknown for a while
        world.deps.in_workspace("acme")
    moment[0] += deps_module.UNKNOWN_WORKSPACE_SECONDS + 1
    first = world.deps.in_workspace("acme")
    assert world.deps.in_workspace("acme") is first
    assert reads == ["acme", "acme"]
    moment[0] += deps_module.WORKSPACE_SECONDS + 1
    world.deps.in_workspace("acme")
    assert reads == ["acme", "acme", "acme"]
