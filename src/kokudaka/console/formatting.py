"""How numbers and times read on a console page (the same in both languages)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from kokudaka.core.units import format_koku

JAPAN = ZoneInfo("Asia/Tokyo")


def number(value: int | None) -> str:
    """A whole number with thousands separators: 1234567 -> "1,234,567"."""
    return "—" if value is None else f"{value:,}"


def yen(value: int | None) -> str:
    return "—" if value is None else f"¥{value:,}"


def koku(go: int | None) -> str:
    """Integer 合 as KOKU text with three decimals and thousands separators:
    12345678 -> "12,345.678"."""
    if go is None:
        return "—"
    whole, _, part = format_koku(go).partition(".")
    return f"{int(whole):,}.{part}" if whole != "-0" else f"-0.{part}"


def jst(value: datetime | None) -> str:
    """A moment in Japan time, to the minute: town halls read local time."""
    return "—" if value is None else value.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M")
