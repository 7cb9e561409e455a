"""Yield reports (収量報告): a work's actual harvest, filed and countersigned.

After the harvest the farmer (or their town's administrator) files the work's actual
yield of polished rice with its evidence; an administrator of the town who did not file
it countersigns it or rejects it. Only a countersigned report counts, and it sizes the
work's rice bills (米手形). A correction is a new report: reports are never edited,
except for their state moving on.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class YieldReportState(StrEnum):
    filed = "filed"
    """Awaiting a town administrator's countersignature (at most one per work)."""
    countersigned = "countersigned"
    """Final and public: the work's actual yield (at most one in effect per work)."""
    rejected = "rejected"
    """Refused by a town administrator, with a reason; the farmer may file again."""
    superseded = "superseded"
    """Replaced by a newer report: a newer filing replaces one awaiting countersignature,
    a newer countersignature replaces the one in effect before it."""


class YieldReport(IdMixin, CreatedAtMixin, Base):
    """One filing of a work's actual yield, with the evidence for it."""

    __tablename__ = "yield_reports"
    __table_args__ = (
        CheckConstraint("actual_yield_g >= 0", name="grams_non_negative"),
        CheckConstraint("actual_yield_go >= 0", name="go_non_negative"),
        # A work's reports newest first (the staff list, the harvest's current report).
        Index("ix_yield_reports_work_id_id", "work_id", "id"),
        # One report awaiting countersignature and one in effect per work, whatever
        # races two filings or two countersignatures run: the database refuses a second.
        Index(
            "uq_yield_reports_work_id_filed",
            "work_id",
            unique=True,
            postgresql_where=text("state = 'filed'"),
            sqlite_where=text("state = 'filed'"),
        ),
        Index(
            "uq_yield_reports_work_id_countersigned",
            "work_id",
            unique=True,
            postgresql_where=text("state = 'countersigned'"),
            sqlite_where=text("state = 'countersigned'"),
        ),
        # A town's reports awaiting countersignature (the console's queue).
        Index("ix_yield_reports_municipality_id_state", "municipality_id", "state"),
    )

    work_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("works.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    """The work's town, kept on the report for the town's queue and scope checks."""
    actual_yield_g: Mapped[int]
    """The actual yield of polished rice in grams, as entered (kg with up to three
    decimals is an exact number of grams)."""
    actual_yield_go: Mapped[int]
    """The same yield in 合 (go): ⌊grams ÷ 150⌋. Bills are sized from this."""
    harvested_on: Mapped[date] = mapped_column(Date)
    photo_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Evidence: https addresses of photographs of the harvest."""
    slip_number: Mapped[str | None] = mapped_column(String(100))
    """Evidence: the JA inspection (検査) or shipment slip (出荷伝票) number."""
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[YieldReportState] = mapped_column(
        Enum(YieldReportState, native_enum=False, length=16), default=YieldReportState.filed
    )
    filed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    """The town administrator who countersigned or rejected it."""
    reviewed_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    superseded_at: Mapped[datetime | None]


class Bill(IdMixin, CreatedAtMixin, Base):
    """A rice bill (米手形): one supporter's boards on one work, converted at the harvest.

    Written once per (work, supporter) by the harvest conversion, in the same transaction
    as its journal entry (the board's KOKU burned, the bill minted) and its chain
    operations. ``amount_go`` is ⌊board × min(actual, ceiling × planned) ÷ planned⌋ 合;
    what is left of it to redeem is the balance of the supporter's ``bill_holder``
    account for the work.
    """

    __tablename__ = "bills"
    __table_args__ = (
        CheckConstraint("board_go > 0", name="board_positive"),
        CheckConstraint("amount_go >= 0", name="amount_non_negative"),
        # One conversion per board, whatever races or retries happen.
        UniqueConstraint("work_id", "holder_id"),
        # A supporter's bills newest first (GET /v1/me/bills).
        Index("ix_bills_holder_id_id", "holder_id", "id"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    """The conversion entry."""
    work_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("works.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    season: Mapped[int]
    holder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    yield_report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("yield_reports.id"))
    """The countersigned report that sized it."""
    board_go: Mapped[int]
    """The board converted: the KOKU burned (investment and labour boards together)."""
    investment_go: Mapped[int]
    """Of which the investment board (米ボード)."""
    labour_go: Mapped[int]
    """Of which the labour board (人足ボード)."""
    amount_go: Mapped[int]
    """The bill: 合 of the work's rice the supporter may claim (0 in a failed year)."""
    expired_at: Mapped[datetime | None]
    """When the expiry job closed the bill (its town's ``bills_expire_on`` passed): what
    was left unredeemed became a gift to the farmer. Null while it is valid."""
    gift_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    """The gift entry (what was left back to the work's bill issuance account, burned on
    chain); null when nothing was left at expiry."""
    gifted_go: Mapped[int] = mapped_column(default=0, server_default="0")
    """合 given to the farmer at expiry."""
