"""Recording what the chain did with a minter's sent transactions: mined (its operations
confirmed), reverted (failed for good, or back to pending with backoff) or replaced (back to
pending). A transaction another worker recorded first is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from kokudaka.chain.interface import ALLOWANCE_EXCEEDED
from kokudaka.models import ChainTransaction, TransactionState, utcnow
from kokudaka.settlement.allowances import SeasonAllowances
from kokudaka.settlement.bills import WorkRegistry
from kokudaka.settlement.outcomes import (
    CycleReport,
    Mined,
    Replaced,
    Retry,
    Reverted,
    lock_tx,
    record_mined,
    record_mined_together,
    record_reverted,
    requeue,
)
from kokudaka.settlement.receipts import ChainReader
from kokudaka.settlement.sending import Sender
from kokudaka.settlement.sessions import SettlementSessions

__all__ = ["OutcomeRecorder"]

logger = logging.getLogger(__name__)


class OutcomeRecorder:
    """Records one worker's outcomes, and makes the worker forget what they made stale: the
    sent transactions settled, the works it believed registered (after a revert or a
    replacement) and its count of the town's allowance (after ``AllowanceExceeded``)."""

    def __init__(
        self,
        sessions: SettlementSessions,
        sender: Sender,
        reader: ChainReader,
        registry: WorkRegistry,
        allowances: SeasonAllowances,
        retry: Retry,
        *,
        name: str,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.reader = reader
        self.registry = registry
        self.allowances = allowances
        self.retry = retry
        self.name = name

    def apply(self, outcomes: Iterable[Mined | Reverted | Replaced], report: CycleReport) -> None:
        """Record ``outcomes`` in one database transaction."""
        now = utcnow()
        outcomes = list(outcomes)
        with self.sessions.write() as session:
            together = [
                outcome
                for outcome in outcomes
                if isinstance(outcome, Mined) and not outcome.confirmed_elsewhere
            ]
            if self.sessions.postgres and len(together) > 1:
                # A block's batches in three statements: a round trip per transaction cost
                # the server and this thread more than the rows.
                for tx_hash in record_mined_together(session, together, now, report):
                    self._settled(tx_hash)
                done = {outcome.tx_id for outcome in together}
                outcomes = [outcome for outcome in outcomes if outcome.tx_id not in done]
            for outcome in outcomes:
                tx = lock_tx(session, outcome.tx_id)
                if tx is None or tx.state is not TransactionState.submitted:
                    continue  # another worker recorded it first
                self._settled(tx.tx_hash)
                if isinstance(outcome, Mined):
                    record_mined(session, tx, outcome, now, report)
                    continue
                # A work's registration may be what failed: ask the chain again before the
                # work's next mint batch.
                self.registry.forget()
                if isinstance(outcome, Reverted):
                    self._reverted(session, tx, outcome, now, report)
                else:
                    tx.state = TransactionState.replaced
                    tx.last_error = outcome.reason[:1000]
                    retry = self.retry if outcome.backoff else None
                    report.requeued += requeue(session, tx.id, outcome.reason, now, retry)
                    logger.warning("%s: %s %s", self.name, tx.tx_hash, outcome.reason)

    def _settled(self, tx_hash: str) -> None:
        self.sender.forget(tx_hash)
        self.reader.forget(tx_hash)

    def _reverted(
        self,
        session: Session,
        tx: ChainTransaction,
        reverted: Reverted,
        now: datetime,
        report: CycleReport,
    ) -> None:
        logger.warning("%s: %s reverted: %s", self.name, tx.tx_hash, str(reverted.error)[:1000])
        if reverted.error.error_name == ALLOWANCE_EXCEEDED:
            self.allowances.forget()
        record_reverted(session, tx, reverted, now, report, self.retry)
