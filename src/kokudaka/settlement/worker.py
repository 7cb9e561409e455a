"""The settlement worker: one cycle at a time, poll what was sent, then claim, record and send
what is due (see :mod:`kokudaka.settlement` for the whole design)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch, chain_keys, top_up_minter_allowance
from kokudaka.chain.errors import (
    ChainError,
    ChainUnavailable,
    NonceTooLow,
    ReceiptTimeout,
    TransactionAlreadyKnown,
    TransactionRejected,
)
from kokudaka.chain.interface import ALLOWANCE_EXCEEDED
from kokudaka.core.settings import Settings
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
    utcnow,
)
from kokudaka.settlement.claiming import Claimer
from kokudaka.settlement.nonces import sent_by
from kokudaka.settlement.outcomes import (
    CycleReport,
    Mined,
    Recorded,
    Replaced,
    Retry,
    Reverted,
    Submitted,
    backoff_seconds,
    lock_tx,
    record_mined,
    record_reverted,
    requeue,
)
from kokudaka.settlement.receipts import ChainReader
from kokudaka.settlement.repair import repair_lost

__all__ = ["SettlementWorker"]

logger = logging.getLogger(__name__)


class SettlementWorker:
    """Sends pending chain operations and settles them; safe to run in several processes.

    Use one instance per thread. :meth:`run_once` is one cycle (tests drive it directly);
    :meth:`run_forever` loops until a stop event, backing off while the chain or the database
    is unavailable.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client: ChainClient,
        settings: Settings,
        deployment: ChainDeployment,
        *,
        batch_size: int | None = None,
        max_in_flight: int = 64,
        resend_after: float = 5.0,
        hold_seconds: float = 10.0,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 300.0,
        reorg_check_seconds: float = 30.0,
        reorg_depth: int = 64,
        backoff_max_seconds: float = 30.0,
        receipt_threads: int = 4,
        name: str = "settlement",
    ) -> None:
        self.session_factory = session_factory
        self.client = client
        self.settings = settings
        self.deployment = deployment
        self.batch_size = batch_size or settings.settlement_batch_size
        self.max_in_flight = max_in_flight
        self.resend_after = resend_after
        self.hold_seconds = hold_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.reorg_check_seconds = reorg_check_seconds
        self.reorg_depth = reorg_depth
        self.backoff_max_seconds = backoff_max_seconds
        self.name = name
        self.chain_id = deployment.chain_id
        _, self._minter_key = chain_keys(settings)
        self.minter = to_checksum_address(client.account(self._minter_key).address)
        if self.minter != to_checksum_address(deployment.minter_address):
            raise DeploymentMismatch(
                f"the minter key is {self.minter}'s, the deployment's minter is "
                f"{deployment.minter_address}"
            )
        client.use_koku(deployment.token_address)
        with session_factory() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
        self._retry = Retry(retry_base_seconds, retry_max_seconds)
        self._claimer = Claimer(
            session_factory,
            client,
            self.chain_id,
            self.minter,
            self._minter_key,
            postgres,
            self.batch_size,
            hold_seconds,
        )
        self._reader = ChainReader(
            client, deployment, session_factory, threads=receipt_threads, name=name
        )
        # One thread sends, in nonce order, while the next batch is claimed and signed.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-send")
        self._sent_at: dict[str, float] = {}
        """Submitted transactions this worker sent (or saw in the pool), and when."""
        self._polled_head: int | None = None
        self._last_head: int | None = None
        self._next_lost_check = 0.0
        self._allowance_left: int | None = None
        self._chain_nonce = 0
        self.unavailable_errors = 0
        """How many cycles failed because the chain did not answer (for tests and health)."""
        self.database_errors = 0
        self.fatal_error: ChainError | None = None
        """Set when :meth:`run_forever` stopped because the chain cannot be trusted."""

    # ------------------------------------------------------------------ the loop

    def close(self) -> None:
        """Release the receipt threads (the worker cannot be used afterwards)."""
        self._sender.shutdown(wait=True)
        self._reader.close()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Cycle until ``stop_event`` is set; retry with exponential backoff and jitter."""
        try:
            self._run_forever(stop_event)
        finally:
            self.close()

    def _run_forever(self, stop_event: threading.Event) -> None:
        failures = 0
        busy_pause = min(self.settings.settlement_poll_seconds, 0.05)
        while not stop_event.is_set():
            try:
                report = self.run_once()
            except DeploymentMismatch as exc:
                self.fatal_error = exc
                logger.critical("%s stopped: %s", self.name, exc)
                return
            except (ChainUnavailable, ReceiptTimeout) as exc:
                failures += 1
                self.unavailable_errors += 1
                self._chain_was_unreachable()
                pause = backoff_seconds(
                    failures,
                    base=self.settings.settlement_poll_seconds,
                    cap=self.backoff_max_seconds,
                )
                logger.warning("%s: chain unavailable (%s); retry in %.1fs", self.name, exc, pause)
            except DBAPIError as exc:
                failures += 1
                self.database_errors += 1
                pause = backoff_seconds(
                    failures,
                    base=self.settings.settlement_poll_seconds,
                    cap=self.backoff_max_seconds,
                )
                logger.warning(
                    "%s: database unavailable (%s); retry in %.1fs",
                    self.name,
                    str(exc).splitlines()[0],
                    pause,
                )
            except Exception:
                # A bug or an unexpected node answer must not kill settlement silently.
                failures += 1
                pause = backoff_seconds(
                    failures,
                    base=self.settings.settlement_poll_seconds,
                    cap=self.backoff_max_seconds,
                )
                logger.exception("%s: cycle failed; retry in %.1fs", self.name, pause)
            else:
                failures = 0
                pause = busy_pause if report.busy else self.settings.settlement_poll_seconds
            stop_event.wait(pause)

    def run_once(self) -> CycleReport:
        """One cycle: look for lost confirmations if due, poll, then claim and send."""
        report = CycleReport()
        # The mined nonce is read before any receipt: a transaction below it that has no
        # receipt afterwards was certainly not mined (its nonce went to another transaction).
        self._chain_nonce = self.client.latest_nonce(self.minter)
        head = self.client.block_number()
        if self._last_head is not None and head < self._last_head:
            logger.warning(
                "%s: chain head went back from %s to %s", self.name, self._last_head, head
            )
            self._request_lost_check()
        self._last_head = head
        if time.monotonic() >= self._next_lost_check:
            self.check_for_lost(report, head)
        self._poll(report, head)
        self.submit(report)
        return report

    def _chain_was_unreachable(self) -> None:
        # The node may come back restarted from an older state: check before trusting it.
        self._request_lost_check()
        self._sent_at.clear()
        self._reader.forget()
        self._polled_head = None
        self._allowance_left = None

    def _request_lost_check(self) -> None:
        self._next_lost_check = 0.0
        self._polled_head = None

    # ------------------------------------------------------------------ reading

    def _sender_filter(self) -> tuple[Any, ...]:
        return sent_by(self.chain_id, self.minter)

    def _submitted(self, session: Session) -> list[Submitted]:
        rows = session.execute(
            select(
                ChainTransaction.id,
                ChainTransaction.tx_hash,
                ChainTransaction.nonce,
                ChainTransaction.operation_count,
            )
            .where(*self._sender_filter(), ChainTransaction.state == TransactionState.submitted)
            .order_by(ChainTransaction.nonce)
        ).all()
        return [Submitted(r.id, r.tx_hash, r.nonce, r.operation_count) for r in rows]

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
            self.session_factory,
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
            self._sent_at.pop(tx_hash, None)
        self._polled_head = None
        return report.lost

    # ------------------------------------------------------------------ polling

    def _poll(self, report: CycleReport, head: int) -> None:
        with self.session_factory() as session:
            submitted = self._submitted(session)
            highest_confirmed = session.scalar(
                select(func.max(ChainTransaction.nonce)).where(
                    *self._sender_filter(), ChainTransaction.state == TransactionState.confirmed
                )
            )
        # A nonce we saw mined that the chain no longer counts: it was rewound.
        rewound = highest_confirmed is not None and highest_confirmed >= self._chain_nonce
        if rewound and self.check_for_lost(report, head):
            with self.session_factory() as session:
                submitted = self._submitted(session)
        fetch_all = head != self._polled_head
        self._polled_head = head
        outcomes: list[Mined | Reverted | Replaced] = []
        # Receipts can only have appeared in a new block, or for a transaction this worker
        # has not seen yet (sent by another worker, or before a restart).
        wanted = [tx.tx_hash for tx in submitted if fetch_all or tx.tx_hash not in self._sent_at]
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
            last = self._sent_at.get(tx.tx_hash)
            if last is None or now - last >= self.resend_after:
                refused = self._resend_if_unknown(tx, report)
                if refused is not None:
                    outcomes.append(refused)
        if outcomes:
            self._apply(outcomes, report)
        report.in_flight = len(submitted) - len(outcomes)

    def _resend_if_unknown(self, tx: Submitted, report: CycleReport) -> Replaced | None:
        self._sent_at[tx.tx_hash] = time.monotonic()
        if self.client.rpc("eth_getTransactionByHash", [tx.tx_hash]) is not None:
            return None  # waiting in the pool
        with self.session_factory() as session:
            raw = session.scalar(
                select(ChainTransaction.raw_tx).where(ChainTransaction.id == tx.id)
            )
        if raw is None:
            return None
        try:
            self.client.send_raw(raw)
        except (TransactionAlreadyKnown, NonceTooLow):
            return None  # in the pool after all, or mined meanwhile: the next poll sees which
        except TransactionRejected as exc:
            return Replaced(tx.id, f"resend refused: {exc}", backoff=True)
        report.resent += 1
        logger.info("%s: resent %s (nonce %s)", self.name, tx.tx_hash, tx.nonce)
        return None

    # ------------------------------------------------------------------ recording outcomes

    def _apply(self, outcomes: Iterable[Mined | Reverted | Replaced], report: CycleReport) -> None:
        now = utcnow()
        with self.session_factory.begin() as session:
            for outcome in outcomes:
                tx = lock_tx(session, outcome.tx_id)
                if tx is None or tx.state is not TransactionState.submitted:
                    continue  # another worker recorded it first
                self._sent_at.pop(tx.tx_hash, None)
                self._reader.forget(tx.tx_hash)
                if isinstance(outcome, Mined):
                    record_mined(session, tx, outcome, now, report)
                elif isinstance(outcome, Reverted):
                    self._apply_reverted(session, tx, outcome, now, report)
                else:
                    tx.state = TransactionState.replaced
                    tx.last_error = outcome.reason[:1000]
                    retry = self._retry if outcome.backoff else None
                    report.requeued += requeue(session, tx.id, outcome.reason, now, retry)
                    logger.warning("%s: %s %s", self.name, tx.tx_hash, outcome.reason)

    def _apply_reverted(
        self,
        session: Session,
        tx: ChainTransaction,
        reverted: Reverted,
        now: datetime,
        report: CycleReport,
    ) -> None:
        logger.warning("%s: %s reverted: %s", self.name, tx.tx_hash, str(reverted.error)[:1000])
        if reverted.error.error_name == ALLOWANCE_EXCEEDED:
            self._allowance_left = None
        record_reverted(session, tx, reverted, now, report, self._retry)

    # ------------------------------------------------------------------ claiming and sending

    def submit(self, report: CycleReport | None = None, *, send: bool = True) -> CycleReport:
        """Claim, sign, record and commit due operations, then send them (the second half of
        a cycle). ``send=False`` stops after the commit: a crash between the two, for tests."""
        report = report or CycleReport()
        with self.session_factory() as session:
            in_flight = int(
                session.scalar(
                    select(func.count()).where(
                        *self._sender_filter(),
                        ChainTransaction.state == TransactionState.submitted,
                    )
                )
                or 0
            )
            report.in_flight = in_flight
            due = session.scalar(
                select(ChainOperation.id)
                .where(
                    ChainOperation.state == ChainState.pending,
                    ChainOperation.next_attempt_at <= utcnow(),
                )
                .limit(1)
            )
            if due is None or in_flight >= self.max_in_flight:
                return report
            in_flight_go = 0
            if self._allowance_left is None:
                in_flight_go = int(
                    session.scalar(
                        select(func.coalesce(func.sum(ChainOperation.amount_go), 0)).where(
                            ChainOperation.state == ChainState.submitted,
                            ChainOperation.kind == ChainOperationKind.mint,
                        )
                    )
                    or 0
                )
        if self._allowance_left is None:
            # What the chain still allows, less what our submitted mints will spend.
            self._allowance_left = self.client.minter_allowance(self.minter) - in_flight_go
        fees = self.client.fees()
        self.client.chain_id()  # cached from here on: signing does no network call
        short = False
        sending: list[Future[list[Replaced]]] = []
        try:
            while in_flight < self.max_in_flight:
                claim = self._claimer.claim(
                    fees,
                    self.max_in_flight - in_flight,
                    report,
                    allowance=self._allowance_left,
                    chain_nonce=self._chain_nonce,
                )
                if self._allowance_left is not None:
                    self._allowance_left -= claim.minted_go
                recorded, short = claim.recorded, claim.short
                if recorded:
                    if send:
                        sending.append(self._sender.submit(self._send, recorded, report))
                    in_flight += len(recorded)
                if not claim.progressed:
                    break
                if sending:
                    self._reader.prefetch(self._sent_at.copy())  # the sender thread adds to it
        finally:
            refused = [outcome for future in sending for outcome in future.result()]
        if refused:
            self._apply(refused, report)
        report.in_flight = in_flight
        if short and in_flight == 0:
            self._allowance_left = top_up_minter_allowance(
                self.session_factory, self.client, self.settings, self.deployment
            )
        return report

    def _send(self, recorded: Sequence[Recorded], report: CycleReport) -> list[Replaced]:
        """Send committed transactions in nonce order (on the sender thread); returns those the
        node refused. A node that stops answering stops the sending: the poll resends."""
        refused: list[Replaced] = []
        for tx in recorded:
            try:
                self.client.send_raw(tx.raw)
            except TransactionAlreadyKnown:
                pass
            except NonceTooLow:
                # Taken by a transaction we did not record: the next poll requeues the operations.
                logger.warning("%s: nonce %s of %s already used", self.name, tx.nonce, tx.tx_hash)
            except TransactionRejected as exc:
                refused.append(Replaced(tx.tx_id, f"refused by the node: {exc}", backoff=True))
            self._sent_at[tx.tx_hash] = time.monotonic()
            report.sent += 1
        return refused

    # ------------------------------------------------------------------ convenience

    def settle(self, *, timeout: float = 30.0, pause: float = 0.05) -> CycleReport:
        """Cycle until nothing is due or submitted (tests, the bench); returns the totals."""
        total = CycleReport()
        deadline = time.monotonic() + timeout
        while True:
            report = self.run_once()
            for name in ("claimed", "sent", "resent", "confirmed", "failed", "requeued", "held"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.lost += report.lost
            total.in_flight = report.in_flight
            if not self.outstanding():
                return total
            if time.monotonic() > deadline:
                raise TimeoutError(f"settlement not finished within {timeout}s: {total}")
            time.sleep(pause)

    def outstanding(self) -> bool:
        """Whether any operation is submitted, or pending and due."""
        with self.session_factory() as session:
            due = (ChainOperation.state == ChainState.pending) & (
                ChainOperation.next_attempt_at <= utcnow()
            )
            return (
                session.scalar(
                    select(ChainOperation.id)
                    .where((ChainOperation.state == ChainState.submitted) | due)
                    .limit(1)
                )
                is not None
            )
