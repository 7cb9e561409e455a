"""The settlement worker: sends the chain outbox (``chain_operations``) and records what happened.

Every issuance writes a pending mint in the same SQL transaction as its journal entry; every
reversal writes a pending burn. This worker turns them into KOKU transactions, exactly once on the
chain whatever crashes, and never holds a database transaction while it waits on the chain.

One cycle (:meth:`SettlementWorker.run_once`):

1. **Poll.** Read the minter's mined nonce, then the receipt of every submitted transaction.
   Mined: operations ``confirmed`` with block and gas (a reverted transaction puts its operations
   back to ``pending`` with backoff, or ``failed`` when no retry can help). Not mined, and its
   nonce used by another transaction: ``replaced``, operations back to ``pending``. Not mined and
   unknown to the node (dropped, or the node restarted): the *same signed bytes* are sent again.
2. **Claim and record.** In one short database transaction: lock the ``chain_deployments`` row
   (this serialises nonce allocation across workers and processes; on SQLite ``BEGIN IMMEDIATE``
   does the same), take due pending operations (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), fix
   each recipient from the user's wallet, group up to ``settlement_batch_size`` mints into one
   ``mintBatch`` (each burn is its own ``burnWithReference``), allocate nonces, sign locally,
   record each :class:`~kokudaka.models.ChainTransaction` (raw bytes and hash) and mark the
   operations ``submitted`` with its hash. **Commit, and only then send.** Many transactions are
   sent back to back without waiting for receipts (up to ``max_in_flight`` in flight).
3. **Lost confirmations** (at start, every ``reorg_check_seconds``, and whenever the chain looks
   rewound: its head or the minter's nonce went back, or it was unreachable): every transaction
   confirmed within the last ``reorg_depth`` blocks (or above the head) must still be in a
   block. One that is not goes back to ``submitted``, so step 1 resends its bytes, or requeues
   its operations if another transaction took its nonce. If the contract itself is gone (a reset
   chain) the worker stops rather than settle on a chain that diverged from the ledger.

Why this is exactly once: the contract refuses a second mint of a ref (``mintBatch`` silently
skips it, ``burnWithReference`` reverts ``AlreadyBurned``), and a transaction's hash is recorded
before it is sent, so a restarted worker always knows what might be on the chain. Operations are
claimed under a lock, so two workers never put one operation into two transactions; an operation
is sent again only after its previous transaction is proven not mined (nonce taken by another
transaction, revert) or lost.

**Nonces** are managed here, not by the node: the next nonce is the lowest one at or above the
minter's mined nonce that no recorded transaction holds (submitted, confirmed, or reverted in a
block). That is ``max(mined nonce, highest recorded + 1)`` in the normal case, and it refills a
hole left by a transaction the node refused, instead of stranding every later one behind it.
Allocation happens under the ``chain_deployments`` row lock, so two workers never take one nonce.

**Throughput.** Transactions are signed with locally managed nonces and sent back to back by one
sender thread (in nonce order) while the next batch is claimed and signed; receipts of newly
mined blocks are fetched in parallel meanwhile. ``bench/settlement.py`` measures the whole path.

**Mining mode of the managed anvil: interval mining** (``--block-time``, see
:mod:`kokudaka.chain.runtime`), not automine. Two measured facts and one more decide it:

- Killed with ``kill -9``, anvil restarts from its last periodic state dump and loses the blocks
  after it, receipts included. No mining mode prevents that; the lost-confirmation check above
  repairs it, so the choice does not hinge on it.
- Automine can leave ready transactions unmined on a long-lived chain when they arrive out of
  nonce order (foundry issue #10122), which pipelined sends from several workers do. Interval
  mining picks up everything ready at each tick.
- Under automine every ``eth_sendRawTransaction`` waits for its block: sending 64 signed batches
  of 315 mints took 1.5-2 s, against 0.15-0.3 s with interval mining (anvil 1.7.1, measured
  while building this worker), so pipelining pays off only with interval mining.

The price is up to one block interval of latency per issuance, which a currency settled in the
background can afford. Under any mode the worker also resends transactions the node dropped
(observed with anvil under load: a pipelined transaction vanished from the pool, nonce unused).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final, cast

from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import CursorResult, Select, func, insert, literal, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient, Fees
from kokudaka.chain.deployment import DeploymentMismatch, chain_keys, top_up_minter_allowance
from kokudaka.chain.errors import (
    ChainError,
    ChainUnavailable,
    NonceTooLow,
    ReceiptTimeout,
    TransactionAlreadyKnown,
    TransactionRejected,
    TransactionReverted,
)
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Settings
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
    User,
    utcnow,
)

__all__ = ["CycleReport", "SettlementWorker", "backoff_seconds"]

logger = logging.getLogger(__name__)

MINTED_TOPIC: Final = "0x" + keccak(text="Minted(bytes32,address,uint256,address)").hex()
BURNED_TOPIC: Final = "0x" + keccak(text="Burned(bytes32,address,uint256,address)").hex()

NO_WALLET: Final = "no wallet address"
WAITING_FOR_MINT: Final = "waiting for its mint to be confirmed"

#: Reverts a retry cannot cure; every other revert sends the operations back with backoff
#: (``AllowanceExceeded`` after a top-up, ``AccessControlUnauthorizedAccount`` once an
#: administrator restores the minter, a revert without data, ...).
_PERMANENT_REVERTS: Final = frozenset(
    {
        "ERC20InsufficientBalance",  # a burn from a wallet that no longer holds the tokens
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "InvalidRef",
        "ZeroAmount",
        "LengthMismatch",
    }
)

_rng = random.Random()  # noqa: S311 - jitter, not cryptography


@lru_cache(maxsize=65_536)
def _checksummed(address: str) -> str | None:
    """The EIP-55 form of a wallet address, or None if it is not one (cached: supporters
    receive many issuances, and each checksum costs a keccak)."""
    return to_checksum_address(address) if is_address(address) else None


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped, times 0.5-1.0."""
    return float(min(cap, base * 2 ** max(attempt - 1, 0)) * _rng.uniform(0.5, 1.0))


