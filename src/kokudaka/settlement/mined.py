"""Recording a worker's mined transactions beside its next claims.

Each mined batch is an UPDATE of hundreds of operations that the database works on while the
worker claims and signs its next batches. A worker has at most one such recording at a time and
awaits it before its cycle ends, so a cycle still ends with everything it saw mined recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["MinedRecording"]


class MinedRecording:
    """One worker's recording in progress, on a thread of its own or of a shared pool (each
    thread holds a database connection while it records)."""

    def __init__(self, pool: ThreadPoolExecutor | None, *, name: str) -> None:
        self._owns_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-mined")
        self._current: tuple[Future[None], int] | None = None
        """The recording in progress, and how many transactions it records."""

    def start(self, record: Callable[[], None], count: int) -> None:
        """Record ``count`` mined transactions with ``record`` in the background."""
        self._current = (self._pool.submit(record), count)

    def wait(self) -> None:
        """Wait for the recording in progress; raises what it raised."""
        if self._current is not None:
            future, _ = self._current
            self._current = None
            future.result()

    def in_flight(self, counted: int) -> int:
        """``counted`` submitted transactions as read from the database, less those still
        being recorded (submitted until their commit)."""
        if self._current is None:
            return counted
        future, count = self._current
        return counted if future.done() else max(0, counted - count)

    def close(self) -> None:
        if self._owns_pool:
            self._pool.shutdown(wait=True)
