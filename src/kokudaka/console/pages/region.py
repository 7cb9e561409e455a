"""The regional auditor's pages: the region at a glance, and a read-only look into
each town. Platform administrators see every town here.

The towns shown are those the caller may audit (``audited_municipality_ids``, the
API's rule); any other town's page does not exist for them (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kokudaka.audit import service as audit
from kokudaka.audit.schemas import IssuanceFilters
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.console import population, stats
from kokudaka.console.web import (
    ConsolePage,
    ConsoleRoute,
    open_page,
    parse_id,
    parse_int,
    season_choices,
)
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden, NotFound
from kokudaka.core.pagination import PageParams
from kokudaka.models import Municipality, Role
from kokudaka.municipalities import service as municipalities

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]


def _region_page(request: Request, session: Session) -> tuple[ConsolePage, list[Municipality]]:
    page = open_page(request, session)
    caller = page.signed_in.caller
    if caller.role not in (Role.regional_auditor, Role.platform_admin):
        raise Forbidden()
    scope = audited_municipality_ids(session, caller)
    statement = select(Municipality).order_by(Municipality.name)
    if scope is not None:
        statement = statement.where(Municipality.id.in_(scope))
    return page, list(session.scalars(statement))


@router.get("/console/region")
def region(request: Request, session: DbSession, season: Text = "") -> Response:
    page, towns = _region_page(request, session)
    chosen = parse_int(season) or municipalities.current_season()
    rows = stats.town_rows(session, towns, chosen)
    issued, cap_used = stats.region_charts(rows)
    return page.render(
        "region/overview.html",
        season=chosen,
        seasons=season_choices(chosen),
        rows=rows,
        issued_chart=issued,
        cap_chart=cap_used,
        reconciliations={
            row.municipality_id: stats.last_reconciliation(request.app, [row.municipality_id])
            for row in rows
        },
        **population.page_context(session, [town.id for town in towns], chosen),
    )


@router.get("/console/region/towns/{municipality_id}")
def town(request: Request, session: DbSession, municipality_id: str, season: Text = "") -> Response:
    """One town, read-only: its season, charts and latest issuances."""
    page, towns = _region_page(request, session)
    wanted = parse_id(municipality_id)
    chosen_town = next((town for town in towns if town.id == wanted), None)
    if chosen_town is None:
        raise NotFound("Municipality")
    chosen = parse_int(season) or municipalities.current_season()
    row = stats.town_rows(session, [chosen_town], chosen)[0]
    weekly = stats.town_weekly(session, [chosen_town.id], chosen)
    latest = audit.list_issuances(
        session,
        page.signed_in.caller,
        IssuanceFilters(municipality_id=chosen_town.id, season=chosen),
        PageParams(limit=50, cursor=None),
    )
    return page.render(
        "region/town.html",
        town=chosen_town,
        row=row,
        season=chosen,
        seasons=season_choices(chosen),
        weekly=weekly.as_chart(),
        by_kind=stats.by_kind_chart(weekly),
        rows=latest.items,
        chain=stats.chain_states(session, [chosen_town.id]),
        last_reconciliation=stats.last_reconciliation(request.app, [chosen_town.id]),
        **population.page_context(session, [chosen_town.id], chosen),
    )
