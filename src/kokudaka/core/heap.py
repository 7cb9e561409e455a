"""The service's start-up objects kept out of the garbage collector's full passes.

A started service holds about 200,000 long-lived objects (FastAPI, SQLAlchemy's mappers
and compiled statements, web3 and its ABI tables) that are never garbage. CPython's
full collection scans them all, 50-85 ms on this project's machines, and stops every
request while it runs. Frozen (``gc.freeze``), they are left out of every collection;
what requests allocate is still collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["startup_objects_frozen"]


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Freeze what exists now for the block's duration, then give it back to the
    collector, so an app started and stopped in one process (the tests) leaves nothing
    uncollectable behind."""
    gc.collect()  # garbage from start-up is freed, not frozen
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
