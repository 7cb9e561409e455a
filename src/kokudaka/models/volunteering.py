"""Volunteer activities and the hours supporters contribute (貢献)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class Activity(IdMixin, CreatedAtMixin, Base):
    """Volunteer work on a farm or at a town event: planting, weeding, harvest, tours."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("go_per_hour >= 0", name="rate_non_negative"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("max_minutes_per_person > 0", name="max_minutes_positive"),
    )

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"), index=True)
    farmer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("farmers.id"), index=True)
    """The host farmer; null for a town's own event."""
    work_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("works.id"), index=True)
    """The host farmer's work the hours go to: approved hours on it make a labour board
    (人足ボード) on that work. Null for hours that stay plain KOKU (town events)."""
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    activity_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200))
    go_per_hour: Mapped[int]
    """Go issued per approved hour, stored again on each issuance."""
    capacity: Mapped[int]
    """Most supporters who may log hours."""
    max_minutes_per_person: Mapped[int]


class ContributionStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class Contribution(IdMixin, CreatedAtMixin, Base):
    """A supporter's hours on one activity; approved hours issue KOKU at its rate."""

    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("activity_id", "supporter_id"),
        CheckConstraint("minutes > 0", name="minutes_positive"),
        # Review queues: an activity's hours by status.
        Index("ix_contributions_activity_id_status", "activity_id", "status"),
    )

    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    supporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    minutes: Mapped[int]
    status: Mapped[ContributionStatus] = mapped_column(
        Enum(ContributionStatus, native_enum=False, length=32), default=ContributionStatus.pending
    )
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
