"""Keys and scopes (DESIGN.md §5): creating, listing and revoking a workspace's keys, authenticating a presented
key, and the scope each route needs.

A key's secret is ``ak_<id>_<random>``: shown once, when the key is created, and stored only as its SHA-256
hash, which is what a presented key is looked up by (and then compared with in constant time).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from automations.engine.email import sender_allowed
from automations.errors import AutomationsError, FieldError
from automations.ports import (
    ROOT,
    TOUCH_INTERVAL,
    AccessPorts,
    ApiKey,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Scope,
    Workspace,
    parse_scopes,
)

PREFIX = "ak"
MAX_NAME = 100
#: The longest secret worth hashing: a longer presented key is no key of ours.
MAX_SECRET = 200

#: The scope each route needs: (method, path template) -> scope, ``ROOT`` for the stack's root key alone. A
#: ``{name}`` segment matches one path segment. The routes of :data:`OPEN` need no key; any other route needs
#: ``admin`` (it is answered 404 anyway, but an unlisted route is never open).
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/v1/events"): Scope.EVENTS_WRITE,
    ("POST", "/v1/track"): Scope.EVENTS_WRITE,
    ("POST", "/v1/identify"): Scope.EVENTS_WRITE,
    ("POST", "/v1/batch"): Scope.EVENTS_WRITE,
    ("GET", "/v1/automations"): Scope.AUTOMATIONS_READ,
    ("POST", "/v1/automations"): Scope.AUTOMATIONS_WRITE,
    ("POST", "/v1/automations/validate"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/automations/{id}"): Scope.AUTOMATIONS_READ,
    ("PUT", "/v1/automations/{id}"): Scope.AUTOMATIONS_WRITE,
    ("PATCH", "/v1/automations/{id}"): Scope.AUTOMATIONS_WRITE,
    ("DELETE", "/v1/automations/{id}"): Scope.AUTOMATIONS_WRITE,
    ("POST", "/v1/automations/{id}/activate"): Scope.AUTOMATIONS_WRITE,
    ("POST", "/v1/automations/{id}/deactivate"): Scope.AUTOMATIONS_WRITE,
    ("POST", "/v1/automations/{id}/duplicate"): Scope.AUTOMATIONS_WRITE,
    ("GET", "/v1/automations/{id}/versions"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/automations/{id}/stats"): Scope.AUTOMATIONS_READ,
    ("POST", "/v1/automations/{id}/preview"): Scope.AUTOMATIONS_WRITE,
    ("POST", "/v1/automations/{id}/test-email"): Scope.AUTOMATIONS_WRITE,
    ("GET", "/v1/schema"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/runs"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/runs/{id}"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/templates"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/coupon-pools"): Scope.AUTOMATIONS_READ,
    ("GET", "/v1/coupon-pools/{pool}"): Scope.AUTOMATIONS_READ,
    ("POST", "/v1/coupon-pools/{pool}/codes"): Scope.AUTOMATIONS_WRITE,
    ("GET", "/v1/contacts"): Scope.CONTACTS_READ,
    ("GET", "/v1/contacts/{person}"): Scope.CONTACTS_READ,
    ("PUT", "/v1/contacts/{person}"): Scope.CONTACTS_WRITE,
    ("PATCH", "/v1/contacts/{person}"): Scope.CONTACTS_WRITE,
    ("GET", "/v1/tasks"): Scope.CONTACTS_READ,
    ("PATCH", "/v1/tasks/{id}"): Scope.CONTACTS_WRITE,
    ("GET", "/v1/webhook-secret"): Scope.ADMIN,
    ("POST", "/v1/webhook-secret/rotate"): Scope.ADMIN,
    ("GET", "/v1/keys"): Scope.ADMIN,
    ("POST", "/v1/keys"): Scope.ADMIN,
    ("DELETE", "/v1/keys/{id}"): Scope.ADMIN,
    ("GET", "/v1/workspaces"): ROOT,
    ("POST", "/v1/workspaces"): ROOT,
}

#: The routes anyone may call: the API's description and its UI, the preferences pages (their signed token is
#: the proof) and the console's static files (it calls the other routes with a key).
OPEN = (
    re.compile(r"^/v1/(openapi\.json|docs|swagger)(/.*)?$"),
    re.compile(r"^/u/[^/]+$"),
    re.compile(r"^/console(/.*)?$"),
)


def _compiled(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


_ROUTES = [(method, _compiled(template), scope) for (method, template), scope in ROUTE_SCOPES.items()]


def scope_for(method: str, path: str) -> str | None:
    """The scope a request needs (``ROOT`` for the root key's routes), or None for an open route.

    ``path`` is the request's path without the stage (``/v1/automations/welcome``); a trailing ``/`` is ignored.
    """
    method = method.upper()
    path = path.rstrip("/") or "/"
    if method in ("GET", "HEAD", "POST") and any(pattern.match(path) for pattern in OPEN):
        return None
    looked_up = "GET" if method == "HEAD" else method
    for route_method, pattern, scope in _ROUTES:
        if route_method == looked_up and pattern.match(path):
            return str(scope)
    return str(Scope.ADMIN)


def grants(scopes: Iterable[str], needed: str | None) -> bool:
    """Whether a key's scopes allow a route that needs ``needed``: its own scope, or ``admin`` (every scope of its
    workspace; never ``ROOT``)."""
    if needed is None:
        return True
    held = {str(scope) for scope in scopes}
    return needed in held or (needed != ROOT and Scope.ADMIN in held)


# --- keys ---------------------------------------------------------------------------------------------------


class LastAdminKeyError(AutomationsError):
    """Revoking this key would leave its workspace without an active admin key."""


@dataclass(frozen=True)
class NewKey:
    """A key just created, and its secret: the only time the secret is known."""

    key: ApiKey
    secret: str

    def as_dict(self) -> dict[str, object]:
        return {**self.key.as_dict(), "secret": self.secret}


def hash_secret(secret: str) -> str:
    """The SHA-256 (hex) of a secret: what the key store keeps and looks keys up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> tuple[str, str]:
    """A new key id and its secret ``ak_<id>_<random>`` (the id is hex, so the secret splits unambiguously)."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def create_key(access: AccessPorts, workspace: str, name: str, scopes: Iterable[object]) -> NewKey:
    """Create a key of a workspace; answers it with its secret, which is never known again.

    ``InvalidInputError`` naming ``name`` or ``scopes`` (every problem at once).
    """
    errors: list[FieldError] = []
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= MAX_NAME:
        errors.append(FieldError("name", f"must be 1 to {MAX_NAME} characters"))
    try:
        parsed = parse_scopes(scopes)
    except InvalidInputError as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInputError(errors)
    key_id, secret = new_secret()
    key = ApiKey(id=key_id, workspace=workspace, name=name, scopes=parsed, created_at=access.clock.now())
    access.keys.create(key, hash_secret(secret))
    return NewKey(key, secret)


def list_keys(access: AccessPorts, workspace: str) -> list[ApiKey]:
    """Every key of the workspace, revoked ones included (each with ``revoked_at``), by id."""
    return access.keys.of_workspace(workspace)


def revoke_key(access: AccessPorts, workspace: str, key_id: str) -> ApiKey:
    """Revoke a key of the workspace (again: nothing changes); ``NotFoundError`` for an unknown id,
    :class:`LastAdminKeyError` for the workspace's last active admin key."""
    if access.keys.get(workspace, key_id) is None:
        raise NotFoundError(f"no key {key_id!r} in workspace {workspace!r}")
    try:
        return access.keys.revoke(workspace, key_id, access.clock.now())
    except ConflictError:
        raise LastAdminKeyError(
            f"key {key_id!r} is the last active admin key of workspace {workspace!r}: create another admin key"
            " before revoking it"
        ) from None


