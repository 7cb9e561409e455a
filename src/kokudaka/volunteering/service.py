"""Activities, logging hours and reviewing them; approval issues KOKU via the ledger.

Capacity holds under concurrency because joining locks the activity row first (and on
SQLite every transaction holds the write lock from its start); a review locks the
contribution row, so one contribution is never approved twice or both approved and
rejected. Reviewing issues through :func:`kokudaka.ledger.service.issue`, whose
idempotency key ``contribution:<id>`` is a second guard against double issuance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audits_municipality, farmer_profile_of
from kokudaka.auth.scope import list_scope, town_conditions
from kokudaka.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.schemas import Amount
from kokudaka.harvest.boards import board_work, boards_close_on, refuse_closed_boards
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.schemas import issuance_reads
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import (
    Activity,
    Contribution,
    ContributionStatus,
    Farmer,
    Issuance,
    IssuanceKind,
    MunicipalityPolicy,
    Role,
    StaffAction,
    User,
    Work,
    utcnow,
)
from kokudaka.volunteering.schemas import (
    MINUTES_PER_HOUR,
    ActivityBrief,
    ActivityCreate,
    ActivityRead,
    ContributionCreate,
    ContributionListItem,
    ContributionRead,
    format_hours,
    hours_to_minutes,
)

# Activities -------------------------------------------------------------------------


def _host_and_town(
    session: Session, actor: Caller, farmer_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, uuid.UUID]:
    """Who hosts a new activity and in which town, from who is posting it."""
    if actor.role is Role.farmer:
        farmer = farmer_profile_of(session, actor)
        if farmer is None or (farmer_id is not None and farmer_id != farmer.id):
            raise Forbidden()
        return farmer.id, farmer.municipality_id
    if actor.role is Role.town_admin and actor.municipality_id is not None:
        if farmer_id is None:
            return None, actor.municipality_id
        host = session.get(Farmer, farmer_id)
        if host is None:
            raise NotFound("Farmer")
        if host.municipality_id != actor.municipality_id:
            raise Forbidden()
        return host.id, actor.municipality_id
    raise Forbidden()


def _check_named_work(
    session: Session, work_id: uuid.UUID, farmer_id: uuid.UUID | None, season: int
) -> None:
    """An activity names only a work of its host farmer and of its own season, and only
    while the town still accepts boards for that season."""
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound("Work")
    if work.farmer_id != farmer_id or work.season != season:
        raise Unprocessable("activity_work_mismatch")
    refuse_closed_boards(boards_close_on(session, work.municipality_id, season), season)


def create_activity(session: Session, actor: Caller, body: ActivityCreate) -> Activity:
    farmer_id, municipality_id = _host_and_town(session, actor, body.farmer_id)
    season = body.activity_on.year
    policy_rate = session.scalar(
        select(MunicipalityPolicy.volunteer_go_per_hour).where(
            MunicipalityPolicy.municipality_id == municipality_id,
            MunicipalityPolicy.season == season,
        )
    )
    if policy_rate is None:
        raise Conflict("policy_missing", season=season)
    if body.work_id is not None:
        _check_named_work(session, body.work_id, farmer_id, season)
    go_per_hour = policy_rate if body.go_per_hour is None else body.go_per_hour
    if go_per_hour > policy_rate:
        # A rule of the town's policy as it stands (like policy_missing), not of the body.
        raise Conflict("rate_above_policy", go_per_hour=go_per_hour, policy_rate=policy_rate)
    activity = Activity(
        municipality_id=municipality_id,
        farmer_id=farmer_id,
        work_id=body.work_id,
        created_by_id=actor.id,
        title=body.title,
        description=body.description,
        activity_on=body.activity_on,
        place=body.place,
        go_per_hour=go_per_hour,
        capacity=body.capacity,
        max_minutes_per_person=hours_to_minutes(body.max_hours_per_person),
    )
    session.add(activity)
    session.flush()
    return activity


_COUNTED = Contribution.status != ContributionStatus.rejected
"""A rejected contribution gives its place back; pending and approved ones hold it."""


def participants_by_activity(
    session: Session, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not activity_ids:
        return {}
    rows = session.execute(
        select(Contribution.activity_id, func.count())
        .where(Contribution.activity_id.in_(list(activity_ids)), _COUNTED)
        .group_by(Contribution.activity_id)
    ).all()
    return {activity_id: int(count) for activity_id, count in rows}


def activity_reads(session: Session, activities: Sequence[Activity]) -> list[ActivityRead]:
    counts = participants_by_activity(session, [a.id for a in activities])
    return [
        ActivityRead(
            id=a.id,
            municipality_id=a.municipality_id,
            farmer_id=a.farmer_id,
            work_id=a.work_id,
            created_by_id=a.created_by_id,
            title=a.title,
            description=a.description,
            activity_on=a.activity_on,
            place=a.place,
            go_per_hour=a.go_per_hour,
            capacity=a.capacity,
            max_hours_per_person=format_hours(a.max_minutes_per_person),
            participants=counts.get(a.id, 0),
            remaining_capacity=max(a.capacity - counts.get(a.id, 0), 0),
            created_at=a.created_at,
        )
        for a in activities
    ]


def list_activities(
    session: Session,
    page: PageParams,
    *,
    municipality_id: uuid.UUID | None = None,
    farmer_id: uuid.UUID | None = None,
    on_or_after: date | None = None,
    on_or_before: date | None = None,
) -> Page[ActivityRead]:
    conditions: list[ColumnElement[bool]] = []
    if municipality_id is not None:
        conditions.append(Activity.municipality_id == municipality_id)
    if farmer_id is not None:
        conditions.append(Activity.farmer_id == farmer_id)
    if on_or_after is not None:
        conditions.append(Activity.activity_on >= on_or_after)
    if on_or_before is not None:
        conditions.append(Activity.activity_on <= on_or_before)
    statement = paginate(select(Activity).where(*conditions), Activity.id, page)
    rows, cursor = next_cursor(session.scalars(statement).all(), page, lambda a: a.id)
    return Page(items=activity_reads(session, rows), next_cursor=cursor)


def get_activity(session: Session, activity_id: uuid.UUID) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("Activity")
    return activity


# Contributions ----------------------------------------------------------------------


def issuable_go(activity: Activity, minutes: int) -> int:
    """Go for approved minutes at the activity's rate, rounded down to whole go."""
    return activity.go_per_hour * minutes // MINUTES_PER_HOUR


