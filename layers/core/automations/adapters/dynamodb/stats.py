"""The statistics store: counters updated by atomic ``ADD``, spread over shards so that no partition runs hot.

A busy automation would put every counter update on one item; instead each update picks one of
``SHARDS`` partition keys at random (``{ws}#stats#{automation}#{shard}``), and a read sums the shards
(one query per shard, a few items each). The sort key is ``{day}#{step}``, with ``-`` for the
automation as a whole, so a time range is a key condition.

The counters the sender's reputation is judged by (:data:`~automations.ports.REPUTATION_COUNTERS`) are kept a
second time, unsharded, on one item per automation and day (``{ws}#stats#{automation}#reputation``), in the same
write as their shards: the reputation guard reads a month of them in one query, on every hard bounce or complaint.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from automations.adapters.dynamodb.tables import COUNTERS, StatsItem
from automations.adapters.dynamodb.writes import connection
from automations.ports import REPUTATION_COUNTERS
from automations.ports import WHOLE as WHOLE

SHARDS = 8


def stats_key(workspace: str, automation_id: str, day: str, step: str | None, shard: int) -> tuple[str, str]:
    return f"{workspace}#stats#{automation_id}#{shard}", f"{day}#{step or WHOLE}"


def day_of(moment: datetime) -> str:
    return moment.date().isoformat()


def counter_item(
    workspace: str, automation_id: str, moment: datetime, step: str | None = None, shard: int | None = None
) -> StatsItem:
    """The item a counter update goes to (a random shard unless given)."""
    chosen = random.randrange(SHARDS) if shard is None else shard
    day = day_of(moment)
    pk, sk = stats_key(workspace, automation_id, day, step, chosen)
    return StatsItem(pk, sk, automation_id=automation_id, step=step or WHOLE, day=day)


def reputation_pk(workspace: str, automation_id: str) -> str:
    return f"{workspace}#stats#{automation_id}#reputation"


def reputation_item(workspace: str, automation_id: str, moment: datetime) -> StatsItem:
    """The item of the automation's reputation counters of ``moment``'s day."""
    day = day_of(moment)
    return StatsItem(
        reputation_pk(workspace, automation_id), f"{day}#{WHOLE}", automation_id=automation_id, step=WHOLE, day=day
    )


def reputation_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """What of ``counts`` the reputation item keeps too."""
    return {name: value for name, value in counts.items() if value and name in REPUTATION_COUNTERS}


def add_actions(counts: Mapping[str, int], item: StatsItem) -> list[Any]:
    """pynamodb update actions for ``ADD`` of each counter, plus the item's descriptive fields."""
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise KeyError(f"unknown counters: {sorted(unknown)}")
    actions: list[Any] = [getattr(StatsItem, name).add(value) for name, value in counts.items() if value]
    actions.append(StatsItem.automation_id.set(item.automation_id))
    actions.append(StatsItem.step.set(item.step))
    actions.append(StatsItem.day.set(item.day))
    return actions


def stats_updates(
    tx: TransactWrite,
    workspace: str,
    automation_id: str,
    step: str | None,
    now: datetime,
    counts: Mapping[str, int],
) -> None:
    """Add the counter updates (the automation's and the step's) to a transaction."""
    if not any(counts.values()):
        return
    for target in (None, step) if step else (None,):
        item = counter_item(workspace, automation_id, now, target)
        tx.update(item, actions=add_actions(counts, item))
    reputation = reputation_counts(counts)
    if reputation:
        item = reputation_item(workspace, automation_id, now)
        tx.update(item, actions=add_actions(reputation, item))


def increment(
    workspace: str,
    automation_id: str,
    moment: datetime,
    counts: Mapping[str, int],
    step: str | None = None,
    *,
    whole: bool = True,
) -> None:
    """Add to counters of the automation (and of a step, when given; of the step alone unless ``whole``): one
    request each."""
    targets: list[str | None] = [None] if step is None else ([None, step] if whole else [step])
    if None in targets and reputation_counts(counts):
        # With their running total, in one write (an unknown counter name fails it before anything is sent).
        with TransactWrite(connection=connection()) as tx:
            stats_updates(tx, workspace, automation_id, step, moment, counts)
        return
    for target in targets:
        item = counter_item(workspace, automation_id, moment, target)
        item.update(actions=add_actions(counts, item))


def _items(workspace: str, automation_id: str, start: date | None, end: date | None) -> Iterator[StatsItem]:
    """The counter items of the days from ``start`` to ``end`` (inclusive, each optional), of every shard."""
    low = (start or date(2000, 1, 1)).isoformat()
    high = (end or date(2999, 12, 31)).isoformat() + "#\uffff"
    for shard in range(SHARDS):
        pk = f"{workspace}#stats#{automation_id}#{shard}"
        yield from StatsItem.query(pk, StatsItem.sk.between(low, high))


def _add_to(bucket: dict[str, int], item: StatsItem) -> None:
    for name in COUNTERS:
        value = getattr(item, name)
        if value:
            bucket[name] += int(value)


def reputation(workspace: str, automation_id: str, start: date) -> dict[str, int]:
    """The reputation counters of the automation summed over the days from ``start`` on (one query)."""
    totals = dict.fromkeys(REPUTATION_COUNTERS, 0)
    items = StatsItem.query(
        reputation_pk(workspace, automation_id), StatsItem.sk >= start.isoformat(), consistent_read=True
    )
    for item in items:
        for name in REPUTATION_COUNTERS:
            totals[name] += int(getattr(item, name) or 0)
    return totals


def read(
    workspace: str, automation_id: str, start: date | None = None, end: date | None = None
) -> dict[str, dict[str, int]]:
    """Counters summed over shards and days: ``{"-": {...whole...}, "step-id": {...}}``."""
    totals: dict[str, dict[str, int]] = {}
    for item in _items(workspace, automation_id, start, end):
        _add_to(totals.setdefault(item.step, dict.fromkeys(COUNTERS, 0)), item)
    totals.setdefault(WHOLE, dict.fromkeys(COUNTERS, 0))
    return totals


def daily(
    workspace: str, automation_id: str, start: date | None = None, end: date | None = None
) -> dict[str, dict[str, int]]:
    """The automation's counters of each day counted, summed over shards: ``{"2026-11-02": {...}, ...}``."""
    days: dict[str, dict[str, int]] = {}
    for item in _items(workspace, automation_id, start, end):
        if item.step == WHOLE:
            _add_to(days.setdefault(item.day, dict.fromkeys(COUNTERS, 0)), item)
    return dict(sorted(days.items()))


@dataclass
class DynamoStatsStore:
    """:class:`automations.ports.StatsStore`: the sharded counters of one workspace."""

    workspace: str

    def increment(
        self,
        automation_id: str,
        moment: datetime,
        counts: Mapping[str, int],
        step: str | None = None,
        *,
        whole: bool = True,
    ) -> None:
        increment(self.workspace, automation_id, moment, counts, step, whole=whole)

    def read(self, automation_id: str, start: date | None = None, end: date | None = None) -> dict[str, dict[str, int]]:
        return read(self.workspace, automation_id, start, end)

    def reputation(self, automation_id: str, start: date) -> dict[str, int]:
        return reputation(self.workspace, automation_id, start)

    def daily(
        self, automation_id: str, start: date | None = None, end: date | None = None
    ) -> dict[str, dict[str, int]]:
        return daily(self.workspace, automation_id, start, end)