#: The key id the root key is known by (in the authorizer's context and its log lines).
ROOT_KEY_ID = "root"


def is_root_key(root_secret: str, presented: str | None) -> bool:
    """Whether the presented key is the stack's root key (compared in constant time); never for an empty secret."""
    if not root_secret or not presented or len(presented) > MAX_SECRET:
        return False
    return hmac.compare_digest(root_secret.encode("utf-8", "surrogatepass"), presented.encode("utf-8", "surrogatepass"))


def presented_key(headers: Mapping[str, object] | None) -> str | None:
    """The key a request presents: the ``x-api-key`` header (any case), or else the username of HTTP Basic
    authorization (``Authorization: Basic base64(key:)``, as Segment's SDKs send their write key)."""
    named = {str(name).lower(): value for name, value in (headers or {}).items() if isinstance(value, str)}
    key = named.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, credentials = named.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username = decoded.partition(":")[0].strip()
    return username or None


def authenticate(access: AccessPorts, presented: str | None) -> ApiKey | None:
    """The active key whose secret was presented; None for no key, an unknown one or a revoked one.

    A key's ``last_used_at`` is written at most once a minute (not even tried when the key just read says it was
    written less than a minute ago), and a failure to write it is no reason to refuse the key.
    """
    # Any secret is looked up by its hash (not only ``ak_…`` ones): the local stack's ``local-dev-key`` is stored
    # as a key too, and a secret no key was created with has no stored hash.
    if not presented or len(presented) > MAX_SECRET:
        return None
    digest = hash_secret(presented)
    found = access.keys.by_hash(digest)
    if found is None or not hmac.compare_digest(found.secret_hash, digest) or not found.key.active:
        return None
    # When a key was last used is a hint for its owner: failing to write it refuses no one.
    with contextlib.suppress(Exception):
        now = access.clock.now()
        last = found.key.last_used_at
        if last is None or now - last >= TOUCH_INTERVAL:
            access.keys.touch(digest, now)
    return found.key


