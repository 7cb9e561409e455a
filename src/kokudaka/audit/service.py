"""Which issuances a reader may audit, paged and exported as CSV.

Scope comes from :func:`kokudaka.auth.permissions.audited_municipality_ids`: a town's
administrators see their town, a regional auditor the towns of their region, platform
administrators all. Asking for a town outside one's scope is refused, not emptied.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.schemas import CSV_COLUMNS, IssuanceFilters
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.core.errors import Forbidden
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.units import format_koku
from kokudaka.ledger.schemas import IssuanceRead, issuance_reads
from kokudaka.models import ChainOperation, Issuance, IssuanceKind, Municipality

EXPORT_BATCH_SIZE = 500
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
    if filters.created_from is not None:
        conditions.append(Issuance.created_at >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(Issuance.created_at < filters.created_to)
    if filters.is_reversed is True:
        conditions.append(Issuance.reversal_entry_id.is_not(None))
    elif filters.is_reversed is False:
        conditions.append(Issuance.reversal_entry_id.is_(None))
    return conditions


def list_issuances(
    session: Session, user: Caller, filters: IssuanceFilters, page: PageParams
) -> Page[IssuanceRead]:
    conditions = scoped_conditions(session, user, filters)
    statement = paginate(select(Issuance).where(*conditions), Issuance.id, page)
    rows, cursor = next_cursor(session.scalars(statement).all(), page, lambda i: i.id)
    return Page(items=issuance_reads(session, rows), next_cursor=cursor)


def _cell(text: str) -> str:
    # Spreadsheets run a cell starting with these as a formula (CSV injection).
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _row(issuance: Issuance, municipality_code: str, chain: ChainOperation | None) -> list[str]:
    if issuance.kind is IssuanceKind.investment:
        rate, unit = issuance.price_yen_per_go, "yen_per_go"
    else:
        rate, unit = issuance.go_per_hour, "go_per_hour"
    return [
        str(issuance.id),
        issuance.created_at.isoformat(),
        _cell(municipality_code),
        issuance.kind.value,
        str(issuance.recipient_id),
        str(issuance.farmer_id or ""),
        str(issuance.amount_go),
        format_koku(issuance.amount_go),
        "" if rate is None else str(rate),
        unit,
        chain.state.value if chain is not None else "",
        (chain.tx_hash or "") if chain is not None else "",
        str(issuance.reversal_entry_id or ""),
    ]


def export_csv(
    factory: sessionmaker[Session],
    conditions: list[ColumnElement[bool]],
    batch_size: int = EXPORT_BATCH_SIZE,
) -> Iterator[str]:
    """CSV text, newest issuance first, read in keyset batches.

    Each batch is its own short transaction, so a long download never holds the
    database (on SQLite every transaction takes the write lock). The first batch fixes
    the newest id, so issuances made during the download are not mixed in.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    after: uuid.UUID | None = None
    while True:
        statement = (
            select(Issuance, Municipality.code, ChainOperation)
            .join(Municipality, Municipality.id == Issuance.municipality_id)
            .outerjoin(ChainOperation, ChainOperation.entry_id == Issuance.entry_id)
            .where(*conditions)
            .order_by(Issuance.id.desc())
            .limit(batch_size)
        )
        if after is not None:
            statement = statement.where(Issuance.id < after)
        with factory() as session, session.begin():
            rows = session.execute(statement).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_row(issuance, code, chain) for issuance, code, chain in rows)
        yield buffer.getvalue()
        after = rows[-1][0].id
        if len(rows) < batch_size:
            return
