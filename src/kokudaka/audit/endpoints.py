"""``/v1/audit``: issuances across the towns a reader may audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit import service
from kokudaka.audit.schemas import CSV_COLUMNS, IssuanceFilters, issuance_filters
from kokudaka.auth.dependencies import Auditor
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.ledger.schemas import IssuanceRead

router = APIRouter(route_class=UnitOfWorkRoute, tags=["audit"])

Paging = Annotated[PageParams, Depends(page_params)]
Filters = Annotated[IssuanceFilters, Depends(issuance_filters)]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not an auditor (town administrator, regional auditor, platform "
        "administrator), or the municipality is outside the caller's scope",
        "content": {"application/problem+json": {}},
    }
}


@router.get(
    "/v1/audit/issuances",
    summary="Issuances with their chain state, newest first (auditors)",
    description="Town administrators see their own town, regional auditors the towns of "
    "their region, platform administrators every town.",
    responses=_REFUSALS,
)
def list_issuances(
    session: DbSession, user: Auditor, filters: Filters, paging: Paging
) -> Page[IssuanceRead]:
    return service.list_issuances(session, user, filters, paging)


@router.get(
    "/v1/audit/issuances/export.csv",
    summary="The same issuances as a CSV download for town reports (auditors)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "UTF-8 CSV, newest first, one row per issuance. Columns: "
            + ", ".join(CSV_COLUMNS),
            "content": {"text/csv": {"example": ",".join(CSV_COLUMNS) + "\r\n"}},
        },
        **_REFUSALS,
    },
)
def export_issuances(
    request: Request, session: DbSession, user: Auditor, filters: Filters
) -> StreamingResponse:
    # Scope is checked now, so a refusal is a problem response, not a broken download.
    conditions = service.scoped_conditions(session, user, filters)
    # The request's session is closed before the body streams; read with fresh ones.
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return StreamingResponse(
        service.export_csv(factory, conditions),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="issuances.csv"'},
    )
