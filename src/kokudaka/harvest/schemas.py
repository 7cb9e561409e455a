"""Boards, yield reports and a work's harvest, as the API shows them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from kokudaka.core.schemas import Amount, IsoDate, LongText, RequestModel, ResponseModel
from kokudaka.harvest.yields import KG_PATTERN
from kokudaka.models import ChainState, Role, YieldReportState

MAX_PHOTOS = 10
MAX_PHOTO_URL_LENGTH = 2000

Kilograms = Annotated[
    str,
    StringConstraints(pattern=KG_PATTERN),
    Field(
        description="Kilograms of polished rice, as text with up to three decimals (never a "
        "float); stored in 合 (150 g each, rounded down).",
        examples=["5400.5"],
    ),
]
PhotoUrl = Annotated[
    str,
    StringConstraints(min_length=9, max_length=MAX_PHOTO_URL_LENGTH, pattern=r"^https://[!-~]+$"),
]
SlipNumber = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class BoardsTotal(ResponseModel):
    """Boards issued on a work, all supporters together (no personal data)."""

    investment: Amount = Field(description="米ボード: KOKU issued for confirmed investments.")
    labour: Amount = Field(
        description="人足ボード: KOKU issued for approved hours on activities naming the work."
    )
    total: Amount


class WorkBrief(ResponseModel):
    id: uuid.UUID
    title: str
    season: int
    variety: str


class FarmerBrief(ResponseModel):
    id: uuid.UUID
    name: str
    farm_name: str


class BoardRead(ResponseModel):
    """The caller's boards on one work: claims on its planned rice, which become a rice
    bill (米手形) sized by the actual yield once the harvest is countersigned."""

    work: WorkBrief
    farmer: FarmerBrief
    planned_yield: Amount
    investment_board: Amount = Field(description="米ボード: from confirmed investments.")
    labour_board: Amount = Field(description="人足ボード: from approved volunteer hours.")
    total: Amount
    bills_issued_at: datetime | None = Field(
        description="When the work's boards became rice bills; null until then."
    )


class BoardList(ResponseModel):
    items: list[BoardRead]


class YieldReportCreate(RequestModel):
    """A work's actual yield after the harvest, with its evidence. A new report replaces
    one still awaiting countersignature."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "actual_yield_kg": "5400.5",
                    "harvested_on": "2026-09-28",
                    "photo_urls": ["https://photos.example.jp/nishiaizu/2026/harvest-1.jpg"],
                    "slip_number": "JA-AIZU-2026-004512",
                    "note": "猪の被害が一部あり。",
                }
            ]
        }
    )

    actual_yield_kg: Kilograms
    harvested_on: IsoDate = Field(description="In the work's season, not after today (Japan).")
    photo_urls: list[PhotoUrl] = Field(
        default_factory=list,
        max_length=MAX_PHOTOS,
        description=f"Up to {MAX_PHOTOS} https addresses of photographs of the harvest.",
    )
    slip_number: SlipNumber | None = Field(
        default=None, description="The JA inspection or shipment slip number."
    )
    note: LongText = ""


class YieldReportReject(RequestModel):
    reason: Reason = Field(examples=["検査伝票の数量と一致しません。"])


class PersonRef(ResponseModel):
    """Who acted, as the public may know them."""

    id: uuid.UUID
    display_name: str
    role: Role


class Evidence(ResponseModel):
    photo_urls: list[str]
    slip_number: str | None
    note: str


class YieldReportRead(ResponseModel):
    id: uuid.UUID
    work_id: uuid.UUID
    state: YieldReportState
    actual_yield: Amount = Field(description="In 合: the kilograms ÷ 150 g, rounded down.")
    actual_yield_kg: str = Field(description="The kilograms as filed, three decimals.")
    harvested_on: date
    evidence: Evidence
    filed_by: PersonRef
    filed_at: datetime
    reviewed_by: PersonRef | None = Field(description="Who countersigned or rejected it.")
    reviewed_at: datetime | None
    rejection_reason: str | None


class YieldReportList(ResponseModel):
    items: list[YieldReportRead] = Field(description="Newest first.")


