"""Redemptions (引換): a supporter turning part of a rice bill (米手形) into rice.

A redemption holds its 合 from the moment it is requested (a ``hold`` entry: the
holder's bill account to their held account), so no second request can claim them;
shipping burns them (a ``shipment`` entry and a bill burn on the chain), cancelling or
refusing gives them back (a ``release`` entry). The delivery address is personal data:
it is stored only encrypted (``kokudaka.redemptions.addresses``) and erased once the
redemption has been closed for longer than its town keeps addresses.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin, utcnow


class RedemptionMethod(StrEnum):
    delivery = "delivery"
    """Sent to a Japanese address by a carrier (宅配便)."""
    pickup = "pickup"
    """Collected at the farm: no address is stored."""


class RedemptionState(StrEnum):
    requested = "requested"
    """Asked for: its 合 are held, awaiting the farmer."""
    shipped = "shipped"
    """Sent (or handed over) by the farmer: its 合 are burned."""
    received = "received"
    """Confirmed by the supporter, or 14 days after shipping without a word."""
    cancelled = "cancelled"
    """Withdrawn by the supporter before shipping: the hold released."""
    refused = "refused"
    """Refused by the farmer or their town, with a reason: the hold released."""


#: States a redemption never leaves; the address retention period runs from then.
CLOSED_STATES = frozenset(
    {RedemptionState.received, RedemptionState.cancelled, RedemptionState.refused}
)


class Redemption(IdMixin, CreatedAtMixin, Base):
    """One request to redeem 合 of a bill, from hold to delivery."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("amount_go > 0", name="amount_positive"),
        CheckConstraint("shipped_g IS NULL OR shipped_g >= 0", name="shipped_non_negative"),
        # The supporter's redemptions newest first (GET /v1/me/redemptions).
        Index("ix_redemptions_holder_id_id", "holder_id", "id"),
        # A farmer's (and a town's) redemptions to ship, oldest first, by state.
        Index("ix_redemptions_farmer_id_state_id", "farmer_id", "state", "id"),
        Index("ix_redemptions_municipality_id_state_id", "municipality_id", "state", "id"),
        # A work's redemptions (the delivery ledger, the farmer's filter by work).
        Index("ix_redemptions_work_id_state_id", "work_id", "state", "id"),
        # The jobs: shipped ones to receive automatically, closed ones to erase.
        Index("ix_redemptions_state_shipped_at", "state", "shipped_at"),
        Index("ix_redemptions_closed_at", "closed_at"),
    )

    bill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bills.id"), index=True)
    work_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("works.id"))
    farmer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("farmers.id"))
    """The work's farmer, who ships it: kept on the row for their list and scope checks."""
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    season: Mapped[int]
    holder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    """The bill's holder, who asked for it."""
    amount_go: Mapped[int]
    """合 redeemed, held from the request on."""
    method: Mapped[RedemptionMethod] = mapped_column(
        Enum(RedemptionMethod, native_enum=False, length=16)
    )
    state: Mapped[RedemptionState] = mapped_column(
        Enum(RedemptionState, native_enum=False, length=16), default=RedemptionState.requested
    )
    address_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The delivery address as ``nonce || AES-256-GCM(JSON)``, bound to this row's id;
    null for a pick-up, and once erased. Never stored or logged in the clear."""
    address_erased_at: Mapped[datetime | None]
    """When the address was erased, the town's retention period after closing."""
    hold_entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    release_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    """The release of the hold, when cancelled or refused."""
    shipment_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    """The shipment (the held 合 burned), when shipped."""
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    shipped_g: Mapped[int | None]
    """Grams of rice shipped, as the farmer entered them (kg with up to three decimals)."""
    shipped_at: Mapped[datetime | None]
    shipped_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[datetime | None]
    received_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    """The supporter who confirmed receipt; null when received automatically."""
    cancelled_at: Mapped[datetime | None]
    refused_at: Mapped[datetime | None]
    refused_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    refusal_reason: Mapped[str | None] = mapped_column(String(1000))
    closed_at: Mapped[datetime | None]
    """When it was received, cancelled or refused: the address's retention runs from
    here."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
