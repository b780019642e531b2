"""The key store: every workspace's keys in the keys table, each under the SHA-256 hash of its secret.

A workspace's active admin keys are counted in the same transaction that creates or revokes one, under a
condition that keeps the count above 0: two revocations at once cannot take a workspace's last admin key.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.tables import AdminCountItem, KeyItem
from automations.adapters.dynamodb.writes import conditional_failed, connection
from automations.ports import TOUCH_INTERVAL, ApiKey, ConflictError, NotFoundError, StoredKey, parse_scopes

_KEY = "key"
_ADMINS = "admins"


def key_pk(secret_hash: str) -> str:
    return f"key#{secret_hash}"


def _workspace_keys(workspace: str) -> str:
    return f"{workspace}#keys"


def _admins(workspace: str) -> AdminCountItem:
    return AdminCountItem(f"{workspace}#admins", _ADMINS)


def _key_of(item: KeyItem) -> ApiKey:
    return ApiKey(
        id=item.key_id,
        workspace=item.workspace,
        name=item.name,
        scopes=parse_scopes(item.scopes),
        created_at=item.created_at,
        last_used_at=item.last_used_at,
        revoked_at=item.revoked_at,
    )


def _hash_of(item: KeyItem) -> str:
    return item.pk.removeprefix("key#")


class DynamoKeyStore:
    """:class:`automations.ports.KeyStore` over the keys table."""

    def create(self, key: ApiKey, secret_hash: str) -> None:
        if self._item(key.workspace, key.id) is not None:
            raise ConflictError(f"key {key.id!r} exists already")
        item = KeyItem(
            key_pk(secret_hash),
            _KEY,
            key_id=key.id,
            workspace=key.workspace,
            name=key.name,
            scopes=[scope.value for scope in key.scopes],
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            gsi1pk=_workspace_keys(key.workspace),
            gsi1sk=key.id,
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=KeyItem.pk.does_not_exist())
                if key.is_admin and key.active:
                    tx.update(_admins(key.workspace), actions=[AdminCountItem.admins.add(1)])
        except TransactWriteError as exc:
            if conditional_failed(exc):
                raise ConflictError("a key with this secret exists already") from None
            raise

    def by_hash(self, secret_hash: str) -> StoredKey | None:
        try:
            item = KeyItem.get(key_pk(secret_hash), _KEY, consistent_read=True)
        except KeyItem.DoesNotExist:
            return None
        return StoredKey(_key_of(item), _hash_of(item))

    def _item(self, workspace: str, key_id: str) -> KeyItem | None:
        found = KeyItem.by_workspace.query(_workspace_keys(workspace), KeyItem.gsi1sk == key_id, limit=1)
        return next(iter(found), None)

    def get(self, workspace: str, key_id: str) -> ApiKey | None:
        item = self._item(workspace, key_id)
        return _key_of(item) if item is not None else None

    def of_workspace(self, workspace: str) -> list[ApiKey]:
        return [_key_of(item) for item in KeyItem.by_workspace.query(_workspace_keys(workspace))]

    def revoke(self, workspace: str, key_id: str, now: datetime) -> ApiKey:
        item = self._item(workspace, key_id)
        if item is None:
            raise NotFoundError(f"no key {key_id!r}")
        if item.revoked_at is not None:
            return _key_of(item)
        stored = KeyItem(item.pk, item.sk)
        admin = "admin" in item.scopes
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(
                    stored,
                    actions=[KeyItem.revoked_at.set(now)],
                    condition=KeyItem.pk.exists() & KeyItem.revoked_at.does_not_exist(),
                )
                if admin:
                    tx.update(
                        _admins(workspace),
                        actions=[AdminCountItem.admins.add(-1)],
                        condition=AdminCountItem.admins > 1,
                    )
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
            if not failed:
                raise
            if failed[0] == 1:
                raise ConflictError(f"key {key_id!r} is the last active admin key of workspace {workspace!r}") from None
        found = KeyItem.get(item.pk, item.sk, consistent_read=True)  # revoked, by this call or another
        return _key_of(found)

    def touch(self, secret_hash: str, now: datetime) -> bool:
        item = KeyItem(key_pk(secret_hash), _KEY)
        due = now - TOUCH_INTERVAL
        try:
            item.update(
                actions=[KeyItem.last_used_at.set(now)],
                condition=KeyItem.pk.exists() & (KeyItem.last_used_at.does_not_exist() | (KeyItem.last_used_at <= due)),
            )
        except UpdateError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True
