"""Work schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StringConstraints

from kokudaka.core.schemas import (
    Amount,
    JsonInt,
    MultiLine,
    Omittable,
    RequestModel,
    ResponseModel,
)
from kokudaka.core.units import MAX_YEN
from kokudaka.harvest.schemas import BoardsTotal
from kokudaka.municipalities.schemas import Season

MAX_PLANNED_YIELD_GO = 10**12
MAX_FIELD_AREA_M2 = 10**9

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Variety = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=5000), MultiLine]
FieldArea = Annotated[JsonInt, Field(gt=0, le=MAX_FIELD_AREA_M2, examples=[10_000])]
PlannedYield = Annotated[
    JsonInt,
    Field(
        gt=0,
        le=MAX_PLANNED_YIELD_GO,
        description="Planned harvest in 合 (go); 1 koku = 1,000 go.",
        examples=[3_600_000],
    ),
]
OfferYen = Annotated[
    JsonInt, Field(ge=0, le=MAX_YEN, description="Yen of support accepted.", examples=[1_000_000])
]


class WorkCreate(RequestModel):
    """A farmer's work for a season. A farmer creates their own (``farmer_id`` omitted
    or their own); a town administrator names a farmer of their town."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "season": 2026,
                    "title": "棚田のコシヒカリ 2026",
                    "variety": "コシヒカリ",
                    "description": "標高300mの棚田で育てる特別栽培米。",
                    "field_area_m2": 10_000,
                    "planned_yield_go": 3_600_000,
                    "offer_yen": 1_000_000,
                }
            ]
        }
    )

    farmer_id: uuid.UUID | None = Field(
        default=None, description="Required for a town administrator; a farmer may omit it."
    )
    season: Season
    title: Title
    variety: Variety
    description: Description = ""
    field_area_m2: FieldArea
    planned_yield_go: PlannedYield
    offer_yen: OfferYen
    is_open: StrictBool = True


class WorkUpdate(RequestModel):
    """Only the fields sent change. The offer may not go below the yen already
    subscribed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"offer_yen": 2_000_000}]})

    title: Omittable[Title] = None
    variety: Omittable[Variety] = None
    description: Omittable[Description] = None
    field_area_m2: Omittable[FieldArea] = None
    planned_yield_go: Omittable[PlannedYield] = None
    offer_yen: Omittable[OfferYen] = None
    is_open: Omittable[StrictBool] = None


class WorkRead(ResponseModel):
    id: uuid.UUID
    farmer_id: uuid.UUID
    municipality_id: uuid.UUID
    season: int
    title: str
    variety: str
    description: str
    field_area_m2: int
    planned_yield: Amount
    offer_yen: int
    subscribed_yen: int = Field(description="Yen of investments that are not cancelled.")
    remaining_yen: int = Field(description="Yen still on offer.")
    is_open: bool
    created_at: datetime
    updated_at: datetime


class WorkDetail(WorkRead):
    """One work, with the boards issued on it (all supporters together)."""

    boards: BoardsTotal
    bills_issued_at: datetime | None = Field(
        description="When the work's boards became rice bills (米手形); null until then."
    )