def log_hours(
    session: Session, supporter: Caller, activity_id: uuid.UUID, body: ContributionCreate
) -> Contribution:
    """Join an activity and log hours. The caller checks that ``supporter`` is one."""
    activity = session.scalar(
        select(Activity).where(Activity.id == activity_id).with_for_update(key_share=True)
    )
    if activity is None:
        raise NotFound("Activity")
    minutes = hours_to_minutes(body.hours)
    if minutes > activity.max_minutes_per_person:
        # A rule of this activity (like activity_full), not of the body.
        raise Conflict(
            "hours_exceed_limit", max_hours=format_hours(activity.max_minutes_per_person)
        )
    joined = session.scalar(
        select(Contribution.id).where(
            Contribution.activity_id == activity.id, Contribution.supporter_id == supporter.id
        )
    )
    if joined is not None:
        raise Conflict("already_joined")
    if activity.work_id is not None:
        # Hours on an activity naming a work are a labour board on it.
        season = activity.activity_on.year
        refuse_closed_boards(boards_close_on(session, activity.municipality_id, season), season)
    taken = session.scalar(
        select(func.count())
        .select_from(Contribution)
        .where(Contribution.activity_id == activity.id, _COUNTED)
    )
    if (taken or 0) >= activity.capacity:
        raise Conflict("activity_full")
    contribution = Contribution(
        activity_id=activity.id,
        supporter_id=supporter.id,
        minutes=minutes,
        status=ContributionStatus.pending,
    )
    session.add(contribution)
    session.flush()
    return contribution


