"""``/v1/works``: public listing of works, writes by their farmer or town."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from kokudaka.auth.dependencies import CurrentUser
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.core.schemas import QueryBool
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON
from kokudaka.works import service
from kokudaka.works.repository import WorkFilters
from kokudaka.works.schemas import WorkCreate, WorkDetail, WorkRead, WorkUpdate

router = APIRouter(route_class=UnitOfWorkRoute, tags=["works"])

Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/v1/works", summary="List works (public), newest first, with what is left on offer")
def list_works(
    session: DbSession,
    params: Paging,
    municipality_id: Annotated[uuid.UUID | None, Query(description="Only this town.")] = None,
    farmer_id: Annotated[uuid.UUID | None, Query(description="Only this farmer.")] = None,
    variety: Annotated[str | None, Query(max_length=100, examples=["コシヒカリ"])] = None,
    season: Annotated[int | None, Query(ge=MIN_SEASON, le=MAX_SEASON, examples=[2026])] = None,
    is_open: Annotated[QueryBool | None, Query(description="Only open (or closed) works.")] = None,
) -> Page[WorkRead]:
    """Works (a farmer's rice of one season), newest first and paged, with the yen subscribed and
    still on offer; filter by town, farmer, variety, season, open or closed. Public.
    """
    filters = WorkFilters(
        municipality_id=municipality_id,
        farmer_id=farmer_id,
        variety=variety,
        season=season,
        is_open=is_open,
    )
    return service.work_list(session, filters, params)


@router.post(
    "/v1/works",
    status_code=status.HTTP_201_CREATED,
    summary="Create a work (the farmer, or an administrator of the farmer's town)",
    responses={
        403: {"description": "Not this farmer, nor their town's administrator"},
        404: {"description": "`not_found`: no such farmer (`farmer_id`)"},
    },
)
def create_work(body: WorkCreate, session: DbSession, user: CurrentUser) -> WorkDetail:
    """Create a work: a season's rice on a field, its planned yield in 合 and the yen on offer to
    supporters.

    For the farmer (for themselves) or a town administrator (naming the farmer with `farmer_id`).
    """
    return service.work_detail(session, service.create_work(session, user, body))


@router.get("/v1/works/{work_id}", summary="Read a work (public), with its boards in total")
def get_work(work_id: uuid.UUID, session: DbSession) -> WorkDetail:
    """One work, with its planned yield in 合, the yen on offer, subscribed and remaining, and the
    boards issued on it in total (米ボード from investments, 人足ボード from volunteer hours; no
    supporter is named). Public."""
    return service.work_detail(session, service.get_work(session, work_id))


@router.patch(
    "/v1/works/{work_id}",
    summary="Edit a work (its farmer, or their town's administrators)",
    responses={
        403: {"description": "Not this work's farmer, nor their town's administrator"},
        409: {"description": "The offer would go below the yen already subscribed"},
    },
)
def update_work(
    work_id: uuid.UUID, body: WorkUpdate, session: DbSession, user: CurrentUser
) -> WorkDetail:
    """Edit a work; only the fields sent change.

    For its farmer or their town's administrators. The offer may not go below the yen already
    subscribed (409).
    """
    read = service.update_work(session, user, work_id, body)
    return service.work_detail(session, service.get_work(session, work_id), read)
