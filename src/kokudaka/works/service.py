"""Works and what is subscribed to them. Services flush; the request commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.schemas import Amount
from kokudaka.farmers.service import get_farmer, is_town_admin_of
from kokudaka.harvest.boards import work_board_totals
from kokudaka.harvest.schemas import BoardsTotal
from kokudaka.models import Farmer, Investment, InvestmentStatus, Role, Work
from kokudaka.works.repository import WorkFilters, WorkRow, work_page
from kokudaka.works.schemas import WorkCreate, WorkDetail, WorkRead, WorkUpdate


def subscribed_yen_by_work(session: Session, work_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Yen of the investments that are not cancelled, per work, in one grouped query."""
    if not work_ids:
        return {}
    rows = session.execute(
        select(Investment.work_id, func.sum(Investment.amount_yen))
        .where(
            Investment.work_id.in_(list(work_ids)),
            Investment.status != InvestmentStatus.cancelled,
        )
        .group_by(Investment.work_id)
    ).all()
    return {work_id: int(total) for work_id, total in rows}


def work_reads(session: Session, works: Sequence[Work]) -> list[WorkRead]:
    subscribed = subscribed_yen_by_work(session, [w.id for w in works])
    return [_read(work, subscribed.get(work.id, 0)) for work in works]


def _read(work: Work | WorkRow, subscribed_yen: int) -> WorkRead:
    return WorkRead(
        id=work.id,
        farmer_id=work.farmer_id,
        municipality_id=work.municipality_id,
        season=work.season,
        title=work.title,
        variety=work.variety,
        description=work.description,
        field_area_m2=work.field_area_m2,
        planned_yield=Amount.of(work.planned_yield_go),
        offer_yen=work.offer_yen,
        subscribed_yen=subscribed_yen,
        remaining_yen=max(work.offer_yen - subscribed_yen, 0),
        is_open=work.is_open,
        created_at=work.created_at,
        updated_at=work.updated_at,
    )


def work_read(session: Session, work: Work) -> WorkRead:
    return work_reads(session, [work])[0]


def work_detail(session: Session, work: Work, read: WorkRead | None = None) -> WorkDetail:
    """A work with the boards issued on it in total: no supporter is named. ``read``:
    the work's plain read model, when the caller has it already."""
    totals = work_board_totals(session, work.id)
    boards = BoardsTotal(
        investment=Amount.of(totals.investment_go),
        labour=Amount.of(totals.labour_go),
        total=Amount.of(totals.total_go),
    )
    return WorkDetail(
        **dict(read or work_read(session, work)),
        boards=boards,
        bills_issued_at=work.bills_issued_at,
    )


def get_work(session: Session, work_id: uuid.UUID) -> Work:
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound("Work")
    return work


def work_list(session: Session, filters: WorkFilters, page: PageParams) -> Page[WorkRead]:
    """A page of works, newest first, each with the yen subscribed and still on offer."""
    rows, cursor = next_cursor(work_page(session, filters, page), page, lambda row: row.id)
    return Page(items=[_read(row, row.subscribed_yen) for row in rows], next_cursor=cursor)


def list_works(
    session: Session,
    params: PageParams,
    *,
    municipality_id: uuid.UUID | None,
    farmer_id: uuid.UUID | None,
    variety: str | None,
    season: int | None,
    is_open: bool | None,
) -> Sequence[Work]:
    statement = select(Work)
    if municipality_id is not None:
        statement = statement.where(Work.municipality_id == municipality_id)
    if farmer_id is not None:
        statement = statement.where(Work.farmer_id == farmer_id)
    if variety:
        statement = statement.where(Work.variety == variety)
    if season is not None:
        statement = statement.where(Work.season == season)
    if is_open is not None:
        statement = statement.where(Work.is_open == is_open)
    return session.scalars(paginate(statement, Work.id, params)).all()


def _farmer_for_new_work(session: Session, actor: Caller, farmer_id: uuid.UUID | None) -> Farmer:
    if actor.role is Role.farmer:
        own = farmer_profile_of(session, actor)
        if own is None:
            raise Forbidden()
        if farmer_id is not None and farmer_id != own.id:
            raise Forbidden()
        return own
    if actor.role is Role.town_admin:
        if farmer_id is None:
            raise Unprocessable("farmer_id_required")
        farmer = get_farmer(session, farmer_id)
        if not is_town_admin_of(actor, farmer.municipality_id):
            raise Forbidden()
        return farmer
    raise Forbidden()


def create_work(session: Session, actor: Caller, body: WorkCreate) -> Work:
    farmer = _farmer_for_new_work(session, actor, body.farmer_id)
    work = Work(
        farmer_id=farmer.id,
        municipality_id=farmer.municipality_id,
        season=body.season,
        title=body.title,
        variety=body.variety,
        description=body.description,
        field_area_m2=body.field_area_m2,
        planned_yield_go=body.planned_yield_go,
        offer_yen=body.offer_yen,
        is_open=body.is_open,
    )
    session.add(work)
    session.flush()
    return work


def may_edit_work(session: Session, user: Caller, work: Work) -> bool:
    if is_town_admin_of(user, work.municipality_id):
        return True
    own = farmer_profile_of(session, user)
    return own is not None and own.id == work.farmer_id


def update_work(session: Session, actor: Caller, work_id: uuid.UUID, body: WorkUpdate) -> WorkRead:
    work = get_work(session, work_id)
    if not may_edit_work(session, actor, work):
        raise Forbidden()
    changes = body.model_dump(exclude_unset=True)
    if "offer_yen" in changes:
        # Investments lock the work to check the offer; taking the same lock here means
        # no investment can slip in between this check and the new offer.
        session.execute(select(Work.id).where(Work.id == work.id).with_for_update(key_share=True))
    subscribed = subscribed_yen_by_work(session, [work.id]).get(work.id, 0)
    if "offer_yen" in changes and changes["offer_yen"] < subscribed:
        raise Conflict("offer_below_subscribed", subscribed_yen=subscribed)
    for name, value in changes.items():
        setattr(work, name, value)
    session.flush()
    return _read(work, subscribed)
