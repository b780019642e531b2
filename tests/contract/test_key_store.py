"""KeyStore: keys found by their secret's hash, listed by workspace, revoked once, and a workspace never left
without an active admin key; ``last_used_at`` written at most once a minute."""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta

import pytest
from automations.ports import AccessPorts, ApiKey, ConflictError, NotFoundError, Scope, StoredKey

from tests.contract.conftest import START

_secrets = itertools.count(1)


def new_key(workspace: str, key_id: str, *scopes: Scope) -> tuple[ApiKey, str]:
    key = ApiKey(id=key_id, workspace=workspace, name=f"key {key_id}", scopes=scopes, created_at=START)
    digest = hashlib.sha256(f"secret-{workspace}-{key_id}-{next(_secrets)}".encode()).hexdigest()
    return key, digest


def test_a_key_is_found_by_its_hash_and_by_its_id(access: AccessPorts, workspace: str) -> None:
    key, digest = new_key(workspace, "k1", Scope.EVENTS_WRITE, Scope.CONTACTS_READ)

    access.keys.create(key, digest)

    assert access.keys.by_hash(digest) == StoredKey(key, digest)
    assert access.keys.get(workspace, "k1") == key
    assert access.keys.by_hash(hashlib.sha256(b"other").hexdigest()) is None
    assert access.keys.get(workspace, "k2") is None
    assert access.keys.get(f"{workspace}-other", "k1") is None


def test_a_hash_or_an_id_is_taken_once(access: AccessPorts, workspace: str) -> None:
    key, digest = new_key(workspace, "k1", Scope.ADMIN)
    access.keys.create(key, digest)

    with pytest.raises(ConflictError):
        access.keys.create(ApiKey("k2", workspace, "twin", (Scope.EVENTS_WRITE,), START), digest)
    with pytest.raises(ConflictError):
        access.keys.create(*new_key(workspace, "k1", Scope.EVENTS_WRITE))

    assert access.keys.of_workspace(workspace) == [key]


def test_a_workspace_lists_its_own_keys_by_id(access: AccessPorts, workspace: str) -> None:
    b, a = new_key(workspace, "kb", Scope.ADMIN), new_key(workspace, "ka", Scope.EVENTS_WRITE)
    other = new_key(f"{workspace}x", "kc", Scope.ADMIN)
    for key, digest in (b, a, other):
        access.keys.create(key, digest)

    assert access.keys.of_workspace(workspace) == [a[0], b[0]]
    assert access.keys.of_workspace(f"{workspace}-none") == []


def test_a_revoked_key_stays_revoked_and_found(access: AccessPorts, workspace: str) -> None:
    admin, events = new_key(workspace, "k1", Scope.ADMIN), new_key(workspace, "k2", Scope.EVENTS_WRITE)
    for key, digest in (admin, events):
        access.keys.create(key, digest)
    later = START + timedelta(hours=1)

    revoked = access.keys.revoke(workspace, "k2", later)

    assert revoked.revoked_at == later and not revoked.active
    assert access.keys.revoke(workspace, "k2", later + timedelta(hours=1)) == revoked
    stored = access.keys.by_hash(events[1])
    assert stored is not None and stored.key == revoked
    with pytest.raises(NotFoundError):
        access.keys.revoke(workspace, "k3", later)
    with pytest.raises(NotFoundError):
        access.keys.revoke(f"{workspace}-other", "k1", later)


def test_the_last_active_admin_key_is_never_revoked(access: AccessPorts, workspace: str) -> None:
    first, second = new_key(workspace, "k1", Scope.ADMIN), new_key(workspace, "k2", Scope.ADMIN, Scope.EVENTS_WRITE)
    access.keys.create(*first)
    access.keys.create(*second)
    access.keys.create(*new_key(f"{workspace}x", "k9", Scope.ADMIN))  # another workspace's admin counts for it
    later = START + timedelta(minutes=5)

    assert access.keys.revoke(workspace, "k1", later).revoked_at == later
    with pytest.raises(ConflictError):
        access.keys.revoke(workspace, "k2", later)

    assert access.keys.get(workspace, "k2") == second[0]
    access.keys.create(*new_key(workspace, "k3", Scope.ADMIN))
    assert not access.keys.revoke(workspace, "k2", later).active


def test_last_used_is_written_at_most_once_a_minute(access: AccessPorts, workspace: str) -> None:
    key, digest = new_key(workspace, "k1", Scope.EVENTS_WRITE)
    access.keys.create(key, digest)
    used = START + timedelta(hours=2)

    assert access.keys.touch(digest, used)
    assert not access.keys.touch(digest, used + timedelta(seconds=59))
    assert access.keys.get(workspace, "k1") == ApiKey(**{**key.__dict__, "last_used_at": used})
    assert access.keys.touch(digest, used + timedelta(seconds=60))
    found = access.keys.by_hash(digest)
    assert found is not None and found.key.last_used_at == used + timedelta(seconds=60)
    assert not access.keys.touch(hashlib.sha256(b"nobody").hexdigest(), used)
    assert access.keys.by_hash(hashlib.sha256(b"nobody").hexdigest()) is None
