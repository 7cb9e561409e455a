"""Which rows a staff list shows a caller: the towns they manage or audit, or the works
and activities they host as a farmer.

Shared by the work queues (investments awaiting payment, hours awaiting approval) so
that each list applies the same rules: a town administrator sees their town, a
regional auditor their region (read-only), a platform administrator every town, a
farmer only what is theirs; supporters have their own lists under ``/v1/me``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audited_municipality_ids, farmer_profile_of
from kokudaka.core.errors import Forbidden
from kokudaka.models import Municipality, Role


@dataclass(frozen=True, slots=True)
class ListScope:
    """What a caller may list: every town (``municipality_ids`` None), some towns, or
    (for a farmer) only rows of their own farmer profile."""

    municipality_ids: list[uuid.UUID] | None
    farmer_id: uuid.UUID | None = None


def list_scope(session: Session, caller: Caller) -> ListScope:
    """The caller's scope for a staff list; supporters are refused (403)."""
    if caller.role is Role.farmer:
        farmer = farmer_profile_of(session, caller)
        if farmer is None:
            raise Forbidden()
        return ListScope([farmer.municipality_id], farmer.id)
    if caller.role is Role.regional_auditor and caller.region_id is not None:
        towns = session.scalars(
            select(Municipality.id).where(Municipality.region_id == caller.region_id)
        )
        return ListScope(list(towns))
    if caller.role in (Role.town_admin, Role.platform_admin):
        return ListScope(audited_municipality_ids(session, caller))
    raise Forbidden()


def town_conditions(
    scope: ListScope,
    municipality_column: InstrumentedAttribute[uuid.UUID],
    municipality_id: uuid.UUID | None,
) -> list[ColumnElement[bool]]:
    """Rows of the scope's towns, or of the one town asked for, which must be in scope
    (asking for another town is refused, not emptied, as in the audit lists)."""
    if municipality_id is not None:
        if scope.municipality_ids is not None and municipality_id not in scope.municipality_ids:
            raise Forbidden()
        return [municipality_column == municipality_id]
    if scope.municipality_ids is None:
        return []
    return [municipality_column.in_(scope.municipality_ids)]
