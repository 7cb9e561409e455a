"""The harvest's integer arithmetic: kilograms to 合, the ratio and bill sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kokudaka.harvest.yields import (
    bill_go,
    capped_ratio_bp,
    counted_yield_go,
    format_kg,
    go_of_grams,
    grams_of_kg,
    ratio_bp,
)


@pytest.mark.parametrize(
    ("text", "grams"),
    [("0", 0), ("1", 1000), ("5400.5", 5_400_500), ("0.001", 1), ("12.34", 12_340)],
)
def test_kilograms_are_exact_grams(text: str, grams: int) -> None:
    assert grams_of_kg(text) == grams


@pytest.mark.parametrize("text", ["", "1.", ".5", "1.2345", "-1", "1e3", "01", "1,000", "nan"])
def test_anything_but_kilograms_with_three_decimals_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="kilograms"):
        grams_of_kg(text)


def test_one_go_is_150_grams_rounded_down() -> None:
    assert go_of_grams(149) == 0
    assert go_of_grams(150) == 1
    assert go_of_grams(grams_of_kg("540")) == 3_600
    assert format_kg(5_400_500) == "5400.500"


def test_ratio_and_ceiling_in_basis_points() -> None:
    assert ratio_bp(2_880, 3_600) == 8_000
    assert ratio_bp(4_680, 3_600) == 13_000
    assert capped_ratio_bp(4_680, 3_600, 12_000) == 12_000
    assert counted_yield_go(4_680, 3_600, 12_000) == 4_320
    assert counted_yield_go(2_880, 3_600, 12_000) == 2_880


def test_bills_at_80_and_130_percent_of_plan() -> None:
    assert bill_go(1_000, 2_880, 3_600, 12_000) == 800
    assert bill_go(1_000, 4_680, 3_600, 12_000) == 1_200  # capped at 120%


boards = st.integers(min_value=0, max_value=10**12)
yields_go = st.integers(min_value=0, max_value=10**12)
plans = st.integers(min_value=1, max_value=10**12)
ceilings = st.integers(min_value=10_000, max_value=100_000)


@given(boards, plans, ceilings)
def test_a_ratio_of_exactly_one_gives_bills_equal_to_boards(b: int, p: int, c: int) -> None:
    assert bill_go(b, p, p, c) == b


@given(boards, yields_go, yields_go, plans, ceilings)
def test_a_bill_is_monotone_in_the_actual_yield(b: int, a1: int, a2: int, p: int, c: int) -> None:
    low, high = sorted((a1, a2))
    assert bill_go(b, low, p, c) <= bill_go(b, high, p, c)


@given(boards, yields_go, plans, ceilings)
def test_the_ceiling_caps_a_bill(b: int, a: int, p: int, c: int) -> None:
    bill = bill_go(b, a, p, c)
    # Never more than the ceiling's share of the board, nor than the actual's.
    assert bill * 10_000 <= b * c
    assert bill * p <= b * a
    assert bill == min(b * a // p, b * c // 10_000)


@given(st.lists(boards.filter(lambda b: b <= 10**9), max_size=20), yields_go, plans, ceilings)
def test_bills_never_exceed_the_actual_yield_times_the_share_sold(
    sold: list[int], a: int, p: int, c: int
) -> None:
    # The boards sold are at most the plan: their bills are at most the counted yield.
    if sum(sold) > p:
        return
    assert sum(bill_go(b, a, p, c) for b in sold) <= min(a, c * p // 10_000)
