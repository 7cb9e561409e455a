"""Volunteering schemas: activities, the hours logged on them and their review."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from kokudaka.core.schemas import Amount, MultiLine, RequestModel, ResponseModel
from kokudaka.ledger.schemas import IssuanceRead
from kokudaka.models import ContributionStatus

MINUTES_PER_HOUR = 60
QUARTER_HOUR_MINUTES = 15
MAX_GO_PER_HOUR = 10**6


def _quarter_hours(value: Decimal) -> Decimal:
    # max_digits/decimal_places below keep this arithmetic exact.
    if (value * 4) % 1 != 0:
        raise ValueError("hours must be a multiple of a quarter hour (0.25)")
    return value


_HOURS_DIGITS = Field(max_digits=8, decimal_places=2)

Hours = Annotated[Decimal, Field(gt=0), _HOURS_DIGITS, AfterValidator(_quarter_hours)]
"""Hours as a decimal number or string in quarter-hour steps: 0.25, 1.5, 2.75."""

MaxHours = Annotated[
    Decimal, Field(ge=Decimal("0.25"), le=24), _HOURS_DIGITS, AfterValidator(_quarter_hours)
]
"""The most hours one person may log on an activity: a quarter hour to a day."""


def hours_to_minutes(hours: Decimal) -> int:
    return int(hours * MINUTES_PER_HOUR)


def format_hours(minutes: int) -> str:
    """150 -> "2.5", 120 -> "2", 45 -> "0.75"."""
    hours = Decimal(minutes) / MINUTES_PER_HOUR
    return format(hours.normalize() if hours != 0 else Decimal(0), "f")


class ActivityCreate(RequestModel):
    """A volunteer activity. A farmer hosts it on their own farm in their town; a town
    administrator posts it for their town, optionally naming one of its farmers as host."""

    title: str = Field(min_length=1, max_length=200, examples=["田植え (rice planting)"])
    description: Annotated[str, MultiLine] = Field(
        default="",
        max_length=5000,
        examples=["Planting Koshihikari seedlings by hand. Boots and lunch provided."],
    )
    activity_on: date = Field(
        examples=["2026-05-17"], description="The day; its year is the policy season."
    )
    place: str = Field(min_length=1, max_length=200, examples=["西会津町 野沢 north paddies"])
    go_per_hour: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GO_PER_HOUR,
        strict=True,
        examples=[500],
        description="Go per approved hour; defaults to the town's policy rate for the "
        "season and may not exceed it.",
    )
    capacity: int = Field(ge=1, le=10_000, strict=True, examples=[12])
    max_hours_per_person: MaxHours = Field(
        examples=["4.5"], description="Most hours one supporter may log, in quarter hours."
    )
    farmer_id: uuid.UUID | None = Field(
        default=None,
        description="Host farmer, for a town administrator's post; must farm in the town.",
    )


class ActivityRead(ResponseModel):
    id: uuid.UUID
    municipality_id: uuid.UUID
    farmer_id: uuid.UUID | None = Field(description="Host farmer; null for a town event.")
    created_by_id: uuid.UUID
    title: str
    description: str
    activity_on: date
    place: str
    go_per_hour: int = Field(description="Go issued per approved hour.", examples=[500])
    capacity: int
    max_hours_per_person: str = Field(examples=["4.5"])
    participants: int = Field(description="Supporters who logged hours (not rejected).")
    remaining_capacity: int
    created_at: datetime


class ActivityBrief(ResponseModel):
    """The activity a contribution was made on, in short."""

    id: uuid.UUID
    title: str
    activity_on: date
    municipality_id: uuid.UUID
    farmer_id: uuid.UUID | None
    go_per_hour: int


class ContributionCreate(RequestModel):
    """Join an activity and log the hours worked, in one step."""

    hours: Hours = Field(examples=["2.5"])


class ContributionApproval(RequestModel):
    reason: Annotated[str, MultiLine] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        examples=["Thank you for the help!"],
        description="Optional note, kept in the issuance's journal memo.",
    )


class ContributionRejection(RequestModel):
    reason: Annotated[str, MultiLine] = Field(
        min_length=1, max_length=1000, examples=["Left after the first hour, not 3 hours"]
    )


class ContributionRead(ResponseModel):
    id: uuid.UUID
    activity: ActivityBrief
    supporter_id: uuid.UUID
    hours: str = Field(examples=["2.5"])
    status: ContributionStatus
    amount: Amount = Field(
        description="KOKU for these hours at the activity's rate; issued only on approval."
    )
    rejection_reason: str | None
    reviewed_by_id: uuid.UUID | None
    reviewed_at: datetime | None
    created_at: datetime
    issuance: IssuanceRead | None = Field(
        default=None, description="The issuance made on approval (none when it was 0 go)."
    )


class ContributionListItem(ContributionRead):
    """A contribution in a review list, with who worked the hours."""

    supporter_name: str
    supporter_email: str | None = Field(description="For town staff; null for farmers.")
