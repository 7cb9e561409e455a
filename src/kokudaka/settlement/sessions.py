"""The settlement workers' database sessions: reads apart from writes.

On SQLite the service's engine begins every transaction ``IMMEDIATE`` (see
:func:`kokudaka.core.db.create_db_engine`), which takes the database's one write lock even to
read. The towns' workers read far more often than they write (every cycle polls what each
minter sent), so their reads go to a read-only engine on the same file (a deferred ``BEGIN`` on
a WAL snapshot: it neither waits for nor blocks a writer), and their writes queue on a lock in
the process rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms and,
with a dozen threads, lost most of the time settling. PostgreSQL needs neither: its row locks
serialise only what must be (one minter's nonces), so reads and writes use the same factory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.core.db import create_sessionmaker, on_postgres
from kokudaka.core.engines import create_db_engine

__all__ = ["SettlementSessions"]


@dataclass(frozen=True)
class SettlementSessions:
    """Where the workers of one process read and write."""

    writes: sessionmaker[Session]
    reads: sessionmaker[Session]
    postgres: bool
    _write_lock: AbstractContextManager[object] = field(repr=False)
    _read_engine: Engine | None = field(default=None, repr=False)

    @classmethod
    def of(cls, session_factory: sessionmaker[Session]) -> SettlementSessions:
        engine = session_factory.kw.get("bind")
        if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
            return cls(
                session_factory, session_factory, on_postgres(session_factory), nullcontext()
            )
        read_engine = create_db_engine(
            engine.url.render_as_string(hide_password=False), read_only=True
        )
        reads = create_sessionmaker(read_engine, read_only=True)
        return cls(session_factory, reads, False, threading.Lock(), read_engine)

    def read(self) -> Session:
        """A session that only reads (use it as a context manager)."""
        return self.reads()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes, committed on leaving (rolled back on an error)."""
        with self._write_lock, self.writes.begin() as session:
            yield session

    def close(self) -> None:
        if self._read_engine is not None:
            self._read_engine.dispose()
