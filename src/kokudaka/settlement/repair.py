"""Repairing lost confirmations: a chain reset or reorganised (an anvil restarted from an older
state dump, a reorg) may no longer hold a transaction the ledger saw confirmed.

Every transaction confirmed within the last ``reorg_depth`` blocks (or above the head) must
still be in a block. One that is not goes back to ``submitted``, so the next poll resends its
bytes, or requeues its operations if another transaction took its nonce. One that moved to
another block has its block number updated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from kokudaka.models import (
    ChainOperation,
    ChainState,
    ChainTransaction,
    TransactionState,
    utcnow,
)
from kokudaka.settlement.outcomes import CycleReport, lock_tx
from kokudaka.settlement.receipts import ChainReader
from kokudaka.settlement.sessions import SettlementSessions

__all__ = ["repair_lost"]

logger = logging.getLogger(__name__)


def repair_lost(
    sessions: SettlementSessions,
    reader: ChainReader,
    sender: Sequence[Any],
    *,
    head: int,
    reorg_depth: int,
    report: CycleReport,
    name: str,
) -> list[str] | None:
    """Send back to ``submitted`` every recently confirmed transaction of ``sender`` that the
    chain lost, and move those mined in another block.

    Returns the hashes of the lost transactions (counted in ``report.lost``), or None when
    nothing changed.
    """
    with sessions.read() as session:
        rows = session.execute(
            select(ChainTransaction.id, ChainTransaction.tx_hash, ChainTransaction.block_number)
            .where(
                *sender,
                ChainTransaction.state == TransactionState.confirmed,
                ChainTransaction.block_number >= head - reorg_depth,
            )
            .order_by(ChainTransaction.nonce)
        ).all()
    lost: list[uuid.UUID] = []
    moved: list[tuple[uuid.UUID, int]] = []
    blocks = reader.blocks_of([row.tx_hash for row in rows])
    for row, block in zip(rows, blocks, strict=True):
        if block is None:
            lost.append(row.id)
        elif block != row.block_number:
            moved.append((row.id, block))
    if not lost and not moved:
        return None
    now = utcnow()
    resent: list[str] = []
    with sessions.write() as session:
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
            tx = lock_tx(session, tx_id)
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
            resent.append(tx.tx_hash)
            report.lost += 1
            logger.warning("%s: transaction %s %s", name, tx.tx_hash, message)
    return resent
