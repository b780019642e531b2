"""The suppression store: addresses that must not get mail, after a hard bounce or a complaint (all types of
mail) or an unsubscribe (promotional mail, or all but essential mail: its scope), one item per address and kind
in the contacts table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.stats import stats_updates
from automations.adapters.dynamodb.tables import SuppressionItem
from automations.adapters.dynamodb.writes import conditional_failed, connection
from automations.ports import Suppression, normalize_address


def contact_key(workspace: str, address: str) -> str:
    return f"{workspace}#contact#{normalize_address(address)}"


def suppression_item(workspace: str, suppression: Suppression) -> SuppressionItem:
    """The item of a suppression (already normalized, its scope set)."""
    return SuppressionItem(
        contact_key(workspace, suppression.address),
        f"suppressed#{suppression.kind}",
        address=suppression.address,
        kind=suppression.kind,
        scope=suppression.scope,
        reason=suppression.reason,
        source=suppression.source,
        automation_id=suppression.automation_id,
        at=suppression.at,
    )


def suppression_of(item: SuppressionItem) -> Suppression:
    return Suppression(
        address=item.address,
        kind=item.kind,
        scope=item.scope,
        reason=item.reason,
        source=item.source,
        automation_id=item.automation_id,
        at=item.at,
    )


def upsert_in(tx: TransactWrite, item: SuppressionItem) -> None:
    """Record (or keep) a suppression inside a transaction, never failing it: the first time stays."""
    tx.update(
        item,
        actions=[
            SuppressionItem.address.set(item.address),
            SuppressionItem.kind.set(item.kind),
            SuppressionItem.scope.set(item.scope),
            SuppressionItem.reason.set(SuppressionItem.reason | item.reason),
            SuppressionItem.source.set(SuppressionItem.source | item.source),
            SuppressionItem.at.set(SuppressionItem.at | item.at),
            *(
                [SuppressionItem.automation_id.set(SuppressionItem.automation_id | item.automation_id)]
                if item.automation_id
                else []
            ),
        ],
    )


@dataclass
class DynamoSuppressionStore:
    """:class:`automations.ports.SuppressionStore` of one workspace."""

    workspace: str

    def of(self, address: str) -> list[Suppression]:
        items = SuppressionItem.query(
            contact_key(self.workspace, address), SuppressionItem.sk.startswith("suppressed#"), consistent_read=True
        )
        return [suppression_of(item) for item in items]

    def blocking(self, address: str, email_type: str) -> Suppression | None:
        return next((found for found in self.of(address) if found.blocks(email_type)), None)

    def add_new(
        self, suppression: Suppression, *, now: datetime, counts: Mapping[str, int], step: str | None = None
    ) -> bool:
        """Record a suppression that did not exist, with its counters; False (nothing counted) if it did."""
        item = suppression_item(self.workspace, suppression)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(item, condition=SuppressionItem.pk.does_not_exist())
                if item.automation_id:
                    stats_updates(tx, self.workspace, item.automation_id, step, now, counts)
        except TransactWriteError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def upsert(self, suppression: Suppression) -> None:
        with TransactWrite(connection=connection()) as tx:
            upsert_in(tx, suppression_item(self.workspace, suppression))

    def put(self, suppression: Suppression) -> None:
        suppression_item(self.workspace, suppression).save()

    def remove(self, address: str, kind: str) -> bool:
        item = SuppressionItem(contact_key(self.workspace, address), f"suppressed#{kind}")
        try:
            item.delete(condition=SuppressionItem.pk.exists())
        except DeleteError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True
