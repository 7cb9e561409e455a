"""Regions, municipalities and each municipality's per-season policy."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin, utcnow

DEFAULT_HARVEST_CEILING_BP = 12_000
"""120%: the harvest ratio's ceiling when a town sets none."""

DEFAULT_ADDRESS_RETENTION_DAYS = 90
"""Days a town keeps a closed redemption's delivery address unless it sets otherwise:
long enough for a late complaint about a parcel, short enough to hold little."""


class Region(IdMixin, CreatedAtMixin, Base):
    """A group of municipalities that work together, e.g. the thirteen towns of Aizu
    (会津はひとつ, "Aizu as one"). A regional auditor reads across all of them."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Municipality(IdMixin, CreatedAtMixin, Base):
    """A town (自治体) that runs its own farmers, policy, issuance and audit."""

    __tablename__ = "municipalities"

    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regions.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    """The platform's own slug for the town, e.g. ``nishiaizu``."""
    name: Mapped[str] = mapped_column(String(200))
    national_code: Mapped[str | None] = mapped_column(String(6), unique=True)
    """全国地方公共団体コード (national local government code): five digits and a check
    digit, e.g. 074055 for 西会津町. Town reports and accounting use it; null until set."""
    address_retention_days: Mapped[int] = mapped_column(
        default=DEFAULT_ADDRESS_RETENTION_DAYS, server_default=str(DEFAULT_ADDRESS_RETENTION_DAYS)
    )
    """Days a redemption's delivery address is kept after the redemption closed
    (received, cancelled or refused), for questions about the delivery; then it is
    erased (``kokudaka.redemptions.jobs.erase_expired_addresses``)."""


class MunicipalityPolicy(IdMixin, Base):
    """A municipality's rules for one season (a calendar year of rice).

    Changing a policy never changes past issuances: every issuance stores the rate it
    used. The yearly cap counts gross issuance; a reversal does not give room back,
    exactly as the on-chain minter allowance is not restored by a burn. The cap also
    covers what investments awaiting payment have reserved (``reserved_go``).
    """

    __tablename__ = "municipality_policies"
    __table_args__ = (
        UniqueConstraint("municipality_id", "season"),
        CheckConstraint("price_yen_per_go > 0", name="price_positive"),
        CheckConstraint("volunteer_go_per_hour >= 0", name="volunteer_rate_non_negative"),
        CheckConstraint("yearly_cap_go >= 0", name="cap_non_negative"),
        CheckConstraint("issued_go >= 0", name="issued_non_negative"),
        CheckConstraint("reserved_go >= 0", name="reserved_non_negative"),
        CheckConstraint("harvest_ceiling_bp > 0", name="harvest_ceiling_positive"),
    )

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    season: Mapped[int]
    price_yen_per_go: Mapped[int]
    """Yen a supporter pays for one go of KOKU."""
    volunteer_go_per_hour: Mapped[int]
    """Go issued per hour of approved volunteering, unless an activity sets less."""
    yearly_cap_go: Mapped[int]
    """Most go the municipality may issue in this season, investments and volunteering."""
    issued_go: Mapped[int] = mapped_column(default=0, server_default="0")
    """Running total of go issued in this season, kept on the row every issuance locks
    so the cap check costs the same in December as in April. It always equals the sum
    of the season's issuances; the ledger tests and reconciliation check that."""
    reserved_go: Mapped[int] = mapped_column(default=0, server_default="0")
    """Go held for investments awaiting payment in this season: taken when an
    investment is made, released when it is cancelled, moved into ``issued_go`` when
    it is confirmed. It always equals the go of the season's pending investments.
    New investments and contributions fit only if ``issued_go + reserved_go`` stays
    within the cap, so a reserved investment can always be confirmed."""
    harvest_ceiling_bp: Mapped[int] = mapped_column(
        default=DEFAULT_HARVEST_CEILING_BP, server_default=str(DEFAULT_HARVEST_CEILING_BP)
    )
    """The harvest ratio's ceiling for the season's works, in basis points (12000 is
    120%): a bill is sized by min(actual, ceiling x planned) / planned, so beyond the
    ceiling the farmer keeps the surplus. There is no floor."""
    bills_expire_on: Mapped[date | None] = mapped_column(Date)
    """The day the season's rice bills (米手形) expire (what is left becomes a gift to
    the farmer); null until the town sets it."""
    boards_close_on: Mapped[date | None] = mapped_column(Date)
    """The last day (in Japan) boards are accepted for the season's works: after it,
    investments in them and hours on activities naming them are refused; null: no
    deadline."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
