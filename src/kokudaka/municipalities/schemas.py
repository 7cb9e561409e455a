"""Region, municipality and policy schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from kokudaka.core.schemas import (
    Amount,
    IsoDate,
    JsonInt,
    Omittable,
    RequestModel,
    ResponseModel,
)
from kokudaka.core.units import MAX_GO
from kokudaka.models import DEFAULT_HARVEST_CEILING_BP

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]
PlaceName = Annotated[str, StringConstraints(min_length=1, max_length=200)]

MIN_SEASON = 2000
MAX_SEASON = 2200
Season = Annotated[JsonInt, Field(ge=MIN_SEASON, le=MAX_SEASON, examples=[2026])]


class RegionCreate(RequestModel):
    code: Slug = Field(examples=["aizu"])
    name: PlaceName = Field(examples=["会津"])


class RegionRead(ResponseModel):
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


_NATIONAL_CODE_WEIGHTS = (6, 5, 4, 3, 2)


def national_code_check_digit(first_five: str) -> str:
    """The check digit of a 全国地方公共団体コード (national local government code).

    The rule of the Ministry of Internal Affairs: weight the five digits by 6, 5, 4, 3,
    2, divide the sum by 11, and take the last digit of 11 minus the remainder (so a
    remainder of 0 gives 1 and a remainder of 1 gives 0). 07405 gives 5: 074055, 西会津町.
    """
    total = sum(int(d) * w for d, w in zip(first_five, _NATIONAL_CODE_WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def _valid_national_code(value: str) -> str:
    if national_code_check_digit(value[:5]) != value[5]:
        raise ValueError("the check digit of this national municipality code is wrong")
    return value


NATIONAL_CODE_FORMAT = "jp-local-government-code"
"""The JSON Schema format the document gives a national code: no pattern can state a
check digit, so the format names the rule (and a client or fuzzer that knows the
format makes valid codes)."""

NationalCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{6}$"),
    AfterValidator(_valid_national_code),
    WithJsonSchema({"type": "string", "format": NATIONAL_CODE_FORMAT}),
]
"""Six digits, the last the check digit: 074055 (西会津町), 072028 (会津若松市)."""

_NATIONAL_CODE_DESCRIPTION = (
    "全国地方公共団体コード: the town's national code, six digits, the last the check digit "
    "of the first five (format `jp-local-government-code`). Used in the audit export for "
    "town accounting."
)


_RETENTION_DESCRIPTION = (
    "Days the town keeps a rice bill redemption's delivery address after the redemption "
    "is closed (received, cancelled or refused); then it is erased. 90 unless set."
)


class MunicipalityCreate(RequestModel):
    region_id: uuid.UUID
    code: Slug = Field(
        description="Stable lower-case slug, unique across the platform.",
        examples=["nishiaizu"],
    )
    name: PlaceName = Field(examples=["西会津町"])
    national_code: NationalCode | None = Field(
        default=None, description=_NATIONAL_CODE_DESCRIPTION, examples=["074055"]
    )


class MunicipalityUpdate(RequestModel):
    """Only the fields sent change; ``national_code`` may be set to null to clear it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"national_code": "074055"}]})

    name: Omittable[PlaceName] = None
    national_code: NationalCode | None = Field(
        default=None, description=_NATIONAL_CODE_DESCRIPTION, examples=["074055"]
    )
    address_retention_days: Omittable[JsonInt] = Field(
        default=None,
        ge=1,
        le=3650,
        description=_RETENTION_DESCRIPTION,
        examples=[90],
    )


class MunicipalityRead(ResponseModel):
    id: uuid.UUID
    region_id: uuid.UUID
    code: str
    name: str
    national_code: str | None = Field(description="全国地方公共団体コード, when set.")
    address_retention_days: int = Field(description=_RETENTION_DESCRIPTION)
    created_at: datetime


class PolicyUpdate(RequestModel):
    """A town's rules for one season; replaces that season's policy if it exists.

    Past issuances keep the rate they used: changing the price here only affects what
    is issued from now on.
    """

    season: Season
    price_yen_per_go: JsonInt = Field(
        ge=1, le=10**9, description="Yen a supporter pays for one 合 (go).", examples=[10]
    )
    volunteer_go_per_hour: JsonInt = Field(
        ge=0, le=10**6, description="Go issued per approved volunteer hour.", examples=[500]
    )
    yearly_cap_go: JsonInt = Field(
        ge=0,
        le=MAX_GO,
        description="Most go the town may issue in the season (investments and volunteering).",
        examples=[10_000_000],
    )
    harvest_ceiling_bp: JsonInt = Field(
        default=DEFAULT_HARVEST_CEILING_BP,
        ge=10_000,
        le=100_000,
        description="The harvest ratio's ceiling for the season's works, in basis points "
        "(12000 = 120%, the default): bills are sized by min(actual, ceiling × planned) ÷ "
        "planned, so beyond it the farmer keeps the surplus. There is no floor.",
        examples=[12_000],
    )
    bills_expire_on: IsoDate | None = Field(
        default=None,
        description="The day the season's rice bills (米手形) expire, after "
        "`boards_close_on` (409 `bills_expire_before_boards_close`); null: not set yet.",
        examples=["2027-10-31"],
    )
    boards_close_on: IsoDate | None = Field(
        default=None,
        description="The last day (Japan time) boards are accepted for the season's works: "
        "after it, investments in them and hours on activities naming them are refused "
        "(409 `boards_closed`). Null: no deadline.",
        examples=["2026-08-31"],
    )


class PolicyRead(ResponseModel):
    municipality_id: uuid.UUID
    season: int
    price_yen_per_go: int
    volunteer_go_per_hour: int
    yearly_cap: Amount
    issued: Amount = Field(description="Gross amount issued so far in the season.")
    reserved: Amount = Field(
        description="Held under the cap for investments awaiting payment; issued when "
        "their payment is confirmed, released when they are cancelled."
    )
    remaining: Amount = Field(
        description="What the cap still allows this season for new investments and "
        "contributions: the cap less what is issued and reserved."
    )
    harvest_ceiling_bp: int = Field(description="The harvest ratio's ceiling (12000 = 120%).")
    bills_expire_on: date | None = Field(description="When the season's rice bills expire.")
    boards_close_on: date | None = Field(
        description="The last day boards are accepted for the season's works (Japan time)."
    )
    updated_at: datetime
