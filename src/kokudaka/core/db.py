"""Engine, sessions and the one place a request's transaction is committed."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable
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
from starlette.responses import Response
from starlette.routing import BaseRoute

from kokudaka.core.errors import Unprocessable

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
    # An error's text never carries the statement's values: they hold password hashes,
    # names and addresses, and such errors are logged (core/errors.py).
    kwargs.setdefault("hide_parameters", True)
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
_ADMISSION = "kokudaka.admission"


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


async def get_session(request: Request) -> Session:
    """The request's session, not yet connected: dependencies only read the token and
    the request, and may register checks (:func:`check_at_begin`), but do no I/O.

    Its unit of work belongs to the route (:class:`UnitOfWorkRoute`): admission, the
    endpoint's statements, then one commit before the response is sent, so a client
    never sees success for a write that was not committed.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    session.info[_ADMISSION] = request.app.state.db_limiter
    return session


def _commit_and_close(session: Session) -> None:
    try:
        if _CHECKS in session.info:
            session.connection()  # begins, so the pending checks run
        session.commit()
    finally:
        session.close()  # after an error, closing rolls back


def _run_and_commit(endpoint: Callable[..., Any], session: Session, kwargs: dict[str, Any]) -> Any:
    # The endpoint, then its commit, in one worker thread: each hop to a thread and
    # back costs more than either call on a fast path.
    try:
        result = endpoint(**kwargs)
    except BaseException:
        session.close()
        raise
    _commit_and_close(session)
    return result


async def _close_shielded(session: Session) -> None:
    with anyio.CancelScope(shield=True):  # a cancelled request still gives back its connection
        await run_in_threadpool(session.close)


DbSession = Annotated[Session, Depends(get_session)]

_SESSION_PARAMETER = "kokudaka_request_session"


def _unit_of_work(endpoint: Callable[..., Any], dependant: Dependant) -> Callable[..., Any]:
    """``endpoint`` run as its request's unit of work (see :class:`UnitOfWorkRoute`).

    The wrapper takes the request's session (the same one the endpoint's dependencies
    get) from the endpoint's own session parameter, or from an extra keyword parameter
    added to the signature when the endpoint gets it only through a dependency: each
    parameter that names the session costs FastAPI one more dependency to solve.
    """
    signature = inspect.signature(endpoint, eval_str=True)
    is_async = inspect.iscoroutinefunction(endpoint)
    own = next((d.name for d in dependant.dependencies if d.call is get_session), None)
    name = own or _SESSION_PARAMETER

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        session: Session = kwargs[name] if own else kwargs.pop(name)
        admission: anyio.Semaphore = session.info[_ADMISSION]
        async with admission:
            if not is_async:
                return await run_in_threadpool(_run_and_commit, endpoint, session, kwargs)
            try:
                result = await endpoint(**kwargs)
            except BaseException:
                await _close_shielded(session)
                raise
            await run_in_threadpool(_commit_and_close, session)
            return result

    # Annotations evaluated here, in the endpoint's module, for FastAPI to read.
    parameters = list(signature.parameters.values())
    if not own:
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=DbSession)
        )
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return run


class UnitOfWorkRoute(APIRoute):
    """A route whose request is one unit of work on the database.

    After FastAPI has solved the dependencies (which do no I/O), the request waits for
    admission on the event loop, then one worker thread runs the caller's account
    check, the endpoint's statements and the commit, and the admission is released.

    Admission is awaited on the event loop, not in a worker thread. A request that
    holds a transaction (on SQLite: the write lock) needs a free thread to finish; if
    every thread were blocked waiting for that lock or for a pooled connection, no
    request could finish (thread-pool starvation). Admitting at most ``POOL_SIZE``
    requests at once keeps threads free for the ones that hold the database.

    An ``async`` endpoint (it reads the raw body, say) runs on the event loop and hops
    to a thread for its own statements; its commit takes one more hop. An endpoint
    that does not use the session (one that only calls the chain) is left as it is,
    so it holds no admission while it waits.

    Every router of the service uses this route class; :func:`require_unit_of_work`
    refuses an app with a session-using route of any other class, since nothing else
    would commit its session.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependant = get_dependant(path=path, call=endpoint)
        if _uses_session(dependant):
            endpoint = _unit_of_work(endpoint, dependant)
        super().__init__(path, endpoint, **kwargs)
        self.query_names = _query_names(self.dependant)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, refusing query parameters the route does not declare.

        A misspelt or unsupported filter (``?season=2025`` where there is none) would
        otherwise be ignored silently and answer with everything, which a reader takes
        for the filtered answer.
        """
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.scope.get("query_string"):
                unknown = request.query_params.keys() - self.query_names
                if unknown:
                    raise Unprocessable("unknown_query_parameter", names=", ".join(sorted(unknown)))
            return await handler(request)

        return checked


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route declares, by the name a client sends (the alias),
    its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def _uses_session(dependant: Dependant) -> bool:
    """Whether the request's session is among the dependencies."""
    return any(d.call is get_session or _uses_session(d) for d in dependant.dependencies)


def require_unit_of_work(routes: Iterable[BaseRoute]) -> None:
    """Refuse routes that take the session without being a :class:`UnitOfWorkRoute`."""
    for route in routes:
        if (
            isinstance(route, APIRoute)
            and not isinstance(route, UnitOfWorkRoute)
            and _uses_session(route.dependant)
        ):
            raise RuntimeError(f"{route.path} uses the session but is not a UnitOfWorkRoute")
