"""Lists of redemptions: a supporter's (newest first) and those a farmer or a town has
to ship (oldest first, so the longest waiting comes first), each one page by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import Forbidden
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.settings import Settings
from kokudaka.models import Redemption, RedemptionState, Role
from kokudaka.redemptions.reads import redemption_reads
from kokudaka.redemptions.schemas import RedemptionRead

__all__ = ["ShippingFilters", "my_redemptions", "to_ship"]


@dataclass(frozen=True, slots=True)
class ShippingFilters:
    work_id: uuid.UUID | None = None
    state: RedemptionState | None = None


def my_redemptions(
    session: Session, settings: Settings, caller: Caller, page: PageParams
) -> Page[RedemptionRead]:
    statement = paginate(
        select(Redemption).where(Redemption.holder_id == caller.id), Redemption.id, page
    )
    rows, cursor = next_cursor(list(session.scalars(statement)), page, lambda r: r.id)
    return Page(items=redemption_reads(session, settings, rows), next_cursor=cursor)


def to_ship(
    session: Session,
    settings: Settings,
    caller: Caller,
    filters: ShippingFilters,
    page: PageParams,
) -> Page[RedemptionRead]:
    """The farmer's redemptions (every work of theirs), or a town administrator's town's,
    oldest first."""
    statement = select(Redemption)
    if caller.role is Role.town_admin and caller.municipality_id is not None:
        statement = statement.where(Redemption.municipality_id == caller.municipality_id)
    else:
        farmer = farmer_profile_of(session, caller)
        if farmer is None:
            raise Forbidden()
        statement = statement.where(Redemption.farmer_id == farmer.id)
    if filters.work_id is not None:
        statement = statement.where(Redemption.work_id == filters.work_id)
    if filters.state is not None:
        statement = statement.where(Redemption.state == filters.state)
    if page.cursor is not None:
        statement = statement.where(Redemption.id > page.cursor)
    statement = statement.order_by(Redemption.id).limit(literal_limit(page.limit + 1))
    rows, cursor = next_cursor(list(session.scalars(statement)), page, lambda r: r.id)
    return Page(items=redemption_reads(session, settings, rows), next_cursor=cursor)
