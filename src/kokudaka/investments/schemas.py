"""Investment schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from kokudaka.core.schemas import Amount, JsonInt, RequestModel, ResponseModel
from kokudaka.core.units import MAX_YEN
from kokudaka.ledger.schemas import IssuanceRead
from kokudaka.models import InvestmentCancellation, InvestmentStatus


class InvestmentCreate(RequestModel):
    work_id: uuid.UUID
    amount_yen: JsonInt = Field(gt=0, le=MAX_YEN, examples=[30000])


class PaymentConfirmation(RequestModel):
    """A town administrator records the payment they received."""

    payment_reference: str = Field(min_length=1, max_length=200, examples=["furikomi-2026-0042"])


class PaymentWebhookEvent(RequestModel):
    """The payment provider's notice that an investment was paid (HMAC-signed)."""

    event_id: str = Field(min_length=1, max_length=200, examples=["evt_01J9Z"])
    investment_id: uuid.UUID
    amount_yen: JsonInt = Field(gt=0, le=MAX_YEN)
    payment_reference: str = Field(min_length=1, max_length=200, examples=["ch_3Nx"])


class InvestmentRead(ResponseModel):
    id: uuid.UUID
    supporter_id: uuid.UUID
    work_id: uuid.UUID
    municipality_id: uuid.UUID
    status: InvestmentStatus
    amount_yen: int
    price_yen_per_go: int = Field(description="The price quoted at investment time.")
    amount: Amount = Field(description="KOKU issued (or to be issued) for this investment.")
    remainder_yen: int = Field(description="Yen left after whole go, kept on the record.")
    payment_reference: str | None
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: InvestmentCancellation | None = Field(
        default=None,
        description="Why it was cancelled: `withdrawn` before payment, or `work_harvested` "
        "(still unpaid when the work's harvest was countersigned; a later payment is refused).",
    )
    issuance: IssuanceRead | None = None


class InvestmentListItem(InvestmentRead):
    """An investment in a staff or farmer list, with who made it and in what."""

    supporter_name: str
    supporter_email: str | None = Field(
        description="For town staff, to match a bank transfer; null for farmers."
    )
    work_title: str
    season: int = Field(description="The work's season.")
