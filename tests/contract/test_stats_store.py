"""StatsStore: counters ``ADD`` per automation, step and day; a read sums the days asked for."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from automations.adapters.dynamodb.tables import COUNTERS
from automations.ports import WHOLE, Ports

from tests.contract.conftest import START


def test_counts_add_up_for_the_automation_and_its_step(ports: Ports) -> None:
    ports.stats.increment("welcome", START, {"sent": 2, "delivered": 1})
    ports.stats.increment("welcome", START, {"sent": 1}, step="hello")
    ports.stats.increment("welcome", START, {"send_unknown": 1, "sent": 0})
    ports.stats.increment("welcome", START, {"send_unknown": -1})
    ports.stats.increment("other", START, {"sent": 5})

    totals = ports.stats.read("welcome")

    assert set(totals) == {WHOLE, "hello"}
    assert set(totals[WHOLE]) == set(COUNTERS)
    assert {k: v for k, v in totals[WHOLE].items() if v} == {"sent": 3, "delivered": 1}
    assert {k: v for k, v in totals["hello"].items() if v} == {"sent": 1}


def test_a_read_sums_the_days_asked_for(ports: Ports) -> None:
    for days in range(4):
        ports.stats.increment("welcome", START + timedelta(days=days), {"opened": 10**days})
    first = START.date()

    assert ports.stats.read("welcome")[WHOLE]["opened"] == 1111
    assert ports.stats.read("welcome", start=first + timedelta(days=1))[WHOLE]["opened"] == 1110
    assert ports.stats.read("welcome", end=first + timedelta(days=1))[WHOLE]["opened"] == 11
    assert ports.stats.read("welcome", first + timedelta(days=1), first + timedelta(days=2))[WHOLE]["opened"] == 110
    assert ports.stats.read("welcome", date(2030, 1, 1)) == {WHOLE: dict.fromkeys(COUNTERS, 0)}


def test_an_unknown_counter_adds_nothing(ports: Ports) -> None:
    with pytest.raises(KeyError):
        ports.stats.increment("welcome", START, {"sent": 1, "kudos": 1}, step="hello")

    assert ports.stats.read("welcome") == {WHOLE: dict.fromkeys(COUNTERS, 0)}


def test_a_daily_read_gives_the_automation_s_counters_of_each_day_counted(ports: Ports) -> None:
    first = START.date()
    ports.stats.increment("welcome", START, {"sent": 2}, step="hello")
    ports.stats.increment("welcome", START + timedelta(days=2), {"sent": 1, "opened_unique": 1})
    ports.stats.increment("other", START + timedelta(days=1), {"sent": 5})

    days = ports.stats.daily("welcome")

    assert list(days) == [first.isoformat(), (first + timedelta(days=2)).isoformat()]
    assert set(days[first.isoformat()]) == set(COUNTERS)
    assert {k: v for k, v in days[first.isoformat()].items() if v} == {"sent": 2}
    assert {k: v for k, v in days[(first + timedelta(days=2)).isoformat()].items() if v} == {
        "sent": 1,
        "opened_unique": 1,
    }
    assert list(ports.stats.daily("welcome", start=first + timedelta(days=1))) == [
        (first + timedelta(days=2)).isoformat()
    ]
    assert ports.stats.daily("welcome", end=first - timedelta(days=1)) == {}


def test_the_reputation_is_the_running_total_of_its_counters_from_a_day_on(ports: Ports) -> None:
    first = START.date()
    ports.stats.increment("welcome", START - timedelta(days=40), {"sent": 100, "bounced_hard": 50})
    ports.stats.increment("welcome", START, {"sent": 3, "delivered": 2, "opened": 7}, step="hello")
    ports.stats.increment("welcome", START + timedelta(days=1), {"bounced_hard": 1, "complained": 1})
    ports.stats.increment("welcome", START, {"sent": 9}, step="hello", whole=False)  # the step's alone
    ports.stats.increment("other", START, {"sent": 5})

    expected = {"sent": 3, "delivered": 2, "bounced_hard": 1, "bounced_soft": 0, "complained": 1}
    assert ports.stats.reputation("welcome", first - timedelta(days=30)) == expected
    assert ports.stats.reputation("welcome", first + timedelta(days=1))["sent"] == 0
    assert ports.stats.reputation("welcome", first - timedelta(days=60))["bounced_hard"] == 51
    assert ports.stats.reputation("nobody", first) == dict.fromkeys(expected, 0)
    whole = ports.stats.read("welcome", first - timedelta(days=30))[WHOLE]
    assert {name: whole[name] for name in expected} == expected


def test_an_unknown_counter_adds_nothing_to_the_reputation_either(ports: Ports) -> None:
    with pytest.raises(KeyError):
        ports.stats.increment("welcome", START, {"bounced_hard": 1, "kudos": 1})

    assert ports.stats.reputation("welcome", START.date())["bounced_hard"] == 0
