"""A supporter's year, as the app reads it."""

from __future__ import annotations

from pydantic import Field

from kokudaka.core.schemas import Amount, ResponseModel
from kokudaka.harvest.yields import kg_of_go
from kokudaka.statements.service import YearFigures
from kokudaka.volunteering.schemas import format_hours


class Rice(ResponseModel):
    """An amount of rice: integer 合 and the same in kilograms (150 g each)."""

    go: int
    kg: str = Field(description="Kilograms with three decimals.", examples=["150.000"])

    @classmethod
    def of(cls, go: int) -> Rice:
        return cls(go=go, kg=kg_of_go(go))


class StatementRead(ResponseModel):
    year: int = Field(description="The calendar year in Japan (UTC+9).")
    yen_paid: int = Field(description="Yen of the investments whose payment was confirmed.")
    investments: int
    hours_volunteered: str = Field(description="Approved hours, by the activity's day.")
    visits: int = Field(description="Approved volunteer visits (one per activity).")
    koku_earned: Amount = Field(description="KOKU issued to the caller that year, not reversed.")
    bills: int = Field(description="Rice bills (米手形) received that year.")
    bills_received: Rice
    rice_redeemed: Rice = Field(description="Rice farmers shipped on the caller's redemptions.")
    gifts: Rice = Field(description="What was left of expired bills, given to their farmers.")

    @classmethod
    def of(cls, figures: YearFigures) -> StatementRead:
        return cls(
            year=figures.year,
            yen_paid=figures.yen_paid,
            investments=figures.investments,
            hours_volunteered=format_hours(figures.minutes_volunteered),
            visits=figures.visits,
            koku_earned=Amount.of(figures.koku_earned_go),
            bills=figures.bills,
            bills_received=Rice.of(figures.bills_go),
            rice_redeemed=Rice.of(figures.redeemed_go),
            gifts=Rice.of(figures.gifted_go),
        )
