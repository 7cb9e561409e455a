"""Notices before a bill expires: 30 days and 7 days before its town's date.

A bill with rice left on it (its holder's bill account) whose date is at most 30 days
away gets a ``bill_expires_in_30_days`` notice, and at most 7 days away a
``bill_expires_in_7_days`` one. The unique key on ``notices (subject_id, kind)`` makes
each one once, however often and in however many processes the job runs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.core.ids import new_id
from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    MunicipalityPolicy,
    Notice,
    NoticeKind,
    Work,
    table_of,
    utcnow,
)

__all__ = ["NOTICE_DAYS", "create_expiry_notices"]

#: Days before expiry each notice is due, and its kind.
NOTICE_DAYS: tuple[tuple[int, NoticeKind], ...] = (
    (30, NoticeKind.bill_expires_in_30_days),
    (7, NoticeKind.bill_expires_in_7_days),
)
_CHUNK = 5_000


def _insert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table_of(Notice)).on_conflict_do_nothing(
        index_elements=["subject_id", "kind"]
    )


def create_expiry_notices(session: Session, today: date) -> int:
    """Create the notices due ``today`` (a day in Japan); how many rows were offered
    (those made before are skipped by the database)."""
    horizon = today + timedelta(days=max(days for days, _ in NOTICE_DAYS))
    rows = session.execute(
        select(
            Bill.id,
            Bill.holder_id,
            Bill.work_id,
            Work.title,
            MunicipalityPolicy.bills_expire_on,
            Account.balance_go,
        )
        .join(Work, Work.id == Bill.work_id)
        .join(
            MunicipalityPolicy,
            (MunicipalityPolicy.municipality_id == Bill.municipality_id)
            & (MunicipalityPolicy.season == Bill.season),
        )
        .join(
            Account,
            (Account.work_id == Bill.work_id)
            & (Account.user_id == Bill.holder_id)
            & (Account.kind == AccountKind.bill_holder),
        )
        .where(
            Bill.expired_at.is_(None),
            MunicipalityPolicy.bills_expire_on >= today,
            MunicipalityPolicy.bills_expire_on <= horizon,
            Account.balance_go > 0,
        )
    ).all()
    now = utcnow()
    notices = [
        {
            "id": new_id(),
            "user_id": holder_id,
            "kind": kind,
            "subject_id": bill_id,
            "params": {
                "title": title,
                "expires_on": expires_on.isoformat(),
                "left_go": left,
                "work_id": str(work_id),
            },
            "read_at": None,
            "created_at": now,
        }
        for bill_id, holder_id, work_id, title, expires_on, left in rows
        if expires_on is not None
        for days, kind in NOTICE_DAYS
        if (expires_on - today).days <= days
    ]
    statement = _insert(session.connection().dialect.name)
    for start in range(0, len(notices), _CHUNK):
        session.connection().execute(statement, notices[start : start + _CHUNK])
    return len(notices)
