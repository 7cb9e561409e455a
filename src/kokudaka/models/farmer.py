"""Farmers (artists) and their works."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin, utcnow


class Farmer(IdMixin, CreatedAtMixin, Base):
    """A rice farmer's public profile. The project calls farmers artists (アーティスト)
    and each season's rice their work (作品)."""

    __tablename__ = "farmers"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    farm_name: Mapped[str] = mapped_column(String(200))
    story: Mapped[str] = mapped_column(Text, default="")
    varieties: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Rice varieties grown, e.g. ["コシヒカリ", "ひとめぼれ"]."""
    photo_url: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Work(IdMixin, CreatedAtMixin, Base):
    """A work (作品): one farmer's rice for one season, open for supporters' yen.

    ``offer_yen`` is how much support the farmer accepts; the sum of investments that
    are not cancelled never passes it.
    """

    __tablename__ = "works"
    __table_args__ = (
        CheckConstraint("planned_yield_go > 0", name="planned_yield_positive"),
        CheckConstraint("offer_yen >= 0", name="offer_non_negative"),
        CheckConstraint("subscribed_yen >= 0", name="subscribed_non_negative"),
        CheckConstraint("field_area_m2 > 0", name="field_area_positive"),
        Index("ix_works_municipality_id_season", "municipality_id", "season"),
    )

    farmer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("farmers.id"), index=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    """The farmer's town, kept on the work for scope checks and filters."""
    season: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    variety: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    field_area_m2: Mapped[int]
    planned_yield_go: Mapped[int]
    """Planned harvest in go; the rice bills are later sized by actual against plan."""
    offer_yen: Mapped[int]
    subscribed_yen: Mapped[int] = mapped_column(default=0, server_default="0")
    """Running total of yen in this work's investments that are not cancelled, kept on
    the row each investment locks; it never passes ``offer_yen``."""
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    bills_issued_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the work's boards were converted into rice bills (米手形); null until then.
    Set by the harvest conversion; from then on no yield report is filed or
    countersigned for the work."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
