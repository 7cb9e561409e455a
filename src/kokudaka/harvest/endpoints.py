"""The harvest: ``/v1/me/boards``, a work's harvest and its yield reports."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from kokudaka.auth.dependencies import CurrentUser, TownAdmin
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import NotFound
from kokudaka.core.pagination import Page, PageParams, next_cursor, page_params
from kokudaka.core.schemas import Amount
from kokudaka.harvest import service, yields
from kokudaka.harvest.bills import SupporterBill, supporter_bill, supporter_bills
from kokudaka.harvest.boards import supporter_boards
from kokudaka.harvest.schemas import (
    BillBoard,
    BillMint,
    BillRead,
    BoardList,
    BoardRead,
    FarmerBrief,
    HarvestRead,
    WorkBrief,
    YieldReportCreate,
    YieldReportList,
    YieldReportRead,
    YieldReportReject,
)
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON

router = APIRouter(route_class=UnitOfWorkRoute, tags=["harvest"])

Paging = Annotated[PageParams, Depends(page_params)]

_REVIEW_CONFLICTS = (
    "`yield_report_not_filed`: the report is not awaiting countersignature (countersigned, "
    "rejected or superseded); `bills_already_issued`: the work's bills are issued"
)
_REVIEW_FORBIDDEN = (
    "Not an administrator of the work's town, or `own_yield_report`: the caller filed it"
)


@router.get("/v1/me/boards", summary="My boards (米ボード, 人足ボード) per work")
def my_boards(
    session: DbSession,
    user: CurrentUser,
    season: Annotated[int | None, Query(ge=MIN_SEASON, le=MAX_SEASON, examples=[2026])] = None,
) -> BoardList:
    """The caller's boards on each work, newest work first: KOKU issued for confirmed investments
    in the work (米ボード) and for approved hours on activities naming it (人足ボード). After the
    work's harvest is countersigned they become a rice bill sized by the actual yield. KOKU from
    activities naming no work is never a board.
    """
    return BoardList(
        items=[
            BoardRead(
                work=WorkBrief(id=b.work_id, title=b.title, season=b.season, variety=b.variety),
                farmer=FarmerBrief(id=b.farmer_id, name=b.farmer_name, farm_name=b.farm_name),
                planned_yield=Amount.of(b.planned_yield_go),
                investment_board=Amount.of(b.totals.investment_go),
                labour_board=Amount.of(b.totals.labour_go),
                total=Amount.of(b.totals.total_go),
                bills_issued_at=b.bills_issued_at,
            )
            for b in supporter_boards(session, user.id, season)
        ]
    )


def _bill_read(bill: SupporterBill) -> BillRead:
    planned, actual, mint = bill.planned_yield_go, bill.actual_yield_go, bill.mint
    return BillRead(
        id=bill.id,
        work=WorkBrief(id=bill.work_id, title=bill.title, season=bill.season, variety=bill.variety),
        farmer=FarmerBrief(id=bill.farmer_id, name=bill.farmer_name, farm_name=bill.farm_name),
        planned_yield=Amount.of(planned),
        planned_yield_kg=yields.kg_of_go(planned),
        actual_yield=Amount.of(actual),
        actual_yield_kg=yields.format_kg(bill.actual_yield_g),
        ratio_bp=yields.ratio_bp(actual, planned),
        capped_ratio_bp=yields.capped_ratio_bp(actual, planned, bill.ceiling_bp),
        board=BillBoard(
            investment=Amount.of(bill.investment_go),
            labour=Amount.of(bill.labour_go),
            total=Amount.of(bill.board_go),
        ),
        amount=Amount.of(bill.amount_go),
        amount_kg=yields.kg_of_go(bill.amount_go),
        remaining=Amount.of(bill.remaining_go),
        remaining_kg=yields.kg_of_go(bill.remaining_go),
        bills_expire_on=bill.bills_expire_on,
        issued_at=bill.created_at,
        expired_at=bill.expired_at,
        gifted=Amount.of(bill.gifted_go),
        gifted_kg=yields.kg_of_go(bill.gifted_go),
        chain=(
            None
            if mint is None
            else BillMint(
                state=mint.state,
                reference=mint.reference,
                tx_hash=mint.tx_hash,
                block_number=mint.block_number,
            )
        ),
    )


@router.get("/v1/me/bills", summary="My rice bills (米手形), newest first")
def my_bills(session: DbSession, user: CurrentUser, paging: Paging) -> Page[BillRead]:
    """The caller's rice bills, newest first and paged: for each harvested work they held
    boards on, the work and its farmer, planned and actual yield, the ratio and its cap, the
    board converted, the bill and what is left of it (合 and kg), the day the town's bills
    for the season expire, and the bill's mint on the chain.
    """
    bills, cursor = next_cursor(
        supporter_bills(session, user.id, paging), paging, lambda bill: bill.id
    )
    return Page(items=[_bill_read(bill) for bill in bills], next_cursor=cursor)


@router.get(
    "/v1/me/bills/{bill_id}",
    summary="One of my rice bills",
    responses={404: {"description": "`not_found`: no bill of the caller's with this id"}},
)
def my_bill(bill_id: uuid.UUID, session: DbSession, user: CurrentUser) -> BillRead:
    """One of the caller's rice bills, as in `GET /v1/me/bills`. Anyone else's bill is not
    found, whoever asks.
    """
    bill = supporter_bill(session, user.id, bill_id)
    if bill is None:
        raise NotFound("Bill")
    return _bill_read(bill)


@router.get("/v1/works/{work_id}/harvest", summary="A work's harvest (public)")
def get_harvest(work_id: uuid.UUID, session: DbSession) -> HarvestRead:
    """A work's planned and actual yield, the harvest ratio, the town's ceiling and the capped
    ratio, with the countersigned report's evidence, who filed it, who countersigned it and when,
    and the boards issued on the work in total. Only a countersigned report counts. Once the
    bills are issued, the settlement: boards converted, bills issued, the rice the farmer owes
    (what the bills' holders have left) and the unpaid investments the harvest cancelled.
    Public.
    """
    return service.harvest_read(session, work_id)


@router.post(
    "/v1/works/{work_id}/yield-reports",
    status_code=status.HTTP_201_CREATED,
    summary="File a work's actual yield (its farmer, or their town's administrator)",
    responses={
        403: {"description": "Not this work's farmer, nor an administrator of its town"},
        409: {
            "description": "`bills_already_issued`: the work's bills are issued; "
            "`harvest_date_invalid`: the harvest date is not in the work's season, or is "
            "after today (Japan time)"
        },
    },
)
def file_yield_report(
    work_id: uuid.UUID, body: YieldReportCreate, session: DbSession, user: CurrentUser
) -> YieldReportRead:
    """File the work's actual yield of polished rice in kg (stored in 合, 150 g each, rounded
    down), the harvest date and the evidence. It awaits the countersignature of a town
    administrator who did not file it; a report still awaiting one is superseded. Corrections
    are new reports, until the work's bills are issued.
    """
    report = service.file_report(session, user, work_id, body)
    return service.report_reads(session, [report])[0]


@router.get(
    "/v1/works/{work_id}/yield-reports",
    summary="A work's yield reports (its farmer, and staff auditing its town)",
    responses={403: {"description": "Not this work's farmer, nor staff of its town or region"}},
)
def list_yield_reports(
    work_id: uuid.UUID, session: DbSession, user: CurrentUser
) -> YieldReportList:
    """Every yield report filed for the work, newest first, in every state, with who filed and
    reviewed it. For the work's farmer, its town's administrators, its region's auditors and
    platform administrators.
    """
    reports = service.list_reports(session, user, work_id)
    return YieldReportList(items=service.report_reads(session, reports))


@router.post(
    "/v1/yield-reports/{report_id}/countersign",
    summary="Countersign a yield report (a town administrator who did not file it)",
    responses={403: {"description": _REVIEW_FORBIDDEN}, 409: {"description": _REVIEW_CONFLICTS}},
)
def countersign_yield_report(
    report_id: uuid.UUID, session: DbSession, admin: TownAdmin
) -> YieldReportRead:
    """Countersign a report awaiting it: it becomes the work's actual yield, public and final,
    and replaces any report countersigned before. Logged in the staff audit log.
    """
    report = service.countersign(session, admin, report_id)
    return service.report_reads(session, [report])[0]


@router.post(
    "/v1/yield-reports/{report_id}/reject",
    summary="Reject a yield report with a reason (a town administrator who did not file it)",
    responses={403: {"description": _REVIEW_FORBIDDEN}, 409: {"description": _REVIEW_CONFLICTS}},
)
def reject_yield_report(
    report_id: uuid.UUID, body: YieldReportReject, session: DbSession, admin: TownAdmin
) -> YieldReportRead:
    """Reject a report awaiting countersignature, with a reason the farmer sees; they may file
    a new one. Logged in the staff audit log.
    """
    report = service.reject(session, admin, report_id, body.reason)
    return service.report_reads(session, [report])[0]
