"""What became of a sent transaction, and how it is recorded: operations confirmed, failed for
good, or put back to pending with backoff. Also the report of one worker cycle."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, CursorResult, String, Uuid, select, update
from sqlalchemy.orm import Session, defer

from kokudaka.chain.bills_interface import BILL_PERMANENT_REVERTS
from kokudaka.chain.errors import TransactionReverted
from kokudaka.chain.interface import ALLOWANCE_EXCEEDED, ALREADY_BURNED, PERMANENT_REVERTS
from kokudaka.core.bulk import unnested
from kokudaka.models import ChainOperation, ChainState, ChainTransaction, TransactionState
from kokudaka.settlement.allowances import waiting_for_cap

__all__ = [
    "CycleReport",
    "Mined",
    "Recorded",
    "Replaced",
    "Retry",
    "Reverted",
    "Submitted",
    "backoff_seconds",
    "lock_tx",
    "record_mined",
    "record_mined_together",
    "record_reverted",
    "requeue",
]

_rng = random.Random()  # noqa: S311 - jitter, not cryptography


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped, times 0.5-1.0."""
    return float(min(cap, base * 2 ** max(attempt - 1, 0)) * _rng.uniform(0.5, 1.0))


def rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


@dataclass(frozen=True)
class Retry:
    """Backoff of operations sent back to pending after a revert or a refusal."""

    base_seconds: float
    max_seconds: float
    cap_wait_seconds: float = 15.0
    """How long mints refused for their town's cap (``AllowanceExceeded``) wait."""


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
    waiting: int = 0
    """Seasons whose due mints were set waiting for the town's on-chain cap."""
    lost: int = 0
    """Confirmed transactions the chain no longer has (reset, reorg): back to submitted."""
    in_flight: int = 0
    """Submitted transactions after the cycle."""

    def add(self, other: CycleReport) -> None:
        """Add ``other``'s counts (``in_flight`` is taken, not added: it is a state)."""
        for name in ("claimed", "sent", "resent", "confirmed", "failed", "requeued", "held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waiting += other.waiting
        self.lost += other.lost
        self.in_flight = other.in_flight

    @property
    def progressed(self) -> bool:
        """Whether anything changed: more may follow at once."""
        return bool(
            self.claimed
            or self.confirmed
            or self.requeued
            or self.failed
            or self.resent
            or self.lost
        )


@dataclass(frozen=True)
class Mined:
    tx_id: uuid.UUID
    tx_hash: str
    block_number: int
    gas_used: int
    confirmed_elsewhere: dict[str, tuple[str, int]] = field(default_factory=dict)
    """For operations this transaction settled without minting or burning them itself (the ref
    was used before): reference -> (hash, block) of the transaction that did."""


@dataclass(frozen=True)
class Reverted:
    tx_id: uuid.UUID
    tx_hash: str
    block_number: int
    gas_used: int
    error: TransactionReverted
    already_burned: tuple[str, int] | None = None
    """For a burn reverted with AlreadyBurned: where the ref was burned."""


@dataclass(frozen=True)
class Replaced:
    tx_id: uuid.UUID
    reason: str
    backoff: bool = False


@dataclass(frozen=True)
class Recorded:
    """A transaction committed as submitted, to be sent now."""

    tx_id: uuid.UUID
    tx_hash: str
    nonce: int
    raw: bytes


@dataclass(frozen=True)
class Submitted:
    id: uuid.UUID
    tx_hash: str
    nonce: int
    operation_count: int


def lock_tx(session: Session, tx_id: uuid.UUID) -> ChainTransaction | None:
    # The signed bytes (tens of kB for a full batch) are not needed to record an outcome;
    # a resend loads them when it needs them.
    return session.scalar(
        select(ChainTransaction)
        .options(defer(ChainTransaction.raw_tx))
        .where(ChainTransaction.id == tx_id)
        .with_for_update()
    )


def record_mined(
    session: Session,
    tx: ChainTransaction,
    mined: Mined,
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
        report.confirmed += rowcount(
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
    # A Core statement on the connection: no operation is in the session, and the ORM's
    # bulk-update path cost more than the SQL.
    report.confirmed += rowcount(
        session.connection().execute(
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


def record_mined_together(
    session: Session, mined: list[Mined], now: datetime, report: CycleReport
) -> list[str]:
    """PostgreSQL: what :func:`record_mined` does, for transactions that settled every one of
    their operations themselves, in three statements whatever their number (their rows locked
    in one, then operations and transactions each updated from arrays). Returns the hashes of
    those recorded here; one recorded by another worker first is left as it is."""
    locked = session.execute(
        select(ChainTransaction.id, ChainTransaction.state)
        .where(ChainTransaction.id.in_([m.tx_id for m in mined]))
        .order_by(ChainTransaction.id)
        .with_for_update()
    ).all()
    submitted = {tx_id for tx_id, state in locked if state is TransactionState.submitted}
    mined = [m for m in mined if m.tx_id in submitted]
    if not mined:
        return []
    rows = unnested(
        "mined",
        id=(Uuid(), [m.tx_id for m in mined]),
        tx_hash=(String(), [m.tx_hash for m in mined]),
        block=(BigInteger(), [m.block_number for m in mined]),
        gas=(BigInteger(), [m.gas_used for m in mined]),
    )
    connection = session.connection()
    report.confirmed += rowcount(
        connection.execute(
            update(ChainOperation)
            .where(
                ChainOperation.transaction_id == rows.c.id,
                ChainOperation.state == ChainState.submitted,
            )
            .values(
                state=ChainState.confirmed,
                tx_hash=rows.c.tx_hash,
                block_number=rows.c.block,
                last_error=None,
                updated_at=now,
            )
        )
    )
    connection.execute(
        update(ChainTransaction)
        .where(ChainTransaction.id == rows.c.id)
        .values(
            state=TransactionState.confirmed,
            block_number=rows.c.block,
            gas_used=rows.c.gas,
            last_error=None,
            updated_at=now,
        )
    )
    return [m.tx_hash for m in mined]


def record_reverted(
    session: Session,
    tx: ChainTransaction,
    reverted: Reverted,
    now: datetime,
    report: CycleReport,
    retry: Retry,
) -> None:
    tx.state = TransactionState.failed
    tx.block_number = reverted.block_number
    tx.gas_used = reverted.gas_used
    message = str(reverted.error)[:1000]
    tx.last_error = message
    name = reverted.error.error_name
    ops = (
        ChainOperation.transaction_id == tx.id,
        ChainOperation.state == ChainState.submitted,
    )
    if name == ALREADY_BURNED:
        where_hash, where_block = reverted.already_burned or (
            tx.tx_hash,
            reverted.block_number,
        )
        report.confirmed += rowcount(
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
    elif name == ALLOWANCE_EXCEEDED and len(reverted.error.error_args) == 4:
        _, season, requested, left = reverted.error.error_args
        reason = waiting_for_cap(
            int(season), f"the chain refused a batch of {requested:,} go with {left:,} go left"
        )
        report.requeued += requeue(session, tx.id, reason, now, None, wait=retry.cap_wait_seconds)
    elif name in PERMANENT_REVERTS or name in BILL_PERMANENT_REVERTS:
        report.failed += rowcount(
            session.execute(
                update(ChainOperation)
                .where(*ops)
                .values(state=ChainState.failed, last_error=message, updated_at=now)
            )
        )
    else:
        report.requeued += requeue(session, tx.id, message, now, retry)


def requeue(
    session: Session,
    tx_id: uuid.UUID,
    reason: str,
    now: datetime,
    retry: Retry | None,
    *,
    wait: float = 0.0,
) -> int:
    """Put a transaction's submitted operations back to pending; returns how many. With
    ``retry``, each waits its backoff; without, ``wait`` seconds."""
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
                    row.attempts, base=retry.base_seconds, cap=retry.max_seconds
                )
                if retry is not None
                else wait
            ),
            "updated_at": now,
        }
        for row in rows
    ]
    session.execute(update(ChainOperation), values)
    return len(rows)
