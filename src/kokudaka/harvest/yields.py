"""The harvest's arithmetic, in integers only: kilograms to 合, the ratio, bill sizes.

A yield is entered as kilograms of polished rice with up to three decimals, which is an
exact number of grams; 1 合 (go) is 150 g, rounded down. The harvest ratio is
actual ÷ planned, capped by the town's ceiling (basis points: 12000 is 120%), with no
floor. A board of b 合 becomes a bill of ⌊b × min(actual, ceiling × planned) ÷ planned⌋
合, computed exactly (the ceiling's basis points are multiplied through, never divided
first), so a ratio of exactly 100% gives bills equal to boards.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

GRAMS_PER_GO = 150
BASIS_POINTS = 10_000
MAX_KG_DIGITS = 9
"""Whole kilograms a report may give: up to 999,999,999 kg, far beyond any field."""

KG_PATTERN = rf"^(0|[1-9][0-9]{{0,{MAX_KG_DIGITS - 1}}})(\.[0-9]{{1,3}})?$"
_KG = re.compile(KG_PATTERN)
# The same, more than zero (a shipment weighs something): a whole part of 1 or more, or
# 0 with a fraction that is not all zeros.
POSITIVE_KG_PATTERN = (
    rf"^([1-9][0-9]{{0,{MAX_KG_DIGITS - 1}}}(\.[0-9]{{1,3}})?"
    r"|0\.([1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$"
)

# Japan keeps UTC+9 without daylight saving time, so a fixed offset is exact.
_JAPAN = timezone(timedelta(hours=9))


def japan_today(now: datetime | None = None) -> date:
    """The calendar day it is now in Japan."""
    return (now or datetime.now(UTC)).astimezone(_JAPAN).date()


def grams_of_kg(text: str) -> int:
    """Exact grams of a kilogram amount written with up to three decimals: "1234.5"
    is 1,234,500 g. Raises ``ValueError`` for anything else (no float is involved)."""
    match = _KG.fullmatch(text)
    if match is None:
        raise ValueError("kilograms with up to three decimals, e.g. 1234.5")
    whole, fraction = match.group(1), (match.group(2) or ".")[1:]
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def go_of_grams(grams: int) -> int:
    """Whole 合 in ``grams`` of polished rice, rounded down."""
    return grams // GRAMS_PER_GO


def format_kg(grams: int) -> str:
    """Grams as kilograms with three decimals: 1234500 -> "1234.500"."""
    whole, part = divmod(grams, 1000)
    return f"{whole}.{part:03d}"


def kg_of_go(go: int) -> str:
    """合 as kilograms of rice (150 g each), with three decimals."""
    return format_kg(go * GRAMS_PER_GO)


def ratio_bp(actual_go: int, planned_go: int) -> int:
    """actual ÷ planned in basis points, rounded down (for display; bills are sized
    from the exact amounts by :func:`bill_go`)."""
    return actual_go * BASIS_POINTS // planned_go


def capped_ratio_bp(actual_go: int, planned_go: int, ceiling_bp: int) -> int:
    """The ratio capped by the ceiling, in basis points, rounded down."""
    return min(ratio_bp(actual_go, planned_go), ceiling_bp)


def counted_yield_go(actual_go: int, planned_go: int, ceiling_bp: int) -> int:
    """The part of the yield the bills share, min(actual, ceiling × planned), in whole
    合 rounded down (the bills themselves use the exact amount)."""
    return min(actual_go, ceiling_bp * planned_go // BASIS_POINTS)


def bill_go(board_go: int, actual_go: int, planned_go: int, ceiling_bp: int) -> int:
    """The bill a board of ``board_go`` becomes:
    ⌊board × min(actual, ceiling × planned) ÷ planned⌋, exactly in integers.

    Scaled by 10,000 so that the ceiling's basis points need no division: the numerator
    is board × min(actual × 10000, ceiling_bp × planned), the denominator planned × 10000.
    """
    if planned_go <= 0:
        raise ValueError("a work's planned yield is positive")
    counted = min(actual_go * BASIS_POINTS, ceiling_bp * planned_go)
    return board_go * counted // (planned_go * BASIS_POINTS)
