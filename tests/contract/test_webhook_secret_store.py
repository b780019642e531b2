"""WebhookSecretStore: a workspace's signing secret, none at first; the first one stored stays (a second create
answers it), a rotation replaces it, a fresh read sees what another process stored; each workspace has its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from automations.adapters.webhook_secrets import SecretsManagerWebhookSecrets, secret_name
from automations.ports import Ports, WebhookSecret, WebhookSecretStore

from tests.contract.conftest import Backend
from tests.support.aws import Stack
from tests.support.fakes import FakeWebhookSecretStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FIRST = WebhookSecret(current="whsec_Zmlyc3Qtc2VjcmV0LWZvci10aGUtd29ya3NwYWNl", created_at=NOW)
SECOND = WebhookSecret(current="whsec_c2Vjb25kLXNlY3JldC1mb3ItdGhlLXdvcmtzcGFjZQ==", created_at=NOW)


def another_process(backend: Backend, ports: Ports) -> WebhookSecretStore:
    """The same workspace's store as another process holds it (its own cache, the same secret)."""
    store = ports.webhook_secrets
    if backend.name == "fake":
        return store  # one process's memory: there is no other view of it
    assert isinstance(store, SecretsManagerWebhookSecrets)
    return SecretsManagerWebhookSecrets(store.client, store.prefix, store.workspace)


def store_of(backend: Backend, ports: Ports, workspace: str) -> WebhookSecretStore:
    """Another workspace's store on the same backend."""
    store = ports.webhook_secrets
    if backend.name == "fake":
        return FakeWebhookSecretStore(workspace)
    assert isinstance(store, SecretsManagerWebhookSecrets)
    return SecretsManagerWebhookSecrets(store.client, store.prefix, workspace)


def test_there_is_none_at_first_and_the_first_one_created_stays(ports: Ports) -> None:
    store = ports.webhook_secrets

    assert store.get() is None
    assert store.get(fresh=True) is None
    assert store.create(FIRST) == FIRST
    assert store.get() == FIRST
    assert store.create(SECOND) == FIRST  # made meanwhile by someone else: theirs is the workspace's
    assert store.get(fresh=True) == FIRST


def test_a_secret_made_by_another_process_is_answered_to_a_create(backend: Backend, ports: Ports) -> None:
    other = another_process(backend, ports)
    assert ports.webhook_secrets.get() is None

    assert other.create(FIRST) == FIRST
    assert ports.webhook_secrets.create(SECOND) == FIRST
    assert ports.webhook_secrets.get() == FIRST


def test_a_rotation_replaces_it_whole_and_a_fresh_read_sees_it(backend: Backend, ports: Ports) -> None:
    store = ports.webhook_secrets
    other = another_process(backend, ports)
    store.create(FIRST)
    assert other.get() == FIRST
    rotated = FIRST.rotated(SECOND.current, NOW + timedelta(days=3))

    store.put(rotated)

    assert store.get() == rotated
    assert other.get(fresh=True) == rotated
    assert other.get() == rotated
    assert rotated.previous == FIRST.current
    assert rotated.signing(NOW + timedelta(days=3, hours=1)) == [SECOND.current, FIRST.current]
    assert rotated.signing(NOW + timedelta(days=4, hours=1)) == [SECOND.current]


def test_each_workspace_has_a_secret_of_its_own(backend: Backend, ports: Ports) -> None:
    mine = ports.webhook_secrets
    theirs = store_of(backend, ports, f"{backend.workspace}-other")

    mine.create(FIRST)
    assert theirs.get(fresh=True) is None
    assert theirs.create(SECOND) == SECOND
    assert mine.get(fresh=True) == FIRST
    theirs.put(SECOND.rotated("whsec_dGhpcmQtc2VjcmV0LWZvci10aGUtb3RoZXItd3M=", NOW))
    assert mine.get(fresh=True) == FIRST


def test_the_secret_is_named_after_its_workspace(
    backend: Backend, ports: Ports, request: pytest.FixtureRequest
) -> None:
    ports.webhook_secrets.create(FIRST)
    if backend.name == "fake":
        assert ports.webhook_secrets.workspace == backend.workspace
        return
    stack: Stack = request.getfixturevalue("moto_stack")
    name = secret_name(stack.settings.webhook_secret_prefix, backend.workspace)
    store = ports.webhook_secrets
    assert isinstance(store, SecretsManagerWebhookSecrets) and store.name == name
    described = store.client().describe_secret(SecretId=name)
    assert described["Name"] == f"{stack.settings.webhook_secret_prefix}/{backend.workspace}"
