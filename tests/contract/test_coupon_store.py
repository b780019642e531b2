"""CouponStore: codes loaded into pools (those a pool has already ignored) and claimed one at a time, never one
code by two claimants, the same code again for the same claimant (one run's step), None when none is left;
each pool counting its codes left and claimed; each workspace seeing its own pools only."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from automations.adapters.dynamodb.coupons import DynamoCouponStore
from automations.adapters.dynamodb.tables import bind
from automations.ports.errors import InvalidInputError
from automations.ports.protocols import CouponStore
from automations.ports.values import CouponCounts

from tests.contract.conftest import START
from tests.support.aws import Stack
from tests.support.fakes import CouponBook, FakeCouponStore

_workspaces = itertools.count(1)

StoreOf = Callable[[str], CouponStore]


@pytest.fixture(params=["fake", "moto"])
def store_of(request: pytest.FixtureRequest) -> StoreOf:
    """Stores of any workspace over one backing (one book, or the moto stack's actions table)."""
    if request.param == "fake":
        book = CouponBook()
        return lambda workspace: FakeCouponStore(workspace, book)
    stack: Stack = request.getfixturevalue("moto_stack")
    bind(stack.settings)
    return DynamoCouponStore


@pytest.fixture
def coupons(store_of: StoreOf) -> CouponStore:
    """The store of a workspace no other test uses."""
    return store_of(f"coupons{next(_workspaces)}")


# --- loading ------------------------------------------------------------------------------------------------------


def test_codes_are_loaded_once_each(coupons: CouponStore) -> None:
    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=0, claimed=0)

    assert coupons.load("spring-10", ["A1", "A2", "A1", "A3"], START) == 3
    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=3, claimed=0)

    assert coupons.load("spring-10", ["A3", "A4", "A2"], START) == 1  # those it has are ignored
    assert coupons.load("spring-10", ["A4"], START) == 0
    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=4, claimed=0)


def test_a_claimed_code_is_not_loaded_again(coupons: CouponStore) -> None:
    coupons.load("spring-10", ["A1"], START)
    assert coupons.claim("spring-10", "run_1:coupon", START) == "A1"

    assert coupons.load("spring-10", ["A1", "B1"], START) == 1

    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=1, claimed=1)
    assert coupons.claim("spring-10", "run_2:coupon", START) == "B1"


def test_a_large_load_goes_in_parts_and_skips_what_the_pool_has(coupons: CouponStore) -> None:
    coupons.load("big", [f"C{n:04d}" for n in range(0, 200, 2)], START)  # the even ones

    added = coupons.load("big", [f"C{n:04d}" for n in range(200)], START)

    assert added == 100
    assert coupons.counts("big") == CouponCounts("big", left=200, claimed=0)


def test_a_load_refuses_what_it_cannot_take_naming_each(coupons: CouponStore) -> None:
    with pytest.raises(InvalidInputError) as raised:
        coupons.load("Spring 10", ["A1"], START)
    assert [e.loc for e in raised.value.errors] == ["pool"]

    with pytest.raises(InvalidInputError) as raised:
        coupons.load("spring-10", ["A1", "", "x" * 129, "tab\there", "B1"], START)
    assert [e.loc for e in raised.value.errors] == ["codes[1]", "codes[2]", "codes[3]"]

    for codes in ([], [f"C{n}" for n in range(1001)], "A1"):
        with pytest.raises(InvalidInputError) as raised:
            coupons.load("spring-10", codes, START)
        assert [e.loc for e in raised.value.errors] == ["codes"]

    assert coupons.pools() == []


def test_pools_are_listed_by_name_with_their_counts(coupons: CouponStore) -> None:
    assert coupons.pools() == []
    coupons.load("winter", ["W1", "W2"], START)
    coupons.load("spring-10", ["S1"], START)
    coupons.claim("winter", "run_1:coupon", START)

    assert coupons.pools() == [
        CouponCounts("spring-10", left=1, claimed=0),
        CouponCounts("winter", left=1, claimed=1),
    ]


# --- claiming -----------------------------------------------------------------------------------------------------


