"""The counters the product names are exactly the numeric attributes of the stats items."""

from __future__ import annotations

from automations.adapters.dynamodb.tables import COUNTERS, StatsItem
from pynamodb.attributes import NumberAttribute


def test_every_counter_is_a_stats_attribute_and_no_other() -> None:
    # Given the stats model's numeric attributes
    numeric = {name for name, attribute in StatsItem.get_attributes().items() if isinstance(attribute, NumberAttribute)}
    # Then COUNTERS (kept in funnel order for display) names each of them once
    assert len(COUNTERS) == len(set(COUNTERS))
    assert set(COUNTERS) == numeric
