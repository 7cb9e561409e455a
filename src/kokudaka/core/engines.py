"""Engines: how the service connects to SQLite and PostgreSQL.

Each backend's settings for correctness under load (``create_db_engine``), the pooled
connections' health check, and ``literal_limit`` for statements' ``LIMIT``. Sessions
and the request's unit of work are in ``core/db.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic_core import from_json
from sqlalchemy import BindParameter, Engine, Integer, bindparam, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

# Connections per process. Requests that use the database are admitted up to this many
# at a time (see get_session), below the 40 worker threads FastAPI runs sync code in.
POOL_SIZE = 16


def create_db_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas each backend needs to be correct under load.

    SQLite: WAL so readers never block the writer, foreign keys on, a busy timeout so
    concurrent writers queue instead of failing, and ``BEGIN IMMEDIATE`` so that a
    transaction that reads then writes (check the cap, then issue) holds the write lock
    from its start: two such transactions can never interleave, which is what makes the
    over-subscription and cap checks safe on SQLite. PostgreSQL gets the same guarantee
    from row locks on the rows the checks read, always ``FOR NO KEY UPDATE``
    (``with_for_update(key_share=True)``): no check changes a key, and a plain
    ``FOR UPDATE`` also blocks the key-share lock that every foreign key to the row takes,
    so investing (the work, then the town's policy) and confirming (the policy, then an
    issuance naming the work) deadlocked under load.

    ``read_only``: an engine for read-only units of work (see :class:`UnitOfWorkRoute`).
    Its transactions take no write lock, so in WAL mode they run beside the writer and
    see the last committed state: SQLite begins them with a plain (deferred) ``BEGIN``
    on a connection with ``query_only`` set, PostgreSQL runs them ``READ ONLY``. Either
    database refuses a write in them, so a read-only route that writes fails loudly.
    """
    sa_url = make_url(url)
    # An error's text never carries the statement's values: they hold password hashes,
    # names and addresses, and such errors are logged (core/errors.py).
    kwargs.setdefault("hide_parameters", True)
    # JSON columns (a ledger line's memo parameters) read back with Pydantic's parser, in
    # Rust: json.loads cost 2-5 µs a value, a tenth of a ledger page's row processing.
    kwargs.setdefault("json_deserializer", from_json)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    if sa_url.get_backend_name() != "sqlite":
        if read_only:
            # No BEGIN and no COMMIT around a read: two round trips of a hot read's three.
            # A statement of READ COMMITTED sees its own snapshot either way; a read that
            # needs one snapshot for several statements asks for it (read_snapshot).
            kwargs.setdefault("isolation_level", "AUTOCOMMIT")
        engine = create_engine(url, **kwargs)
        _ping_when_idle(engine)
        if read_only:

            @event.listens_for(engine, "connect")
            def _postgresql_read_only(dbapi_connection: Any, _record: Any) -> None:
                # Every statement's own transaction is read-only, and so is any explicit
                # transaction (psycopg opens it with BEGIN READ ONLY): the server refuses
                # a write in either.
                autocommit = dbapi_connection.autocommit
                dbapi_connection.autocommit = True
                dbapi_connection.execute("SET default_transaction_read_only = on")
                dbapi_connection.autocommit = autocommit
                dbapi_connection.read_only = True

        return engine

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
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    # A deferred BEGIN takes no lock until it reads, and then only a WAL snapshot.
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


# A pooled connection idle for longer than this is checked before use (see _ping_when_idle).
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "kokudaka.idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use when it sat idle for a while.

    ``pool_pre_ping`` checks every connection at every checkout: one more round trip for
    every request, as long as a hot read's only statement. A connection that was in use a
    moment ago is as good as a check; one that sat idle may have been closed by a restart
    of the server, which takes longer than the threshold. A connection that breaks while
    in use is an error the request answers with 503 (``core/errors.py``), and its pool
    is renewed at once.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")


def literal_limit(value: int | None = None, *, key: str = "limit") -> BindParameter[int]:
    """A ``LIMIT`` for ``Select.limit()``, written into the SQL text when the statement
    runs (``value``, or the ``key`` parameter given at execution).

    PostgreSQL plans a prepared statement once for any values (a generic plan) only when
    that plan costs no more than one made for the values. With ``LIMIT $1`` it assumes a
    tenth of the rows will be wanted, so it planned each execution afresh: 1.5 ms of a
    ledger page's 2 ms. With the number in the text, each limit is its own statement,
    planned once per connection; limits come from a few constants and page sizes.
    """
    return bindparam(key, value, type_=Integer(), literal_execute=True)
