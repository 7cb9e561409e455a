"""The figures of a supporter's year, each one statement over an indexed range.

The year is the calendar year in Japan (UTC+9): what happened from 1 January 00:00 there
to the next 1 January. Yen paid is the confirmed investments' amounts, by the day the
payment was confirmed; hours are the approved contributions' minutes, by the day of the
activity; KOKU earned is the issuances made to the person that year and not reversed;
bills are those issued to them that year; rice redeemed is what farmers shipped on their
redemptions that year; gifts are what was left of their bills at expiry that year.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.models import (
    Account,
    AccountKind,
    Activity,
    Bill,
    Contribution,
    ContributionStatus,
    EntryKind,
    Investment,
    InvestmentStatus,
    Issuance,
    JournalEntry,
    Posting,
)

__all__ = ["YearFigures", "year_figures"]

_JAPAN = timezone(timedelta(hours=9))


@dataclass(frozen=True, slots=True)
class YearFigures:
    year: int
    yen_paid: int
    investments: int
    minutes_volunteered: int
    visits: int
    koku_earned_go: int
    bills: int
    bills_go: int
    redeemed_go: int
    gifted_go: int


def _bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=_JAPAN).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=_JAPAN).astimezone(UTC)
    return start, end


def year_figures(session: Session, user_id: uuid.UUID, year: int) -> YearFigures:
    start, end = _bounds(year)
    yen, investments = session.execute(
        select(func.coalesce(func.sum(Investment.amount_yen), 0), func.count()).where(
            Investment.supporter_id == user_id,
            Investment.status == InvestmentStatus.confirmed,
            Investment.confirmed_at >= start,
            Investment.confirmed_at < end,
        )
    ).one()
    minutes, visits = session.execute(
        select(func.coalesce(func.sum(Contribution.minutes), 0), func.count())
        .join(Activity, Activity.id == Contribution.activity_id)
        .where(
            Contribution.supporter_id == user_id,
            Contribution.status == ContributionStatus.approved,
            Activity.activity_on >= date(year, 1, 1),
            Activity.activity_on < date(year + 1, 1, 1),
        )
    ).one()
    earned = session.scalar(
        select(func.coalesce(func.sum(Issuance.amount_go), 0)).where(
            Issuance.recipient_id == user_id,
            Issuance.reversal_entry_id.is_(None),
            Issuance.created_at >= start,
            Issuance.created_at < end,
        )
    )
    bills, bills_go = session.execute(
        select(func.count(), func.coalesce(func.sum(Bill.amount_go), 0)).where(
            Bill.holder_id == user_id, Bill.created_at >= start, Bill.created_at < end
        )
    ).one()
    # Shipped: the shipment entries' postings out of the person's held bill accounts.
    redeemed = session.scalar(
        select(func.coalesce(-func.sum(Posting.amount_go), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Account.user_id == user_id,
            Account.kind == AccountKind.bill_held,
            JournalEntry.kind == EntryKind.shipment,
            JournalEntry.created_at >= start,
            JournalEntry.created_at < end,
        )
    )
    gifted = session.scalar(
        select(func.coalesce(func.sum(Bill.gifted_go), 0)).where(
            Bill.holder_id == user_id, Bill.expired_at >= start, Bill.expired_at < end
        )
    )
    return YearFigures(
        year=year,
        yen_paid=int(yen),
        investments=int(investments),
        minutes_volunteered=int(minutes),
        visits=int(visits),
        koku_earned_go=int(earned or 0),
        bills=int(bills),
        bills_go=int(bills_go),
        redeemed_go=int(redeemed or 0),
        gifted_go=int(gifted or 0),
    )