def test_each_claimant_gets_its_own_code_until_none_is_left(coupons: CouponStore) -> None:
    coupons.load("spring-10", ["A1", "A2"], START)

    first = coupons.claim("spring-10", "run_1:coupon", START)
    second = coupons.claim("spring-10", "run_2:coupon", START)

    assert {first, second} == {"A1", "A2"}
    assert coupons.claim("spring-10", "run_3:coupon", START) is None
    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=0, claimed=2)


def test_the_same_claimant_gets_the_same_code_again(coupons: CouponStore) -> None:
    coupons.load("spring-10", ["A1", "A2", "A3"], START)

    code = coupons.claim("spring-10", "run_1:coupon", START)

    assert code is not None
    assert coupons.claim("spring-10", "run_1:coupon", START) == code
    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=2, claimed=1)
    coupons.claim("spring-10", "run_2:coupon", START)
    coupons.claim("spring-10", "run_3:coupon", START)
    assert coupons.claim("spring-10", "run_1:coupon", START) == code  # the pool is empty now: still its code
    assert coupons.claim("spring-10", "run_1:other-step", START) is None


def test_an_empty_or_unknown_pool_answers_none(coupons: CouponStore) -> None:
    assert coupons.claim("never-loaded", "run_1:coupon", START) is None
    assert coupons.counts("never-loaded") == CouponCounts("never-loaded", left=0, claimed=0)
    assert coupons.pools() == []


def test_a_claim_refuses_a_bad_pool_or_claimant(coupons: CouponStore) -> None:
    coupons.load("spring-10", ["A1"], START)

    for pool, claimant, loc in (("-spring", "run_1:c", "pool"), ("spring-10", "", "claimant")):
        with pytest.raises(InvalidInputError) as raised:
            coupons.claim(pool, claimant, START)
        assert [e.loc for e in raised.value.errors] == [loc]
    with pytest.raises(InvalidInputError):
        coupons.claim("spring-10", "é" * 257, START)  # 514 bytes
    with pytest.raises(InvalidInputError):
        coupons.counts("Spring")

    assert coupons.counts("spring-10") == CouponCounts("spring-10", left=1, claimed=0)


@pytest.mark.usefixtures("one_request_at_a_time")
def test_concurrent_claimants_never_get_the_same_code(coupons: CouponStore) -> None:
    codes = [f"C{n:02d}" for n in range(12)]
    coupons.load("rush", codes, START)
    claimants = [f"run_{n}:coupon" for n in range(16)]

    def claim(claimant: str) -> tuple[str, str | None, str | None]:
        got = coupons.claim("rush", claimant, START)
        return claimant, got, coupons.claim("rush", claimant, START)  # and a retry of the same step

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(claim, claimants))

    won = [got for _, got, _ in answers if got is not None]
    assert sorted(won) == codes  # every code once: none twice, none lost
    assert all(again == got for _, got, again in answers)
    assert sum(got is None for _, got, _ in answers) == 4
    assert coupons.counts("rush") == CouponCounts("rush", left=0, claimed=12)


@pytest.mark.usefixtures("one_request_at_a_time")
def test_one_claimant_claiming_at_once_from_several_threads_gets_one_code(coupons: CouponStore) -> None:
    coupons.load("rush", [f"C{n}" for n in range(5)], START)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: coupons.claim("rush", "run_1:coupon", START), range(6)))

    assert len(set(answers)) == 1 and answers[0] is not None
    assert coupons.counts("rush") == CouponCounts("rush", left=4, claimed=1)


def test_a_store_sees_its_own_workspace_only(store_of: StoreOf) -> None:
    number = next(_workspaces)
    mine, theirs = store_of(f"coupons{number}a"), store_of(f"coupons{number}b")
    mine.load("spring-10", ["A1", "A2"], START)
    code = mine.claim("spring-10", "run_1:coupon", START)

    assert theirs.claim("spring-10", "run_2:coupon", START) is None
    assert theirs.claim("spring-10", "run_1:coupon", START) is None
    assert theirs.counts("spring-10") == CouponCounts("spring-10", left=0, claimed=0)
    assert theirs.pools() == []

    assert theirs.load("spring-10", ["A1", "A2"], START) == 2  # the same codes, in a pool of its own
    assert theirs.claim("spring-10", "run_1:coupon", START) in {"A1", "A2"}
    assert mine.claim("spring-10", "run_1:coupon", START) == code
    assert mine.counts("spring-10") == CouponCounts("spring-10", left=1, claimed=1)
