"""The cost bench prices a global secondary index's entry honestly: written only when its keys or projected
attributes change, sized by what it projects."""

from __future__ import annotations

from scripts.bench_cost import ItemView, write_units


def view(size: int, **indexes: tuple[str, int] | None) -> ItemView:
    return ItemView(size, dict(indexes))


def test_an_update_that_changes_no_projected_attribute_writes_no_index_entry() -> None:
    keys_only = ('[{"S": "a"}]{"pk": "x"}', 120)
    assert write_units(view(1800, by=keys_only), view(2600, by=keys_only), transactional=False) == (3, 0)
    assert write_units(view(1800, by=keys_only), view(2600, by=keys_only), transactional=True) == (6, 0)


def test_an_entry_added_or_removed_is_one_write_of_its_size() -> None:
    entry = ('[{"S": "a"}]{"pk": "x"}', 120)
    assert write_units(None, view(900, by=entry), transactional=False) == (1, 1)
    assert write_units(view(900, by=entry), view(900, by=None), transactional=False) == (1, 1)
    assert write_units(view(900, by=("[]{}", 2100)), view(900, by=None), transactional=False) == (1, 3)


def test_a_changed_entry_is_one_write_and_a_moved_key_two() -> None:
    old, changed, moved = ('[{"S": "a"}]{"n": 1}', 200), ('[{"S": "a"}]{"n": 2}', 200), ('[{"S": "b"}]{"n": 1}', 200)
    assert write_units(view(500, by=old), view(500, by=changed), transactional=False) == (1, 1)
    assert write_units(view(500, by=old), view(500, by=moved), transactional=False) == (1, 2)
