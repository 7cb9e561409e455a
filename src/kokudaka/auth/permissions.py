"""Municipality scope: who may read or manage what in which town.

Objects that belong to one person (an investment, a contribution) answer 404 to
anyone without access, so their existence is not revealed; public objects (a farmer,
a work) answer 403 to a write from outside their town.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.models import Farmer, Municipality, Role


def manages_municipality(user: Caller, municipality_id: uuid.UUID) -> bool:
    """Town administrators manage their own town; platform administrators every town."""
    if user.role is Role.platform_admin:
        return True
    return user.role is Role.town_admin and user.municipality_id == municipality_id


def audits_municipality(session: Session, user: Caller, municipality_id: uuid.UUID) -> bool:
    """Read access for audit: a town's administrators, its region's auditors, platform."""
    if manages_municipality(user, municipality_id):
        return True
    if user.role is Role.regional_auditor and user.region_id is not None:
        region_id = session.scalar(
            select(Municipality.region_id).where(Municipality.id == municipality_id)
        )
        return region_id == user.region_id
    return False


def audited_municipality_ids(session: Session, user: Caller) -> list[uuid.UUID] | None:
    """The towns a user may audit; None means all (platform administrators)."""
    if user.role is Role.platform_admin:
        return None
    if user.role is Role.town_admin and user.municipality_id is not None:
        return [user.municipality_id]
    if user.role is Role.regional_auditor and user.region_id is not None:
        return list(
            session.scalars(select(Municipality.id).where(Municipality.region_id == user.region_id))
        )
    return []


def farmer_profile_of(session: Session, user: Caller) -> Farmer | None:
    if user.role is not Role.farmer:
        return None
    return session.scalar(select(Farmer).where(Farmer.user_id == user.id))
