"""Volunteering schemas: activities, the hours logged on them and their review."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from kokudaka.core.schemas import (
    Amount,
    IsoDate,
    JsonInt,
    MultiLine,
    RequestModel,
    ResponseModel,
)
from kokudaka.ledger.schemas import IssuanceRead
from kokudaka.models import ContributionStatus

MINUTES_PER_HOUR = 60
QUARTER_HOUR_MINUTES = 15
MAX_GO_PER_HOUR = 10**6
QUARTER_HOUR = Decimal("0.25")


MAX_HOURS = 24
"""An activity is one day: nobody logs more than a day's hours on it."""

# Hours are quarter hours from 0.25 to 24, sent as a JSON number or as decimal text. The
# document declares both: the number with minimum, maximum and multipleOf, the text with
# this pattern (JSON Schema bounds numbers only), and the text is checked by the same
# pattern, so "2.5e0", "+2.5" or "2.500" are refused as the document says.
QUARTER_HOURS_PATTERN = (
    "^(?:(?:1?[0-9]|2[0-3])\\.(?:25|50?|75)|(?:[1-9]|1[0-9]|2[0-4])(?:\\.00?)?)$"
)
_QUARTER_HOURS_TEXT = re.compile(QUARTER_HOURS_PATTERN)


def _quarter_hours_text(value: object) -> object:
    if isinstance(value, str) and not _QUARTER_HOURS_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "quarter_hours", "Hours are quarter hours from 0.25 to 24, such as 2.5"
        )
    return value


Hours = Annotated[
    Decimal,
    BeforeValidator(_quarter_hours_text),
    Field(ge=QUARTER_HOUR, le=MAX_HOURS, multiple_of=QUARTER_HOUR),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "minimum": float(QUARTER_HOUR),
                    "maximum": MAX_HOURS,
                    "multipleOf": float(QUARTER_HOUR),
                },
                {"type": "string", "pattern": QUARTER_HOURS_PATTERN},
            ]
        }
    ),
]
"""Hours in quarter-hour steps, a quarter hour to a day, as a number or decimal text:
0.25, 1.5, "2.75", 24."""


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
    activity_on: IsoDate = Field(
        examples=["2026-05-17"], description="The day; its year is the policy season."
    )
    place: str = Field(min_length=1, max_length=200, examples=["西会津町 野沢 north paddies"])
    go_per_hour: JsonInt | None = Field(
        default=None,
        ge=0,
        le=MAX_GO_PER_HOUR,
        examples=[500],
        description="Go per approved hour; defaults to the town's policy rate for the "
        "season and may not exceed it.",
    )
    capacity: JsonInt = Field(ge=1, le=10_000, examples=[12])
    max_hours_per_person: Hours = Field(
        examples=["4.5"], description="Most hours one supporter may log, in quarter hours."
    )
    farmer_id: uuid.UUID | None = Field(
        default=None,
        description="Host farmer, for a town administrator's post; must farm in the town.",
    )
    work_id: uuid.UUID | None = Field(
        default=None,
        description="One of the host farmer's works of the activity's season: approved hours "
        "make a labour board (人足ボード) on it. Null for hours that stay KOKU.",
    )


class ActivityRead(ResponseModel):
    id: uuid.UUID
    municipality_id: uuid.UUID
    farmer_id: uuid.UUID | None = Field(description="Host farmer; null for a town event.")
    work_id: uuid.UUID | None = Field(
        description="The host farmer's work the hours are a labour board on; null for none."
    )
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
    work_id: uuid.UUID | None
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
