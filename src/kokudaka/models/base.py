"""Declarative base, constraint naming and the column types every model shares."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeAlias

from sqlalchemy import BigInteger, DateTime, MetaData, Row, Table, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from kokudaka.core.ids import new_id

# Alembic autogenerate and hand-written migrations name constraints the same way, so a
# migration can always drop or alter a constraint by a predictable name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type and would hand back naive datetimes; this keeps both
    backends returning the same aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        # SQLite hands back the ISO text it stored. Parsed here in one call: through the
        # decorator's chain (SQLite's parser, then process_result_value) a value cost
        # 2 µs, 40 µs of a 20-line ledger page.
        fromisoformat = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            parsed = fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


class TextUuid(Uuid[uuid.UUID]):
    """``Uuid``, read back faster where the database stores it as text (SQLite).

    ``uuid.UUID(text)`` parses in Python, about 2 µs a value; a ledger page reads 60 of
    them. The stored text is the 32 hex digits ``Uuid`` wrote, so the value is built
    from its integer directly, which is what ``UUID.__init__`` does after parsing.
    Databases with a UUID type (PostgreSQL) are read as ``Uuid`` reads them.
    """

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if (dialect.supports_native_uuid and self.native_uuid) or not self.as_uuid:
            native: Callable[[Any], Any] | None = super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
            return native
        return _uuid_from_text


def _uuid_from_text(
    value: str | None,
    new: Callable[[type[uuid.UUID]], uuid.UUID] = object.__new__,
    set_slot: Callable[[object, str, Any], None] = object.__setattr__,
) -> uuid.UUID | None:
    if value is None:
        return None
    if len(value) != 32:  # not as Uuid wrote it: the full parser
        return uuid.UUID(value)
    # UUID is immutable through its own __setattr__; its slots are set as __init__ does.
    made = new(uuid.UUID)
    set_slot(made, "int", int(value, 16))
    set_slot(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012
        int: BigInteger(),
        datetime: UTCDateTime(),
        uuid.UUID: TextUuid(),
    }


AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A row of a Core statement, read by attribute (``row.amount_go``) like a model."""


class Written(SimpleNamespace):
    """A row as a Core insert wrote it, read by attribute like a model.

    The hot paths give every column of what they insert, so they know the row without
    reading it back: ``RETURNING`` costs more than the insert itself on SQLite.
    """


@functools.cache
def _column_names(table: Table) -> frozenset[str]:
    return frozenset(table.c.keys())


def written(table: Table, **values: Any) -> Written:
    """The row to insert into ``table``: every column, so none is left to a default
    that the returned row would not show."""
    if values.keys() != _column_names(table):
        raise ValueError(f"{table.name}: give every column, not {sorted(values)}")
    return Written(**values)


def table_of(model: type[Base]) -> Table:
    """The Core table behind a model.

    The request paths that issue KOKU write with Core statements on these tables: a
    unit-of-work flush costs several times a plain INSERT, and on SQLite every such
    request holds the database's one write lock for its whole transaction.
    """
    table = model.__table__
    assert isinstance(table, Table)
    return table


class IdMixin:
    """A time-ordered UUID primary key (see ``kokudaka.core.ids``)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
