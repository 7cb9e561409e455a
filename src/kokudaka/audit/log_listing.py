"""Reading the staff audit log: newest first, within the towns a reader may audit.

Scope is :func:`kokudaka.auth.permissions.audited_municipality_ids`, as for the other
audit views: a town administrator reads their town's rows, a regional auditor those of
their region's towns, a platform administrator every row (rows above any one town,
such as a regional auditor's account, only they read). Asking for a town outside one's
scope is refused, not emptied.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import StaffLogRow, log_rows
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import Forbidden
from kokudaka.core.pagination import PageParams, encode_cursor
from kokudaka.core.schemas import UtcDatetime
from kokudaka.models import StaffAction

_MAX_SEQUENCE = 2**63 - 1


class StaffLogRead(BaseModel):
    """One staff action as logged, with the hashes that chain it."""

    sequence: int = Field(description="Position in the chain: 1, 2, 3, ... with no gap.")
    at: datetime = Field(description="When the action was taken (UTC).")
    actor_id: uuid.UUID | None = Field(description="The account that acted; null: an operator.")
    actor_role: str = Field(examples=["town_admin"])
    municipality_id: uuid.UUID | None = Field(description="The town the action concerns.")
    action: str = Field(examples=["investment.confirm"])
    object_type: str = Field(examples=["investment"])
    object_id: str | None
    data: dict[str, object] = Field(description="What the request asked for (no secrets).")
    data_json: str = Field(description="`data` exactly as hashed: canonical JSON text.")
    prev_hash: str = Field(description="The previous row's hash (hex SHA-256).")
    hash: str = Field(description="SHA-256 over this row's fields and `prev_hash` (hex).")


class StaffLogPage(BaseModel):
    items: list[StaffLogRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


@dataclass(frozen=True, slots=True)
class StaffLogFilters:
    municipality_id: uuid.UUID | None = None
    action: StaffAction | None = None
    since: datetime | None = None
    until: datetime | None = None


# The API's one cursor format (kokudaka.core.pagination) carries 16 bytes: here the last
# row's sequence number as a 128-bit integer.
def log_cursor(sequence: int) -> str:
    return encode_cursor(uuid.UUID(int=sequence))


def cursor_sequence(page: PageParams) -> int | None:
    """The sequence a page starts before. Every well-formed cursor is a bound, as for the
    other lists (a row id that no longer exists still pages): a larger one than any sequence
    reads from the top (bounded to what the databases' integers hold), zero reads nothing."""
    if page.cursor is None:
        return None
    return min(page.cursor.int, _MAX_SEQUENCE)


# ``async``: no I/O, so no worker-thread hop (see kokudaka.core.pagination.page_params).
async def staff_log_filters(
    municipality_id: Annotated[
        uuid.UUID | None,
        Query(description="Only this town; it must be one the caller may audit."),
    ] = None,
    action: Annotated[StaffAction | None, Query(description="Only this action.")] = None,
    since: Annotated[
        UtcDatetime | None,
        Query(
            description="At or after this instant (with a timezone).",
            examples=["2026-04-01T00:00:00+09:00"],
        ),
    ] = None,
    until: Annotated[
        UtcDatetime | None,
        Query(
            description="Before this instant (with a timezone).",
            examples=["2027-04-01T00:00:00+09:00"],
        ),
    ] = None,
) -> StaffLogFilters:
    return StaffLogFilters(municipality_id=municipality_id, action=action, since=since, until=until)


def _conditions(
    session: Session, caller: Caller, filters: StaffLogFilters, before_sequence: int | None
) -> list[ColumnElement[bool]]:
    allowed = audited_municipality_ids(session, caller)
    conditions: list[ColumnElement[bool]] = []
    if filters.municipality_id is not None:
        if allowed is not None and filters.municipality_id not in allowed:
            raise Forbidden()
        conditions.append(log_rows.c.municipality_id == filters.municipality_id)
    elif allowed is not None:
        conditions.append(log_rows.c.municipality_id.in_(allowed))
    if filters.action is not None:
        conditions.append(log_rows.c.action == filters.action.value)
    if filters.since is not None:
        conditions.append(log_rows.c.at >= filters.since)
    if filters.until is not None:
        conditions.append(log_rows.c.at < filters.until)
    if before_sequence is not None:
        conditions.append(log_rows.c.sequence < before_sequence)
    return conditions


def staff_log_rows(
    session: Session, caller: Caller, filters: StaffLogFilters, page: PageParams
) -> list[StaffLogRow]:
    """Up to ``page.limit + 1`` rows, newest first (one more tells a page follows)."""
    statement = (
        select(*log_rows.c)
        .where(*_conditions(session, caller, filters, cursor_sequence(page)))
        .order_by(log_rows.c.sequence.desc())
        .limit(literal_limit(page.limit + 1))
    )
    return [StaffLogRow(**row._mapping) for row in session.execute(statement)]


def read_of(row: StaffLogRow) -> StaffLogRead:
    return StaffLogRead(
        sequence=row.sequence,
        at=row.at,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        municipality_id=row.municipality_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        data=json.loads(row.data),
        data_json=row.data,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def list_staff_log(
    session: Session, caller: Caller, filters: StaffLogFilters, page: PageParams
) -> StaffLogPage:
    rows = staff_log_rows(session, caller, filters, page)
    items = rows[: page.limit]
    cursor = log_cursor(items[-1].sequence) if len(rows) > page.limit else None
    return StaffLogPage(items=[read_of(row) for row in items], next_cursor=cursor)
