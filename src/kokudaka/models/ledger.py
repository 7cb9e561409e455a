"""The double-entry ledger: accounts, journal entries, postings and issuances.

Append-only. Every journal entry's postings sum to zero; a balance is the sum of an
account's postings (``Account.balance_go`` keeps it as a running total, checked against
them); a mistake is corrected by a new reversal entry, never by editing a posting.
Each entry carries a unique idempotency key, so the same cause can never issue twice,
whatever races or retries happen.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kokudaka.models.base import Base, CreatedAtMixin, IdMixin


class AccountKind(StrEnum):
    issuance = "issuance"
    """A municipality's issuance account: the source of the KOKU it issues (goes
    negative by exactly what the town has put into circulation)."""
    holder = "holder"
    """A person's KOKU holdings."""
    bill_issuance = "bill_issuance"
    """A work's bill issuance account: the source of its rice bills (米手形), negative by
    exactly the bills of the work in circulation."""
    bill_holder = "bill_holder"
    """A person's rice bills of one work."""
    bill_held = "bill_held"
    """A person's bills of one work held for their redemptions awaiting shipment."""


class Account(IdMixin, CreatedAtMixin, Base):
    """One account of the ledger, in one asset.

    The ledger holds several assets: KOKU (``issuance`` and ``holder`` accounts) and one
    rice bill asset per work (``bill_issuance`` and ``bill_holder`` accounts, with
    ``work_id``). An entry's postings sum to zero in each asset; every balance read of
    KOKU reads the KOKU accounts by key, so bills never mix into it.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        # A work's bill accounts, and one person's bills of a work (the expiry job, the
        # delivery ledger).
        Index("ix_accounts_work_id_user_id", "work_id", "user_id"),
    )

    key: Mapped[str] = mapped_column(String(100), unique=True)
    """``issuance:<municipality id>``, ``holder:<user id>`` (KOKU), ``bills:<work id>``,
    ``bill:<work id>:<user id>`` or ``bill-held:<work id>:<user id>`` (a work's bills):
    one account each."""
    kind: Mapped[AccountKind] = mapped_column(Enum(AccountKind, native_enum=False, length=16))
    municipality_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("municipalities.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    work_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("works.id"))
    """The work whose bills a ``bill_issuance`` or ``bill_holder`` account holds; null for
    KOKU."""
    balance_go: Mapped[int] = mapped_column(default=0, server_default="0")
    """Running total of this account's postings, in 合 (go), moved by the same
    transaction that writes each posting (``kokudaka.ledger.service``), so reading a
    balance is one row however many postings there are. It always equals the sum of the
    account's postings; the ledger tests and reconciliation check that."""
    earned_go: Mapped[int] = mapped_column(default=0, server_default="0")
    """Running total of this account's issuance and reversal postings only: on a holder
    account, the KOKU the person earned net of reversals, their lifetime 石高 (kokudaka),
    which their rank follows. A harvest conversion (or, later, a redemption) moves
    ``balance_go`` but never this, so turning boards into bills never lowers a rank."""


class EntryKind(StrEnum):
    issuance = "issuance"
    reversal = "reversal"
    conversion = "conversion"
    """A board turned into a rice bill at the harvest: the board's KOKU back to the town's
    issuance account (burned), the bill from the work's bill issuance account (minted)."""
    hold = "hold"
    """A redemption requested: 合 of a bill from the holder's bill account to their held
    account, so nothing else can redeem them."""
    release = "release"
    """A redemption cancelled or refused before shipping: its hold back to the bill."""
    shipment = "shipment"
    """A redemption shipped: the held 合 back to the work's bill issuance account (burned);
    the farmer has delivered that rice."""
    gift = "gift"
    """A bill expired: what was left of it back to the work's bill issuance account
    (burned), a gift of that rice to the farmer."""


class JournalEntry(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "journal_entries"

    kind: Mapped[EntryKind] = mapped_column(Enum(EntryKind, native_enum=False, length=16))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    """``investment:<id>``, ``contribution:<id>``, ``reversal:<entry id>`` or
    ``conversion:<work id>:<user id>`` (one conversion per board)."""
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    """For a reversal, the entry it undoes; unique, so nothing is reversed twice."""
    memo: Mapped[str] = mapped_column(String(1000), default="")
    """Why: the cause of an issuance, or the administrator's reason for a reversal, in
    English, for whoever reads the table itself."""
    memo_code: Mapped[str | None] = mapped_column(String(32))
    """The memo's template (``kokudaka.ledger.memos.MEMOS``), so the API shows it in the
    reader's language; null on entries written before memos had one."""
    memo_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The values the memo's template is filled with."""
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Posting(IdMixin, Base):
    """One leg of a journal entry: a signed amount of go on one account."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount_go <> 0", name="amount_non_zero"),
        Index("ix_postings_account_id_amount_go", "account_id", "amount_go"),
        # An account's history, newest first and paged by id (GET /v1/me/ledger).
        Index("ix_postings_account_id_id", "account_id", "id"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount_go: Mapped[int]

    # Declared so the unit of work inserts entries before the rows that point at them
    # when one flush writes them all; never loaded implicitly.
    entry: Mapped[JournalEntry] = relationship(lazy="raise")


class IssuanceKind(StrEnum):
    investment = "investment"
    contribution = "contribution"


class Issuance(IdMixin, CreatedAtMixin, Base):
    """KOKU created (発行) for one investment or one contribution: the business record
    beside its journal entry, with the rate it used and links to its cause."""

    __tablename__ = "issuances"
    __table_args__ = (
        CheckConstraint("amount_go > 0", name="amount_positive"),
        # A town's issuances newest first, for a season or all of them (the console's
        # and the audit's lists): the index walk stops after one page instead of
        # sorting the town's every issuance. The first also serves the season's sums.
        Index("ix_issuances_municipality_id_season_id", "municipality_id", "season", "id"),
        Index("ix_issuances_municipality_id_id", "municipality_id", "id"),
        # A farmer's support ledger newest first, for a season or all of them, one page
        # read from the index (as for a town); the first also serves its totals.
        Index("ix_issuances_farmer_id_season_id", "farmer_id", "season", "id"),
        Index("ix_issuances_farmer_id_id", "farmer_id", "id"),
        # A work's boards (米ボード, 人足ボード): its issuances per supporter, for the
        # work's totals, a supporter's boards and the harvest conversion.
        Index("ix_issuances_work_id_recipient_id", "work_id", "recipient_id"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    kind: Mapped[IssuanceKind] = mapped_column(Enum(IssuanceKind, native_enum=False, length=16))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("municipalities.id"))
    season: Mapped[int]
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    amount_go: Mapped[int]
    farmer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("farmers.id"))
    work_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("works.id"))
    investment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("investments.id"), unique=True
    )
    activity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("activities.id"))
    contribution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contributions.id"), unique=True
    )
    price_yen_per_go: Mapped[int | None]
    """The rate of an investment issuance."""
    go_per_hour: Mapped[int | None]
    """The rate of a contribution issuance."""
    reversal_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    """Set when a town administrator reversed this issuance."""
    conversion_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("journal_entries.id"), index=True
    )
    """Set when the harvest converted this board issuance into a rice bill: its KOKU is
    burned, and it can no longer be reversed (the bill stands in its place)."""

    # For insert ordering in a single flush (see Posting.entry); never loaded implicitly.
    entry: Mapped[JournalEntry] = relationship(foreign_keys=[entry_id], lazy="raise")


class SupporterSeason(Base):
    """One supporter with one town in one season: how many standing issuances they had.

    A running total of :class:`Issuance`, moved in the issuance's own transaction
    (issuing adds one, reversing takes one back), so that the 関係人口 (relationship
    population) counts of a town or a whole region read one short row per person
    instead of every issuance. ``kokudaka.console.population`` reads it; the ledger
    property tests check it against the issuances.
    """

    __tablename__ = "supporter_seasons"

    municipality_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("municipalities.id"), primary_key=True
    )
    season: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    investments: Mapped[int]
    """Standing (not reversed) investment issuances to the user in the town and season."""
    contributions: Mapped[int]
    """Standing contribution issuances: each is one volunteer visit (one approved
    contribution of hours to one activity)."""


class RegionSupporterSeason(Base):
    """One supporter with one region (all its towns together) in one season: how many
    standing issuances they had there.

    The same running total as :class:`SupporterSeason`, one level up, moved by the same
    upsert's twin in the issuance's own transaction, so that a region's 関係人口 counts
    each person once from one row per person instead of summing a row per person and
    town (thirteen times as many in Aizu when people support several towns). The
    ledger property tests check it against the issuances.
    """

    __tablename__ = "region_supporter_seasons"

    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    season: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    investments: Mapped[int]
    """Standing investment issuances to the user in the region's towns and the season."""
    contributions: Mapped[int]
    """Standing contribution issuances (volunteer visits) there."""


class TownIssuanceDay(Base):
    """A town's standing issuance of one kind on one day of a season (the day in Japan
    time, when the issuance was made).

    A running total of :class:`Issuance` like :class:`SupporterSeason`, moved in the
    issuance's own transaction (issuing adds its go, reversing takes them back), so that
    a town's weekly chart reads a few hundred rows instead of every issuance of the
    season. The ledger property tests check it against the issuances.
    """

    __tablename__ = "town_issuance_days"

    municipality_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("municipalities.id"), primary_key=True
    )
    season: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    """The calendar day in Japan (UTC+9, no daylight saving time)."""
    kind: Mapped[IssuanceKind] = mapped_column(
        Enum(IssuanceKind, native_enum=False, length=16), primary_key=True
    )
    amount_go: Mapped[int]
    """Go of the standing (not reversed) issuances; zero once all were reversed."""


class FarmerIssuanceDay(Base):
    """A farmer's standing issuance of one kind on one day of a season: the same running
    total as :class:`TownIssuanceDay` for the issuances made for support of the farmer,
    which the farmer's weekly chart reads."""

    __tablename__ = "farmer_issuance_days"

    farmer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("farmers.id"), primary_key=True)
    season: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    """The calendar day in Japan (UTC+9, no daylight saving time)."""
    kind: Mapped[IssuanceKind] = mapped_column(
        Enum(IssuanceKind, native_enum=False, length=16), primary_key=True
    )
    amount_go: Mapped[int]
    """Go of the standing (not reversed) issuances; zero once all were reversed."""
