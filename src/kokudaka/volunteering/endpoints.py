"""``/v1/activities`` and ``/v1/contributions``: volunteer work and its review."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, status

from kokudaka.auth.dependencies import CurrentUser, Supporter
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.core.schemas import IsoDate
from kokudaka.models import ContributionStatus
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON
from kokudaka.volunteering import service
from kokudaka.volunteering.schemas import (
    ActivityCreate,
    ActivityRead,
    ContributionApproval,
    ContributionCreate,
    ContributionListItem,
    ContributionRead,
    ContributionRejection,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["volunteering"])

Paging = Annotated[PageParams, Depends(page_params)]


def _problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an endpoint can give."""
    return {
        code: {"description": text, "content": {"application/problem+json": {}}}
        for code, text in descriptions.items()
    }


@router.get("/v1/activities", summary="Volunteer activities, newest first (public)")
def list_activities(
    session: DbSession,
    paging: Paging,
    municipality_id: Annotated[uuid.UUID | None, Query(description="Only this town.")] = None,
    farmer_id: Annotated[uuid.UUID | None, Query(description="Only this host farmer.")] = None,
    on_or_after: Annotated[
        IsoDate | None,
        Query(
            alias="from", description="Activities on or after this day.", examples=["2026-05-01"]
        ),
    ] = None,
    on_or_before: Annotated[
        IsoDate | None,
        Query(alias="to", description="Activities on or before this day.", examples=["2026-09-30"]),
    ] = None,
) -> Page[ActivityRead]:
    """Volunteer activities (rice planting, weeding, harvest, events), newest first and paged, with
    filters by town, host farmer and day. Public: no sign-in needed.
    """
    return service.list_activities(
        session,
        paging,
        municipality_id=municipality_id,
        farmer_id=farmer_id,
        on_or_after=on_or_after,
        on_or_before=on_or_before,
    )


@router.get(
    "/v1/activities/{activity_id}",
    summary="One volunteer activity (public)",
    responses=_problems({404: "No such activity"}),
)
def get_activity(activity_id: uuid.UUID, session: DbSession) -> ActivityRead:
    """One volunteer activity: when and where, its rate in 合 per hour, its capacity and the places
    left. Public.
    """
    return service.activity_reads(session, [service.get_activity(session, activity_id)])[0]


@router.post(
    "/v1/activities",
    status_code=status.HTTP_201_CREATED,
    summary="Post a volunteer activity (farmers on their farm, town administrators)",
    responses=_problems(
        {
            403: "Not a farmer or town administrator, or the host farmer is of another town",
            404: "No such host farmer, or no such work (`work_id`)",
            409: "`policy_missing`: the town has no policy for the activity's season; "
            "`rate_above_policy`: the rate is above the policy's; `boards_closed`: the "
            "activity names a work after the town's last day for boards",
            422: "Invalid body, or `activity_work_mismatch`: the work named is not the host "
            "farmer's, or not of the activity's season",
        }
    ),
)
def create_activity(body: ActivityCreate, session: DbSession, user: CurrentUser) -> ActivityRead:
    """Post a volunteer activity.

    For a farmer on their own farm, or a town administrator for their town (with a host farmer of
    the town, or none for a town event). The rate in 合 per hour may not exceed the town's
    policy for the season. Hours on an activity that names a work make a labour board
    (人足ボード) on that work.
    """
    activity = service.create_activity(session, user, body)
    return service.activity_reads(session, [activity])[0]


@router.post(
    "/v1/activities/{activity_id}/contributions",
    status_code=status.HTTP_201_CREATED,
    summary="Join an activity and log the hours worked (supporters)",
    responses=_problems(
        {
            403: "Not a supporter",
            404: "No such activity",
            409: "`already_joined`, `activity_full`, or `hours_exceed_limit`: more hours "
            "than the activity allows one person; `boards_closed`: the activity names a work "
            "and the town's last day for boards of its season has passed",
        }
    ),
)
def log_hours(
    activity_id: uuid.UUID, body: ContributionCreate, session: DbSession, supporter: Supporter
) -> ContributionRead:
    """Join a volunteer activity and log the hours worked, in quarter hours.

    For supporters. The hours wait for the host farmer's or the town's approval; only then are 合
    issued, at the activity's rate. One contribution per supporter and activity.
    """
    contribution = service.log_hours(session, supporter, activity_id, body)
    return service.contribution_read(session, contribution)