@dataclass
class CycleReport:
    """What one :meth:`SettlementWorker.run_once` did (counts of operations or transactions)."""

    claimed: int = 0
    """Operations put into newly signed transactions."""
    sent: int = 0
    """New transactions sent."""
    resent: int = 0
    """Recorded transactions sent again (same bytes) because the node did not know them."""
    confirmed: int = 0
    """Operations confirmed."""
    failed: int = 0
    """Operations failed for good."""
    requeued: int = 0
    """Operations put back to pending (revert, replaced or refused transaction)."""
    held: int = 0
    """Operations left pending: the user has no wallet, or a burn waits for its mint."""
    lost: int = 0
    """Confirmed transactions the chain no longer has (reset, reorg): back to submitted."""
    in_flight: int = 0
    """Submitted transactions after the cycle."""

    @property
    def busy(self) -> bool:
        return bool(self.claimed or self.in_flight or self.resent or self.lost)


# ------------------------------------------------------------------ outcomes of one poll


@dataclass(frozen=True)
class _Mined:
    tx_id: uuid.UUID
    tx_hash: str
    block_number: int
    gas_used: int
    confirmed_elsewhere: dict[str, tuple[str, int]] = field(default_factory=dict)
    """For operations this transaction settled without minting or burning them itself (the ref
    was used before): reference -> (hash, block) of the transaction that did."""


@dataclass(frozen=True)
class _Reverted:
    tx_id: uuid.UUID
    tx_hash: str
    block_number: int
    gas_used: int
    error: TransactionReverted
    already_burned: tuple[str, int] | None = None
    """For a burn reverted with AlreadyBurned: where the ref was burned."""


@dataclass(frozen=True)
class _Replaced:
    tx_id: uuid.UUID
    reason: str
    backoff: bool = False


@dataclass(frozen=True)
class _Recorded:
    """A transaction committed as submitted, to be sent now."""

    tx_id: uuid.UUID
    tx_hash: str
    nonce: int
    raw: bytes


