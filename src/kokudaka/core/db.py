"""Engine, sessions and the one place a request's transaction is committed."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
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


Check = Callable[[Connection], None]
_CHECKS = "kokudaka.checks_at_begin"


def create_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @event.listens_for(factory, "after_begin")
    def _run_checks_at_begin(
        session: Session, _transaction: SessionTransaction, connection: Connection
    ) -> None:
        for check in session.info.pop(_CHECKS, ()):
            check(connection)

    return factory


def check_at_begin(session: Session, check: Check) -> None:
    """Run ``check`` first in the session's transaction, before any other statement.

    Used to check the caller's account inside the request's own transaction and
    worker-thread hop. If the request ends without using the database, the check
    still runs before it is answered (see :func:`_commit_and_close`).
    """
    session.info.setdefault(_CHECKS, []).append(check)


def create_db_limiter(engine: Engine) -> anyio.Semaphore:
    """How many requests may hold a database session at once.

    SQLite has one writer at a time and every transaction takes the write lock at
    BEGIN, so more than one admitted request would only wait inside SQLite's busy
    handler, which sleeps and retries unfairly (seconds of tail latency under load).
    Admitting one at a time makes them queue in order on the event loop instead.
    """
    return anyio.Semaphore(1 if engine.dialect.name == "sqlite" else POOL_SIZE)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: services only flush; it is committed once, before
    the response is sent (``scope="function"``), so a client never sees success for a
    write that was not committed.

    The commit normally happens in the worker thread that ran the endpoint (see
    :class:`UnitOfWorkRoute`): each hop to a worker thread and back costs more than
    the statements of a typical request. Only an ``async`` endpoint, or an error,
    needs another hop here.

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
        if session.in_transaction() or _CHECKS in session.info:
            await run_in_threadpool(_commit_and_close, session)
        else:
            session.close()  # committed and closed already: no I/O left


def _commit_and_close(session: Session) -> None:
    # One thread hop for both: each hop costs more than either call on a fast path.
    try:
        if _CHECKS in session.info:
            session.connection()  # begins, so the pending checks run
        session.commit()
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session, scope="function")]

_SESSION_PARAMETER = "kokudaka_request_session"


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, then the commit of its request's session, in the same thread.

    FastAPI injects the request's session (the same one the endpoint and its
    dependencies get) through an extra keyword parameter added to the signature.
    """
    signature = inspect.signature(endpoint, eval_str=True)

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        session: Session = kwargs.pop(_SESSION_PARAMETER)
        result = endpoint(*args, **kwargs)
        _commit_and_close(session)
        return result

    session_parameter = inspect.Parameter(
        _SESSION_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=DbSession
    )
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), session_parameter]
    )
    return run


class UnitOfWorkRoute(APIRoute):
    """A route whose synchronous endpoint commits in the thread it ran in.

    FastAPI runs a synchronous endpoint in a worker thread, then the session
    dependency's teardown would need a second hop to commit. Every router of the
    service uses this route class, so a request that uses the database costs one
    hop: the caller's account check, the endpoint's statements and the commit.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and _uses_session(
            get_dependant(path=path, call=endpoint)
        ):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _uses_session(dependant: Dependant) -> bool:
    """Whether the request's session is among the dependencies (an endpoint that only
    calls the chain, say, must not hold a database admission while it waits)."""
    return any(d.call is get_session or _uses_session(d) for d in dependant.dependencies)
