"""The access service over fakes: keys with scopes (secret shown once, stored as a hash), revocation that never
leaves a workspace without an admin key, authentication of a presented key, and the scope each route needs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

import pytest
from automations.errors import FieldError
from automations.ports import ROOT, InvalidInputError, NotFoundError, Scope, Workspace, parse_scopes
from automations.services import access
from automations.services.access import LastAdminKeyError

from tests.support.fakes import Fakes


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


# --- scopes -------------------------------------------------------------------------------------------------


def test_scopes_are_parsed_each_once_in_their_order() -> None:
    assert parse_scopes(["admin", "events:write", "admin"]) == (Scope.EVENTS_WRITE, Scope.ADMIN)
    assert [s.value for s in Scope] == [
        "events:write",
        "automations:read",
        "automations:write",
        "contacts:read",
        "contacts:write",
        "admin",
    ]


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "give at least one scope"),
        (["events:write", "everything"], "unknown scope 'everything'"),
        (["root"], "unknown scope 'root'"),
        ("admin", "expected a list of scopes"),
    ],
)
def test_unknown_scopes_and_no_scope_are_refused_at_scopes(scopes: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_scopes(scopes)  # type: ignore[arg-type]
    (error,) = raised.value.errors
    assert error.loc == "scopes" and message in error.message


# --- keys ---------------------------------------------------------------------------------------------------


def test_a_new_key_answers_its_secret_once_and_stores_only_its_hash(fakes: Fakes) -> None:
    created = access.create_key(fakes.access, "acme", " The app ", ["events:write"])

    assert re.fullmatch(r"ak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", created.secret)
    assert created.secret.split("_")[1] == created.key.id
    assert created.key.name == "The app" and created.key.scopes == (Scope.EVENTS_WRITE,)
    assert created.key.created_at == fakes.clock.now()
    digest = hashlib.sha256(created.secret.encode()).hexdigest()
    assert list(fakes.keys.keys) == [digest]
    assert created.secret not in repr(fakes.keys.keys) and "secret" not in created.key.as_dict()
    assert created.as_dict()["secret"] == created.secret
    assert access.list_keys(fakes.access, "acme") == [created.key]
    assert access.list_keys(fakes.access, "other") == []


def test_a_key_needs_a_name_and_known_scopes(fakes: Fakes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        access.create_key(fakes.access, "acme", " ", ["events:write", "nope"])

    assert [e.loc for e in raised.value.errors] == ["name", "scopes"]
    assert fakes.keys.keys == {}


def test_an_active_key_authenticates_and_is_touched_once_a_minute(fakes: Fakes) -> None:
    created = access.create_key(fakes.access, "acme", "app", ["events:write"])
    started = fakes.clock.now()

    assert access.authenticate(fakes.access, created.secret) == created.key
    fakes.clock.advance(timedelta(seconds=30))
    found = access.authenticate(fakes.access, created.secret)

    assert found is not None and found.last_used_at == started
    fakes.clock.advance(timedelta(seconds=30))
    access.authenticate(fakes.access, created.secret)
    assert fakes.keys.get("acme", created.key.id).last_used_at == fakes.clock.now()  # type: ignore[union-attr]


def test_a_key_used_within_the_minute_is_not_written_again(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Segment-compatible routes' authorizer has no cache: it authenticates every request, and a key just read
    # as used less than a minute ago costs no write
    created = access.create_key(fakes.access, "acme", "app", ["events:write"])
    touched: list[object] = []
    touch = fakes.keys.touch

    def counting(secret_hash: str, now: datetime) -> bool:
        touched.append(now)
        return touch(secret_hash, now)

    monkeypatch.setattr(fakes.keys, "touch", counting)
    for _ in range(3):
        assert access.authenticate(fakes.access, created.secret) is not None
        fakes.clock.advance(timedelta(seconds=20))
    assert len(touched) == 1
    assert access.authenticate(fakes.access, created.secret) is not None
    assert len(touched) == 2


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "ak_1"}, "ak_1"),
        ({"X-API-KEY": " ak_1 "}, "ak_1"),
        ({"Authorization": "Basic " + base64.b64encode(b"ak_2:").decode()}, "ak_2"),
        ({"authorization": "basic " + base64.b64encode(b"ak_2:ignored").decode()}, "ak_2"),
        ({"x-api-key": "ak_1", "Authorization": "Basic " + base64.b64encode(b"ak_2:").decode()}, "ak_1"),
        ({"x-api-key": "  ", "Authorization": "Basic " + base64.b64encode(b"ak_2:").decode()}, "ak_2"),
        ({"Authorization": "Basic " + base64.b64encode(b":ak_2").decode()}, None),
        ({"Authorization": "Bearer ak_2"}, None),
        ({"Authorization": "Basic !!"}, None),
        ({"Authorization": "Basic " + base64.b64encode(b"\xff:").decode()}, None),
        ({}, None),
        (None, None),
    ],
)
def test_the_presented_key_is_x_api_key_or_else_the_basic_username(
    headers: dict[str, str] | None, key: str | None
) -> None:
    assert access.presented_key(headers) == key


def test_the_hash_is_compared_in_constant_time(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    created = access.create_key(fakes.access, "acme", "app", ["events:write"])
    compared: list[tuple[str, str]] = []

    def compare_digest(a: str, b: str) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)

    assert access.authenticate(fakes.access, created.secret) is not None
    digest = access.hash_secret(created.secret)
    assert compared == [(digest, digest)]


@pytest.mark.parametrize(
    "presented", [None, "", "ak_0123456789abcdef_unknown", "Bearer x", "ak_" + "x" * 300, "ak_\udcff"]
)
def test_no_key_or_an_unknown_one_authenticates_nothing(fakes: Fakes, presented: str | None) -> None:
    access.create_key(fakes.access, "acme", "app", ["events:write"])

    assert access.authenticate(fakes.access, presented) is None


def test_a_revoked_key_authenticates_nothing(fakes: Fakes) -> None:
    access.create_key(fakes.access, "acme", "admin", ["admin"])
    app = access.create_key(fakes.access, "acme", "app", ["events:write"])

    revoked = access.revoke_key(fakes.access, "acme", app.key.id)

    assert revoked.revoked_at == fakes.clock.now()
    assert access.authenticate(fakes.access, app.secret) is None
    assert access.revoke_key(fakes.access, "acme", app.key.id) == revoked
    assert revoked in access.list_keys(fakes.access, "acme")


def test_the_last_admin_key_of_a_workspace_is_not_revoked(fakes: Fakes) -> None:
    first = access.create_key(fakes.access, "acme", "first admin", ["admin"])
    access.create_key(fakes.access, "other", "their admin", ["admin"])

    with pytest.raises(LastAdminKeyError, match=r"last active admin key of workspace 'acme'.*create another"):
        access.revoke_key(fakes.access, "acme", first.key.id)

    second = access.create_key(fakes.access, "acme", "second admin", ["admin", "events:write"])
    assert not access.revoke_key(fakes.access, "acme", first.key.id).active
    with pytest.raises(LastAdminKeyError):
        access.revoke_key(fakes.access, "acme", second.key.id)
    assert access.authenticate(fakes.access, second.secret) is not None


def test_an_unknown_or_another_workspaces_key_is_not_found(fakes: Fakes) -> None:
    theirs = access.create_key(fakes.access, "other", "app", ["events:write"])

    with pytest.raises(NotFoundError):
        access.revoke_key(fakes.access, "acme", theirs.key.id)
    with pytest.raises(NotFoundError):
        access.revoke_key(fakes.access, "acme", "0123456789abcdef")


# --- routes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", "/v1/events", "events:write"),
        ("GET", "/v1/automations", "automations:read"),
        ("POST", "/v1/automations", "automations:write"),
        ("POST", "/v1/automations/validate", "automations:read"),
        ("GET", "/v1/automations/welcome", "automations:read"),
        ("HEAD", "/v1/automations/welcome/", "automations:read"),
        ("PUT", "/v1/automations/welcome", "automations:write"),
        ("PATCH", "/v1/automations/welcome", "automations:write"),
        ("DELETE", "/v1/automations/welcome", "automations:write"),
        ("post", "/v1/automations/welcome/activate", "automations:write"),
        ("GET", "/v1/automations/welcome/versions", "automations:read"),
        ("GET", "/v1/automations/welcome/stats", "automations:read"),
        ("POST", "/v1/automations/welcome/preview", "automations:write"),
        ("GET", "/v1/runs", "automations:read"),
        ("GET", "/v1/runs/run_1", "automations:read"),
        ("GET", "/v1/contacts", "contacts:read"),
        ("GET", "/v1/contacts/ana@example.com", "contacts:read"),
        ("PUT", "/v1/contacts/ana@example.com", "contacts:write"),
        ("PATCH", "/v1/contacts/ana@example.com", "contacts:write"),
        ("GET", "/v1/tasks", "contacts:read"),
        ("PATCH", "/v1/tasks/task_1", "contacts:write"),
        ("GET", "/v1/coupon-pools", "automations:read"),
        ("GET", "/v1/coupon-pools/spring-10", "automations:read"),
        ("POST", "/v1/coupon-pools/spring-10/codes", "automations:write"),
        ("GET", "/v1/webhook-secret", "admin"),
        ("POST", "/v1/webhook-secret/rotate", "admin"),
        ("GET", "/v1/keys", "admin"),
        ("POST", "/v1/keys", "admin"),
        ("DELETE", "/v1/keys/0123456789abcdef", "admin"),
        ("GET", "/v1/workspaces", ROOT),
        ("POST", "/v1/workspaces", ROOT),
        ("GET", "/v1/openapi.json", None),
        ("GET", "/v1/docs", None),
        ("GET", "/u/token.sig", None),
        ("POST", "/u/token.sig", None),
        ("GET", "/console/app.js", None),
        ("GET", "/v1/nothing-here", "admin"),
        ("DELETE", "/v1/events", "admin"),
        ("GET", "/v1/automations/a/b/c", "admin"),
        ("DELETE", "/u/token.sig", "admin"),
    ],
)
def test_every_route_needs_its_scope(method: str, path: str, scope: str | None) -> None:
    assert access.scope_for(method, path) == scope


def test_the_route_table_names_only_scopes_and_root() -> None:
    assert {str(s) for s in access.ROUTE_SCOPES.values()} <= {s.value for s in Scope} | {ROOT}


def test_a_key_is_granted_its_scopes_and_admin_every_scope_but_root() -> None:
    assert access.grants(["events:write"], "events:write")
    assert not access.grants(["events:write"], "automations:read")
    assert access.grants(["admin"], "contacts:write")
    assert not access.grants(["admin"], ROOT)
    assert access.grants([], None)


# --- workspaces ---------------------------------------------------------------------------------------------


def test_a_workspace_refuses_every_field_it_cannot_accept(fakes: Fakes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Workspace.new(
            id="-Acme",
            name="",
            sender_address="not an address",
            sender_name="Acme",
            timezone="Mars/Olympus",
            locale="Portuguese",
            brand_name="Acme",
            now=fakes.clock.now(),
        )

    assert [e.loc for e in raised.value.errors] == ["id", "name", "sender_address", "timezone", "locale"]
    assert isinstance(raised.value.errors[0], FieldError)


def test_a_key_is_accepted_when_its_last_use_cannot_be_written(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    created = access.create_key(fakes.access, "acme", "app", ["events:write"])

    def touch(secret_hash: str, now: object) -> bool:
        raise TimeoutError("the table did not answer")

    monkeypatch.setattr(fakes.keys, "touch", touch)

    assert access.authenticate(fakes.access, created.secret) == created.key
