"""The towns' settlement workers: one :class:`~kokudaka.settlement.worker.SettlementWorker` per
town minter, each in its own thread, so towns settle in parallel and independently.

Why a worker per minter rather than one worker with a lane per minter: everything a worker
keeps is per minter already (its nonce stream, its transactions in flight, what it sent and
when, the chain's view of its nonce, its town's allowances), and a town's trouble stays its own.
A town at its cap, a key that does not open, a node that refuses one sender's transactions, or a
slow claim of a town with a large backlog pauses that town only; the others keep their pace. The
threads share a pool for receipt requests, and the database serialises what has to be (each
minter's nonces under its ``town_minters`` row lock).

:class:`SettlementPool` re-reads the towns' active minters every ``refresh_seconds``: a new town
gets a worker, and a rotated key's worker is set draining (it signs nothing more and ends once
its transactions in flight are settled) while the new key's worker takes over the town. A
retired key with transactions still in flight after a restart gets a draining worker too, so
nothing it sent is left unfollowed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError
from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment, ChainTransaction, TransactionState
from kokudaka.models.chain import TownMinter
from kokudaka.settlement.outcomes import CycleReport
from kokudaka.settlement.sessions import SettlementSessions
from kokudaka.settlement.worker import DevelopmentSync, SettlementWorker
from kokudaka.towns.minters import TownMinterKey, active_minters
from kokudaka.wallets.custody import WalletKeyError

__all__ = ["HEAD_POLL_SECONDS", "SettlementPool"]

#: How often the pool looks for a new block to wake the workers.
HEAD_POLL_SECONDS = 0.05

logger = logging.getLogger(__name__)


class SettlementPool:
    """A settlement worker per town minter (see the module notes).

    :meth:`run_forever` runs each worker in a thread of its own until a stop event;
    :meth:`run_once`, :meth:`submit` and :meth:`settle` drive every worker in turn from the
    calling thread (tests). ``worker_options`` are passed to each
    :class:`~kokudaka.settlement.worker.SettlementWorker`.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client_factory: Callable[[], ChainClient],
        settings: Settings,
        deployment: ChainDeployment,
        *,
        top_up: DevelopmentSync | None = None,
        refresh_seconds: float = 5.0,
        receipt_threads: int = 8,
        name: str = "settlement",
        **worker_options: Any,
    ) -> None:
        self.session_factory = session_factory
        self.client_factory = client_factory
        self.settings = settings
        self.deployment = deployment
        self.top_up = top_up
        self.refresh_seconds = refresh_seconds
        self.name = name
        """Its workers are named ``<name>-<town id prefix>`` in logs and threads."""
        self.worker_options = worker_options
        self.sessions = SettlementSessions.of(session_factory)
        self.workers: dict[str, SettlementWorker] = {}
        """By minter address."""
        self._finished: list[SettlementWorker] = []
        self._unusable: set[uuid.UUID] = set()
        """Minter rows whose worker could not be made (logged once)."""
        self._receipts = ThreadPoolExecutor(
            max_workers=receipt_threads, thread_name_prefix=f"{name}-receipts"
        )
        # Where the workers record their mined transactions beside their next claims: two
        # threads, so the towns' workers hold at most two database connections more than
        # one each (the service's requests share the pool).
        self._mined = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-mined")
        self._threads: dict[str, threading.Thread] = {}
        self._shared_client: ChainClient | None = None
        self._halt = threading.Event()
        self._next_refresh = 0.0
        self.fatal_error: ChainError | None = None
        """Set when a worker stopped because the chain cannot be trusted: all stop."""

    # ------------------------------------------------------------------ the towns

    def refresh(self, stop_event: threading.Event | None = None) -> None:
        """Start a worker for each new active minter, set rotated-out ones draining, and
        follow retired keys that still have transactions in flight. Once ``stop_event`` is
        set no more towns are added: in development each one's set-up on chain takes a few
        blocks, which would hold up a Ctrl-C."""
        self._next_refresh = time.monotonic() + self.refresh_seconds
        with self.sessions.read() as session:
            active = {key.address: key for key in active_minters(session)}
            in_flight = set(
                session.scalars(
                    select(ChainTransaction.sender)
                    .where(
                        ChainTransaction.chain_id == self.deployment.chain_id,
                        ChainTransaction.state == TransactionState.submitted,
                    )
                    .distinct()
                )
            )
            retired = {
                row.address: row
                for row in session.scalars(
                    select(TownMinter).where(
                        TownMinter.address.in_(in_flight - active.keys() - self.workers.keys())
                    )
                )
            }
        for address, worker in self.workers.items():
            if address not in active and not worker.draining:
                logger.info("%s: minter %s retired; draining", worker.name, address)
                worker.draining = True
        for address, key in active.items():
            if stop_event is not None and stop_event.is_set():
                return
            if address not in self.workers:
                self._add(key, draining=False)
        for row in retired.values():
            key = TownMinterKey(
                municipality_id=row.municipality_id,
                town=town_id(row.municipality_id),
                address=row.address,
                minter_id=row.id,
                key_ciphertext=row.key_ciphertext,
            )
            self._add(key, draining=True)

    def _add(self, key: TownMinterKey, *, draining: bool) -> None:
        if key.minter_id in self._unusable:
            return
        try:
            worker = SettlementWorker(
                self.session_factory,
                self._client(),
                self.settings,
                self.deployment,
                key,
                draining=draining,
                top_up=self.top_up,
                receipt_pool=self._receipts,
                mined_pool=self._mined,
                sessions=self.sessions,
                name=f"{self.name}-{key.municipality_id.hex[:8]}",
                **self.worker_options,
            )
        except WalletKeyError as exc:
            # A key that does not open under this service's secret stops its town only.
            self._unusable.add(key.minter_id)
            logger.error(
                "town %s: no settlement, its minter key %s does not open: %s",
                key.municipality_id,
                key.address,
                exc,
            )
            return
        self.workers[key.address] = worker
        if self.top_up is not None and not draining:
            # Development: a town created (or a key rotated) while the service runs gets its
            # minter, gas and caps on chain before its first batch.
            try:
                self.top_up(key)
            except ChainError as exc:
                logger.warning("%s: setting the town up on chain failed: %s", worker.name, exc)

    def _client(self) -> ChainClient:
        # One client for every worker: web3 keeps an HTTP session per thread, and building
        # the contract object costs ~70 ms of CPU per client.
        if self._shared_client is None:
            self._shared_client = self.client_factory()
        return self._shared_client

    def _drop_drained(self) -> None:
        for address, worker in list(self.workers.items()):
            thread = self._threads.get(address)
            done = (
                not thread.is_alive()
                if thread is not None
                else worker.draining and not worker.outstanding()
            )
            if done:
                self._threads.pop(address, None)
                if thread is None:
                    worker.close()
                self._finished.append(self.workers.pop(address))

    # ------------------------------------------------------------------ driving

    def run_once(self) -> CycleReport:
        """One cycle of every worker, in turn (tests); refreshes the towns when due."""
        if time.monotonic() >= self._next_refresh:
            self.refresh()
        total = CycleReport()
        in_flight = 0
        for worker in list(self.workers.values()):
            report = worker.run_once()
            total.add(report)
            in_flight += report.in_flight
        total.in_flight = in_flight
        self._drop_drained()
        return total

    def submit(self, *, send: bool = True) -> CycleReport:
        """Every worker's claim, record and send (see :meth:`SettlementWorker.submit`)."""
        if time.monotonic() >= self._next_refresh:
            self.refresh()
        total = CycleReport()
        for worker in self.workers.values():
            total.add(worker.submit(send=send))
        return total

    def settle(self, *, timeout: float = 30.0, pause: float = 0.05) -> CycleReport:
        """Cycle until no town has anything due or in flight; returns the totals."""
        total = CycleReport()
        deadline = time.monotonic() + timeout
        while True:
            total.add(self.run_once())
            if not self.outstanding():
                return total
            if time.monotonic() > deadline:
                raise TimeoutError(f"settlement not finished within {timeout}s: {total}")
            time.sleep(pause)

    def outstanding(self) -> bool:
        return any(worker.outstanding() for worker in self.workers.values())

    def run_forever(self, stop_event: threading.Event) -> None:
        """A thread per worker until ``stop_event`` is set (or a worker finds the chain
        untrustworthy); the towns are re-read every ``refresh_seconds``."""
        try:
            while not stop_event.is_set():
                try:
                    self.refresh(stop_event)
                except Exception:
                    logger.exception("settlement: reading the towns' minters failed")
                for address, worker in self.workers.items():
                    if address not in self._threads:
                        thread = threading.Thread(
                            target=worker.run_forever,
                            args=(self._halt,),
                            name=f"kokudaka-{worker.name}",
                            daemon=True,
                        )
                        thread.start()
                        self._threads[address] = thread
                self._watch_head(stop_event)
                self._drop_drained()
                fatal = [w.fatal_error for w in self._all() if w.fatal_error is not None]
                if fatal:
                    self.fatal_error = fatal[0]
                    return
        finally:
            self.close()

    def _watch_head(self, stop_event: threading.Event) -> None:
        """Until the next refresh: wake every worker when a block appears, so that each reads
        its receipts then instead of polling the node and the database on its own."""
        until = time.monotonic() + self.refresh_seconds
        head: int | None = None
        while not stop_event.wait(HEAD_POLL_SECONDS) and time.monotonic() < until:
            try:
                now = self._client().block_number()
            except ChainError:
                return  # the workers find out and back off
            if now != head:
                head = now
                for worker in list(self.workers.values()):
                    worker.wake.set()

    def close(self) -> None:
        """Stop the worker threads and release their resources."""
        self._halt.set()
        for worker in self.workers.values():
            worker.wake.set()
        for thread in self._threads.values():
            thread.join(timeout=30)
        self._threads.clear()
        self._receipts.shutdown(wait=False)
        for worker in self.workers.values():
            worker.close()
        self._mined.shutdown(wait=True)
        self.sessions.close()

    # ------------------------------------------------------------------ health

    def _all(self) -> list[SettlementWorker]:
        return [*self.workers.values(), *self._finished]

    @property
    def unavailable_errors(self) -> int:
        """Cycles that failed because the chain did not answer, over every worker."""
        return sum(worker.unavailable_errors for worker in self._all())

    @property
    def database_errors(self) -> int:
        return sum(worker.database_errors for worker in self._all())
