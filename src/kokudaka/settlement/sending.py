"""Sending one minter's signed transactions: new ones in nonce order on a thread of their own
(while the worker claims and signs the next batch), and recorded ones again, with the same
bytes, when the node does not know them (dropped from its pool, or the node restarted)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import NonceTooLow, TransactionAlreadyKnown, TransactionRejected
from kokudaka.models import ChainTransaction
from kokudaka.settlement.outcomes import CycleReport, Recorded, Replaced, Submitted
from kokudaka.settlement.sessions import SettlementSessions

__all__ = ["Sender"]

logger = logging.getLogger(__name__)


class Sender:
    """Sends a minter's transactions and remembers when each was last sent or seen pending."""

    def __init__(self, client: ChainClient, sessions: SettlementSessions, *, name: str) -> None:
        self.client = client
        self.sessions = sessions
        self.name = name
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-send")
        self._sent_at: dict[str, float] = {}
        """Submitted transactions this worker sent (or saw in the pool), and when."""

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def sent_at(self, tx_hash: str) -> float | None:
        return self._sent_at.get(tx_hash)

    def sent(self) -> list[str]:
        """Every transaction sent and not settled yet (a copy: the send thread adds to it)."""
        return list(self._sent_at)

    def forget(self, tx_hash: str | None = None) -> None:
        """Forget one transaction (settled), or all (the node may have lost them)."""
        if tx_hash is None:
            self._sent_at.clear()
        else:
            self._sent_at.pop(tx_hash, None)

    def send_later(
        self,
        recorded: Sequence[Recorded],
        report: CycleReport,
        committed: Future[None] | None = None,
    ) -> Future[list[Replaced]]:
        """Send transactions in nonce order on the send thread once ``committed`` (the claim's
        commit, when it is still running) is done; the future's result is those the node
        refused. A claim that failed to commit sends nothing: the future raises its error."""
        return self._thread.submit(self._send, recorded, report, committed)

    def _send(
        self, recorded: Sequence[Recorded], report: CycleReport, committed: Future[None] | None
    ) -> list[Replaced]:
        if committed is not None:
            committed.result()
        # A node that stops answering stops the sending: the poll resends.
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

    def resend_if_unknown(self, tx: Submitted, report: CycleReport) -> Replaced | None:
        """Send a recorded transaction's bytes again unless the node has it in its pool;
        returns a :class:`Replaced` if the node refuses them."""
        self._sent_at[tx.tx_hash] = time.monotonic()
        if self.client.rpc("eth_getTransactionByHash", [tx.tx_hash]) is not None:
            return None  # waiting in the pool
        with self.sessions.read() as session:
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
