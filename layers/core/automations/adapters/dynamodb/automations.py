"""The automation store: a head per automation, immutable versions, and routes for the active ones.

The head and the routes change in one transaction, the head only if it is still as read: an active automation
is routed at its current version, an inactive or draft one not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.tables import AutomationHead, AutomationVersion, Route
from automations.adapters.dynamodb.writes import conditional_failed, connection
from automations.ports import AutomationInfo, ConflictError, NotFoundError, RouteInfo, VersionInfo


def head_key(workspace: str, automation_id: str) -> tuple[str, str]:
    return f"{workspace}#automations", automation_id


def version_key(workspace: str, automation_id: str, version: int) -> tuple[str, str]:
    return f"{workspace}#automation#{automation_id}", f"v#{version:08d}"


def route_key(workspace: str, event_type: str, automation_id: str, role: str) -> tuple[str, str]:
    return f"{workspace}#route#{event_type}", f"{automation_id}#{role}"


def routes_of(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """(event type, role) pairs an active definition listens to: its trigger, its cancel_on, its reschedule_on."""
    pairs = [(definition["trigger"]["event"], "trigger")]
    for field_name, role in (("cancel_on", "cancel"), ("reschedule_on", "reschedule")):
        for rule in definition.get(field_name, []):
            pair = (rule["event"], role)
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def automation_info(head: AutomationHead) -> AutomationInfo:
    return AutomationInfo(
        id=head.sk,
        name=head.name,
        status=head.status,
        version=int(head.version),
        trigger_event=head.trigger_event,
        description=head.description,
        created_at=head.created_at,
        updated_at=head.updated_at,
        status_reason=head.status_reason,
    )


def version_info(automation_id: str, item: AutomationVersion) -> VersionInfo:
    return VersionInfo(
        automation_id=automation_id,
        version=int(item.version),
        definition=item.definition,
        created_at=item.created_at,
    )


@dataclass
class DynamoAutomationStore:
    """:class:`automations.ports.AutomationStore` of one workspace, with the process's caches of versions (kept:
    they never change) and routes (for ``cache_seconds``)."""

    workspace: str
    cache_seconds: float = 5.0
    _versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    _routes: dict[str, tuple[float, list[RouteInfo]]] = field(default_factory=dict)

    # reads
    def head(self, automation_id: str) -> AutomationInfo:
        return automation_info(self._head(automation_id))

    def heads(self) -> list[AutomationInfo]:
        return [automation_info(head) for head in AutomationHead.query(f"{self.workspace}#automations")]

    def version(self, automation_id: str, version: int) -> dict[str, Any]:
        """A version's definition; versions never change, so they are cached without expiry."""
        key = (automation_id, version)
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        try:
            item = AutomationVersion.get(*version_key(self.workspace, automation_id, version))
        except DoesNotExist:
            raise NotFoundError(f"automation {automation_id!r} has no version {version}") from None
        definition: dict[str, Any] = item.definition
        if len(self._versions) > 512:
            self._versions.clear()
        self._versions[key] = definition
        return definition

    def versions(self, automation_id: str) -> list[VersionInfo]:
        return [version_info(automation_id, item) for item in self._version_items(automation_id)]

    def routes_for(self, event_type: str, *, fresh: bool = False) -> list[RouteInfo]:
        """Active automations for an event type: one query, cached for a few seconds."""
        cached = self._routes.get(event_type)
        if cached and not fresh and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        found = [
            RouteInfo(item.automation_id, item.role, int(item.version))
            for item in Route.query(f"{self.workspace}#route#{event_type}")
        ]
        self._routes[event_type] = (time.monotonic(), found)
        return found

    def forget_routes(self) -> None:
        self._routes.clear()

    # writes
    def create(self, definition: dict[str, Any], now: datetime) -> AutomationInfo:
        """Version 1 of a new automation (and its routes when it is created active)."""
        automation_id = definition["id"]
        head = AutomationHead(
            *head_key(self.workspace, automation_id),
            name=definition["name"],
            status=definition.get("status", "draft"),
            version=1,
            trigger_event=definition["trigger"]["event"],
            description=definition.get("description"),
            created_at=now,
            updated_at=now,
        )
        version = AutomationVersion(
            *version_key(self.workspace, automation_id, 1), version=1, definition=definition, created_at=now
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(head, condition=AutomationHead.pk.does_not_exist())
                tx.save(version, condition=AutomationVersion.pk.does_not_exist())
                if head.status == "active":
                    for route in self._route_items(definition, 1):
                        tx.save(route)
        except TransactWriteError as exc:
            if conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} already exists") from None
            raise
        self.forget_routes()
        return automation_info(head)

    def replace(self, definition: dict[str, Any], now: datetime, *, expected_version: int | None = None) -> int:
        """A new immutable version; the head moves to it only if nobody else moved it first."""
        automation_id = definition["id"]
        head = self._head(automation_id)
        current = int(head.version)
        if expected_version is not None and expected_version != current:
            raise ConflictError(f"automation {automation_id!r} is at version {current}, not {expected_version}")
        new = current + 1
        old_definition = self.version(automation_id, current)
        status = definition.get("status", head.status)
        version = AutomationVersion(
            *version_key(self.workspace, automation_id, new),
            version=new,
            definition=definition,
            created_at=now,
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(
                    head,
                    actions=[
                        AutomationHead.version.set(new),
                        AutomationHead.name.set(definition["name"]),
                        AutomationHead.status.set(status),
                        AutomationHead.trigger_event.set(definition["trigger"]["event"]),
                        AutomationHead.description.set(definition.get("description")),  # type: ignore[arg-type]
                        AutomationHead.updated_at.set(now),
                    ],
                    condition=AutomationHead.version == current,
                )
                tx.save(version, condition=AutomationVersion.pk.does_not_exist())
                self._rewrite_routes(tx, old_definition if head.status == "active" else None, definition, status, new)
        except TransactWriteError as exc:
            if conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise
        self.forget_routes()
        return new

    def set_status(self, automation_id: str, status: str, now: datetime, reason: str | None = None) -> AutomationInfo:
        """Activate or deactivate: the head and the routes change together, or not at all."""
        head = self._head(automation_id)
        definition = self.version(automation_id, int(head.version))
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(
                    head,
                    actions=[
                        AutomationHead.status.set(status),
                        AutomationHead.status_reason.set(reason),  # type: ignore[arg-type]
                        AutomationHead.updated_at.set(now),
                    ],
                    condition=(AutomationHead.version == head.version) & (AutomationHead.status == head.status),
                )
                self._rewrite_routes(
                    tx, definition if head.status == "active" else None, definition, status, int(head.version)
                )
        except TransactWriteError as exc:
            if conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise
        self.forget_routes()
        head.status = status
        head.status_reason = reason
        head.updated_at = now
        return automation_info(head)

    def rename(self, automation_id: str, name: str, description: str | None, now: datetime) -> AutomationInfo:
        head = self._head(automation_id)
        actions: list[Any] = [AutomationHead.name.set(name), AutomationHead.updated_at.set(now)]
        if description is not None:
            actions.append(AutomationHead.description.set(description))
        head.update(actions=actions)
        return automation_info(head)

    def delete(self, automation_id: str) -> None:
        """Remove the automation, its routes and its versions."""
        head = self._head(automation_id)
        definition = self.version(automation_id, int(head.version))
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.delete(head, condition=AutomationHead.version == head.version)
                for event_type, role in routes_of(definition):
                    tx.delete(Route(*route_key(self.workspace, event_type, automation_id, role)))
        except TransactWriteError as exc:
            if conditional_failed(exc):
                raise ConflictError(f"automation {automation_id!r} changed meanwhile; try again") from None
            raise
        for item in self._version_items(automation_id):
            item.delete()
        # Over a copy of the keys: other threads of the process may cache versions meanwhile.
        for key in [key for key in list(self._versions) if key[0] == automation_id]:
            self._versions.pop(key, None)
        self.forget_routes()

    # items
    def _head(self, automation_id: str) -> AutomationHead:
        try:
            return AutomationHead.get(*head_key(self.workspace, automation_id), consistent_read=True)
        except DoesNotExist:
            raise NotFoundError(f"automation {automation_id!r} not found") from None

    def _version_items(self, automation_id: str) -> list[AutomationVersion]:
        return list(AutomationVersion.query(f"{self.workspace}#automation#{automation_id}"))

    def _route_items(self, definition: dict[str, Any], version: int) -> list[Route]:
        return [
            Route(
                *route_key(self.workspace, event_type, definition["id"], role),
                automation_id=definition["id"],
                role=role,
                version=version,
            )
            for event_type, role in routes_of(definition)
        ]

    def _rewrite_routes(
        self, tx: TransactWrite, old: dict[str, Any] | None, new: dict[str, Any], status: str, version: int
    ) -> None:
        keep = self._route_items(new, version) if status == "active" else []
        kept = {(r.pk, r.sk) for r in keep}
        for route in keep:
            tx.save(route)
        if old is not None:
            for event_type, role in routes_of(old):
                key = route_key(self.workspace, event_type, old["id"], role)
                if key not in kept:
                    tx.delete(Route(*key))
