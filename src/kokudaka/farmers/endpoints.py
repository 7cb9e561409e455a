"""``/v1/farmers``: public profiles, registration by the town, the support ledger."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from kokudaka.auth.dependencies import AppSettings, CurrentUser, TownAdmin
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, next_cursor, page_params
from kokudaka.farmers import service
from kokudaka.farmers.schemas import FarmerCreate, FarmerLedgerPage, FarmerRead, FarmerUpdate
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON

router = APIRouter(route_class=UnitOfWorkRoute, tags=["farmers"])

Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/v1/farmers", summary="List farmers (public), newest first")
def list_farmers(
    session: DbSession,
    params: Paging,
    municipality_id: Annotated[uuid.UUID | None, Query(description="Only this town.")] = None,
    variety: Annotated[
        str | None,
        Query(
            max_length=50, description="Only farmers growing this variety.", examples=["コシヒカリ"]
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Words in the farmer's or the farm's name."),
    ] = None,
) -> Page[FarmerRead]:
    """Farmers (artists) with their public profiles, newest first and paged; filter by town, variety
    or name. Public.
    """
    rows = service.list_farmers(
        session, params, municipality_id=municipality_id, variety=variety, q=q
    )
    items, cursor = next_cursor(rows, params, lambda f: f.id)
    return Page(items=[FarmerRead.model_validate(f) for f in items], next_cursor=cursor)


@router.post(
    "/v1/farmers",
    status_code=status.HTTP_201_CREATED,
    summary="Register a farmer of your town: their account and profile (town administrators)",
    responses={409: {"description": "The email is taken"}},
)
def create_farmer(
    body: FarmerCreate, session: DbSession, settings: AppSettings, admin: TownAdmin
) -> FarmerRead:
    """Register a farmer of the caller's town: their account (email, password) and public profile in
    one step.

    For town administrators. The farmer gets a custodial wallet and signs in with the email and
    password given.
    """
    return FarmerRead.model_validate(service.create_farmer(session, settings, admin, body))


@router.get("/v1/farmers/{farmer_id}", summary="Read a farmer's profile (public)")
def get_farmer(farmer_id: uuid.UUID, session: DbSession) -> FarmerRead:
    """A farmer's public profile: name, farm, story, varieties grown. Public."""
    return FarmerRead.model_validate(service.get_farmer(session, farmer_id))


@router.patch(
    "/v1/farmers/{farmer_id}",
    summary="Edit a farmer's profile (the farmer, or their town's administrators)",
    responses={403: {"description": "Neither the farmer nor their town's administrator"}},
)
def update_farmer(
    farmer_id: uuid.UUID, body: FarmerUpdate, session: DbSession, user: CurrentUser
) -> FarmerRead:
    """Edit a farmer's public profile; only the fields sent change.

    For the farmer themselves or their town's administrators.
    """
    return FarmerRead.model_validate(service.update_farmer(session, user, farmer_id, body))


@router.get(
    "/v1/farmers/{farmer_id}/ledger",
    summary="A farmer's support ledger: who supported what, and what was issued for it",
    description=(
        "Readable by the farmer, their town's administrators, auditors of their region "
        "and platform administrators. Newest first, with the totals (yen, KOKU, hours, "
        "supporters) of everything the filters select, reversed issuances left out."
    ),
    responses={403: {"description": "No access to this farmer's ledger"}},
)
def support_ledger(
    farmer_id: uuid.UUID,
    session: DbSession,
    user: CurrentUser,
    params: Paging,
    work_id: Annotated[uuid.UUID | None, Query(description="Only this work's support.")] = None,
    season: Annotated[
        int | None,
        Query(ge=MIN_SEASON, le=MAX_SEASON, description="Only this season.", examples=[2026]),
    ] = None,
) -> FarmerLedgerPage:
    farmer = service.readable_ledger_farmer(session, user, farmer_id)
    rows = service.support_ledger(session, farmer, params, work_id=work_id, season=season)
    items, cursor = next_cursor(rows, params, lambda item: item.issuance_id)
    totals = service.support_ledger_totals(session, farmer, work_id=work_id, season=season)
    return FarmerLedgerPage(items=items, next_cursor=cursor, totals=totals)
