"""Reading pages of works: one prebuilt statement per page.

``GET /v1/works`` is public and polled by every supporter's app. Through the ORM a page
cost two statements (the works, then the yen subscribed to each, summed over their
investments), built anew per request. Here it is one Core statement built at import;
the yen subscribed is the work's running total (``Work.subscribed_yen``, moved under the
work's row lock by every investment and cancellation), so no investment is read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.orm import Session

from kokudaka.core.engines import literal_limit
from kokudaka.core.pagination import PageParams
from kokudaka.models import Work, table_of

__all__ = ["WorkFilters", "WorkRow", "work_page"]

_works = table_of(Work)


@dataclass(frozen=True, slots=True)
class WorkFilters:
    """What a list of works may be narrowed to; ``None`` leaves a filter out."""

    municipality_id: uuid.UUID | None = None
    farmer_id: uuid.UUID | None = None
    variety: str | None = None
    season: int | None = None
    is_open: bool | None = None


@dataclass(frozen=True, slots=True)
class WorkRow:
    """A work as a list shows it, with the yen subscribed to it so far."""

    id: uuid.UUID
    farmer_id: uuid.UUID
    municipality_id: uuid.UUID
    season: int
    title: str
    variety: str
    description: str
    field_area_m2: int
    planned_yield_go: int
    offer_yen: int
    subscribed_yen: int
    is_open: bool
    created_at: datetime
    updated_at: datetime


_COLUMNS = [_works.c[name] for name in WorkRow.__dataclass_fields__]
_PAGE = select(*_COLUMNS).order_by(_works.c.id.desc()).limit(literal_limit())
# Each filter is a condition built once; a request only picks the ones it uses.
_CONDITIONS: dict[str, ColumnElement[bool]] = {
    name: _works.c[name] == bindparam(name)
    for name in ("municipality_id", "farmer_id", "variety", "season", "is_open")
}
_AFTER_CURSOR = _works.c.id < bindparam("cursor")


def work_page(session: Session, filters: WorkFilters, page: PageParams) -> list[WorkRow]:
    """Works newest first, from ``page.cursor`` on: up to ``page.limit + 1`` rows (the
    extra one tells whether another page follows)."""
    params: dict[str, Any] = {"limit": page.limit + 1}
    conditions = []
    for name, condition in _CONDITIONS.items():
        value = getattr(filters, name)
        # An empty variety filters nothing, as the ORM list did.
        if value is not None and value != "":
            conditions.append(condition)
            params[name] = value
    if page.cursor is not None:
        conditions.append(_AFTER_CURSOR)
        params["cursor"] = page.cursor
    statement = _PAGE.where(*conditions) if conditions else _PAGE
    return [WorkRow(*row) for row in session.connection().execute(statement, params)]
