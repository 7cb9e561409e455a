"""Regions, municipalities and policies. Services flush; the request commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import manages_municipality
from kokudaka.core.errors import Conflict, Forbidden, NotFound
from kokudaka.core.pagination import PageParams, paginate
from kokudaka.core.schemas import Amount
from kokudaka.core.settings import Settings
from kokudaka.ledger.service import issued_go
from kokudaka.models import Municipality, MunicipalityPolicy, Region, StaffAction
from kokudaka.municipalities.schemas import (
    MunicipalityCreate,
    MunicipalityUpdate,
    PolicyRead,
    PolicyUpdate,
    RegionCreate,
)
from kokudaka.towns.minters import create_town_minter

# Japan has kept UTC+9 without daylight saving since 1951, so a fixed offset is exact
# and needs no tz database in the image.
JST = timezone(timedelta(hours=9), "JST")


def current_season(now: datetime | None = None) -> int:
    """The season (calendar year of rice) it is now in Japan."""
    return (now or datetime.now(UTC)).astimezone(JST).year


def list_regions(session: Session, params: PageParams) -> Sequence[Region]:
    return session.scalars(paginate(select(Region), Region.id, params)).all()


def create_region(session: Session, body: RegionCreate) -> Region:
    if session.scalar(select(Region.id).where(Region.code == body.code)) is not None:
        raise Conflict("region_code_taken")
    region = Region(code=body.code, name=body.name)
    session.add(region)
    session.flush()
    return region


def list_municipalities(
    session: Session, params: PageParams, *, region_id: uuid.UUID | None
) -> Sequence[Municipality]:
    statement = select(Municipality)
    if region_id is not None:
        statement = statement.where(Municipality.region_id == region_id)
    return session.scalars(paginate(statement, Municipality.id, params)).all()


def get_municipality(session: Session, municipality_id: uuid.UUID) -> Municipality:
    municipality = session.get(Municipality, municipality_id)
    if municipality is None:
        raise NotFound("Municipality")
    return municipality


def _refuse_taken_national_code(
    session: Session, national_code: str | None, municipality_id: uuid.UUID | None = None
) -> None:
    if national_code is None:
        return
    holder = session.scalar(
        select(Municipality.id).where(Municipality.national_code == national_code)
    )
    if holder is not None and holder != municipality_id:
        raise Conflict("national_code_taken")


def create_municipality(
    session: Session, settings: Settings, body: MunicipalityCreate
) -> Municipality:
    """A new town, with its minter key made in the same transaction (it is its own issuer)."""
    if session.get(Region, body.region_id) is None:
        raise NotFound("Region")
    if session.scalar(select(Municipality.id).where(Municipality.code == body.code)) is not None:
        raise Conflict("municipality_code_taken")
    _refuse_taken_national_code(session, body.national_code)
    municipality = Municipality(
        region_id=body.region_id,
        code=body.code,
        name=body.name,
        national_code=body.national_code,
    )
    session.add(municipality)
    session.flush()
    create_town_minter(session, settings, municipality.id)
    return municipality


def update_municipality(
    session: Session, municipality_id: uuid.UUID, body: MunicipalityUpdate
) -> Municipality:
    """A town's name or national code; its slug and region never change."""
    municipality = get_municipality(session, municipality_id)
    changes = body.model_dump(exclude_unset=True)
    if "national_code" in changes:
        _refuse_taken_national_code(session, changes["national_code"], municipality.id)
    for name, value in changes.items():
        setattr(municipality, name, value)
    session.flush()
    return municipality


def policy_read(session: Session, policy: MunicipalityPolicy) -> PolicyRead:
    issued = issued_go(session, policy.municipality_id, policy.season)
    return PolicyRead(
        municipality_id=policy.municipality_id,
        season=policy.season,
        price_yen_per_go=policy.price_yen_per_go,
        volunteer_go_per_hour=policy.volunteer_go_per_hour,
        yearly_cap=Amount.of(policy.yearly_cap_go),
        issued=Amount.of(issued),
        reserved=Amount.of(policy.reserved_go),
        remaining=Amount.of(max(policy.yearly_cap_go - issued - policy.reserved_go, 0)),
        harvest_ceiling_bp=policy.harvest_ceiling_bp,
        bills_expire_on=policy.bills_expire_on,
        boards_close_on=policy.boards_close_on,
        updated_at=policy.updated_at,
    )


def get_policy(session: Session, municipality_id: uuid.UUID, season: int) -> MunicipalityPolicy:
    get_municipality(session, municipality_id)
    policy = session.scalar(
        select(MunicipalityPolicy).where(
            MunicipalityPolicy.municipality_id == municipality_id,
            MunicipalityPolicy.season == season,
        )
    )
    if policy is None:
        raise NotFound("Policy")
    return policy


def put_policy(
    session: Session, actor: Caller, municipality_id: uuid.UUID, body: PolicyUpdate
) -> tuple[MunicipalityPolicy, bool]:
    """Create or replace a season's policy; returns the policy and whether it is new.

    The existing row is locked, the same lock :func:`kokudaka.ledger.service.issue`
    takes, so a policy change and an issuance of that season never interleave: an
    issuance uses either the old rate or the new one, and stores the one it used.

    A cap may be lowered to what is issued plus what investments awaiting payment have
    reserved, which stops new investments and contributions, but not below: those
    reservations stand, since a supporter may already have paid, and each of them must
    stay confirmable. To go lower, cancel pending investments first.
    """
    get_municipality(session, municipality_id)
    if not manages_municipality(actor, municipality_id):
        raise Forbidden()
    if (
        body.bills_expire_on is not None
        and body.boards_close_on is not None
        and body.bills_expire_on <= body.boards_close_on
    ):
        # Two fields' rule, which no schema states: a conflict between them.
        raise Conflict(
            "bills_expire_before_boards_close",
            bills_expire_on=body.bills_expire_on.isoformat(),
            boards_close_on=body.boards_close_on.isoformat(),
        )
    policy = session.scalar(
        select(MunicipalityPolicy)
        .where(
            MunicipalityPolicy.municipality_id == municipality_id,
            MunicipalityPolicy.season == body.season,
        )
        .with_for_update(key_share=True)
    )
    created = policy is None
    if policy is None:
        policy = MunicipalityPolicy(municipality_id=municipality_id, season=body.season)
        session.add(policy)
    elif body.yearly_cap_go < policy.yearly_cap_go:
        committed = policy.issued_go + policy.reserved_go
        if body.yearly_cap_go < committed:
            raise Conflict(
                "cap_below_committed",
                committed_go=committed,
                issued_go=policy.issued_go,
                reserved_go=policy.reserved_go,
            )
    policy.price_yen_per_go = body.price_yen_per_go
    policy.volunteer_go_per_hour = body.volunteer_go_per_hour
    policy.yearly_cap_go = body.yearly_cap_go
    policy.harvest_ceiling_bp = body.harvest_ceiling_bp
    policy.bills_expire_on = body.bills_expire_on
    policy.boards_close_on = body.boards_close_on
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.policy_set,
        object_type="policy",
        object_id=f"{municipality_id}:{body.season}",
        data={**body.model_dump(mode="json"), "created": created},
        municipality_id=municipality_id,
    )
    return policy, created
