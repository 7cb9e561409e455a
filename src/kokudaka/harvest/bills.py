"""Rice bills (米手形) as supporters, farmers and towns read them after the harvest.

A supporter's bill is read in one statement with everything its view shows: the work and
its farmer, the countersigned report that sized it, the town's policy for the season
(ceiling, expiry), what is left of it (the balance of their ``bill_holder`` account for
the work) and its mint on the chain. A page of bills is one statement too.

A work's settlement (boards converted, bills issued, the rice its farmer owes, the
investments the harvest cancelled) is one statement for any number of works: the console
shows it per work of a town. The rice owed is what the bills' holders have left, the
negative of the work's bill issuance account (``bills:<work id>``), read by its unique
key.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from kokudaka.core.pagination import PageParams, paginate
from kokudaka.harvest.conversion import bill_issuance_account_key
from kokudaka.ledger.repository import MintState
from kokudaka.models import (
    DEFAULT_HARVEST_CEILING_BP,
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    Farmer,
    Investment,
    InvestmentCancellation,
    MunicipalityPolicy,
    Work,
    YieldReport,
)

__all__ = [
    "HarvestedWork",
    "SupporterBill",
    "WorkSettlement",
    "supporter_bill",
    "supporter_bills",
    "town_harvested_works",
    "work_settlements",
]


@dataclass(frozen=True, slots=True)
class SupporterBill:
    """One of a supporter's bills, with what its view shows of the work and harvest."""

    id: uuid.UUID
    created_at: datetime
    work_id: uuid.UUID
    title: str
    season: int
    variety: str
    planned_yield_go: int
    farmer_id: uuid.UUID
    farmer_name: str
    farm_name: str
    actual_yield_go: int
    actual_yield_g: int
    ceiling_bp: int
    bills_expire_on: date | None
    board_go: int
    investment_go: int
    labour_go: int
    amount_go: int
    remaining_go: int
    """The balance of the holder's bill account for the work (0 for a 0 go bill)."""
    expired_at: datetime | None
    """When the expiry job closed it; what was left then was gifted to the farmer."""
    gifted_go: int
    mint: MintState | None
    """The bill's mint on the chain; none for a 0 go bill."""


_holder_account = and_(
    Account.user_id == Bill.holder_id,
    Account.work_id == Bill.work_id,
    Account.kind == AccountKind.bill_holder,
)
_policy = and_(
    MunicipalityPolicy.municipality_id == Bill.municipality_id,
    MunicipalityPolicy.season == Bill.season,
)
_mint = and_(
    ChainOperation.bill_id == Bill.id,
    ChainOperation.asset == ChainAsset.bill,
    ChainOperation.kind == ChainOperationKind.mint,
)


def _bills(holder_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Bill.id,
            Bill.created_at,
            Work.id,
            Work.title,
            Work.season,
            Work.variety,
            Work.planned_yield_go,
            Farmer.id,
            Farmer.name,
            Farmer.farm_name,
            YieldReport.actual_yield_go,
            YieldReport.actual_yield_g,
            MunicipalityPolicy.harvest_ceiling_bp,
            MunicipalityPolicy.bills_expire_on,
            Bill.board_go,
            Bill.investment_go,
            Bill.labour_go,
            Bill.amount_go,
            Account.balance_go,
            Bill.expired_at,
            Bill.gifted_go,
            ChainOperation.state,
            ChainOperation.reference,
            ChainOperation.tx_hash,
            ChainOperation.block_number,
            ChainOperation.last_error,
        )
        .join(Work, Work.id == Bill.work_id)
        .join(Farmer, Farmer.id == Work.farmer_id)
        .join(YieldReport, YieldReport.id == Bill.yield_report_id)
        .outerjoin(MunicipalityPolicy, _policy)
        .outerjoin(Account, _holder_account)
        .outerjoin(ChainOperation, _mint)
        # The holder first: ix_bills_holder_id_id walks their bills newest first.
        .where(Bill.holder_id == holder_id)
    )


def _supporter_bill(row: Any) -> SupporterBill:
    (bill_id, created_at, work_id, title, season, variety, planned, farmer_id, farmer_name,
     farm_name, actual_go, actual_g, ceiling, expire_on, board, investment, labour, amount,
     remaining, expired_at, gifted, state, *mint) = row  # fmt: skip
    return SupporterBill(
        id=bill_id,
        created_at=created_at,
        work_id=work_id,
        title=title,
        season=season,
        variety=variety,
        planned_yield_go=planned,
        farmer_id=farmer_id,
        farmer_name=farmer_name,
        farm_name=farm_name,
        actual_yield_go=actual_go,
        actual_yield_g=actual_g,
        ceiling_bp=DEFAULT_HARVEST_CEILING_BP if ceiling is None else ceiling,
        bills_expire_on=expire_on,
        board_go=board,
        investment_go=investment,
        labour_go=labour,
        amount_go=amount,
        remaining_go=int(remaining or 0),
        expired_at=expired_at,
        gifted_go=gifted,
        mint=None if state is None else MintState(state, *mint),
    )


