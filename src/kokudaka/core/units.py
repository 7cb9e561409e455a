"""KOKU and its units. Every amount is an integer number of 合 (go); never a float.

1 KOKU = 1 石 (koku) = 10 斗 (to) = 100 升 (shō) = 1,000 合 (go); 1 go ≈ 150 g of rice.
"""

from __future__ import annotations

GO_PER_KOKU = 1000
KOKU_DECIMALS = 3
# Largest amount a column or a token transfer will ever carry: far beyond any town's
# yearly rice, small enough for a signed 64-bit column.
MAX_GO = 10**15
MAX_YEN = 10**12


def format_koku(go: int) -> str:
    """Render integer go as KOKU text with exactly three decimals: 1234 -> "1.234"."""
    sign = "-" if go < 0 else ""
    whole, part = divmod(abs(go), GO_PER_KOKU)
    return f"{sign}{whole}.{part:0{KOKU_DECIMALS}d}"
