"""The settlement worker of one town minter: one cycle at a time, poll what the minter sent, then
claim, record and send what the town has due (see :mod:`kokudaka.settlement` for the design)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch
from kokudaka.chain.errors import (
    ChainError,
    ChainUnavailable,
    ContractMissing,
    ReceiptTimeout,
)
from kokudaka.core.settings import Settings
from kokudaka.models import (
    ChainDeployment,
)
from kokudaka.settlement import backlog
from kokudaka.settlement.allowances import SeasonAllowances, release_waiting
from kokudaka.settlement.applying import OutcomeRecorder
from kokudaka.settlement.claiming import Claimer
from kokudaka.settlement.mined import MinedRecording
from kokudaka.settlement.nonces import sent_by
from kokudaka.settlement.outcomes import (
    CycleReport,
    Mined,
    Replaced,
    Retry,
    Reverted,
    backoff_seconds,
)
from kokudaka.settlement.receipts import ChainReader
from kokudaka.settlement.recording import errors_of
from kokudaka.settlement.repair import repair_lost
from kokudaka.settlement.sending import Sender
from kokudaka.settlement.sessions import SettlementSessions
from kokudaka.towns.minters import TownMinterKey

__all__ = ["DevelopmentSync", "SettlementWorker"]

DevelopmentSync = Callable[[TownMinterKey], None]
"""Brings a town's minter, its gas and its season caps on chain to the database (development
only: production never holds the admin key, and a town at its cap waits for
``kokudaka chain allowances``)."""

logger = logging.getLogger(__name__)


def _uses(client: ChainClient, address: str) -> bool:
    try:
        return client.koku_address == to_checksum_address(address)
    except ContractMissing:
        return False


class SettlementWorker:
    """Sends one town minter's transactions and settles them; safe to run in several processes.

    ``minter`` is the town's key: every mint and burn of the town is signed with it, with the
    minter's own nonces. A ``draining`` worker (a minter retired by a rotation) signs nothing:
    it only follows its sent transactions until none is left in flight, so it needs no key.

    Use one instance per thread (:class:`~kokudaka.settlement.pool.SettlementPool` runs one per
    town). :meth:`run_once` is one cycle (tests drive it directly); :meth:`run_forever` loops
    until a stop event, backing off while the chain or the database is unavailable.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client: ChainClient,
        settings: Settings,
        deployment: ChainDeployment,
        minter: TownMinterKey,
        *,
        draining: bool = False,
        top_up: DevelopmentSync | None = None,
        batch_size: int | None = None,
        max_in_flight: int = 64,
        resend_after: float = 5.0,
        hold_seconds: float = 10.0,
        cap_wait_seconds: float = 15.0,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 300.0,
        reorg_check_seconds: float = 30.0,
        reorg_depth: int = 64,
        backoff_max_seconds: float = 30.0,
        receipt_threads: int = 4,
        receipt_pool: ThreadPoolExecutor | None = None,
        mined_pool: ThreadPoolExecutor | None = None,
        sessions: SettlementSessions | None = None,
        name: str | None = None,
    ) -> None:
        self.session_factory = session_factory
        self._owns_sessions = sessions is None
        self.sessions = sessions or SettlementSessions.of(session_factory)
        self.client = client
        self.settings = settings
        self.deployment = deployment
        self.town_minter = minter
        self.minter = minter.address
        self.municipality_id = minter.municipality_id
        self.draining = draining
        """Sign nothing more; stop once nothing sent is in flight (a retired minter)."""
        self.top_up = top_up
        self.batch_size = batch_size or settings.settlement_batch_size
        self.max_in_flight = max_in_flight
        self.resend_after = resend_after
        self.hold_seconds = hold_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.reorg_check_seconds = reorg_check_seconds
        self.reorg_depth = reorg_depth
        self.backoff_max_seconds = backoff_max_seconds
        self.name = name or f"settlement-{self.minter[:10]}"
        self.chain_id = deployment.chain_id
        if not _uses(client, deployment.token_address):
            client.use_koku(deployment.token_address)  # ~70 ms: web3 builds the contract
        if deployment.bills_address is not None and not client.has_bills:
            client.use_bills(deployment.bills_address)
        # Decrypted once: the worker signs every cycle. A draining worker never signs.
        key = b"" if draining else minter.private_key(settings)
        # On PostgreSQL a claim's statements run on their own thread while it signs the next
        # batch: the server works on them meanwhile. SQLite's writes are in this process and
        # hold its one write lock either way.
        self._writer = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-writes")
            if self.sessions.postgres
            else None
        )
        self._claimer = Claimer(
            self.sessions,
            client,
            self.chain_id,
            self.municipality_id,
            self.minter,
            minter.minter_id,
            key,
            self.batch_size,
            hold_seconds,
            cap_wait_seconds,
            writer=self._writer,
        )
        self._allowances = SeasonAllowances(
            self.sessions, client, self.municipality_id, minter.town
        )
        self._reader = ChainReader(
            client,
            deployment,
            self.sessions,
            town=minter.town,
            threads=receipt_threads,
            name=self.name,
            pool=receipt_pool,
        )
        self._sender = Sender(client, self.sessions, name=self.name)
        self._outcomes = OutcomeRecorder(
            self.sessions,
            self._sender,
            self._reader,
            self._claimer.registry,
            self._allowances,
            Retry(retry_base_seconds, retry_max_seconds, cap_wait_seconds),
            name=self.name,
        )
        self._mined = MinedRecording(mined_pool, name=self.name)
        self._polled_head: int | None = None
        self._next_poll = 0.0
        """Without a new block, when to look at the minter's transactions again (those of
        another worker, and resends)."""
        self._last_head: int | None = None
        self._next_lost_check = 0.0
        self._chain_nonce = 0
        self.wake = threading.Event()
        """Set to cut a wait short (a new block, or stopping)."""
        self.unavailable_errors = 0
        """How many cycles failed because the chain did not answer (for tests and health)."""
        self.database_errors = 0
        self.fatal_error: ChainError | None = None
        """Set when :meth:`run_forever` stopped because the chain cannot be trusted."""

    # ------------------------------------------------------------------ the loop

    def close(self) -> None:
        """Release the receipt threads (the worker cannot be used afterwards)."""
        self._mined.close()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self._sender.close()
        self._reader.close()
        if self._owns_sessions:
            self.sessions.close()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Cycle until ``stop_event`` is set; retry with exponential backoff and jitter."""
        try:
            self._run_forever(stop_event)
        finally:
            self.close()

    def _run_forever(self, stop_event: threading.Event) -> None:
        failures = 0
        poll = self.settings.settlement_poll_seconds
        while not stop_event.is_set():
            try:
                report = self.run_once()
            except DeploymentMismatch as exc:
                self.fatal_error = exc
                logger.critical("%s stopped: %s", self.name, exc)
                return
            except (ChainUnavailable, ReceiptTimeout) as exc:
                self.unavailable_errors += 1
                self._chain_was_unreachable()
                why = f"chain unavailable ({exc})"
            except DBAPIError as exc:
                self.database_errors += 1
                why = f"database unavailable ({str(exc).splitlines()[0]})"
            except Exception:
                # A bug or an unexpected node answer must not kill settlement silently.
                logger.exception("%s: cycle failed", self.name)
                why = "cycle failed"
            else:
                failures = 0
                if self.draining and not self.outstanding():
                    logger.info("%s: retired minter has nothing left in flight", self.name)
                    return
                if report.progressed:
                    stop_event.wait(min(poll, 0.05))
                else:
                    # Nothing to do until a block or new operations: a dozen towns polling
                    # fast would cost the CPU their batches need. The pool wakes its workers
                    # at each new block.
                    self.wake.wait(poll)
                    self.wake.clear()
                continue
            failures += 1
            pause = backoff_seconds(failures, base=poll, cap=self.backoff_max_seconds)
            logger.warning("%s: %s; retry in %.1fs", self.name, why, pause)
            stop_event.wait(pause)

    def run_once(self) -> CycleReport:
        """One cycle: look for lost confirmations if due, poll, then claim and send."""
        report = CycleReport()
        head = self.client.block_number()
        if head != self._polled_head:
            # Only a new block moves the mined nonce. It is read before any receipt: a
            # transaction below it that has no receipt afterwards was certainly not mined (its
            # nonce went to another transaction).
            self._chain_nonce = self.client.latest_nonce(self.minter)
        if self._last_head is not None and head < self._last_head:
            logger.warning(
                "%s: chain head went back from %s to %s", self.name, self._last_head, head
            )
            self._request_lost_check()
        self._last_head = head
        if time.monotonic() >= self._next_lost_check:
            self.check_for_lost(report, head)
        now = time.monotonic()
        if head != self._polled_head or now >= self._next_poll:
            self._next_poll = now + min(self.resend_after / 2, 1.0)
            self._poll(report, head)
        try:
            self.submit(report)
        finally:
            # A cycle ends with everything it saw mined recorded.
            self._mined.wait()
        return report

    def _chain_was_unreachable(self) -> None:
        # The node may come back restarted from an older state: check before trusting it.
        self._request_lost_check()
        self._sender.forget()
        self._reader.forget()
        self._polled_head = None
        self._allowances.forget()

    def _request_lost_check(self) -> None:
        self._next_lost_check = 0.0
        self._polled_head = None

    # ------------------------------------------------------------------ reading

    def _sender_filter(self) -> tuple[Any, ...]:
        return sent_by(self.chain_id, self.minter)

    # ------------------------------------------------------------------ lost confirmations

    def check_for_lost(self, report: CycleReport | None = None, head: int | None = None) -> int:
        """Send back to ``submitted`` every recently confirmed transaction the chain lost.

        Returns how many. Raises :class:`DeploymentMismatch` if the contract itself is gone.
        """
        report = report or CycleReport()
        self._next_lost_check = time.monotonic() + self.reorg_check_seconds
        self._reader.require_contract()
        head = self.client.block_number() if head is None else head
        lost = repair_lost(
            self.sessions,
            self._reader,
            self._sender_filter(),
            head=head,
            reorg_depth=self.reorg_depth,
            report=report,
            name=self.name,
        )
        if lost is None:
            return 0
        for tx_hash in lost:
            self._sender.forget(tx_hash)
        self._polled_head = None
        return report.lost

    # ------------------------------------------------------------------ polling

    def _poll(self, report: CycleReport, head: int) -> None:
        with self.sessions.read() as session:
            submitted = backlog.submitted(session, self._sender_filter())
            highest_confirmed = backlog.highest_confirmed_nonce(session, self._sender_filter())
        # A nonce we saw mined that the chain no longer counts: it was rewound.
        rewound = highest_confirmed is not None and highest_confirmed >= self._chain_nonce
        if rewound and self.check_for_lost(report, head):
            with self.sessions.read() as session:
                submitted = backlog.submitted(session, self._sender_filter())
        fetch_all = head != self._polled_head
        self._polled_head = head
        outcomes: list[Mined | Reverted | Replaced] = []
        # Receipts can only have appeared in a new block, or for a transaction this worker
        # has not seen yet (sent by another worker, or before a restart).
        wanted = [
            tx.tx_hash for tx in submitted if fetch_all or self._sender.sent_at(tx.tx_hash) is None
        ]
        receipts = self._reader.receipts(wanted)
        now = time.monotonic()
        for tx in submitted:
            receipt = receipts.get(tx.tx_hash)
            if receipt is not None:
                outcomes.append(self._reader.outcome(tx, receipt))
                continue
            if fetch_all and tx.nonce < self._chain_nonce:
                outcomes.append(
                    Replaced(tx.id, f"nonce {tx.nonce} was used by another transaction")
                )
                continue
            last = self._sender.sent_at(tx.tx_hash)
            if last is None or now - last >= self.resend_after:
                refused = self._sender.resend_if_unknown(tx, report)
                if refused is not None:
                    outcomes.append(refused)
        mined = [outcome for outcome in outcomes if isinstance(outcome, Mined)]
        others = [outcome for outcome in outcomes if not isinstance(outcome, Mined)]
        if others:
            self._outcomes.apply(others, report)
        if mined:
            # Recorded beside this cycle's claims (awaited before the cycle ends): a mined
            # transaction's row and operations are no claim's, and a claim never reads them.
            self._mined.start(lambda: self._outcomes.apply(mined, report), len(mined))
        report.in_flight = len(submitted) - len(outcomes)

    # ------------------------------------------------------------------ claiming and sending

    def submit(self, report: CycleReport | None = None, *, send: bool = True) -> CycleReport:
        """Claim, sign, record and commit the town's due operations, then send them (the second
        half of a cycle). ``send=False`` stops after the commit: a crash between the two, for
        tests."""
        report = report or CycleReport()
        if self.draining:
            return report
        with self.sessions.read() as session:
            in_flight = self._mined.in_flight(backlog.in_flight(session, self._sender_filter()))
            report.in_flight = in_flight
            due = backlog.due_operation(session, self.municipality_id)
        if due is None or in_flight >= self.max_in_flight:
            return report
        fees = self.client.fees()
        self.client.chain_id()  # cached from here on: signing does no network call
        sending: list[Future[list[Replaced]]] = []
        committing: list[Future[None]] = []
        short: set[int] = set()
        try:
            while in_flight < self.max_in_flight:
                claim = self._claimer.claim(
                    fees,
                    self.max_in_flight - in_flight,
                    report,
                    allowance=self._allowances.left,
                    chain_nonce=self._chain_nonce,
                    after=committing[-1] if committing else None,
                )
                if claim.committed is not None:
                    committing.append(claim.committed)
                if claim.retired:
                    logger.info("%s: the town's minter was rotated; draining", self.name)
                    self.draining = True
                    break
                self._allowances.spend(claim.minted_go)
                for shortfall in claim.short:
                    # Read the chain again next time: the cap may be raised meanwhile.
                    self._allowances.forget(shortfall.season)
                    short.add(shortfall.season)
                    report.waiting += 1
                if claim.recorded:
                    if send:
                        sending.append(
                            self._sender.send_later(claim.recorded, report, claim.committed)
                        )
                    in_flight += len(claim.recorded)
                learnt = bool(claim.unknown_seasons) and self._allowances.learn(
                    claim.unknown_seasons
                )
                if not (claim.progressed or learnt):
                    break
                if sending and self._reader.prefetch(self._sender.sent()):
                    # A new block: end the cycle so the next one polls it, and its mined
                    # transactions are recorded while the next claims are signed, rather than
                    # all at once when the backlog is gone.
                    break
        finally:
            # Every claim committed (or failed) and sent before the cycle ends; a failed
            # commit's error is the cycle's, and what it counted as spent is read again.
            failures = [error for error in errors_of(committing) if error is not None]
            if failures:
                self._allowances.forget()
                errors_of(sending)
                raise failures[0]
            refused = [outcome for future in sending for outcome in future.result()]
        if refused:
            self._outcomes.apply(refused, report)
        report.in_flight = in_flight
        for season in short:
            self._raise_cap(season)
        return report

    def _raise_cap(self, season: int) -> None:
        """In development, raise the town's cap for ``season`` to its policy and let its
        waiting mints go; in production they wait for an administrator."""
        if self.top_up is None:
            logger.warning(
                "%s: the town's mints of %s wait for its on-chain cap (kokudaka chain allowances)",
                self.name,
                season,
            )
            return
        self.top_up(self.town_minter)
        released = release_waiting(self.sessions, self.municipality_id, season)
        logger.info("%s: cap for %s raised; %s mints released", self.name, season, released)

    # ------------------------------------------------------------------ convenience

    def outstanding(self) -> bool:
        """Whether the minter has a transaction in flight, or (unless draining) the town has
        an operation submitted, or pending and due."""
        with self.sessions.read() as session:
            if backlog.in_flight(session, self._sender_filter()):
                return True
            return not self.draining and backlog.town_busy(session, self.municipality_id)