@dataclass(frozen=True)
class _Submitted:
    id: uuid.UUID
    tx_hash: str
    nonce: int
    operation_count: int


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
            self._postgres = session.get_bind().dialect.name == "postgresql"
        self._pool = ThreadPoolExecutor(max_workers=receipt_threads, thread_name_prefix=name)
        # One thread sends, in nonce order, while the next batch is claimed and signed.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-send")
        self._prefetched: dict[str, Future[dict[str, Any] | None]] = {}
        self._prefetch_checked = 0.0
        self._prefetch_head: int | None = None
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
        self._pool.shutdown(wait=False)

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
        self._prefetched.clear()
        self._polled_head = None
        self._allowance_left = None

    def _request_lost_check(self) -> None:
        self._next_lost_check = 0.0
        self._polled_head = None

    # ------------------------------------------------------------------ reading

    def _sender_filter(self) -> tuple[Any, ...]:
        return (
            ChainTransaction.chain_id == self.chain_id,
            ChainTransaction.sender == self.minter,
        )

    def _submitted(self, session: Session) -> list[_Submitted]:
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
        return [_Submitted(r.id, r.tx_hash, r.nonce, r.operation_count) for r in rows]

    def _receipts(self, hashes: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Receipts fetched a few at a time: the node serialises a batch's hundreds of logs
        in its own threads, so parallel requests finish several times sooner."""
        found: dict[str, dict[str, Any] | None] = {}
        missing: list[str] = []
        for tx_hash in hashes:
            early = self._prefetched.pop(tx_hash, None)
            receipt = early.result() if early is not None else None
            if receipt is not None:
                found[tx_hash] = receipt
            else:
                missing.append(tx_hash)
        if len(missing) == 1:
            found[missing[0]] = self._receipt(missing[0])
        elif missing:
            found.update(zip(missing, self._pool.map(self._receipt, missing), strict=True))
        return found

    def _prefetch_receipts(self) -> None:
        """While claiming: when a new block appears, start fetching the receipts of the
        transactions sent so far, so the next poll finds most of them ready."""
        now = time.monotonic()
        if now - self._prefetch_checked < 0.2:
            return
        self._prefetch_checked = now
        head = self.client.block_number()
        if head == self._prefetch_head:
            return
        self._prefetch_head = head
        for tx_hash in self._sent_at.copy():  # the sender thread adds to it meanwhile
            if tx_hash not in self._prefetched:
                self._prefetched[tx_hash] = self._pool.submit(self._receipt, tx_hash)

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        # Raw JSON-RPC: web3's receipt formatting costs more than the request for a batch's
        # hundreds of logs.
        receipt: dict[str, Any] | None = self.client.rpc("eth_getTransactionReceipt", [tx_hash])
        return receipt

    def _mined_in(self, tx_hash: str) -> int | None:
        """The block a transaction is in, or None (unknown, or back in the pool after a
        reorg). Lighter than its receipt, which carries every log of a batch."""
        tx = self.client.rpc("eth_getTransactionByHash", [tx_hash])
        block = tx.get("blockNumber") if isinstance(tx, dict) else None
        return int(block, 16) if block is not None else None

    def _event_logs(self, topic: str, refs: Sequence[str]) -> dict[str, tuple[str, int]]:
        """reference -> (tx hash, block) of the ``Minted``/``Burned`` events of ``refs``."""
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(refs), 100):
            chunk = [ref.lower() for ref in refs[start : start + 100]]
            logs = self.client.rpc(
                "eth_getLogs",
                [
                    {
                        "address": self.deployment.token_address,
                        "topics": [topic, chunk],
                        "fromBlock": hex(self.deployment.deployed_block),
                        "toBlock": "latest",
                    }
                ],
            )
            for log in logs:
                found[log["topics"][1].lower()] = (
                    log["transactionHash"],
                    int(log["blockNumber"], 16),
                )
        return found

    def _require_contract(self) -> None:
        if not self.client.code_exists(self.deployment.token_address):
            raise DeploymentMismatch(
                f"the chain at {self.client.rpc_url} lost the KOKU contract deployed at "
                f"{self.deployment.token_address}; refusing to diverge from the ledger"
            )

    # ------------------------------------------------------------------ lost confirmations

    def check_for_lost(self, report: CycleReport | None = None, head: int | None = None) -> int:
        """Send back to ``submitted`` every recently confirmed transaction the chain lost.

        Returns how many. Raises :class:`DeploymentMismatch` if the contract itself is gone.
        """
        report = report or CycleReport()
        self._next_lost_check = time.monotonic() + self.reorg_check_seconds
        self._require_contract()
        head = self.client.block_number() if head is None else head
        with self.session_factory() as session:
            rows = session.execute(
                select(ChainTransaction.id, ChainTransaction.tx_hash, ChainTransaction.block_number)
                .where(
                    *self._sender_filter(),
                    ChainTransaction.state == TransactionState.confirmed,
                    ChainTransaction.block_number >= head - self.reorg_depth,
                )
                .order_by(ChainTransaction.nonce)
            ).all()
        lost: list[uuid.UUID] = []
        moved: list[tuple[uuid.UUID, int]] = []
        blocks = self._pool.map(self._mined_in, [row.tx_hash for row in rows])
        for row, block in zip(rows, blocks, strict=True):
            if block is None:
                lost.append(row.id)
            elif block != row.block_number:
                moved.append((row.id, block))
        if not lost and not moved:
            return 0
        now = utcnow()
        with self.session_factory.begin() as session:
            for tx_id, block in moved:
                session.execute(
                    update(ChainTransaction)
                    .where(ChainTransaction.id == tx_id)
                    .values(block_number=block, updated_at=now)
                )
                session.execute(
                    update(ChainOperation)
                    .where(ChainOperation.transaction_id == tx_id)
                    .values(block_number=block, updated_at=now)
                )
            for tx_id in lost:
                tx = self._lock_tx(session, tx_id)
                if tx is None or tx.state is not TransactionState.confirmed:
                    continue
                message = f"lost from the chain (head {head}); resending"
                tx.state = TransactionState.submitted
                tx.block_number = None
                tx.last_error = message
                session.execute(
                    update(ChainOperation)
                    .where(
                        ChainOperation.transaction_id == tx_id,
                        ChainOperation.state == ChainState.confirmed,
                    )
                    .values(
                        state=ChainState.submitted,
                        block_number=None,
                        last_error=message,
                        updated_at=now,
                    )
                )
                self._sent_at.pop(tx.tx_hash, None)
                report.lost += 1
                logger.warning("%s: transaction %s %s", self.name, tx.tx_hash, message)
        self._polled_head = None
        return report.lost

    def _lock_tx(self, session: Session, tx_id: uuid.UUID) -> ChainTransaction | None:
        return session.scalar(
            select(ChainTransaction).where(ChainTransaction.id == tx_id).with_for_update()
        )

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
        outcomes: list[_Mined | _Reverted | _Replaced] = []
        # Receipts can only have appeared in a new block, or for a transaction this worker
        # has not seen yet (sent by another worker, or before a restart).
        wanted = [tx.tx_hash for tx in submitted if fetch_all or tx.tx_hash not in self._sent_at]
        receipts = self._receipts(wanted)
        now = time.monotonic()
        for tx in submitted:
            receipt = receipts.get(tx.tx_hash)
            if receipt is not None:
                outcomes.append(self._mined(tx, receipt))
                continue
            if fetch_all and tx.nonce < self._chain_nonce:
                outcomes.append(
                    _Replaced(tx.id, f"nonce {tx.nonce} was used by another transaction")
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

    def _resend_if_unknown(self, tx: _Submitted, report: CycleReport) -> _Replaced | None:
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
            return _Replaced(tx.id, f"resend refused: {exc}", backoff=True)
        report.resent += 1
        logger.info("%s: resent %s (nonce %s)", self.name, tx.tx_hash, tx.nonce)
        return None

    def _mined(self, tx: _Submitted, receipt: dict[str, Any]) -> _Mined | _Reverted:
        block = int(receipt["blockNumber"], 16)
        gas_used = int(receipt["gasUsed"], 16)
        if int(receipt["status"], 16) != 1:
            return self._reverted(tx, block, gas_used)
        settled = {
            log["topics"][1].lower()
            for log in receipt["logs"]
            if log["topics"] and log["topics"][0] in (MINTED_TOPIC, BURNED_TOPIC)
        }
        if len(settled) == tx.operation_count:
            return _Mined(tx.id, tx.tx_hash, block, gas_used)
        # Some refs were settled before (a resend after a lost or replaced transaction):
        # find where, so each operation names the transaction that really minted it.
        with self.session_factory() as session:
            refs = list(
                session.scalars(
                    select(ChainOperation.reference).where(ChainOperation.transaction_id == tx.id)
                )
            )
        missing = [ref.lower() for ref in refs if ref.lower() not in settled]
        elsewhere = self._event_logs(MINTED_TOPIC, missing) if missing else {}
        if len(elsewhere) < len(missing):
            elsewhere |= self._event_logs(BURNED_TOPIC, missing)
        if any(ref not in elsewhere for ref in missing):
            # A successful call that settled nothing: is there still a contract at the address?
            self._require_contract()
            raise ChainError(
                f"{tx.tx_hash} succeeded but settled only {len(settled)} of {len(refs)} refs"
            )
        return _Mined(tx.id, tx.tx_hash, block, gas_used, elsewhere)

    def _reverted(self, tx: _Submitted, block: int, gas_used: int) -> _Reverted:
        formatted = self.client.get_receipt(tx.tx_hash)
        error = TransactionReverted("reverted without a known reason", tx_hash=tx.tx_hash)
        if formatted is not None:
            try:
                self.client.raise_for_receipt(formatted, context="settlement")
            except TransactionReverted as exc:
                error = exc
        already_burned = None
        if error.error_name == "AlreadyBurned" and error.error_args:
            ref = "0x" + bytes(error.error_args[0]).hex()
            already_burned = self._event_logs(BURNED_TOPIC, [ref]).get(ref)
        return _Reverted(tx.id, tx.tx_hash, block, gas_used, error, already_burned)

    # ------------------------------------------------------------------ recording outcomes

    def _apply(
        self, outcomes: Iterable[_Mined | _Reverted | _Replaced], report: CycleReport
    ) -> None:
        now = utcnow()
        with self.session_factory.begin() as session:
            for outcome in outcomes:
                tx = self._lock_tx(session, outcome.tx_id)
                if tx is None or tx.state is not TransactionState.submitted:
                    continue  # another worker recorded it first
                self._sent_at.pop(tx.tx_hash, None)
                self._prefetched.pop(tx.tx_hash, None)
                if isinstance(outcome, _Mined):
                    self._apply_mined(session, tx, outcome, now, report)
                elif isinstance(outcome, _Reverted):
                    self._apply_reverted(session, tx, outcome, now, report)
                else:
                    tx.state = TransactionState.replaced
                    tx.last_error = outcome.reason[:1000]
                    report.requeued += self._requeue(
                        session, tx.id, outcome.reason, now, backoff=outcome.backoff
                    )
                    logger.warning("%s: %s %s", self.name, tx.tx_hash, outcome.reason)

    def _apply_mined(
        self,
        session: Session,
        tx: ChainTransaction,
        mined: _Mined,
        now: datetime,
        report: CycleReport,
    ) -> None:
        tx.state = TransactionState.confirmed
        tx.block_number = mined.block_number
        tx.gas_used = mined.gas_used
        tx.last_error = None
        for ref, (other_hash, other_block) in mined.confirmed_elsewhere.items():
            other = session.scalar(
                select(ChainTransaction).where(ChainTransaction.tx_hash == other_hash)
            )
            if other is not None and other.state is not TransactionState.confirmed:
                # Marked replaced or lost earlier, yet it was mined after all.
                other.state = TransactionState.confirmed
                other.block_number = other_block
                other.last_error = "mined after all"
            report.confirmed += _rowcount(
                session.execute(
                    update(ChainOperation)
                    .where(
                        ChainOperation.transaction_id == tx.id,
                        ChainOperation.state == ChainState.submitted,
                        ChainOperation.reference == ref,
                    )
                    .values(
                        state=ChainState.confirmed,
                        tx_hash=other_hash,
                        transaction_id=other.id if other is not None else tx.id,
                        block_number=other_block,
                        last_error=None,
                        updated_at=now,
                    )
                )
            )
        report.confirmed += _rowcount(
            session.execute(
                update(ChainOperation)
                .where(
                    ChainOperation.transaction_id == tx.id,
                    ChainOperation.state == ChainState.submitted,
                )
                .values(
                    state=ChainState.confirmed,
                    tx_hash=tx.tx_hash,
                    block_number=mined.block_number,
                    last_error=None,
                    updated_at=now,
                )
            )
        )

    def _apply_reverted(
        self,
        session: Session,
        tx: ChainTransaction,
        reverted: _Reverted,
        now: datetime,
        report: CycleReport,
    ) -> None:
        tx.state = TransactionState.failed
        tx.block_number = reverted.block_number
        tx.gas_used = reverted.gas_used
        message = str(reverted.error)[:1000]
        tx.last_error = message
        name = reverted.error.error_name
        logger.warning("%s: %s reverted: %s", self.name, tx.tx_hash, message)
        if name == "AllowanceExceeded":
            self._allowance_left = None
        ops = (
            ChainOperation.transaction_id == tx.id,
            ChainOperation.state == ChainState.submitted,
        )
        if name == "AlreadyBurned":
            where_hash, where_block = reverted.already_burned or (
                tx.tx_hash,
                reverted.block_number,
            )
            report.confirmed += _rowcount(
                session.execute(
                    update(ChainOperation)
                    .where(*ops)
                    .values(
                        state=ChainState.confirmed,
                        tx_hash=where_hash,
                        block_number=where_block,
                        last_error=None,
                        updated_at=now,
                    )
                )
            )
        elif name in _PERMANENT_REVERTS:
            report.failed += _rowcount(
                session.execute(
                    update(ChainOperation)
                    .where(*ops)
                    .values(state=ChainState.failed, last_error=message, updated_at=now)
                )
            )
        else:
            report.requeued += self._requeue(session, tx.id, message, now, backoff=True)

    def _requeue(
        self, session: Session, tx_id: uuid.UUID, reason: str, now: datetime, *, backoff: bool
    ) -> int:
        """Put a transaction's submitted operations back to pending; returns how many."""
        rows = session.execute(
            select(ChainOperation.id, ChainOperation.attempts).where(
                ChainOperation.transaction_id == tx_id,
                ChainOperation.state == ChainState.submitted,
            )
        ).all()
        if not rows:
            return 0
        values = [
            {
                "id": row.id,
                "state": ChainState.pending,
                "transaction_id": None,
                "tx_hash": None,
                "block_number": None,
                "last_error": reason[:1000],
                "next_attempt_at": now
                + timedelta(
                    seconds=backoff_seconds(
                        row.attempts, base=self.retry_base_seconds, cap=self.retry_max_seconds
                    )
                    if backoff
                    else 0
                ),
                "updated_at": now,
            }
            for row in rows
        ]
        session.execute(update(ChainOperation), values)
        return len(rows)

    # ------------------------------------------------------------------ claiming and sending

    def _due(self, now: datetime) -> Select[*tuple[Any, ...]]:
        query = (
            select(
                ChainOperation.id,
                ChainOperation.kind,
                ChainOperation.reference,
                ChainOperation.amount_go,
                ChainOperation.recipient_address,
                ChainOperation.issuance_id,
                ChainOperation.attempts,
                User.wallet_address,
            )
            .join(User, User.id == ChainOperation.user_id)
            .where(
                ChainOperation.state == ChainState.pending,
                ChainOperation.next_attempt_at <= now,
            )
            # The index order (state, next_attempt_at): no sort of every pending row.
            .order_by(ChainOperation.next_attempt_at)
            .limit(self.batch_size)
        )
        if self._postgres:
            query = query.with_for_update(of=ChainOperation, skip_locked=True)
        return query

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
        sending: list[Future[list[_Replaced]]] = []
        try:
            while in_flight < self.max_in_flight:
                recorded, progressed, short = self._claim(
                    fees, self.max_in_flight - in_flight, report
                )
                if recorded:
                    if send:
                        sending.append(self._sender.submit(self._send, recorded, report))
                    in_flight += len(recorded)
                if not progressed:
                    break
                if sending:
                    self._prefetch_receipts()
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

    def _allocate_nonces(self, session: Session, count: int) -> list[int]:
        """The ``count`` lowest nonces at or above the mined nonce that no recorded
        transaction holds (submitted, mined, or reverted in a block).

        Called with the deployment row locked, so no other worker allocates meanwhile.
        """
        held = (
            *self._sender_filter(),
            # Failed ones reverted in a block: their nonce is used too.
            ChainTransaction.state.in_(
                [TransactionState.submitted, TransactionState.confirmed, TransactionState.failed]
            ),
            ChainTransaction.nonce >= self._chain_nonce,
        )
        taken_count, highest = session.execute(
            select(func.count(), func.max(ChainTransaction.nonce)).where(*held)
        ).one()
        if highest is None:
            return list(range(self._chain_nonce, self._chain_nonce + count))
        if taken_count == highest - self._chain_nonce + 1:
            # No hole below the highest: the usual case, without reading every nonce.
            return list(range(highest + 1, highest + 1 + count))
        taken = set(session.scalars(select(ChainTransaction.nonce).where(*held)))
        nonces: list[int] = []
        nonce = self._chain_nonce
        while len(nonces) < count:
            if nonce not in taken:
                nonces.append(nonce)
            nonce += 1
        return nonces

    def _claim(
        self, fees: Fees, room: int, report: CycleReport
    ) -> tuple[list[_Recorded], bool, bool]:
        """Claim, sign and record up to one mint batch and ``room - 1`` burns, in one transaction.

        Returns (transactions to send, whether any operation changed, allowance too short).
        Nothing reaches the chain here: the caller sends after the commit.
        """
        now = utcnow()
        with self.session_factory.begin() as session:
            session.execute(
                select(ChainDeployment.id)
                .where(ChainDeployment.chain_id == self.chain_id)
                .with_for_update()
            )
            rows = session.execute(self._due(now)).all()
            if not rows:
                return [], False, False
            burn_issuances = [r.issuance_id for r in rows if r.kind is ChainOperationKind.burn]
            mint_of: dict[uuid.UUID, tuple[ChainState, str | None]] = {}
            if burn_issuances:
                for issuance_id, state, address in session.execute(
                    select(
                        ChainOperation.issuance_id,
                        ChainOperation.state,
                        ChainOperation.recipient_address,
                    ).where(
                        ChainOperation.kind == ChainOperationKind.mint,
                        ChainOperation.issuance_id.in_(burn_issuances),
                    )
                ):
                    mint_of[issuance_id] = (state, address)

            mints: list[tuple[Any, str]] = []
            burns: list[tuple[Any, str]] = []
            held: list[tuple[uuid.UUID, str]] = []
            failed: list[tuple[uuid.UUID, str]] = []
            allowance = self._allowance_left
            minting = 0
            short = False
            for row in rows:
                if row.kind is ChainOperationKind.mint:
                    address = row.recipient_address or row.wallet_address
                    checksummed = _checksummed(address) if address else None
                    if address is None:
                        held.append((row.id, NO_WALLET))
                    elif checksummed is None:
                        failed.append((row.id, f"invalid wallet address {address!r}"))
                    elif allowance is not None and minting + row.amount_go > allowance:
                        short = True  # stays pending, untouched, until the allowance grows
                    else:
                        minting += row.amount_go
                        mints.append((row, checksummed))
                    continue
                mint = mint_of.get(row.issuance_id)
                address = row.recipient_address or (mint[1] if mint else None)
                if mint is not None and mint[0] is ChainState.failed:
                    failed.append((row.id, "its mint failed: there is nothing to burn"))
                elif mint is None or mint[0] is not ChainState.confirmed or address is None:
                    held.append((row.id, WAITING_FOR_MINT))
                elif len(burns) + 1 < max(room, 2):
                    burns.append((row, _checksummed(address) or address))
                # else: no room for another transaction this time; it stays pending

            nonces = iter(self._allocate_nonces(session, (1 if mints else 0) + len(burns)))
            recorded: list[_Recorded] = []
            claimed = 0

            def record(
                ops: list[tuple[Any, str]], raw: bytes, tx_hash: str, nonce: int, recipient: Any
            ) -> None:
                """Insert the transaction and mark its operations submitted; ``recipient`` is
                the SQL value that fixes each operation's recipient if it has none yet."""
                nonlocal claimed
                tx_id = new_id()
                session.execute(
                    insert(ChainTransaction).values(
                        id=tx_id,
                        chain_id=self.chain_id,
                        sender=self.minter,
                        nonce=nonce,
                        tx_hash=tx_hash,
                        raw_tx=raw,
                        state=TransactionState.submitted,
                        operation_count=len(ops),
                        created_at=now,
                        updated_at=now,
                    )
                )
                recorded.append(_Recorded(tx_id, tx_hash, nonce, raw))
                # One statement for the whole batch, recipients included: hundreds of single-row
                # updates would cost more than signing the batch.
                ids = [row.id for row, _ in ops]
                session.execute(
                    update(ChainOperation)
                    .where(ChainOperation.id.in_(ids))
                    .values(
                        state=ChainState.submitted,
                        transaction_id=tx_id,
                        tx_hash=tx_hash,
                        recipient_address=func.coalesce(
                            ChainOperation.recipient_address, recipient
                        ),
                        attempts=ChainOperation.attempts + 1,
                        last_error=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if self._postgres:
                    # Under READ COMMITTED a wallet could change between our read and the
                    # update: make sure every stored recipient is the one signed, or roll back.
                    stored = dict(
                        session.execute(
                            select(ChainOperation.id, ChainOperation.recipient_address).where(
                                ChainOperation.id.in_(ids)
                            )
                        ).all()
                    )
                    if any((stored[row.id] or "").lower() != a.lower() for row, a in ops):
                        raise RuntimeError("a wallet changed while its batch was signed; retrying")
                claimed += len(ops)

            if mints:
                nonce = next(nonces)
                signed = self.client.build_mint_batch_tx(
                    self._minter_key,
                    # Lower case: the same address to the EVM, with no checksum to verify again.
                    [address.lower() for _, address in mints],
                    [row.amount_go for row, _ in mints],
                    [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in mints],
                    nonce,
                    fees=fees,
                )
                wallet = (
                    select(User.wallet_address)
                    .where(User.id == ChainOperation.user_id)
                    .scalar_subquery()
                )
                record(mints, signed.raw, signed.tx_hash, nonce, wallet)
            for row, address in burns:
                nonce = next(nonces)
                signed = self.client.build_burn_with_reference_tx(
                    self._minter_key,
                    address,
                    row.amount_go,
                    bytes.fromhex(row.reference.removeprefix("0x")),
                    nonce,
                    fees=fees,
                )
                record([(row, address)], signed.raw, signed.tx_hash, nonce, literal(address))
            if held:
                later = now + timedelta(seconds=self.hold_seconds)
                session.execute(
                    update(ChainOperation),
                    [
                        {
                            "id": op_id,
                            "last_error": why,
                            "next_attempt_at": later,
                            "updated_at": now,
                        }
                        for op_id, why in held
                    ],
                )
            if failed:
                session.execute(
                    update(ChainOperation),
                    [
                        {
                            "id": op_id,
                            "state": ChainState.failed,
                            "last_error": why,
                            "updated_at": now,
                        }
                        for op_id, why in failed
                    ],
                )
        # Committed: only now may anything reach the chain.
        if self._allowance_left is not None:
            self._allowance_left -= minting
        report.claimed += claimed
        report.held += len(held)
        report.failed += len(failed)
        return recorded, bool(claimed or held or failed), short

    def _send(self, recorded: Sequence[_Recorded], report: CycleReport) -> list[_Replaced]:
        """Send committed transactions in nonce order (on the sender thread); returns those the
        node refused. A node that stops answering stops the sending: the poll resends."""
        refused: list[_Replaced] = []
        for tx in recorded:
            try:
                self.client.send_raw(tx.raw)
            except TransactionAlreadyKnown:
                pass
            except NonceTooLow:
                # Taken by a transaction we did not record: the next poll requeues the operations.
                logger.warning("%s: nonce %s of %s already used", self.name, tx.nonce, tx.tx_hash)
            except TransactionRejected as exc:
                refused.append(_Replaced(tx.tx_id, f"refused by the node: {exc}", backoff=True))
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
