"""Engine, sessions and the one place a request's transaction is committed."""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute

from kokudaka.core.engines import POOL_SIZE, create_db_engine
from kokudaka.core.errors import Unprocessable

Check = Callable[[Connection], None]
_CHECKS = "kokudaka.checks_at_begin"
_ADMISSION = "kokudaka.admission"
_READ_ONLY = "kokudaka.read_only"


class WriteInReadOnlyRoute(RuntimeError):
    """A read-only unit of work (a GET route not marked with :func:`writes`) tried to write."""


_WRITE_REFUSED = (
    "a read-only unit of work tried to write: a GET route runs read-only unless its "
    "endpoint is marked with @kokudaka.core.db.writes"
)


def create_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    if read_only:

        @event.listens_for(factory, "before_flush")
        def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
            # The database refuses the write anyway; this says why, and what to do.
            if session.new or session.dirty or session.deleted:
                raise WriteInReadOnlyRoute(_WRITE_REFUSED)

    @event.listens_for(factory, "after_begin")
    def _run_checks_at_begin(
        session: Session, _transaction: SessionTransaction, connection: Connection
    ) -> None:
        for check in session.info.pop(_CHECKS, ()):
            check(connection)

    return factory


def on_postgres(session_factory: sessionmaker[Session]) -> bool:
    """Whether ``session_factory``'s sessions are bound to a PostgreSQL engine."""
    engine = session_factory.kw.get("bind")
    return isinstance(engine, Engine) and engine.dialect.name == "postgresql"


def check_at_begin(session: Session, check: Check) -> None:
    """Run ``check`` first in the session's transaction, before any other statement.

    Used to check the caller's account inside the request's own transaction and
    worker-thread hop. If the request ends without using the database, the check
    still runs before it is answered (see :func:`_commit_and_close`).
    """
    session.info.setdefault(_CHECKS, []).append(check)


_C = TypeVar("_C")


def take_check_at_begin(session: Session, kind: type[_C]) -> _C | None:
    """Take back a pending check of type ``kind`` (see :func:`check_at_begin`), for a
    statement that does the check's work itself: it must then be the transaction's first.

    ``None`` when there is none, or when the transaction has begun (its checks ran).
    A hot read folds the caller's account check into its one statement this way: on
    PostgreSQL each statement is a round trip to the server.
    """
    checks = session.info.get(_CHECKS)
    if not checks or session.in_transaction():
        return None
    for index, check in enumerate(checks):
        if isinstance(check, kind):
            taken: _C = checks.pop(index)
            return taken
    return None


def create_db_limiter(engine: Engine, *, read_only: bool = False) -> anyio.Semaphore:
    """How many requests may hold a database session at once.

    SQLite has one writer at a time and every writing transaction takes the write lock
    at BEGIN, so more than one admitted writer would only wait inside SQLite's busy
    handler, which sleeps and retries unfairly (seconds of tail latency under load).
    Admitting one at a time makes them queue in order on the event loop instead.
    Read-only units of work take no lock: they are admitted beside the writer, up to the
    pool's size on PostgreSQL and a few more than the CPUs on SQLite (see
    :func:`sqlite_read_admission`).
    """
    if engine.dialect.name != "sqlite":
        return anyio.Semaphore(POOL_SIZE)
    if read_only:
        return anyio.Semaphore(sqlite_read_admission())
    return anyio.Semaphore(1)


