"""Which issuances a reader may audit, paged and exported as CSV.

Scope comes from :func:`kokudaka.auth.permissions.audited_municipality_ids`: a town's
administrators see their town, a regional auditor the towns of their region, platform
administrators all. Asking for a town outside one's scope is refused, not emptied.

Both the list and the export name what the ids point at (town, supporter, farmer,
work, activity), read in the same statement as the issuances.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.schemas import (
    CHAIN_STATE_LABELS,
    KIND_LABELS,
    AuditIssuanceRead,
    IssuanceFilters,
    csv_header,
)
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import Forbidden
from kokudaka.core.i18n import Language
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.units import format_koku
from kokudaka.ledger.schemas import issuance_read_of
from kokudaka.models import (
    Activity,
    ChainOperation,
    Contribution,
    Farmer,
    Investment,
    Issuance,
    Municipality,
    User,
    Work,
)
from kokudaka.municipalities.service import JST
from kokudaka.volunteering.schemas import format_hours

EXPORT_BATCH_SIZE = 500
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_JAPAN_TIME = "%Y-%m-%d %H:%M:%S"


def scoped_conditions(
    session: Session, user: Caller, filters: IssuanceFilters
) -> list[ColumnElement[bool]]:
    """The WHERE clause for what ``user`` asked for, within what they may audit."""
    allowed = audited_municipality_ids(session, user)
    conditions: list[ColumnElement[bool]] = []
    if filters.municipality_id is not None:
        if allowed is not None and filters.municipality_id not in allowed:
            raise Forbidden()
        conditions.append(Issuance.municipality_id == filters.municipality_id)
    elif allowed is not None:
        conditions.append(Issuance.municipality_id.in_(allowed))
    if filters.farmer_id is not None:
        conditions.append(Issuance.farmer_id == filters.farmer_id)
    if filters.kind is not None:
        conditions.append(Issuance.kind == filters.kind)
    if filters.season is not None:
        conditions.append(Issuance.season == filters.season)
    if filters.created_from is not None:
        conditions.append(Issuance.created_at >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(Issuance.created_at < filters.created_to)
    if filters.is_reversed is True:
        conditions.append(Issuance.reversal_entry_id.is_not(None))
    elif filters.is_reversed is False:
        conditions.append(Issuance.reversal_entry_id.is_(None))
    return conditions


@dataclass(frozen=True, slots=True)
class NamedIssuance:
    """An issuance with its mint and the names of what it points at."""

    issuance: Issuance
    mint: ChainOperation | None
    municipality_name: str
    national_code: str | None
    recipient_name: str
    farmer_name: str | None
    work_title: str | None
    activity_title: str | None
    amount_yen: int | None
    minutes: int | None


def _named(conditions: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    """Issuances under ``conditions`` with their mint and names, in
    :class:`NamedIssuance` order.

    Each name is a scalar subquery by primary key rather than a join: with nine tables
    joined, PostgreSQL spent 30-70 ms planning the join order (under load) for a page
    it then read in 1-5 ms; a subquery is planned on its own, in microseconds, and run
    once per row of the page.
    """

    def of(column: Any, key: Any, of_issuance: Any) -> Any:
        return select(column).where(key == of_issuance).scalar_subquery()

    return (
        select(
            Issuance,
            ChainOperation,
            of(Municipality.name, Municipality.id, Issuance.municipality_id),
            of(Municipality.national_code, Municipality.id, Issuance.municipality_id),
            of(User.display_name, User.id, Issuance.recipient_id),
            of(Farmer.name, Farmer.id, Issuance.farmer_id),
            of(Work.title, Work.id, Issuance.work_id),
            of(Activity.title, Activity.id, Issuance.activity_id),
            of(Investment.amount_yen, Investment.id, Issuance.investment_id),
            of(Contribution.minutes, Contribution.id, Issuance.contribution_id),
        )
        .outerjoin(ChainOperation, ChainOperation.entry_id == Issuance.entry_id)
        .where(*conditions)
    )


def _audit_read(row: NamedIssuance) -> AuditIssuanceRead:
    base = issuance_read_of(row.issuance, row.mint)
    return AuditIssuanceRead(
        **dict(base),
        municipality_name=row.municipality_name,
        national_municipality_code=row.national_code,
        recipient_name=row.recipient_name,
        farmer_name=row.farmer_name,
        work_title=row.work_title,
        activity_title=row.activity_title,
        amount_yen=row.amount_yen,
        hours=None if row.minutes is None else format_hours(row.minutes),
    )


def list_issuances(
    session: Session, user: Caller, filters: IssuanceFilters, page: PageParams
) -> Page[AuditIssuanceRead]:
    conditions = scoped_conditions(session, user, filters)
    statement = paginate(_named(conditions), Issuance.id, page)
    rows = [NamedIssuance(*row) for row in session.execute(statement)]
    items, cursor = next_cursor(rows, page, lambda row: row.issuance.id)
    return Page(items=[_audit_read(row) for row in items], next_cursor=cursor)


def _cell(text: str) -> str:
    # Spreadsheets run a cell starting with these as a formula (CSV injection).
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _optional(value: object | None) -> str:
    return "" if value is None else str(value)


def _row(row: NamedIssuance, language: Language) -> list[str]:
    issuance, mint = row.issuance, row.mint
    return [
        issuance.created_at.astimezone(JST).strftime(_JAPAN_TIME),
        str(issuance.season),
        _optional(row.national_code),
        _cell(row.municipality_name),
        KIND_LABELS[language][issuance.kind],
        _cell(row.recipient_name),
        _cell(row.farmer_name or ""),
        _cell(row.work_title or ""),
        _cell(row.activity_title or ""),
        _optional(row.amount_yen),
        _optional(issuance.price_yen_per_go),
        "" if row.minutes is None else format_hours(row.minutes),
        _optional(issuance.go_per_hour),
        str(issuance.amount_go),
        format_koku(issuance.amount_go),
        "" if mint is None else CHAIN_STATE_LABELS[language][mint.state],
        "" if mint is None else (mint.tx_hash or ""),
        str(issuance.id),
        _optional(issuance.reversal_entry_id),
    ]


def export_csv(
    factory: sessionmaker[Session],
    conditions: list[ColumnElement[bool]],
    language: Language = "ja",
    batch_size: int = EXPORT_BATCH_SIZE,
) -> Iterator[str]:
    """CSV text for a spreadsheet, newest issuance first, read in keyset batches.

    It opens as it is in Excel: a UTF-8 byte order mark first (without it Excel reads
    the file as Shift_JIS and garbles Japanese), CRLF line ends, Japan time to the
    second, and names beside the ids. Headers and labels are Japanese, or English for
    ``language="en"``.

    Each batch is its own short transaction, so a long download never holds the
    database (on SQLite every transaction takes the write lock). The first batch fixes
    the newest id, so issuances made during the download are not mixed in.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_header(language))
    yield "\ufeff" + buffer.getvalue()
    after: uuid.UUID | None = None
    while True:
        statement = _named(conditions).order_by(Issuance.id.desc()).limit(literal_limit(batch_size))
        if after is not None:
            statement = statement.where(Issuance.id < after)
        with factory() as session, session.begin():
            rows = [NamedIssuance(*row) for row in session.execute(statement)]
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_row(row, language) for row in rows)
        yield buffer.getvalue()
        after = rows[-1].issuance.id
        if len(rows) < batch_size:
            return
