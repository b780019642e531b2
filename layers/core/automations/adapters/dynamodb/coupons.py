"""The coupon store: each pool's codes in the actions table, claimed without a scan and never twice.

A code left to claim is an item ``{ws}#pool#{pool} / unused#{code}``; a claim reads a few of them (one query)
and takes one at random in one transaction: the unused item deleted (only if it is still there), the
``claimed#{code}`` item put with its claimant, the claimant's ``by#{claimant}`` item put (only if the claimant
has none: a claimant gets one code, ever) and the pool's counts (``{ws}#pools / {pool}``) moved. When another
claim took the code first, the claim reads again and tries another, a few times. When the claimant's item
exists, the claimant claimed before: its code is read and answered. So a first claim is two requests (the
query and the transaction), a claim again three.

A load puts the unused items of up to 49 codes per transaction, each only if the pool has that code neither
unused nor claimed, and adds them to the pool's counts in the same transaction; codes the pool has already
are named by the cancelled transaction, left out, and the rest tried again.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.events import chunks
from automations.adapters.dynamodb.tables import CouponItem, CouponPoolItem
from automations.adapters.dynamodb.writes import cancellation_codes, connection, lost_race, pause
from automations.ports.errors import TransientError
from automations.ports.values import CouponCounts, check_claimant, check_codes, check_pool

#: How many times a claim (or a part of a load) is tried when other writes keep coming first.
ATTEMPTS = 10
#: How many unused codes a claim reads, to take one of them at random (concurrent claims rarely pick the same).
SAMPLE = 10
#: The codes of one load transaction: two items each, and the pool's counts (DynamoDB takes 100 items).
CODES_PER_TRANSACTION = 49


def pool_pk(workspace: str, pool: str) -> str:
    return f"{workspace}#pool#{pool}"


def pools_pk(workspace: str) -> str:
    return f"{workspace}#pools"


def _counts(item: CouponPoolItem) -> CouponCounts:
    return CouponCounts(pool=item.sk, left=int(item.left or 0), claimed=int(item.claimed or 0))


@dataclass
class DynamoCouponStore:
    """:class:`automations.ports.protocols.CouponStore` of one workspace."""

    workspace: str

    # --- loading ----------------------------------------------------------------------------------------------

    def load(self, pool: str, codes: Sequence[str], now: datetime) -> int:
        pool = check_pool(pool)
        wanted = check_codes(codes)
        return sum(self._load(pool, chunk, now.astimezone(UTC)) for chunk in chunks(wanted, CODES_PER_TRANSACTION))

    def _load(self, pool: str, codes: builtins.list[str], now: datetime) -> int:
        """Add the codes the pool does not have, in one transaction: how many were added."""
        partition = pool_pk(self.workspace, pool)
        remaining = builtins.list(codes)
        conflicts = 0
        while remaining:
            try:
                with TransactWrite(connection=connection()) as tx:
                    for code in remaining:
                        unused = CouponItem(partition, f"unused#{code}", code=code, at=now)
                        tx.save(unused, condition=CouponItem.pk.does_not_exist())
                        tx.condition_check(
                            CouponItem, partition, f"claimed#{code}", condition=CouponItem.pk.does_not_exist()
                        )
                    tx.update(
                        CouponPoolItem(pools_pk(self.workspace), pool),
                        actions=[
                            CouponPoolItem.left.add(len(remaining)),
                            CouponPoolItem.claimed.add(0),
                            CouponPoolItem.updated_at.set(now),
                        ],
                    )
            except TransactWriteError as exc:
                # The transaction's items go as pynamodb sends them: the condition checks, then the puts (each in
                # the order of the codes), then the update of the counts.
                reasons = cancellation_codes(exc)
                known = {
                    remaining[index % len(remaining)]
                    for index, reason in enumerate(reasons[: 2 * len(remaining)])
                    if reason == "ConditionalCheckFailed"
                }
                if known:  # in the pool already: left out (each round leaves out one code at least)
                    remaining = [code for code in remaining if code not in known]
                    continue
                if not lost_race(exc):
                    raise
                conflicts += 1
                if conflicts >= ATTEMPTS:
                    raise TransientError(f"the coupon pool {pool!r} kept changing: load the codes again") from exc
                pause(conflicts)
                continue
            return len(remaining)
        return 0

    # --- claiming ---------------------------------------------------------------------------------------------

    def claim(self, pool: str, claimant: str, now: datetime) -> str | None:
        pool = check_pool(pool)
        claimant = check_claimant(claimant)
        moment = now.astimezone(UTC)
        partition = pool_pk(self.workspace, pool)
        for attempt in range(ATTEMPTS):
            unused = self._unused(partition)
            if not unused:
                return self._claimed_by(partition, claimant)
            code = random.choice(unused)
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.delete(CouponItem(partition, f"unused#{code}"), condition=CouponItem.pk.exists())
                    tx.save(
                        CouponItem(partition, f"claimed#{code}", code=code, claimant=claimant, at=moment),
                        condition=CouponItem.pk.does_not_exist(),
                    )
                    tx.save(
                        CouponItem(partition, f"by#{claimant}", code=code, claimant=claimant, at=moment),
                        condition=CouponItem.pk.does_not_exist(),
                    )
                    tx.update(
                        CouponPoolItem(pools_pk(self.workspace), pool),
                        actions=[
                            CouponPoolItem.left.add(-1),
                            CouponPoolItem.claimed.add(1),
                            CouponPoolItem.updated_at.set(moment),
                        ],
                    )
            except TransactWriteError as exc:
                reasons = cancellation_codes(exc)  # the delete, the two puts, the update: as they were added
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                    before = self._claimed_by(partition, claimant)
                    if before is not None:  # claimed before: the same code again
                        return before
                if not lost_race(exc):
                    raise
                pause(attempt)
                continue
            return code
        raise TransientError(f"other claims kept taking the codes of pool {pool!r}: claim again")

    def _unused(self, partition: str) -> builtins.list[str]:
        """A few codes of the pool left to claim (read consistently)."""
        items = CouponItem.query(
            partition,
            range_key_condition=CouponItem.sk.startswith("unused#"),
            consistent_read=True,
            limit=SAMPLE,
            page_size=SAMPLE,
        )
        return [item.code for item in items]

    def _claimed_by(self, partition: str, claimant: str) -> str | None:
        """The code the claimant claimed, if it did."""
        try:
            item = CouponItem.get(partition, f"by#{claimant}", consistent_read=True)
        except DoesNotExist:
            return None
        return item.code

    # --- counting ---------------------------------------------------------------------------------------------

    def counts(self, pool: str) -> CouponCounts:
        pool = check_pool(pool)
        try:
            item = CouponPoolItem.get(pools_pk(self.workspace), pool, consistent_read=True)
        except DoesNotExist:
            return CouponCounts(pool=pool, left=0, claimed=0)
        return _counts(item)

    def pools(self) -> builtins.list[CouponCounts]:
        return [_counts(item) for item in CouponPoolItem.query(pools_pk(self.workspace), consistent_read=True)]