def supporter_bills(
    session: Session, holder_id: uuid.UUID, page: PageParams
) -> list[SupporterBill]:
    """A supporter's bills newest first, from ``page.cursor`` on: up to ``page.limit + 1``
    (the extra one tells whether another page follows). One statement."""
    rows = session.execute(paginate(_bills(holder_id), Bill.id, page)).all()
    return [_supporter_bill(row) for row in rows]


def supporter_bill(
    session: Session, holder_id: uuid.UUID, bill_id: uuid.UUID
) -> SupporterBill | None:
    """One of a supporter's bills; none when it is not theirs (or does not exist)."""
    row = session.execute(_bills(holder_id).where(Bill.id == bill_id)).first()
    return None if row is None else _supporter_bill(row)


@dataclass(frozen=True, slots=True)
class WorkSettlement:
    """What a work's harvest settled, once its bills are issued."""

    work_id: uuid.UUID
    boards_converted: int
    """Supporters whose boards became bills (one bill each, 0 go bills included)."""
    board_go: int
    bill_go: int
    """Bills issued in all."""
    outstanding_go: int
    """The rice the farmer owes: what the bills' holders have left to redeem."""
    investments_cancelled: int
    """Investments still awaiting payment when the work was harvested."""


def work_settlements(
    session: Session, work_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, WorkSettlement]:
    """The settlement of each of ``work_ids`` whose bills are issued, by work id (a work
    not harvested yet is absent). One statement, however many works."""
    if not work_ids:
        return {}
    bills = (
        select(
            Bill.work_id.label("work_id"),
            func.count(Bill.id).label("boards"),
            func.sum(Bill.board_go).label("board_go"),
            func.sum(Bill.amount_go).label("bill_go"),
        )
        .where(Bill.work_id.in_(work_ids))
        .group_by(Bill.work_id)
        .subquery()
    )
    cancelled = (
        select(Investment.work_id.label("work_id"), func.count(Investment.id).label("count"))
        .where(
            Investment.work_id.in_(work_ids),
            Investment.cancellation_reason == InvestmentCancellation.work_harvested,
        )
        .group_by(Investment.work_id)
        .subquery()
    )
    issued = (
        select(Account.work_id.label("work_id"), Account.balance_go.label("balance_go"))
        # By the unique key: one account per work, found by index.
        .where(Account.key.in_([bill_issuance_account_key(w) for w in work_ids]))
        .subquery()
    )
    rows = session.execute(
        select(
            Work.id,
            bills.c.boards,
            bills.c.board_go,
            bills.c.bill_go,
            issued.c.balance_go,
            cancelled.c.count,
        )
        .outerjoin(bills, bills.c.work_id == Work.id)
        .outerjoin(issued, issued.c.work_id == Work.id)
        .outerjoin(cancelled, cancelled.c.work_id == Work.id)
        .where(Work.id.in_(work_ids), Work.bills_issued_at.is_not(None))
    ).all()
    return {
        row[0]: WorkSettlement(
            work_id=row[0],
            boards_converted=int(row[1] or 0),
            board_go=int(row[2] or 0),
            bill_go=int(row[3] or 0),
            # The issuance account is the negative of every holder's balance of the work.
            outstanding_go=-int(row[4] or 0),
            investments_cancelled=int(row[5] or 0),
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class HarvestedWork:
    """A town's work whose bills are issued, with its settlement (the console's list)."""

    work_id: uuid.UUID
    title: str
    farmer_name: str
    planned_yield_go: int
    bills_issued_at: datetime
    settlement: WorkSettlement


def town_harvested_works(
    session: Session, municipality_id: uuid.UUID, season: int
) -> list[HarvestedWork]:
    """A town's works of ``season`` whose bills are issued, latest harvest first, each
    with its settlement. Two statements, however many works."""
    rows = session.execute(
        select(Work.id, Work.title, Farmer.name, Work.planned_yield_go, Work.bills_issued_at)
        .join(Farmer, Farmer.id == Work.farmer_id)
        .where(
            Work.municipality_id == municipality_id,
            Work.season == season,
            Work.bills_issued_at.is_not(None),
        )
        .order_by(Work.bills_issued_at.desc(), Work.id.desc())
    ).all()
    settled = work_settlements(session, [row[0] for row in rows])
    harvested: list[HarvestedWork] = []
    for work_id, title, farmer_name, planned, issued_at in rows:
        assert issued_at is not None  # the statement asks for it
        harvested.append(
            HarvestedWork(
                work_id=work_id,
                title=title,
                farmer_name=farmer_name,
                planned_yield_go=planned,
                bills_issued_at=issued_at,
                settlement=settled[work_id],
            )
        )
    return harvested
