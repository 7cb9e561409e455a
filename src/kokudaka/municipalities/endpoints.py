"""``/v1/regions`` and ``/v1/municipalities``: public reads, platform and town writes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from kokudaka.auth.dependencies import AppSettings, CurrentUser, PlatformAdmin
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, next_cursor, page_params
from kokudaka.municipalities import service
from kokudaka.municipalities.schemas import (
    MAX_SEASON,
    MIN_SEASON,
    MunicipalityCreate,
    MunicipalityRead,
    MunicipalityUpdate,
    PolicyRead,
    PolicyUpdate,
    RegionCreate,
    RegionRead,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["municipalities"])

Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/v1/regions", summary="List regions (public)")
def list_regions(session: DbSession, params: Paging) -> Page[RegionRead]:
    """Regions (e.g. 会津), newest first and paged. Public."""
    rows = service.list_regions(session, params)
    items, cursor = next_cursor(rows, params, lambda r: r.id)
    return Page(items=[RegionRead.model_validate(r) for r in items], next_cursor=cursor)


@router.post(
    "/v1/regions",
    status_code=status.HTTP_201_CREATED,
    summary="Create a region (platform administrators)",
    responses={409: {"description": "The code is taken"}},
)
def create_region(body: RegionCreate, session: DbSession, _admin: PlatformAdmin) -> RegionRead:
    """Create a region, a group of municipalities audited together. For platform administrators; the
    code must be unused.
    """
    return RegionRead.model_validate(service.create_region(session, body))


@router.get("/v1/municipalities", summary="List municipalities (public), newest first")
def list_municipalities(
    session: DbSession,
    params: Paging,
    region_id: Annotated[uuid.UUID | None, Query(description="Only this region's towns.")] = None,
) -> Page[MunicipalityRead]:
    """Municipalities (towns), newest first and paged, optionally those of one region. Public."""
    rows = service.list_municipalities(session, params, region_id=region_id)
    items, cursor = next_cursor(rows, params, lambda m: m.id)
    return Page(items=[MunicipalityRead.model_validate(m) for m in items], next_cursor=cursor)


@router.post(
    "/v1/municipalities",
    status_code=status.HTTP_201_CREATED,
    summary="Create a municipality in a region (platform administrators)",
    responses={404: {"description": "No such region"}, 409: {"description": "Code taken"}},
)
def create_municipality(
    body: MunicipalityCreate, session: DbSession, settings: AppSettings, _admin: PlatformAdmin
) -> MunicipalityRead:
    """Create a municipality in a region, with its national municipality code. For platform
    administrators; the code must be unused in its region. The town gets its own minter key.
    """
    return MunicipalityRead.model_validate(service.create_municipality(session, settings, body))


@router.patch(
    "/v1/municipalities/{municipality_id}",
    summary="Change a municipality's name, national code or address retention (platform "
    "administrators)",
    responses={
        404: {"description": "No such municipality"},
        409: {"description": "Another town has this national code"},
    },
)
def update_municipality(
    municipality_id: uuid.UUID, body: MunicipalityUpdate, session: DbSession, _admin: PlatformAdmin
) -> MunicipalityRead:
    """The slug (``code``) and region stay; ``national_code`` is validated by its check
    digit and may be null to clear it."""
    return MunicipalityRead.model_validate(
        service.update_municipality(session, municipality_id, body)
    )


@router.get("/v1/municipalities/{municipality_id}", summary="Read a municipality (public)")
def get_municipality(municipality_id: uuid.UUID, session: DbSession) -> MunicipalityRead:
    """One municipality: its name, codes and region. Public."""
    return MunicipalityRead.model_validate(service.get_municipality(session, municipality_id))


@router.get(
    "/v1/municipalities/{municipality_id}/policy",
    summary="Read a town's policy for a season (public), with the cap used so far",
    responses={404: {"description": "No such municipality, or no policy for the season"}},
)
def get_policy(
    municipality_id: uuid.UUID,
    session: DbSession,
    season: Annotated[
        int | None,
        Query(
            ge=MIN_SEASON,
            le=MAX_SEASON,
            description="Defaults to the current year in Japan (Asia/Tokyo).",
            examples=[2026],
        ),
    ] = None,
) -> PolicyRead:
    """A town's policy for a season: price in yen per 合, 合 per volunteer hour, yearly issuance cap
    in 合, and the part of the cap used so far. Public.
    """
    policy = service.get_policy(session, municipality_id, season or service.current_season())
    return service.policy_read(session, policy)


@router.put(
    "/v1/municipalities/{municipality_id}/policy",
    summary="Set a town's policy for a season (its administrators or platform administrators)",
    responses={
        200: {"description": "The season's policy was replaced"},
        201: {"description": "The season's policy was created"},
        403: {"description": "Not an administrator of this town"},
        409: {
            "description": "`cap_below_committed`: the cap would go below what is issued "
            "plus what investments awaiting payment have reserved; "
            "`bills_expire_before_boards_close`: bills would expire before boards close"
        },
    },
)
def put_policy(
    municipality_id: uuid.UUID,
    body: PolicyUpdate,
    session: DbSession,
    user: CurrentUser,
    response: Response,
) -> PolicyRead:
    """Create or replace a town's policy for a season.

    For the town's administrators and platform administrators. Answers 201 when the season had no
    policy yet, 200 when it was replaced. The harvest's rules come with it: the ratio's ceiling
    (basis points, default 12000 = 120%), the day bills expire and the last day boards are
    accepted (left out, they return to their defaults). Issuances already made keep the rate they
    used; the cap may not go below what is issued and reserved.
    """
    policy, created = service.put_policy(session, user, municipality_id, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return service.policy_read(session, policy)