def _hosts(session: Session, user: Caller, activity: Activity) -> bool:
    if user.role is not Role.farmer or activity.farmer_id is None:
        return False
    farmer = farmer_profile_of(session, user)
    return farmer is not None and farmer.id == activity.farmer_id


def _reviews(session: Session, user: Caller, activity: Activity) -> bool:
    """The host farmer and the town's administrators review an activity's hours."""
    if user.role is Role.town_admin and user.municipality_id == activity.municipality_id:
        return True
    return _hosts(session, user, activity)


def visible_contribution(
    session: Session, user: Caller, contribution_id: uuid.UUID
) -> tuple[Contribution, Activity]:
    """A contribution as seen by its supporter, its host farmer or its town's auditors;
    anyone else is told it does not exist."""
    contribution = session.get(Contribution, contribution_id)
    if contribution is not None:
        activity = session.get(Activity, contribution.activity_id)
        assert activity is not None
        if (
            contribution.supporter_id == user.id
            or _hosts(session, user, activity)
            or audits_municipality(session, user, activity.municipality_id)
        ):
            return contribution, activity
    raise NotFound("Contribution")


def _locked_for_review(
    session: Session, actor: Caller, contribution_id: uuid.UUID
) -> tuple[Contribution, Activity]:
    contribution = session.scalar(
        select(Contribution)
        .where(Contribution.id == contribution_id)
        .with_for_update(key_share=True)
    )
    if contribution is not None:
        activity = session.get(Activity, contribution.activity_id)
        assert activity is not None
        if _reviews(session, actor, activity):
            return contribution, activity
    raise NotFound("Contribution")


def _require_pending(contribution: Contribution) -> None:
    if contribution.status is not ContributionStatus.pending:
        raise Conflict("contribution_not_pending", status=contribution.status.value)


def _memo(activity: Activity, contribution: Contribution, note: str | None) -> Memo:
    params: dict[str, object] = {
        "hours": str(format_hours(contribution.minutes)),
        "go_per_hour": activity.go_per_hour,
        "activity_on": activity.activity_on.isoformat(),
        "title": activity.title,
    }
    if note:
        params["note"] = note
    return Memo("contribution", params)


def approve(
    session: Session, actor: Caller, contribution_id: uuid.UUID, note: str | None = None
) -> Contribution:
    contribution, activity = _locked_for_review(session, actor, contribution_id)
    if contribution.supporter_id == actor.id:
        raise Forbidden("self_approval")
    _require_pending(contribution)
    amount_go = issuable_go(activity, contribution.minutes)
    board_of = board_work(session, activity.work_id)
    if amount_go > 0:
        issue(
            session,
            municipality_id=activity.municipality_id,
            season=activity.activity_on.year,
            recipient_id=contribution.supporter_id,
            amount_go=amount_go,
            cause=IssuanceCause(
                kind=IssuanceKind.contribution,
                idempotency_key=f"contribution:{contribution.id}",
                memo=_memo(activity, contribution, note),
                farmer_id=activity.farmer_id,
                work_id=board_of,
                activity_id=activity.id,
                contribution_id=contribution.id,
                go_per_hour=activity.go_per_hour,
            ),
            actor_id=actor.id,
        )
    contribution.status = ContributionStatus.approved
    contribution.reviewed_by_id = actor.id
    contribution.reviewed_at = utcnow()
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.contribution_approve,
        object_type="contribution",
        object_id=contribution.id,
        data={"note": note, "minutes": contribution.minutes, "amount_go": amount_go},
        municipality_id=activity.municipality_id,
    )
    return contribution


def reject(
    session: Session, actor: Caller, contribution_id: uuid.UUID, reason: str
) -> Contribution:
    contribution, activity = _locked_for_review(session, actor, contribution_id)
    _require_pending(contribution)
    contribution.status = ContributionStatus.rejected
    contribution.rejection_reason = reason
    contribution.reviewed_by_id = actor.id
    contribution.reviewed_at = utcnow()
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.contribution_reject,
        object_type="contribution",
        object_id=contribution.id,
        data={"reason": reason},
        municipality_id=activity.municipality_id,
    )
    return contribution


