"""Boards (米ボード, 人足ボード): what each supporter holds on a work, read from issuances.

A supporter's boards on a work are the standing (not reversed) issuances to them that
name the work: investment issuances (confirmed investments in it) and contribution
issuances for approved hours on activities naming it (``Issuance.work_id`` is set from
``Activity.work_id`` when the hours are approved). KOKU issued for activities naming no
work has no ``work_id`` and is never a board. Read through the index on
``issuances (work_id, recipient_id)``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kokudaka.core.errors import Conflict
from kokudaka.harvest.yields import japan_today
from kokudaka.models import Farmer, Issuance, IssuanceKind, MunicipalityPolicy, Work

_STANDING = Issuance.reversal_entry_id.is_(None)
_INVESTMENT_GO = func.coalesce(
    func.sum(case((Issuance.kind == IssuanceKind.investment, Issuance.amount_go), else_=0)), 0
)
_LABOUR_GO = func.coalesce(
    func.sum(case((Issuance.kind == IssuanceKind.contribution, Issuance.amount_go), else_=0)), 0
)


@dataclass(frozen=True, slots=True)
class BoardTotals:
    """Go of boards of each kind."""

    investment_go: int
    labour_go: int

    @property
    def total_go(self) -> int:
        return self.investment_go + self.labour_go


@dataclass(frozen=True, slots=True)
class Board:
    """One supporter's boards on one work (what the harvest conversion turns into a
    bill)."""

    recipient_id: uuid.UUID
    investment_go: int
    labour_go: int

    @property
    def total_go(self) -> int:
        return self.investment_go + self.labour_go


@dataclass(frozen=True, slots=True)
class SupporterBoard:
    """A supporter's boards on one work, with what a list shows of the work."""

    work_id: uuid.UUID
    title: str
    season: int
    variety: str
    planned_yield_go: int
    bills_issued_at: datetime | None
    farmer_id: uuid.UUID
    farmer_name: str
    farm_name: str
    totals: BoardTotals


def work_board_totals(session: Session, work_id: uuid.UUID) -> BoardTotals:
    """All boards issued on a work, every supporter together."""
    row = session.execute(
        select(_INVESTMENT_GO, _LABOUR_GO).where(Issuance.work_id == work_id, _STANDING)
    ).one()
    return BoardTotals(investment_go=int(row[0]), labour_go=int(row[1]))


def work_boards(session: Session, work_id: uuid.UUID) -> list[Board]:
    """Each supporter's boards on a work, by supporter id."""
    rows = session.execute(
        select(Issuance.recipient_id, _INVESTMENT_GO, _LABOUR_GO)
        .where(Issuance.work_id == work_id, _STANDING)
        .group_by(Issuance.recipient_id)
        .order_by(Issuance.recipient_id)
    ).all()
    return [Board(recipient_id=r[0], investment_go=int(r[1]), labour_go=int(r[2])) for r in rows]


def supporter_boards(
    session: Session, user_id: uuid.UUID, season: int | None = None
) -> list[SupporterBoard]:
    """A supporter's boards per work, newest work first."""
    sums = (
        select(
            Issuance.work_id.label("work_id"),
            _INVESTMENT_GO.label("investment_go"),
            _LABOUR_GO.label("labour_go"),
        )
        .where(Issuance.recipient_id == user_id, Issuance.work_id.is_not(None), _STANDING)
        .group_by(Issuance.work_id)
        .subquery()
    )
    statement = (
        select(
            Work.id,
            Work.title,
            Work.season,
            Work.variety,
            Work.planned_yield_go,
            Work.bills_issued_at,
            Farmer.id,
            Farmer.name,
            Farmer.farm_name,
            sums.c.investment_go,
            sums.c.labour_go,
        )
        .join(sums, sums.c.work_id == Work.id)
        .join(Farmer, Farmer.id == Work.farmer_id)
        .order_by(Work.id.desc())
    )
    if season is not None:
        statement = statement.where(Work.season == season)
    return [
        SupporterBoard(
            work_id=row[0],
            title=row[1],
            season=row[2],
            variety=row[3],
            planned_yield_go=row[4],
            bills_issued_at=row[5],
            farmer_id=row[6],
            farmer_name=row[7],
            farm_name=row[8],
            totals=BoardTotals(investment_go=int(row[9]), labour_go=int(row[10])),
        )
        for row in session.execute(statement)
    ]


def boards_close_on(session: Session, municipality_id: uuid.UUID, season: int) -> date | None:
    """The last day boards are accepted for a town's works of a season, if it set one."""
    return session.scalar(
        select(MunicipalityPolicy.boards_close_on).where(
            MunicipalityPolicy.municipality_id == municipality_id,
            MunicipalityPolicy.season == season,
        )
    )


def refuse_closed_boards(close_on: date | None, season: int, day: date | None = None) -> None:
    """Refuse a new board (an investment, hours on an activity naming a work) for a work
    of ``season`` after the town's last day for boards (``day``: today in Japan)."""
    if close_on is not None and (day or japan_today()) > close_on:
        raise Conflict("boards_closed", season=season, closed_on=close_on.isoformat())


def board_work(session: Session, work_id: uuid.UUID | None) -> uuid.UUID | None:
    """The work approved hours are a labour board on: ``work_id``, the one their activity names,
    unless its harvest is settled already. Its bills are sized and issued, so such hours
    earn plain KOKU, like a town event's. The work's row is locked (as the harvest's
    conversion locks it), so the hours are either converted with the work or not a board."""
    if work_id is None:
        return None
    harvested = session.scalar(
        select(Work.bills_issued_at).where(Work.id == work_id).with_for_update(key_share=True)
    )
    return None if harvested is not None else work_id