# --- workspaces ---------------------------------------------------------------------------------------------

#: The name of a workspace's first key, created with it.
FIRST_KEY_NAME = "admin"


@dataclass(frozen=True)
class NewWorkspace:
    """A workspace just created, and its first admin key with its secret (shown this once)."""

    workspace: Workspace
    key: NewKey


def create_workspace(
    access: AccessPorts,
    *,
    id: str,
    name: str,
    sender_address: str,
    sender_name: str,
    timezone: str,
    locale: str,
    brand_name: str,
    hard_bounce_rate_limit: float | None = None,
    complaint_rate_limit: float | None = None,
    senders: Sequence[str] = (),
) -> NewWorkspace:
    """Create a workspace and its first admin key. ``InvalidInputError`` naming every field that cannot be
    accepted, ``id`` for a workspace that exists already, ``sender_address`` for an address that none of the
    stack's ``senders`` allows (the functions' SES permission allows those alone; none given: any)."""
    workspace = Workspace.new(
        id=id,
        name=name,
        sender_address=sender_address,
        sender_name=sender_name,
        timezone=timezone,
        locale=locale,
        brand_name=brand_name,
        now=access.clock.now(),
        hard_bounce_rate_limit=hard_bounce_rate_limit,
        complaint_rate_limit=complaint_rate_limit,
    )
    if senders and not sender_allowed(workspace.sender_address, senders):
        allowed = ", ".join(senders)
        problem = (
            f"{workspace.sender_address} is not among the stack's allowed senders ({allowed}): add it to AllowedSenders"
        )
        raise InvalidInputError([FieldError("sender_address", problem)])
    try:
        access.workspaces.create(workspace)
    except ConflictError:
        raise InvalidInputError([FieldError("id", f"workspace {id!r} exists already")]) from None
    return NewWorkspace(workspace, create_key(access, workspace.id, FIRST_KEY_NAME, [Scope.ADMIN]))


def list_workspaces(access: AccessPorts) -> list[Workspace]:
    """Every workspace of the stack, by id."""
    return access.workspaces.all()
