"""Engine, sessions and the one place a request's transaction is committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

# Connections per process. Requests that use the database are admitted up to this many
# at a time (see get_session), below the 40 worker threads FastAPI runs sync code in.
POOL_SIZE = 16


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas each backend needs to be correct under load.

    SQLite: WAL so readers never block the writer, foreign keys on, a busy timeout so
    concurrent writers queue instead of failing, and ``BEGIN IMMEDIATE`` so that a
    transaction that reads then writes (check the cap, then issue) holds the write lock
    from its start: two such transactions can never interleave, which is what makes the
    over-subscription and cap checks safe on SQLite. PostgreSQL gets the same guarantee
    from ``SELECT ... FOR UPDATE`` on the rows the checks read.
    """
    sa_url = make_url(url)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    if sa_url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    if sa_url.database and sa_url.database != ":memory:":
        Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so the BEGIN below is the only one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # NORMAL in WAL mode survives a crash of the process (not of the OS): the
        # committed transactions of a killed service are all there on restart.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_db_limiter(engine: Engine) -> anyio.Semaphore:
    """How many requests may hold a database session at once.

    SQLite has one writer at a time and every transaction takes the write lock at
    BEGIN, so more than one admitted request would only wait inside SQLite's busy
    handler, which sleeps and retries unfairly (seconds of tail latency under load).
    Admitting one at a time makes them queue in order on the event loop instead.
    """
    return anyio.Semaphore(1 if engine.dialect.name == "sqlite" else POOL_SIZE)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: services only flush, this commits once at the end.

    It is declared with ``scope="function"`` so the commit happens before the response
    is sent: a client never sees success for a write that was not committed.

    Admission is awaited on the event loop, not in a worker thread. A request that
    holds a transaction (on SQLite: the write lock) needs a free thread to finish;
    if every thread were blocked waiting for that lock or for a pooled connection, no
    request could finish (thread-pool starvation). Admitting at most ``POOL_SIZE``
    requests at once keeps threads free for the ones that hold the database.
    """
    limiter: anyio.Semaphore = request.app.state.db_limiter
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    async with limiter:
        session = factory()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(session.close)  # closing rolls back
            raise
        await run_in_threadpool(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    # One thread hop for both: each hop costs more than either call on a fast path.
    try:
        session.commit()
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session, scope="function")]
