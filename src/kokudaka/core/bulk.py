"""Running one statement over many rows: compiled once, parameters converted by column.

A Core statement executed with a list of dictionaries costs, per row, the compiler's
parameter construction (a dictionary per row, every key looked up against the statement)
on top of each value's conversion; for the harvest conversion's tens of thousands of rows
that bookkeeping cost more than the database did. Here the statement is compiled once per
dialect, each parameter's bind processor (the very conversion SQLAlchemy applies: UUIDs as
SQLite stores them, UTC timestamps, enums, JSON) is looked up once, and the rows go to the
driver's ``executemany`` as plain tuples (or dictionaries, for a driver with named
parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, bindparam, func, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

__all__ = ["bulk_execute", "bulk_insert", "unnested"]

_Processor = Callable[[Any], Any] | None


@lru_cache(maxsize=64)
def _plan(
    statement: UpdateBase, names: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[_Processor, ...], tuple[int, ...] | None]:
    """The statement's SQL, a processor per name, and for a positional driver the index in
    ``names`` of each placeholder (a name may be used twice)."""
    if isinstance(statement, Insert):
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
    else:
        compiled = statement.compile(dialect=dialect)
    missing = set(compiled.binds) - set(names)
    if missing:
        # A column with a Python-side default is in every INSERT: the caller gives it.
        raise ValueError(f"give the statement's parameters {sorted(missing)} too")
    processors = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    order = None
    if compiled.positional:
        assert compiled.positiontup is not None
        order = tuple(names.index(name) for name in compiled.positiontup)
    return str(compiled), processors, order


def bulk_execute(
    conn: Connection,
    statement: UpdateBase,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Run ``statement`` once per row in one ``executemany``; each row gives the values of
    the statement's parameters ``names``, in that order."""
    if not rows:
        return
    keys = tuple(names)
    sql, processors, order = _plan(statement, keys, conn.dialect)
    columns = _converted_columns(rows, processors)
    parameters: list[Any]
    if order is None:
        parameters = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
    else:
        parameters = list(zip(*(columns[i] for i in order), strict=True))
    conn.exec_driver_sql(sql, parameters)


def _converted_columns(
    rows: Sequence[Sequence[Any]], processors: Sequence[_Processor]
) -> list[Sequence[Any]]:
    """``rows`` converted for the driver, as columns: a column at a time, so that each
    conversion runs in ``map`` rather than in a Python loop over every value."""
    width = len(processors)
    if any(len(row) != width for row in rows):
        raise ValueError(f"every row gives {width} values")
    return [
        column if processor is None else _converted(processor, column)
        for processor, column in zip(processors, zip(*rows, strict=True), strict=True)
    ]


_SAMPLE = 64


def _converted(processor: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """``column``'s values converted by ``processor``, each distinct value once where values
    repeat: many rows share a town, a work, an entry or the transaction's timestamp, whose
    conversion (a UUID's hex, a timestamp's text on SQLite) costs more than a dictionary
    lookup. A column of ids, whose values never repeat, is converted value by value, as is
    one of unhashable values (JSON documents)."""
    sample = column[:_SAMPLE]
    try:
        if len(set(sample)) <= len(sample) // 2:
            distinct = {value: processor(value) for value in set(column)}
            return list(map(distinct.__getitem__, column))
    except TypeError:  # unhashable
        pass
    return list(map(processor, column))


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table``. Columns not
    named take their server default or NULL: name every column with a Python default.

    On PostgreSQL the rows are sent with ``COPY``, in the connection's transaction: an
    ``executemany`` there is a statement per row, and the harvest's 20,000 outbox rows
    cost seconds of round trips and planning."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        bulk_execute(conn, _insert_of(table), columns, rows)
        return
    names = tuple(columns)
    _, processors, _ = _plan(_insert_of(table), names, conn.dialect)
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in names)
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor: Any = driver.cursor()  # a psycopg cursor: the DBAPI has no COPY
    with cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
        for row in zip(*_converted_columns(rows, processors), strict=True):
            copy.write_row(row)


@lru_cache(maxsize=64)
def _insert_of(table: Table) -> Insert:
    return insert(table)


def unnested(name: str, **columns: tuple[TypeEngine[Any], Sequence[Any]]) -> TableValuedAlias:
    """PostgreSQL: rows given as one array per column (each ``column=(type, values)``), as a
    table to join, for an ``UPDATE ... FROM unnest(...)`` that changes many rows in one
    statement; an ``executemany`` there is a statement, and a round trip, per row."""
    arrays = [
        bindparam(None, list(values), type_=ARRAY(type_)) for type_, values in columns.values()
    ]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)
