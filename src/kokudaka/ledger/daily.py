"""Each day's standing issuance, by town and by farmer: the running totals the console's
weekly charts read (:class:`~kokudaka.models.TownIssuanceDay`,
:class:`~kokudaka.models.FarmerIssuanceDay`).

:func:`move_issuance_days` is called by the ledger's ``issue()`` and ``reverse()`` in the
issuance's own transaction, like the relationship population's
:class:`~kokudaka.models.SupporterSeason`. The day is the issuance's calendar day in
Japan (UTC+9, no daylight saving time): a reversal takes the go back from the day the
issuance was made, not from the day it was reversed, so a reversed issuance is left out
of the charts entirely, as it is from every other total.

:func:`japan_day` is the same day in SQL, for the rebuild (:func:`recompute_issuance_days`,
for bulk loads) and for the recount the property tests compare the rows with.
"""

from __future__ import annotations

from datetime import date, timedelta, timezone
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.models import (
    FarmerIssuanceDay,
    Issuance,
    TownIssuanceDay,
    Written,
    table_of,
)

__all__ = [
    "as_date",
    "farmer_day_totals",
    "farmer_days",
    "japan_day",
    "move_issuance_days",
    "recompute_issuance_days",
    "town_day_totals",
    "town_days",
]

JAPAN = timezone(timedelta(hours=9))

town_days = table_of(TownIssuanceDay)
farmer_days = table_of(FarmerIssuanceDay)
issuances = table_of(Issuance)


def _add_go(dialect: Any, table: Table, owner: str) -> Any:
    """Add ``amount_go`` (negative for a reversal) to the owner's row for the day and
    kind, creating it on first use: one upsert, so two first issuances of a day at once
    end in the one row."""
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[owner, "season", "day", "kind"],
        set_={"amount_go": table.c.amount_go + statement.excluded.amount_go},
    )


_ADD_TOWN_DAY = {
    "postgresql": _add_go(postgresql, town_days, "municipality_id"),
    "sqlite": _add_go(sqlite, town_days, "municipality_id"),
}
_ADD_FARMER_DAY = {
    "postgresql": _add_go(postgresql, farmer_days, "farmer_id"),
    "sqlite": _add_go(sqlite, farmer_days, "farmer_id"),
}


def move_issuance_days(conn: Connection, issuance: Issuance | Written, step: int) -> None:
    """Count the issuance's go (``step`` 1) or take them back for its reversal (``step``
    -1) in its town's day and, when it was made for support of a farmer, the farmer's."""
    values = {
        "season": issuance.season,
        "day": issuance.created_at.astimezone(JAPAN).date(),
        "kind": issuance.kind,
        "amount_go": step * issuance.amount_go,
    }
    dialect = conn.dialect.name
    conn.execute(_ADD_TOWN_DAY[dialect], {"municipality_id": issuance.municipality_id, **values})
    if issuance.farmer_id is not None:
        conn.execute(_ADD_FARMER_DAY[dialect], {"farmer_id": issuance.farmer_id, **values})


def japan_day(dialect_name: str, created_at: Column[Any] | ColumnElement[Any]) -> Any:
    """A timestamp's calendar day in Japan, in SQL (``date`` on PostgreSQL, an ISO
    ``YYYY-MM-DD`` string on SQLite; see :func:`as_date`)."""
    if dialect_name == "postgresql":
        return func.date(func.timezone("Asia/Tokyo", created_at))
    return func.date(created_at, "+9 hours")


def as_date(value: object) -> date:
    """A day as :func:`japan_day` gives it, on either database."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def town_day_totals(dialect_name: str) -> Any:
    """Each town's standing issuance per season, day and kind, summed from the issuances
    themselves: what :class:`TownIssuanceDay` must hold (rows above zero)."""
    day = japan_day(dialect_name, issuances.c.created_at)
    return (
        select(
            issuances.c.municipality_id,
            issuances.c.season,
            day,
            issuances.c.kind,
            func.sum(issuances.c.amount_go),
        )
        .where(issuances.c.reversal_entry_id.is_(None))
        .group_by(issuances.c.municipality_id, issuances.c.season, day, issuances.c.kind)
    )


def farmer_day_totals(dialect_name: str) -> Any:
    """The same per farmer: what :class:`FarmerIssuanceDay` must hold."""
    day = japan_day(dialect_name, issuances.c.created_at)
    return (
        select(
            issuances.c.farmer_id,
            issuances.c.season,
            day,
            issuances.c.kind,
            func.sum(issuances.c.amount_go),
        )
        .where(issuances.c.reversal_entry_id.is_(None), issuances.c.farmer_id.is_not(None))
        .group_by(issuances.c.farmer_id, issuances.c.season, day, issuances.c.kind)
    )


def recompute_issuance_days(session: Session) -> None:
    """Set every town's and farmer's days from the standing issuances, for bulk loads
    that write issuances directly (the benchmarks' set-up); migration 0011 does the
    same."""
    dialect_name = session.get_bind().dialect.name
    columns = ["season", "day", "kind", "amount_go"]
    session.execute(town_days.delete())
    session.execute(
        town_days.insert().from_select(["municipality_id", *columns], town_day_totals(dialect_name))
    )
    session.execute(farmer_days.delete())
    session.execute(
        farmer_days.insert().from_select(["farmer_id", *columns], farmer_day_totals(dialect_name))
    )
