"""Investments (投資・応援) of yen into works, their idempotency keys and payment events."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class InvestmentStatus(StrEnum):
    pending_payment = "pending_payment"
    """Created; the yen is reserved against the work's offer but no KOKU is issued."""
    confirmed = "confirmed"
    """The payment arrived (recorded by the town or by the payment webhook); issued."""
    cancelled = "cancelled"
    """Withdrawn before payment; its yen is back on offer."""


class InvestmentCancellation(StrEnum):
    withdrawn = "withdrawn"
    """By the supporter, or by the town's staff for them, before payment."""
    work_harvested = "work_harvested"
    """Still unpaid when the work's harvest was countersigned: its boards were converted
    into bills without it, so a payment arriving later is refused."""


class Investment(IdMixin, CreatedAtMixin, Base):
    """A supporter's yen into one work. KOKU is issued only once the payment is
    confirmed: ⌊amount_yen ÷ price_yen_per_go⌋ go, the remainder kept on the record."""

    __tablename__ = "investments"
    __table_args__ = (
        CheckConstraint("amount_yen > 0", name="amount_positive"),
        CheckConstraint("go_amount > 0", name="go_positive"),
        Index("ix_investments_work_id_status", "work_id", "status"),
        # A town's queue of investments awaiting payment.
        Index("ix_investments_municipality_id_status", "municipality_id", "status"),
    )

    supporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    work_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("works.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    amount_yen: Mapped[int]
    price_yen_per_go: Mapped[int]
    """The price quoted when the supporter invested; the issuance uses this rate."""
    go_amount: Mapped[int]
    remainder_yen: Mapped[int]
    """Yen left over after whole go: ``amount_yen - go_amount * price_yen_per_go``."""
    status: Mapped[InvestmentStatus] = mapped_column(
        Enum(InvestmentStatus, native_enum=False, length=32),
        default=InvestmentStatus.pending_payment,
    )
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    """The town administrator who recorded the payment; null when the webhook did."""
    cancelled_at: Mapped[datetime | None]
    cancellation_reason: Mapped[InvestmentCancellation | None] = mapped_column(
        Enum(InvestmentCancellation, native_enum=False, length=32)
    )
    """Why it was cancelled; null on investments cancelled before reasons were kept."""


class IdempotencyRecord(IdMixin, CreatedAtMixin, Base):
    """The first response to a request made with an ``Idempotency-Key``, replayed to
    every retry with the same key; a different body under the same key is refused."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)


class PaymentEvent(IdMixin, Base):
    """A payment provider's webhook event, stored so that a replay is refused."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    investment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("investments.id"))
    received_at: Mapped[datetime]
