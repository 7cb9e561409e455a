"""Region, municipality and policy schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from kokudaka.core.schemas import Amount, RequestModel, ResponseModel
from kokudaka.core.units import MAX_GO

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]
PlaceName = Annotated[str, StringConstraints(min_length=1, max_length=200)]

MIN_SEASON = 2000
MAX_SEASON = 2200
Season = Annotated[int, Field(ge=MIN_SEASON, le=MAX_SEASON, examples=[2026])]


class RegionCreate(RequestModel):
    code: Slug = Field(examples=["aizu"])
    name: PlaceName = Field(examples=["会津"])


class RegionRead(ResponseModel):
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class MunicipalityCreate(RequestModel):
    region_id: uuid.UUID
    code: Slug = Field(
        description="Stable lower-case slug, unique across the platform.",
        examples=["nishiaizu"],
    )
    name: PlaceName = Field(examples=["西会津町"])


class MunicipalityRead(ResponseModel):
    id: uuid.UUID
    region_id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class PolicyUpdate(RequestModel):
    """A town's rules for one season; replaces that season's policy if it exists.

    Past issuances keep the rate they used: changing the price here only affects what
    is issued from now on.
    """

    season: Season
    price_yen_per_go: int = Field(
        ge=1, le=10**9, description="Yen a supporter pays for one 合 (go).", examples=[10]
    )
    volunteer_go_per_hour: int = Field(
        ge=0, le=10**6, description="Go issued per approved volunteer hour.", examples=[500]
    )
    yearly_cap_go: int = Field(
        ge=0,
        le=MAX_GO,
        description="Most go the town may issue in the season (investments and volunteering).",
        examples=[10_000_000],
    )


class PolicyRead(ResponseModel):
    municipality_id: uuid.UUID
    season: int
    price_yen_per_go: int
    volunteer_go_per_hour: int
    yearly_cap: Amount
    issued: Amount = Field(description="Gross amount issued so far in the season.")
    remaining: Amount = Field(description="What the cap still allows this season.")
    updated_at: datetime
