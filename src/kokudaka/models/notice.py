"""Notices (お知らせ): what the service tells a person, which the mobile app polls.

A notice is created once per cause (the unique key on ``(subject_id, kind)``), whatever
job runs twice, and is read or unread. The text is rendered in the reader's language
from ``kind`` and ``params``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class NoticeKind(StrEnum):
    bill_expires_in_30_days = "bill_expires_in_30_days"
    """A bill with rice left expires within 30 days."""
    bill_expires_in_7_days = "bill_expires_in_7_days"
    """A bill with rice left expires within 7 days."""
    bill_gifted = "bill_gifted"
    """A bill expired: what was left of it became a gift to its farmer."""


class Notice(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "notices"
    __table_args__ = (
        # Once per cause: a job that runs twice, or in two processes, creates it once.
        UniqueConstraint("subject_id", "kind"),
        # A person's notices newest first (GET /v1/me/notices).
        Index("ix_notices_user_id_id", "user_id", "id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[NoticeKind] = mapped_column(Enum(NoticeKind, native_enum=False, length=32))
    subject_id: Mapped[uuid.UUID]
    """What it is about (a bill's id for the bill notices)."""
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The values its text is filled with (title, date, 合 left)."""
    read_at: Mapped[datetime | None]