@router.get(
    "/v1/contributions",
    summary="Hours to approve or follow, newest first (farmers and staff)",
    description="A farmer sees the hours on the activities they host (with "
    "`status=pending`: what awaits their approval), a town administrator their town's, "
    "a regional auditor their region's (read-only), a platform administrator every "
    "town's. Supporters are refused: theirs are at `/v1/me/contributions`. `q` searches "
    "the supporter's name, and for staff their email.",
    responses=_problems({403: "A supporter, or a municipality outside the caller's scope"}),
)
def list_contributions(
    session: DbSession,
    user: CurrentUser,
    paging: Paging,
    status_filter: Annotated[
        ContributionStatus | None, Query(alias="status", description="Only this status.")
    ] = None,
    municipality_id: Annotated[
        uuid.UUID | None, Query(description="Only this town (within your scope).")
    ] = None,
    activity_id: Annotated[uuid.UUID | None, Query(description="Only this activity.")] = None,
    season: Annotated[
        int | None,
        Query(ge=MIN_SEASON, le=MAX_SEASON, description="Only activities of this season."),
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Words in the supporter's name or email."),
    ] = None,
) -> Page[ContributionListItem]:
    return service.list_contributions(
        session,
        user,
        paging,
        status=status_filter,
        municipality_id=municipality_id,
        activity_id=activity_id,
        season=season,
        q=q,
    )


@router.get(
    "/v1/contributions/{contribution_id}",
    summary="One contribution (its supporter, host farmer, town administrators, auditors)",
    responses=_problems({404: "No such contribution, or not visible to the caller"}),
)
def get_contribution(
    contribution_id: uuid.UUID, session: DbSession, user: CurrentUser
) -> ContributionRead:
    """One contribution (logged volunteer hours) with its review status and what was issued for it.

    Visible to its supporter, its host farmer, the town's administrators and auditors of its region;
    to anybody else it does not exist (404).
    """
    contribution, _ = service.visible_contribution(session, user, contribution_id)
    return service.contribution_read(session, contribution)


@router.post(
    "/v1/contributions/{contribution_id}/approve",
    summary="Approve logged hours and issue KOKU (host farmer or town administrator)",
    responses=_problems(
        {
            403: "`self_approval`: nobody approves their own hours",
            404: "No such contribution, or the caller does not review it",
            409: "`contribution_not_pending`, `issuance_cap_exceeded` or `policy_missing`",
        }
    ),
)
def approve_contribution(
    contribution_id: uuid.UUID,
    session: DbSession,
    user: CurrentUser,
    body: Annotated[ContributionApproval | None, Body()] = None,
) -> ContributionRead:
    """Approve logged hours and issue their KOKU: hours × the activity's rate, in 合.

    For the host farmer or the town's administrators; nobody approves their own hours. The
    contribution must still be pending; the town's yearly cap must have room.
    """
    note = body.reason if body is not None else None
    contribution = service.approve(session, user, contribution_id, note)
    return service.contribution_read(session, contribution)


@router.post(
    "/v1/contributions/{contribution_id}/reject",
    summary="Reject logged hours with a reason (host farmer or town administrator)",
    responses=_problems(
        {
            404: "No such contribution, or the caller does not review it",
            409: "`contribution_not_pending`",
        }
    ),
)
def reject_contribution(
    contribution_id: uuid.UUID,
    body: ContributionRejection,
    session: DbSession,
    user: CurrentUser,
) -> ContributionRead:
    """Reject logged hours, with a reason the supporter sees. Nothing is issued.

    For the host farmer or the town's administrators. The contribution must still be pending.
    """
    contribution = service.reject(session, user, contribution_id, body.reason)
    return service.contribution_read(session, contribution)
