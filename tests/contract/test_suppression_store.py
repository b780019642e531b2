"""SuppressionStore: one suppression per address and kind; the first one stays; its scope decides what it blocks."""

from __future__ import annotations

from datetime import timedelta

from automations.ports import WHOLE, Ports, Suppression

from tests.contract.conftest import START


def suppression(kind: str, address: str = "Ana@Example.com", **changes: object) -> Suppression:
    fields: dict[str, object] = {"reason": f"{kind} (test)", "source": "ses", "automation_id": "welcome", "now": START}
    fields.update(changes)
    return Suppression.new(address, kind, **fields)  # type: ignore[arg-type]


def test_a_suppression_is_added_once_and_counted_once(ports: Ports) -> None:
    unsubscribed = suppression("unsubscribe", source="one-click")

    assert ports.suppressions.add_new(unsubscribed, now=START, counts={"unsubscribed": 1}, step="hello")
    assert not ports.suppressions.add_new(
        suppression("unsubscribe", reason="again"), now=START, counts={"unsubscribed": 1}, step="hello"
    )

    assert ports.suppressions.of("ana@example.com") == [unsubscribed]
    assert unsubscribed.address == "ana@example.com" and unsubscribed.scope == "promotional"
    totals = ports.stats.read("welcome")
    assert (totals[WHOLE]["unsubscribed"], totals["hello"]["unsubscribed"]) == (1, 1)


def test_a_suppression_without_an_automation_is_not_counted(ports: Ports) -> None:
    assert ports.suppressions.add_new(
        suppression("unsubscribe", automation_id=None), now=START, counts={"unsubscribed": 1}
    )

    assert ports.stats.read("welcome")[WHOLE]["unsubscribed"] == 0


def test_an_unsubscribe_blocks_promotional_mail_and_a_bounce_blocks_all(ports: Ports) -> None:
    ports.suppressions.add_new(suppression("unsubscribe"), now=START, counts={})

    assert ports.suppressions.blocking(" ANA@example.com ", "promotional") == suppression("unsubscribe")
    assert ports.suppressions.blocking("ana@example.com", "transactional") is None
    assert ports.suppressions.blocking("bo@example.com", "promotional") is None

    ports.suppressions.upsert(suppression("bounce"))

    assert ports.suppressions.blocking("ana@example.com", "transactional") == suppression("bounce")
    assert ports.suppressions.blocking("ana@example.com", "business_critical") == suppression("bounce")
    assert [s.kind for s in ports.suppressions.of("ana@example.com")] == ["bounce", "unsubscribe"]


def test_an_upsert_keeps_the_first_suppression(ports: Ports) -> None:
    first = suppression("complaint", automation_id=None)
    ports.suppressions.upsert(first)
    later = START + timedelta(days=1)

    ports.suppressions.upsert(suppression("complaint", reason="second", source="other", now=later))

    assert ports.suppressions.of("ana@example.com") == [
        Suppression("ana@example.com", "complaint", "all", "complaint (test)", "ses", "welcome", START)
    ]
    ports.suppressions.upsert(suppression("complaint", automation_id="other"))
    assert ports.suppressions.of("ana@example.com")[0].automation_id == "welcome"
    assert not ports.suppressions.add_new(suppression("complaint"), now=later, counts={"complained": 1})


def test_an_unsubscribe_keeps_its_level_in_its_scope(ports: Ports) -> None:
    essential_only = suppression("unsubscribe", scope="non_essential")
    assert ports.suppressions.add_new(essential_only, now=START, counts={"unsubscribed": 1}, step="hello")

    assert ports.suppressions.blocking("ana@example.com", "promotional") == essential_only
    assert ports.suppressions.blocking("ana@example.com", "transactional") == essential_only
    assert ports.suppressions.blocking("ana@example.com", "business_critical") is None


def test_a_put_replaces_the_suppression_of_its_kind_and_counts_nothing(ports: Ports) -> None:
    ports.suppressions.add_new(suppression("unsubscribe"), now=START, counts={"unsubscribed": 1})
    ports.suppressions.upsert(suppression("bounce"))
    later = START + timedelta(days=1)
    changed = Suppression.new(
        "ana@example.com",
        "unsubscribe",
        reason="page",
        source="page",
        automation_id=None,
        now=later,
        scope="non_essential",
    )

    ports.suppressions.put(changed)

    assert ports.suppressions.of("ana@example.com") == [suppression("bounce"), changed]
    assert ports.stats.read("welcome")[WHOLE]["unsubscribed"] == 1


def test_remove_takes_away_one_kind_only(ports: Ports) -> None:
    ports.suppressions.add_new(suppression("unsubscribe"), now=START, counts={})
    ports.suppressions.upsert(suppression("complaint"))

    assert ports.suppressions.remove(" Ana@Example.com", "unsubscribe")
    assert not ports.suppressions.remove("ana@example.com", "unsubscribe")
    assert not ports.suppressions.remove("bo@example.com", "unsubscribe")

    assert [s.kind for s in ports.suppressions.of("ana@example.com")] == ["complaint"]
    assert ports.suppressions.blocking("ana@example.com", "promotional") == suppression("complaint")
