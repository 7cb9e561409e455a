"""How the service talks to its database: the reader's statements, its connections and
admission, and the column types read back on every request."""

from __future__ import annotations

import gc
import os
import pickle
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from kokudaka.core import engines
from kokudaka.core.db import create_db_limiter, sqlite_read_admission
from kokudaka.core.engines import POOL_SIZE, create_db_engine, literal_limit
from kokudaka.core.heap import startup_objects_frozen
from kokudaka.core.settings import Settings
from kokudaka.models import Work, table_of
from kokudaka.models.base import TextUuid, UTCDateTime

_works = table_of(Work)


@pytest.fixture
def reader(settings: Settings) -> Iterator[Engine]:
    """The service's reader engine with one connection, so each statement meets the
    same server session."""
    engine = create_db_engine(settings.sqlalchemy_url, read_only=True, pool_size=1)
    yield engine
    engine.dispose()


def _plans(engine: Engine, sql_part: str) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL made for this session's prepared statement."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE :part"
            ),
            {"part": f"%{sql_part}%"},
        ).one()
        return int(row[0]), int(row[1])


@pytest.fixture
def long_table(engine: Engine, is_postgres: bool) -> Iterator[Table]:
    """A table of 50,000 ordered rows, where how many a page wants changes the plan."""
    if not is_postgres:
        pytest.skip("prepared statements' plans are PostgreSQL's")
    table = Table("plan_probe", MetaData(), Column("id", Integer, primary_key=True))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(text("INSERT INTO plan_probe SELECT generate_series(1, 50000)"))
        conn.execute(text("ANALYZE plan_probe"))
    yield table
    with engine.begin() as conn:
        table.drop(conn)


def test_postgresql_plans_a_page_once_when_its_limit_is_in_the_text(
    reader: Engine, long_table: Table
) -> None:
    # The same page, with its limit as a parameter and in the text. psycopg prepares
    # a statement at its fifth run; PostgreSQL then tries five plans made for the
    # values before it settles on one plan for any values, if that one is as cheap.
    page = select(long_table.c.id).order_by(long_table.c.id.desc())
    with reader.connect() as conn:
        for _ in range(20):
            conn.execute(page.where(long_table.c.id > 0).limit(21)).all()
            conn.execute(page.where(long_table.c.id >= 0).limit(literal_limit(21))).all()
    generic, custom = _plans(reader, "LIMIT 21")
    assert generic >= 10, (generic, custom)
    # Planned afresh each time: what every page cost before (1.5 ms of a ledger page).
    generic, custom = _plans(reader, "plan_probe.id > ")
    assert generic == 0, (generic, custom)
    assert custom >= 15, (generic, custom)


def test_the_reader_runs_without_begin_and_still_refuses_writes(
    reader: Engine, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite's reader is query_only (test_read_only_routes.py)")
    with reader.connect() as conn:
        # Each statement is its own transaction: none is open between them.
        conn.execute(select(1))
        driver = conn.connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status.name == "IDLE"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.execute(text("CREATE TEMPORARY TABLE scratch (n integer)"))


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(engine: Engine, pid: int) -> None:
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_a_connection_closed_by_the_server_while_idle_is_replaced(
    reader: Engine, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no server to close a connection")
    # A connection used a moment ago is not checked: when the server closed it, the
    # request that meets it fails (the API answers 503) and the pool is renewed.
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend_pid(reader)
    _terminate(reader, first)
    with pytest.raises(OperationalError), reader.connect() as conn:
        conn.execute(select(1))
    # A connection idle for longer than the threshold (a server restart takes longer)
    # is checked, found closed and replaced before the request uses it.
    second = _backend_pid(reader)
    _terminate(reader, second)
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(reader) not in (first, second)


def test_sqlite_reads_are_admitted_one_more_than_the_cpus(settings: Settings) -> None:
    engine = create_db_engine(settings.sqlalchemy_url, pool_size=1)
    try:
        reads = create_db_limiter(engine, read_only=True).value
        writes = create_db_limiter(engine).value
    finally:
        engine.dispose()
    if engine.dialect.name == "sqlite":
        assert reads == len(os.sched_getaffinity(0)) + 1 == sqlite_read_admission()
        assert writes == 1
    else:
        assert reads == writes == POOL_SIZE


@pytest.fixture
def sqlite_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Table]]:
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('types')}/types.db")
    table = Table(
        "values_read",
        MetaData(),
        Column("id", TextUuid(), primary_key=True),
        Column("at", UTCDateTime()),
    )
    table.metadata.create_all(engine)
    yield engine, table
    engine.dispose()


def test_sqlite_reads_back_the_uuids_and_times_it_stored(
    sqlite_table: tuple[Engine, Table],
) -> None:
    engine, table = sqlite_table
    ids = [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    at = datetime(2026, 5, 10, 9, 30, 0, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": at} for i in ids])
        # Text not written by Uuid or the DateTime type: hyphens, an offset, no fraction.
        conn.execute(
            text("INSERT INTO values_read (id, at) VALUES (:id, :at)"),
            [
                {"id": "01a21f78-fe85-7000-89ab-aead29e9ae75", "at": "2026-05-10 18:30:00+09:00"},
                {"id": "01a21f78fe85700089abaead29e9ae76", "at": "2026-05-10 09:30:00"},
            ],
        )
        rows = conn.execute(select(table.c.id, table.c.at)).all()
    read = {row.id: row.at for row in rows}
    for i in ids:
        got = next(r for r in read if r == i)
        assert (got, hash(got), str(got), got.int, got.version) == (
            i,
            hash(i),
            str(i),
            i.int,
            i.version,
        )
        assert type(got) is uuid.UUID
        assert pickle.loads(pickle.dumps(got)) == i  # noqa: S301 (our own bytes)
        assert read[got] == at
    assert read[uuid.UUID("01a21f78-fe85-7000-89ab-aead29e9ae75")] == datetime(
        2026, 5, 10, 9, 30, tzinfo=UTC
    )
    naive_text = read[uuid.UUID("01a21f78-fe85-7000-89ab-aead29e9ae76")]
    assert naive_text == datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
    assert naive_text.tzinfo is UTC
    with pytest.raises(TypeError, match="immutable"):
        next(iter(read)).int = 1


def test_startup_objects_are_frozen_while_the_app_serves() -> None:
    with startup_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