def sqlite_read_admission() -> int:
    """How many read-only units of work run at once on SQLite: one more than the CPUs
    this process may use.

    SQLite runs inside this process, so a read's Python and its SQLite work share the
    same CPUs, and ``sqlite3`` gives up the interpreter lock at every row it steps. With
    more readers than CPUs, each row became a hand-over to another reader's thread: a
    20-line ledger page reached 440-620 requests/s at 16 readers (p99 21-48 ms) against
    610-750 at two (p99 14-18 ms), on one CPU. Waiting readers queue on the event loop.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus + 1


@dataclass(frozen=True)
class Database:
    """The service's two ways into one database: a writer and a reader, each with its
    engine, session factory and admission (see :class:`UnitOfWorkRoute`)."""

    engine: Engine
    sessions: sessionmaker[Session]
    limiter: anyio.Semaphore
    read_engine: Engine
    read_sessions: sessionmaker[Session]
    read_limiter: anyio.Semaphore

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = create_db_engine(url)
        read_engine = create_db_engine(url, read_only=True)
        return cls(
            engine=engine,
            sessions=create_sessionmaker(engine),
            limiter=create_db_limiter(engine),
            read_engine=read_engine,
            read_sessions=create_sessionmaker(read_engine, read_only=True),
            read_limiter=create_db_limiter(read_engine, read_only=True),
        )

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def read_snapshot(session: Session) -> None:
    """Make a reader session's transaction see one snapshot of the database throughout.

    For long reads whose statements must agree with each other (a reconciliation), without
    blocking writers or being blocked by them. On SQLite a reader's transaction (deferred
    ``BEGIN``, WAL mode) already reads one snapshot, fixed at its first read. On PostgreSQL
    each statement of a ``READ COMMITTED`` transaction sees what was committed before it
    started, so the transaction is made ``REPEATABLE READ`` (still ``READ ONLY``): one
    snapshot, fixed at its first statement. Call before the session's first statement.
    """
    if session.in_transaction():
        raise RuntimeError("read_snapshot() must come before the session's first statement")
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def get_session(request: Request) -> Session:
    """The request's session, not yet connected: dependencies only read the token and
    the request, and may register checks (:func:`check_at_begin`), but do no I/O.

    Its unit of work belongs to the route (:class:`UnitOfWorkRoute`): admission, the
    endpoint's statements, then one commit before the response is sent, so a client
    never sees success for a write that was not committed. A read-only route's session
    comes from the reader (:class:`Database`).
    """
    database: Database = request.app.state.database
    if request.scope.get(_READ_ONLY):
        session = database.read_sessions()
        session.info[_ADMISSION] = database.read_limiter
    else:
        session = database.sessions()
        session.info[_ADMISSION] = database.limiter
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


def _is_read_only_refusal(error: DBAPIError) -> bool:
    """Whether the database refused a write because the transaction is read-only."""
    orig = error.orig
    # SQLITE_READONLY (8) and its extended codes; SQLSTATE 25006 read_only_sql_transaction.
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    return (sqlite_code is not None and sqlite_code & 0xFF == 8) or (
        getattr(orig, "sqlstate", None) == "25006"
    )


def _unit_of_work(
    endpoint: Callable[..., Any], dependant: Dependant, *, read_only: bool
) -> Callable[..., Any]:
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

    async def run_admitted(session: Session, kwargs: dict[str, Any]) -> Any:
        if not is_async:
            return await run_in_threadpool(_run_and_commit, endpoint, session, kwargs)
        try:
            result = await endpoint(**kwargs)
        except BaseException:
            await _close_shielded(session)
            raise
        await run_in_threadpool(_commit_and_close, session)
        return result

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        session: Session = kwargs[name] if own else kwargs.pop(name)
        admission: anyio.Semaphore = session.info[_ADMISSION]
        async with admission:
            if not read_only:
                return await run_admitted(session, kwargs)
            try:
                return await run_admitted(session, kwargs)
            except DBAPIError as error:
                # Not a database outage (a 503 to retry): a bug, a 500 with its trace.
                if _is_read_only_refusal(error):
                    raise WriteInReadOnlyRoute(_WRITE_REFUSED) from error
                raise

    # Annotations evaluated here, in the endpoint's module, for FastAPI to read.
    parameters = list(signature.parameters.values())
    if not own:
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=DbSession)
        )
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return run


_WRITES = "__kokudaka_writes__"
_READ_METHODS = frozenset({"GET", "HEAD"})
_F = TypeVar("_F", bound=Callable[..., Any])


def writes(endpoint: _F) -> _F:
    """Mark a GET endpoint whose unit of work writes (rare: a GET should not change state).

    Without it a GET route runs read-only (:class:`UnitOfWorkRoute`), and a write in it
    is refused by the database and raises :class:`WriteInReadOnlyRoute`.
    """
    setattr(endpoint, _WRITES, True)
    return endpoint


class UnitOfWorkRoute(APIRoute):
    """A route whose request is one unit of work on the database.

    A GET (or HEAD) route is read-only unless its endpoint is marked with
    :func:`writes`: its session comes from the reader (:class:`Database`), whose
    transactions take no write lock and are admitted beside the single SQLite writer,
    so reads never queue behind writes. Any other method writes.

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

    #: A route class whose GETs all write sets this (the console: each page view
    #: touches the sign-in session it is shown in).
    gets_write: ClassVar[bool] = False

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ("GET",)}
        #: Whether the request's transaction is read-only (see :func:`writes`).
        self.read_only = (
            methods <= _READ_METHODS
            and not self.gets_write
            and not getattr(endpoint, _WRITES, False)
        )
        dependant = get_dependant(path=path, call=endpoint)
        if _uses_session(dependant):
            endpoint = _unit_of_work(endpoint, dependant, read_only=self.read_only)
        super().__init__(path, endpoint, **kwargs)
        self.query_names = _query_names(self.dependant)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, refusing query parameters the route does not declare.

        A misspelt or unsupported filter (``?season=2025`` where there is none) would
        otherwise be ignored silently and answer with everything, which a reader takes
        for the filtered answer.
        """
        handler = super().get_route_handler()
        read_only = self.read_only
        validators = _Validators(private=_authenticates(self.dependant)) if read_only else None

        async def checked(request: Request) -> Response:
            # Read by get_session, which FastAPI runs inside ``handler``.
            request.scope[_READ_ONLY] = read_only
            if request.scope.get("query_string"):
                unknown = request.query_params.keys() - self.query_names
                if unknown:
                    raise Unprocessable("unknown_query_parameter", names=", ".join(sorted(unknown)))
            response = await handler(request)
            if validators is None:
                return response
            return validators.apply(request, response)

        return checked


@dataclass(frozen=True, slots=True)
class _Validators:
    """``ETag`` and ``Cache-Control`` on a read-only route's answers, and 304 to a client
    that already holds the answer (``If-None-Match``).

    The tag is a hash of the body as sent, so it changes exactly when the answer does,
    whatever made it change. A cache may keep an answer but must revalidate it each
    time (``no-cache``): a polling app then gets a 304 without a body while nothing
    changed. Answers for the signed-in caller are ``private`` (no shared cache keeps
    them) and vary with the token; every answer varies with the language.
    """

    private: bool

    def apply(self, request: Request, response: Response) -> Response:
        body = getattr(response, "body", None)
        if response.status_code != 200 or not isinstance(body, bytes):
            return response  # errors, streams and files are left as they are
        headers = response.headers
        if "cache-control" in headers:
            return response  # the endpoint decided
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        cache_control = "private, no-cache" if self.private else "public, no-cache"
        vary = "Authorization, Accept-Language" if self.private else "Accept-Language"
        validators = {"ETag": etag, "Cache-Control": cache_control, "Vary": vary}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=validators)
        headers.update(validators)
        return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _authenticates(dependant: Dependant) -> bool:
    """Whether the route reads a credential (its answer is then the caller's own)."""
    return any(
        isinstance(d.call, SecurityBase) or _authenticates(d) for d in dependant.dependencies
    )


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
