"""Farmer profile and support-ledger schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from kokudaka.auth.schemas import Email, Password
from kokudaka.core.pagination import Page
from kokudaka.core.schemas import Amount, MultiLine, Omittable, RequestModel, ResponseModel
from kokudaka.ledger.schemas import ChainStatus
from kokudaka.models import IssuanceKind

MAX_VARIETIES = 20


def _unique(values: list[str]) -> list[str]:
    # Order is the farmer's to choose; repeats carry no meaning.
    return list(dict.fromkeys(values))


FarmerName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
FarmName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Story = Annotated[str, StringConstraints(max_length=5000), MultiLine]
Variety = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Varieties = Annotated[list[Variety], Field(max_length=MAX_VARIETIES), AfterValidator(_unique)]
# An https URL of printable ASCII (an address with other characters is sent
# percent-encoded): a host name, an optional port, then a path, query or fragment. The
# pattern is the whole check, so the document states exactly what is taken.
PHOTO_URL_PATTERN = (
    r"^https://[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$"
)
PhotoUrl = Annotated[str, StringConstraints(max_length=2000, pattern=PHOTO_URL_PATTERN)]

_EXAMPLE_PROFILE: dict[str, Any] = {
    "name": "佐藤一郎",
    "farm_name": "佐藤農園",
    "story": "西会津の棚田で三代続く米作り。",
    "varieties": ["コシヒカリ", "ひとめぼれ"],
    "photo_url": "https://example.jp/photos/sato.jpg",
}


class FarmerCreate(RequestModel):
    """A farmer's account and profile, made by an administrator of the farmer's town.

    The town is always the administrator's own; the role is always farmer.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "sato@example.jp",
                    "password": "correct horse battery",
                    **_EXAMPLE_PROFILE,
                }
            ]
        }
    )

    email: Email
    password: Password
    name: FarmerName
    farm_name: FarmName
    story: Story = ""
    varieties: Varieties = Field(default_factory=list)
    photo_url: PhotoUrl | None = None


class FarmerUpdate(RequestModel):
    """Only the fields sent change; ``photo_url`` may be set to null to remove it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"story": "今年は有機栽培に挑戦。"}]})

    name: Omittable[FarmerName] = None
    farm_name: Omittable[FarmName] = None
    story: Omittable[Story] = None
    varieties: Omittable[Varieties] = None
    photo_url: PhotoUrl | None = None


class FarmerRead(ResponseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    municipality_id: uuid.UUID
    name: str
    farm_name: str
    story: str
    varieties: list[str]
    photo_url: str | None
    created_at: datetime
    updated_at: datetime


class FarmerLedgerItem(ResponseModel):
    """One issuance made for support of this farmer: an investment in one of their
    works or hours on one of their activities."""

    issuance_id: uuid.UUID
    entry_id: uuid.UUID
    kind: IssuanceKind
    supporter_id: uuid.UUID
    supporter_name: str
    work_id: uuid.UUID | None = Field(description="For investments.")
    work_title: str | None
    activity_id: uuid.UUID | None = Field(description="For contributions.")
    activity_title: str | None
    amount_yen: int | None = Field(description="Yen paid, for investments.")
    minutes: int | None = Field(description="Approved minutes, for contributions.")
    hours: str | None = Field(
        description="The same in hours, rounded to two decimals.", examples=["2.5"]
    )
    amount: Amount = Field(description="KOKU issued.")
    price_yen_per_go: int | None = Field(description="Rate used by an investment issuance.")
    go_per_hour: int | None = Field(description="Rate used by a contribution issuance.")
    reversed: bool
    reversal_entry_id: uuid.UUID | None
    chain: ChainStatus | None
    created_at: datetime


class FarmerLedgerTotals(ResponseModel):
    """What the filtered support ledger adds up to, over all its pages; reversed
    issuances are left out."""

    amount_yen: int = Field(description="Yen paid in the investments.")
    amount: Amount = Field(description="KOKU issued, in go and KOKU text.")
    minutes: int = Field(description="Approved volunteer minutes.")
    hours: str = Field(description="The same in hours, to two decimals.", examples=["12.5"])
    supporters: int = Field(description="Different supporters.")
    issuances: int


class FarmerLedgerPage(Page[FarmerLedgerItem]):
    """A page of the support ledger, with the totals of everything the filters select."""

    totals: FarmerLedgerTotals
