"""The chain's latest block as ``GET /v1/chain`` shows it: refreshed in the background.

A mobile app polls ``/v1/chain``; asking the node for its block on every call would make
the node's speed the API's, and let any client make the service hammer the node. The
block number is read by one background task every ``refresh_seconds`` instead, and each
request answers from the last value read.

A request reads the node itself only when there is no recent value for the chain client
it is given (just after start, after the runtime changed, or while the refresher fails),
and then one request reads it while the others wait for its answer; a failed read is
remembered for ``refresh_seconds``, so a node that is down is not asked once per request
either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
from starlette.concurrency import run_in_threadpool

from kokudaka.chain.errors import ChainError, ChainUnavailable

logger = logging.getLogger(__name__)

#: Anvil's block time in the managed setup: a fresher value would show nothing new.
REFRESH_SECONDS = 1.0
#: A value older than this is not shown (the refresher is failing or stuck).
MAX_AGE_SECONDS = 5.0


class BlockSource(Protocol):
    """What the head needs of a chain client."""

    def block_number(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Reading:
    source: BlockSource
    block_number: int | None
    """None when the read failed."""
    read_at: float
    """``time.monotonic()`` when it was read."""


class ChainHead:
    """The latest block number, read at most about once per ``refresh_seconds``."""

    def __init__(
        self, *, refresh_seconds: float = REFRESH_SECONDS, max_age_seconds: float = MAX_AGE_SECONDS
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self.max_age_seconds = max_age_seconds
        self._reading: _Reading | None = None
        self._lock = threading.Lock()

    def block_number(self, source: BlockSource) -> int:
        """The latest block ``source`` reported, at most ``max_age_seconds`` old.

        Raises :class:`ChainError` when the node does not answer (or did not, less than
        ``refresh_seconds`` ago).
        """
        reading = self._usable(self._reading, source)
        if reading is None:
            with self._lock:  # one request reads the node; the others use its answer
                reading = self._usable(self._reading, source) or self._read(source)
        if reading.block_number is None:
            raise ChainUnavailable("the chain did not answer its latest block")
        return reading.block_number

    def refresh(self, source: BlockSource) -> None:
        """Read the block now (the background task's call); a failure is remembered."""
        with self._lock:
            self._read(source)

    async def keep_fresh(self, current_source: Callable[[], BlockSource | None]) -> None:
        """Refresh every ``refresh_seconds`` from whatever ``current_source()`` returns
        (None: nothing to read yet), until cancelled."""
        while True:
            source = current_source()
            if source is not None:
                await run_in_threadpool(self.refresh, source)
            await anyio.sleep(self.refresh_seconds)

    def _usable(self, reading: _Reading | None, source: BlockSource) -> _Reading | None:
        if reading is None or reading.source is not source:
            return None
        age = time.monotonic() - reading.read_at
        # A failure is retried sooner than a value expires: it may be a blip.
        limit = self.max_age_seconds if reading.block_number is not None else self.refresh_seconds
        return reading if age <= limit else None

    def _read(self, source: BlockSource) -> _Reading:
        try:
            block: int | None = source.block_number()
        except ChainError as error:
            logger.warning("reading the chain's latest block failed: %s", error)
            block = None
        self._reading = _Reading(source, block, time.monotonic())
        return self._reading
