"""Farmer profiles and the support ledger. Services flush; the request commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, distinct, exists, func, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audits_municipality
from kokudaka.auth.service import create_user
from kokudaka.core.errors import Forbidden, NotFound
from kokudaka.core.pagination import PageParams, paginate
from kokudaka.core.schemas import Amount
from kokudaka.core.settings import Settings
from kokudaka.farmers.schemas import (
    FarmerCreate,
    FarmerLedgerItem,
    FarmerLedgerTotals,
    FarmerUpdate,
)
from kokudaka.ledger.schemas import chain_status_by_entry
from kokudaka.models import (
    Activity,
    Contribution,
    Farmer,
    Investment,
    Issuance,
    IssuanceKind,
    Role,
    StaffAction,
    User,
    Work,
)


def is_town_admin_of(user: Caller, municipality_id: uuid.UUID) -> bool:
    """A town administrator acting in their own town. Platform administrators set up
    towns and staff; a town's farmers and works are the town's own business."""
    return user.role is Role.town_admin and user.municipality_id == municipality_id


def may_edit_farmer(user: Caller, farmer: Farmer) -> bool:
    return user.id == farmer.user_id or is_town_admin_of(user, farmer.municipality_id)


def get_farmer(session: Session, farmer_id: uuid.UUID) -> Farmer:
    farmer = session.get(Farmer, farmer_id)
    if farmer is None:
        raise NotFound("Farmer")
    return farmer


def _grows(session: Session, variety: str) -> ColumnElement[bool]:
    """``variety`` is one of the farmer's varieties, tested in SQL on the JSON array."""
    if session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements_text(Farmer.varieties).table_valued("value")
    else:
        elements = func.json_each(Farmer.varieties).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == variety))


def list_farmers(
    session: Session,
    params: PageParams,
    *,
    municipality_id: uuid.UUID | None,
    variety: str | None,
    q: str | None,
) -> Sequence[Farmer]:
    statement = select(Farmer)
    if municipality_id is not None:
        statement = statement.where(Farmer.municipality_id == municipality_id)
    if variety:
        statement = statement.where(_grows(session, variety))
    if q:
        statement = statement.where(
            Farmer.name.icontains(q, autoescape=True)
            | Farmer.farm_name.icontains(q, autoescape=True)
        )
    return session.scalars(paginate(statement, Farmer.id, params)).all()


def create_farmer(
    session: Session, settings: Settings, admin: Caller, body: FarmerCreate
) -> Farmer:
    """The farmer's account and profile, always in the administrator's own town."""
    if admin.role is not Role.town_admin or admin.municipality_id is None:
        raise Forbidden()
    user = create_user(
        session,
        settings,
        email=body.email,
        password=body.password,
        display_name=body.name,
        role=Role.farmer,
        municipality_id=admin.municipality_id,
    )
    farmer = Farmer(
        user_id=user.id,
        municipality_id=admin.municipality_id,
        name=body.name,
        farm_name=body.farm_name,
        story=body.story,
        varieties=body.varieties,
        photo_url=body.photo_url,
    )
    session.add(farmer)
    session.flush()
    append_staff_action(
        session,
        admin,
        StaffAction.farmer_register,
        object_type="farmer",
        object_id=farmer.id,
        data={**body.model_dump(mode="json", exclude={"password"}), "user_id": user.id},
        municipality_id=admin.municipality_id,
    )
    return farmer


def update_farmer(
    session: Session, actor: Caller, farmer_id: uuid.UUID, body: FarmerUpdate
) -> Farmer:
    farmer = get_farmer(session, farmer_id)
    if not may_edit_farmer(actor, farmer):
        raise Forbidden()
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(farmer, name, value)
    if "name" in changes:
        # The account's display name follows the profile's name.
        account = session.get(User, farmer.user_id)
        if account is not None:
            account.display_name = changes["name"]
    session.flush()
    return farmer


# issuance, supporter's name, work title, activity title, yen paid, minutes
_LedgerRow = tuple[Issuance, str, str | None, str | None, int | None, int | None]


