"""The staff audit log: every staff action in the reader's scope, newest first, with the
hashes that chain each row to the one before.

A town administrator reads their town's rows, a regional auditor their region's towns',
a platform administrator every row: the scope of ``GET /v1/audit/log``, read by the
same service (:mod:`kokudaka.audit.log_listing`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from kokudaka.audit.log_listing import StaffLogFilters, log_cursor, staff_log_rows
from kokudaka.audit.staff_log import StaffLogRow
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.console.messages import MESSAGES
from kokudaka.console.web import ConsoleRoute, open_page, parse_id
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden
from kokudaka.core.pagination import PageParams, decode_cursor
from kokudaka.models import Municipality, Role, StaffAction, User

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

AUDIT_LOG_PATH = "/console/audit-log"
PAGE = 100
Text = Annotated[str, Query(max_length=100)]
_READERS = (Role.town_admin, Role.regional_auditor, Role.platform_admin)


@dataclass(frozen=True, slots=True)
class LogLine:
    """A row of the log with the names it is read by."""

    row: StaffLogRow
    actor_name: str | None
    town_name: str | None
    data: str
    """The request's data, as stored (canonical JSON)."""
    has_data: bool
    action_key: str | None
    """The message naming the action; None for a code added without one (shown as is)."""
    object_key: str | None


def _message_key(prefix: str, code: str) -> str | None:
    key = prefix + code
    return key if key in MESSAGES else None


def _names(
    session: DbSession, rows: list[StaffLogRow]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    actor_ids = {row.actor_id for row in rows if row.actor_id is not None}
    town_ids = {row.municipality_id for row in rows if row.municipality_id is not None}
    actors = {
        row.id: row.display_name
        for row in session.execute(select(User.id, User.display_name).where(User.id.in_(actor_ids)))
    }
    towns = {
        row.id: row.name
        for row in session.execute(
            select(Municipality.id, Municipality.name).where(Municipality.id.in_(town_ids))
        )
    }
    return actors, towns


@router.get(AUDIT_LOG_PATH)
def audit_log(
    request: Request,
    session: DbSession,
    action: Text = "",
    town: Text = "",
    cursor: Text = "",
) -> Response:
    page = open_page(request, session)
    caller = page.signed_in.caller
    if caller.role not in _READERS:
        raise Forbidden()
    scope = audited_municipality_ids(session, caller)
    town_choices = [
        (row.id, row.name)
        for row in session.execute(
            select(Municipality.id, Municipality.name)
            .where(*([] if scope is None else [Municipality.id.in_(scope)]))
            .order_by(Municipality.name)
        )
    ]
    filters = StaffLogFilters(
        municipality_id=parse_id(town) if town else None,
        action=StaffAction(action) if action in set(StaffAction) else None,
    )
    paging = PageParams(limit=PAGE, cursor=decode_cursor(cursor) if cursor else None)
    rows = staff_log_rows(session, caller, filters, paging)
    shown = rows[:PAGE]
    actors, towns = _names(session, shown)
    lines = [
        LogLine(
            row=row,
            actor_name=None if row.actor_id is None else actors.get(row.actor_id),
            town_name=None if row.municipality_id is None else towns.get(row.municipality_id),
            data=row.data,
            has_data=bool(json.loads(row.data)),
            action_key=_message_key("staff_action_", row.action),
            object_key=_message_key("object_", row.object_type),
        )
        for row in shown
    ]
    query = {"action": filters.action or "", "town": town}
    return page.render(
        "audit_log.html",
        lines=lines,
        actions=[a.value for a in StaffAction],
        towns=town_choices,
        show_town=caller.role is not Role.town_admin,
        role_keys={key for key in MESSAGES if key.startswith("role_")},
        filters=query,
        query=urlencode({name: value for name, value in query.items() if value}),
        next_cursor=log_cursor(shown[-1].sequence) if len(rows) > PAGE else None,
    )
