"""Redemptions and the farmer's delivery ledger, as the API takes and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from kokudaka.core.schemas import Amount, JsonInt, RequestModel, ResponseModel
from kokudaka.core.units import MAX_GO
from kokudaka.harvest.schemas import BillMint, FarmerBrief, Reason, WorkBrief
from kokudaka.harvest.yields import POSITIVE_KG_PATTERN
from kokudaka.models import RedemptionMethod, RedemptionState

#: The 47 prefectures (都道府県), as an address names them.
PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip
Prefecture = Literal[PREFECTURES]  # type: ignore[valid-type]

PostalCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{3}-?[0-9]{4}$"),
    Field(description="郵便番号: seven digits, with or without the hyphen.", examples=["969-4495"]),
]
# 0 and then 9 or 10 digits (10 or 11 in all), a hyphen allowed between any two: the
# pattern alone says it, so the document states exactly what is accepted.
PHONE_PATTERN = r"^0(?:[0-9]-?){8,9}[0-9]$"
Phone = Annotated[
    str,
    StringConstraints(min_length=10, max_length=13, pattern=PHONE_PATTERN),
    Field(
        description="A Japanese phone number: 10 or 11 digits from 0, hyphens allowed.",
        examples=["0241-45-2211"],
    ),
]
AddressLine = Annotated[str, StringConstraints(min_length=1, max_length=100)]
OptionalLine = Annotated[str, StringConstraints(max_length=100)]
CarrierText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
TrackingNumber = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Address(RequestModel):
    """A delivery address in Japan. Personal data: stored encrypted, shown only to the
    supporter, the work's farmer and their town's administrators, erased after the town's
    retention period once the redemption is closed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "postal_code": "969-4495",
                    "prefecture": "福島県",
                    "city": "耶麻郡西会津町野沢",
                    "street": "字下小屋乙1234",
                    "building": "",
                    "recipient_name": "会津 花子",
                    "phone": "0241-45-2211",
                }
            ]
        }
    )

    postal_code: PostalCode
    prefecture: Prefecture = Field(description="都道府県, as written, e.g. 福島県.")
    city: AddressLine = Field(description="市区町村 and district (町名).")
    street: AddressLine = Field(description="番地: block and house number.")
    building: OptionalLine = Field(default="", description="Building and room, if any.")
    recipient_name: AddressLine = Field(description="宛名: who receives the parcel.")
    phone: Phone


class AddressRead(ResponseModel):
    postal_code: str
    prefecture: str
    city: str
    street: str
    building: str
    recipient_name: str
    phone: str


GoToRedeem = Annotated[
    JsonInt, Field(gt=0, le=MAX_GO, description="合 to redeem (150 g each).", examples=[200])
]


class DeliveryRequest(RequestModel):
    """Redeem 合 of a bill, delivered to an address in Japan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount_go": 200,
                    "method": "delivery",
                    "address": Address.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                }
            ]
        }
    )

    amount_go: GoToRedeem
    method: Literal[RedemptionMethod.delivery]
    address: Address


class PickupRequest(RequestModel):
    """Redeem 合 of a bill, picked up at the farm: no address."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount_go": 100, "method": "pickup"}]}
    )

    amount_go: GoToRedeem
    method: Literal[RedemptionMethod.pickup]


RedemptionCreate = Annotated[DeliveryRequest | PickupRequest, Field(discriminator="method")]
"""A redemption request: ``method`` says which, and only a delivery takes an address."""


ShippedKilograms = Annotated[
    str,
    StringConstraints(pattern=POSITIVE_KG_PATTERN),
    Field(
        description="Kilograms shipped (or handed over), as text with up to three decimals, "
        "more than zero.",
        examples=["30.5"],
    ),
]


class RedemptionShip(RequestModel):
    """What was shipped (or handed over at the farm)."""

    shipped_kg: ShippedKilograms
    carrier: CarrierText | None = Field(
        default=None, description="The carrier, e.g. ヤマト運輸; none for a pick-up."
    )
    tracking_number: TrackingNumber | None = Field(
        default=None, description="The carrier's tracking number (伝票番号)."
    )


class RedemptionRefuse(RequestModel):
    reason: Reason = Field(examples=["今年の在庫がなくなりました。"])


class SupporterBrief(ResponseModel):
    id: uuid.UUID
    display_name: str


class RedemptionRead(ResponseModel):
    """A redemption, as its supporter, the work's farmer and their town see it."""

    id: uuid.UUID
    bill_id: uuid.UUID
    work: WorkBrief
    farmer_id: uuid.UUID
    supporter: SupporterBrief
    amount: Amount
    amount_kg: str = Field(description="The 合 as kilograms of rice (150 g each).")
    method: RedemptionMethod
    state: RedemptionState
    address: AddressRead | None = Field(
        description="Only for a delivery, until it is erased after the town's retention period."
    )
    address_erased_at: datetime | None
    carrier: str | None
    tracking_number: str | None
    shipped_kg: str | None = Field(description="Kilograms shipped, as the farmer entered them.")
    shipped_at: datetime | None
    received_at: datetime | None
    received_automatically: bool = Field(
        description="Received 14 days after shipping without the supporter's confirmation."
    )
    cancelled_at: datetime | None
    refused_at: datetime | None
    refusal_reason: str | None
    created_at: datetime
    burn: BillMint | None = Field(description="The shipment's burn on the chain, once shipped.")


class DeliveryAmounts(ResponseModel):
    """合 and kg of a work's (or a supporter's) bills by where they stand."""

    bills: Amount = Field(description="Bills issued at the harvest.")
    outstanding: Amount = Field(
        description="Owed: the holders' bills not yet shipped (left to redeem plus requested)."
    )
    outstanding_kg: str
    left: Amount = Field(description="Not yet asked for.")
    requested: Amount = Field(description="Asked for and held, awaiting shipment.")
    requested_kg: str
    shipped: Amount = Field(description="Shipped, received or not.")
    shipped_kg: str
    shipped_weight_kg: str = Field(description="Kilograms the farmer entered when shipping.")
    received: Amount
    received_kg: str
    refused: Amount
    refused_kg: str


class SupporterDeliveries(DeliveryAmounts):
    supporter: SupporterBrief


class WorkDeliveries(DeliveryAmounts):
    work: WorkBrief
    farmer: FarmerBrief
    supporters: list[SupporterDeliveries]


class DeliveryLedger(ResponseModel):
    season: int
    works: list[WorkDeliveries]