def _hours(minutes: int) -> str:
    hours = (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(hours.normalize(), "f")


def _ledger_conditions(
    farmer_id: uuid.UUID,
    work_id: uuid.UUID | None,
    season: int | None,
    kind: IssuanceKind | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Issuance.farmer_id == farmer_id]
    if kind is not None:
        conditions.append(Issuance.kind == kind)
    if work_id is not None:
        conditions.append(Issuance.work_id == work_id)
    if season is not None:
        conditions.append(Issuance.season == season)
    return conditions


def readable_ledger_farmer(session: Session, actor: Caller, farmer_id: uuid.UUID) -> Farmer:
    """The farmer whose support ledger ``actor`` asks for, if they may read it: the
    farmer, their town's administrators, their region's auditors and platform
    administrators."""
    farmer = get_farmer(session, farmer_id)
    if actor.id != farmer.user_id and not audits_municipality(
        session, actor, farmer.municipality_id
    ):
        raise Forbidden()
    return farmer


def support_ledger_totals(
    session: Session,
    farmer: Farmer,
    *,
    work_id: uuid.UUID | None,
    season: int | None,
    kind: IssuanceKind | None = None,
) -> FarmerLedgerTotals:
    """What the filtered ledger adds up to, over every page. Reversed issuances are
    left out: a reversal took their KOKU back, so they supported nothing."""
    # Standing is an aggregate FILTER, not a WHERE: given "reversal_entry_id IS NULL",
    # SQLite walks its unique index through every standing issuance of every town
    # instead of the farmer's own through the farmer's index (40 ms against 4 ms at
    # 100,000 issuances).
    standing = Issuance.reversal_entry_id.is_(None)
    row = session.execute(
        select(
            func.coalesce(func.sum(Investment.amount_yen).filter(standing), 0),
            func.coalesce(func.sum(Issuance.amount_go).filter(standing), 0),
            func.coalesce(func.sum(Contribution.minutes).filter(standing), 0),
            func.count(distinct(Issuance.recipient_id)).filter(standing),
            func.count().filter(standing),
        )
        .select_from(Issuance)
        .outerjoin(Investment, Investment.id == Issuance.investment_id)
        .outerjoin(Contribution, Contribution.id == Issuance.contribution_id)
        .where(*_ledger_conditions(farmer.id, work_id, season, kind))
    ).one()
    yen, go, minutes, supporters, issuances = (int(value) for value in row)
    return FarmerLedgerTotals(
        amount_yen=yen,
        amount=Amount.of(go),
        minutes=minutes,
        hours=_hours(minutes),
        supporters=supporters,
        issuances=issuances,
    )


def _of(column: Any, key: Any, of_issuance: Any) -> Any:
    """``column`` of the row whose primary key ``key`` the issuance points at, if any."""
    return select(column).where(key == of_issuance).scalar_subquery()


def support_ledger(
    session: Session,
    farmer: Farmer,
    params: PageParams,
    *,
    work_id: uuid.UUID | None,
    season: int | None = None,
    kind: IssuanceKind | None = None,
) -> list[FarmerLedgerItem]:
    """Every issuance made for support of a farmer (check access with
    :func:`readable_ledger_farmer` first), newest first; like every paged query, one
    row more than the page (see :func:`kokudaka.core.pagination.paginate`)."""
    # Names by scalar subqueries, not joins: PostgreSQL plans each on its own in
    # microseconds, where it spent tens of milliseconds ordering six joined tables.
    statement = select(
        Issuance,
        _of(User.display_name, User.id, Issuance.recipient_id),
        _of(Work.title, Work.id, Issuance.work_id),
        _of(Activity.title, Activity.id, Issuance.activity_id),
        _of(Investment.amount_yen, Investment.id, Issuance.investment_id),
        _of(Contribution.minutes, Contribution.id, Issuance.contribution_id),
    ).where(*_ledger_conditions(farmer.id, work_id, season, kind))
    # paginate() is typed for one-entity selects; the rows are exactly this tuple.
    page = paginate(cast("Select[Any]", statement), Issuance.id, params)
    rows = cast("Sequence[_LedgerRow]", session.execute(page).all())
    chain = chain_status_by_entry(session, [row[0].entry_id for row in rows])
    return [
        FarmerLedgerItem(
            issuance_id=issuance.id,
            entry_id=issuance.entry_id,
            kind=issuance.kind,
            supporter_id=issuance.recipient_id,
            supporter_name=supporter_name,
            work_id=issuance.work_id,
            work_title=work_title,
            activity_id=issuance.activity_id,
            activity_title=activity_title,
            amount_yen=amount_yen,
            minutes=minutes,
            hours=_hours(minutes) if minutes is not None else None,
            amount=Amount.of(issuance.amount_go),
            price_yen_per_go=issuance.price_yen_per_go,
            go_per_hour=issuance.go_per_hour,
            reversed=issuance.reversal_entry_id is not None,
            reversal_entry_id=issuance.reversal_entry_id,
            chain=chain.get(issuance.entry_id),
            created_at=issuance.created_at,
        )
        for issuance, supporter_name, work_title, activity_title, amount_yen, minutes in rows
    ]