def contribution_reads(
    session: Session, contributions: Sequence[Contribution]
) -> list[ContributionRead]:
    """Contributions with their activity and issuance, in two extra queries a page."""
    if not contributions:
        return []
    activity_ids = {c.activity_id for c in contributions}
    activities = {
        a.id: a for a in session.scalars(select(Activity).where(Activity.id.in_(activity_ids)))
    }
    issuances = session.scalars(
        select(Issuance).where(Issuance.contribution_id.in_([c.id for c in contributions]))
    ).all()
    reads = {read.contribution_id: read for read in issuance_reads(session, issuances)}
    result = []
    for c in contributions:
        activity = activities[c.activity_id]
        result.append(
            ContributionRead(
                id=c.id,
                activity=ActivityBrief.model_validate(activity),
                supporter_id=c.supporter_id,
                hours=format_hours(c.minutes),
                status=c.status,
                amount=Amount.of(issuable_go(activity, c.minutes)),
                rejection_reason=c.rejection_reason,
                reviewed_by_id=c.reviewed_by_id,
                reviewed_at=c.reviewed_at,
                created_at=c.created_at,
                issuance=reads.get(c.id),
            )
        )
    return result


def contribution_read(session: Session, contribution: Contribution) -> ContributionRead:
    return contribution_reads(session, [contribution])[0]


def list_my_contributions(
    session: Session, user: Caller, page_params: PageParams
) -> Page[ContributionRead]:
    """The caller's own contributions, newest first (for ``GET /v1/me/contributions``)."""
    statement = paginate(
        select(Contribution).where(Contribution.supporter_id == user.id),
        Contribution.id,
        page_params,
    )
    rows, cursor = next_cursor(session.scalars(statement).all(), page_params, lambda c: c.id)
    return Page(items=contribution_reads(session, rows), next_cursor=cursor)


def list_contributions(
    session: Session,
    caller: Caller,
    page_params: PageParams,
    *,
    status: ContributionStatus | None = None,
    municipality_id: uuid.UUID | None = None,
    activity_id: uuid.UUID | None = None,
    season: int | None = None,
    q: str | None = None,
) -> Page[ContributionListItem]:
    """Hours to review or follow, newest first (``GET /v1/contributions``).

    A farmer sees the hours on the activities they host (with ``status=pending``: what
    awaits their approval), a town administrator their town's, a regional auditor
    their region's (read-only), a platform administrator every town's; supporters are
    refused (theirs are at ``/v1/me/contributions``). ``q`` searches the supporter's
    name, and for staff their email, which farmers are never shown.
    """
    scope = list_scope(session, caller)
    is_staff = scope.farmer_id is None
    conditions = town_conditions(scope, Activity.municipality_id, municipality_id)
    if scope.farmer_id is not None:
        conditions.append(Activity.farmer_id == scope.farmer_id)
    if status is not None:
        conditions.append(Contribution.status == status)
    if activity_id is not None:
        conditions.append(Contribution.activity_id == activity_id)
    if season is not None:
        # The season is the activity day's year; a range keeps an index usable.
        conditions.append(Activity.activity_on >= date(season, 1, 1))
        conditions.append(Activity.activity_on <= date(season, 12, 31))
    if q:
        matches = User.display_name.icontains(q, autoescape=True)
        if is_staff:
            matches = matches | User.email.icontains(q, autoescape=True)
        conditions.append(matches)
    statement = (
        select(Contribution, User.display_name, User.email)
        .join(Activity, Activity.id == Contribution.activity_id)
        .join(User, User.id == Contribution.supporter_id)
        .where(*conditions)
    )
    rows, cursor = next_cursor(
        session.execute(paginate(statement, Contribution.id, page_params)).all(),
        page_params,
        lambda row: row[0].id,
    )
    reads = contribution_reads(session, [row[0] for row in rows])
    items = [
        ContributionListItem(
            **dict(read),
            supporter_name=name,
            supporter_email=email if is_staff else None,
        )
        for read, (_, name, email) in zip(reads, rows, strict=True)
    ]
    return Page(items=items, next_cursor=cursor)