class HarvestSettlement(ResponseModel):
    """What the harvest settled, once the work's bills are issued: the farmer's view of
    the rice they owe."""

    boards_converted: int = Field(description="Supporters whose boards became rice bills.")
    boards: Amount = Field(description="The boards converted, all supporters together.")
    bills_issued: Amount = Field(description="Rice bills (米手形) issued in all, in 合.")
    bills_issued_kg: str = Field(description="The same in kg of rice (150 g a 合).")
    rice_owed: Amount = Field(
        description="The rice the farmer owes: what the bills' holders have left to redeem."
    )
    rice_owed_kg: str
    investments_cancelled: int = Field(
        description="Investments still awaiting payment when the work was harvested, "
        "cancelled by it."
    )


class HarvestState(StrEnum):
    no_report = "no_report"
    """No yield report is filed, or every one was rejected or replaced."""
    awaiting_countersignature = "awaiting_countersignature"
    """The newest report awaits a town administrator's countersignature."""
    rejected = "rejected"
    """The newest report was rejected; none is countersigned."""
    countersigned = "countersigned"
    """A countersigned report gives the actual yield; the bills are not issued yet."""
    bills_issued = "bills_issued"
    """The boards became rice bills: the harvest is settled."""


class HarvestRead(ResponseModel):
    """A work's harvest, public: only a countersigned report counts."""

    work_id: uuid.UUID
    season: int
    state: HarvestState
    planned_yield: Amount
    actual_yield: Amount | None = Field(description="From the countersigned report.")
    actual_yield_kg: str | None
    ratio_bp: int | None = Field(
        description="actual ÷ planned in basis points (10000 = 100%), rounded down; bills "
        "are sized from the exact amounts, not from this figure."
    )
    ceiling_bp: int = Field(description="The town's ceiling for the season (12000 = 120%).")
    capped_ratio_bp: int | None = Field(description="The ratio capped by the ceiling; no floor.")
    counted_yield: Amount | None = Field(
        description="min(actual, ceiling × planned): the rice the bills share, rounded down."
    )
    harvested_on: date | None
    evidence: Evidence | None
    filed_by: PersonRef | None
    filed_at: datetime | None
    countersigned_by: PersonRef | None
    countersigned_at: datetime | None
    bills_issued_at: datetime | None
    boards: BoardsTotal
    settlement: HarvestSettlement | None = Field(
        description="What the harvest settled; null until the work's bills are issued."
    )


class BillBoard(ResponseModel):
    """The board a bill was converted from."""

    investment: Amount = Field(description="米ボード: from confirmed investments.")
    labour: Amount = Field(description="人足ボード: from approved volunteer hours.")
    total: Amount


class BillMint(ResponseModel):
    """Where the bill's mint stands on the chain."""

    state: ChainState
    reference: str = Field(description="The bytes32 reference the contract records.")
    tx_hash: str | None
    block_number: int | None


class BillRead(ResponseModel):
    """One of the caller's rice bills (米手形): their boards on a work, converted at the
    harvest into a claim on its rice, sized by the actual yield."""

    id: uuid.UUID
    work: WorkBrief
    farmer: FarmerBrief
    planned_yield: Amount
    planned_yield_kg: str
    actual_yield: Amount = Field(description="From the countersigned report that sized it.")
    actual_yield_kg: str = Field(description="The kilograms as filed, three decimals.")
    ratio_bp: int = Field(description="actual ÷ planned in basis points, rounded down.")
    capped_ratio_bp: int = Field(
        description="The ratio capped by the town's ceiling for the season; no floor."
    )
    board: BillBoard
    amount: Amount = Field(
        description="The bill: ⌊board × min(actual, ceiling × planned) ÷ planned⌋ 合."
    )
    amount_kg: str = Field(description="The same in kg of rice (150 g a 合).")
    remaining: Amount = Field(description="What is left of the bill to redeem.")
    remaining_kg: str
    bills_expire_on: date | None = Field(
        description="The day the season's bills expire in the town (what is left then "
        "becomes a gift to the farmer); null until the town sets it."
    )
    issued_at: datetime
    expired_at: datetime | None = Field(
        description="When the bill expired; null while it can be redeemed."
    )
    gifted: Amount = Field(
        description="What was left at expiry, given to the farmer (0 until it expires)."
    )
    gifted_kg: str
    chain: BillMint | None = Field(description="The bill's mint; null for a 0 合 bill.")
