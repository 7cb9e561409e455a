"""The investment list for staff and farmers: a town's payments to confirm, a farmer's
supporters, a region's audit, with filters and cursor paging."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.scope import list_scope, town_conditions
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.investments.schemas import InvestmentListItem
from kokudaka.investments.service import read_fields
from kokudaka.ledger.schemas import issuance_reads
from kokudaka.models import Investment, InvestmentStatus, Issuance, User, Work


@dataclass(frozen=True)
class InvestmentFilters:
    status: InvestmentStatus | None = None
    municipality_id: uuid.UUID | None = None
    work_id: uuid.UUID | None = None
    season: int | None = None
    q: str | None = None
    """Words in the supporter's display name, or (staff only) their email."""


def list_investments(
    session: Session, caller: Caller, filters: InvestmentFilters, page: PageParams
) -> Page[InvestmentListItem]:
    """Newest first. Town administrators see their town's investments, regional
    auditors their region's, platform administrators all, a farmer those in their own
    works; supporters are refused (theirs are at ``/v1/me/investments``). Supporters'
    emails are shown to staff, never to farmers."""
    scope = list_scope(session, caller)
    is_staff = scope.farmer_id is None
    conditions: list[ColumnElement[bool]] = town_conditions(
        scope, Investment.municipality_id, filters.municipality_id
    )
    if scope.farmer_id is not None:
        conditions.append(Work.farmer_id == scope.farmer_id)
    if filters.status is not None:
        conditions.append(Investment.status == filters.status)
    if filters.work_id is not None:
        conditions.append(Investment.work_id == filters.work_id)
    if filters.season is not None:
        conditions.append(Work.season == filters.season)
    if filters.q:
        matches = User.display_name.icontains(filters.q, autoescape=True)
        if is_staff:
            matches = matches | User.email.icontains(filters.q, autoescape=True)
        conditions.append(matches)
    statement = (
        select(Investment, User.display_name, User.email, Work.title, Work.season)
        .join(User, User.id == Investment.supporter_id)
        .join(Work, Work.id == Investment.work_id)
        .where(*conditions)
    )
    rows, cursor = next_cursor(
        session.execute(paginate(statement, Investment.id, page)).all(),
        page,
        lambda row: row[0].id,
    )
    confirmed = [row[0].id for row in rows if row[0].status is InvestmentStatus.confirmed]
    issued = (
        session.scalars(select(Issuance).where(Issuance.investment_id.in_(confirmed))).all()
        if confirmed
        else []
    )
    issuance_by_investment = {read.investment_id: read for read in issuance_reads(session, issued)}
    items = [
        InvestmentListItem(
            **read_fields(investment, issuance_by_investment.get(investment.id)),
            supporter_name=name,
            supporter_email=email if is_staff else None,
            work_title=title,
            season=season,
        )
        for investment, name, email, title, season in rows
    ]
    return Page(items=items, next_cursor=cursor)
