"""``/v1/audit``: issuances across the towns a reader may audit, and the staff audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit import service
from kokudaka.audit.log_listing import (
    StaffLogFilters,
    StaffLogPage,
    list_staff_log,
    staff_log_filters,
)
from kokudaka.audit.schemas import (
    CSV_COLUMNS,
    CSV_COLUMNS_JA,
    AuditIssuanceRead,
    IssuanceFilters,
    issuance_filters,
)
from kokudaka.auth.dependencies import Auditor
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.i18n import negotiate_language
from kokudaka.core.pagination import Page, PageParams, page_params

router = APIRouter(route_class=UnitOfWorkRoute, tags=["audit"])

Paging = Annotated[PageParams, Depends(page_params)]
Filters = Annotated[IssuanceFilters, Depends(issuance_filters)]
LogFilters = Annotated[StaffLogFilters, Depends(staff_log_filters)]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not an auditor (town administrator, regional auditor, platform "
        "administrator), or the municipality is outside the caller's scope",
        "content": {"application/problem+json": {}},
    }
}


@router.get(
    "/v1/audit/issuances",
    summary="Issuances with their chain state and names, newest first (auditors)",
    description="Town administrators see their own town, regional auditors the towns of "
    "their region, platform administrators every town. Each issuance names its town, "
    "supporter, farmer, work or activity beside the ids.",
    responses=_REFUSALS,
)
def list_issuances(
    session: DbSession, user: Auditor, filters: Filters, paging: Paging
) -> Page[AuditIssuanceRead]:
    return service.list_issuances(session, user, filters, paging)


@router.get(
    "/v1/audit/issuances/export.csv",
    summary="The same issuances as a CSV file for the town's accounting (auditors)",
    description="Opens as it is in Excel: UTF-8 with a byte order mark, CRLF, one row per "
    "issuance, newest first, times in Japan time (`YYYY-MM-DD HH:MM:SS`). Headers, kinds "
    "and chain states are Japanese by default, English with `Accept-Language: en`.",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV. Japanese columns: "
            + ", ".join(CSV_COLUMNS_JA)
            + ". English columns: "
            + ", ".join(CSV_COLUMNS),
            "content": {"text/csv": {"example": "\ufeff" + ",".join(CSV_COLUMNS_JA) + "\r\n"}},
        },
        **_REFUSALS,
    },
)
def export_issuances(
    request: Request, session: DbSession, user: Auditor, filters: Filters
) -> StreamingResponse:
    # Scope is checked now, so a refusal is a problem response, not a broken download.
    conditions = service.scoped_conditions(session, user, filters)
    # The request's session is closed before the body streams; read with fresh ones,
    # read-only, so a long export never holds the writer.
    factory: sessionmaker[Session] = request.app.state.database.read_sessions
    language = negotiate_language(request.headers.get("accept-language"))
    return StreamingResponse(
        service.export_csv(factory, conditions, language),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="issuances.csv"',
            "Content-Language": language,
        },
    )


@router.get(
    "/v1/audit/log",
    summary="The staff audit log, newest first (auditors)",
    description="Every staff action (confirming a payment, approving or rejecting hours, "
    "reversing, setting a policy, registering farmers and staff, disabling, enabling, "
    "resetting a password, unlocking, changing allowances) in the order it was taken, "
    "each row chained to the one before by `prev_hash` (SHA-256). Town administrators "
    "see their own town's rows, regional auditors those of their region's towns, "
    "platform administrators every row. `kokudaka audit verify` checks the chain and its "
    "anchors on chain.",
    responses=_REFUSALS,
)
def list_staff_actions(
    session: DbSession, user: Auditor, filters: LogFilters, paging: Paging
) -> StaffLogPage:
    return list_staff_log(session, user, filters, paging)
