"""What a town's settlement worker has to do: its minter's transactions in flight, the
highest nonce it saw confirmed, and whether the town has operations due.

Reads only, each one statement, in whatever read session the worker opened.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kokudaka.core.engines import literal_limit
from kokudaka.models import ChainOperation, ChainState, ChainTransaction, TransactionState, utcnow
from kokudaka.settlement.outcomes import Submitted

__all__ = ["due_operation", "highest_confirmed_nonce", "in_flight", "submitted", "town_busy"]


def submitted(session: Session, sender: Sequence[Any]) -> list[Submitted]:
    """The sender's submitted transactions (``sender``: :func:`~.nonces.sent_by`), by nonce."""
    rows = session.execute(
        select(
            ChainTransaction.id,
            ChainTransaction.tx_hash,
            ChainTransaction.nonce,
            ChainTransaction.operation_count,
        )
        .where(*sender, ChainTransaction.state == TransactionState.submitted)
        .order_by(ChainTransaction.nonce)
    ).all()
    return [Submitted(r.id, r.tx_hash, r.nonce, r.operation_count) for r in rows]


def in_flight(session: Session, sender: Sequence[Any]) -> int:
    """How many of the sender's transactions are submitted."""
    count = session.scalar(
        select(func.count()).where(*sender, ChainTransaction.state == TransactionState.submitted)
    )
    return int(count or 0)


def highest_confirmed_nonce(session: Session, sender: Sequence[Any]) -> int | None:
    """The highest nonce of the sender's confirmed transactions, if any."""
    return session.scalar(
        select(func.max(ChainTransaction.nonce)).where(
            *sender, ChainTransaction.state == TransactionState.confirmed
        )
    )


def _due() -> Any:
    return (ChainOperation.state == ChainState.pending) & (
        ChainOperation.next_attempt_at <= utcnow()
    )


def due_operation(session: Session, municipality_id: uuid.UUID) -> uuid.UUID | None:
    """One of the town's pending operations whose attempt is due, if any."""
    return session.scalar(
        select(ChainOperation.id)
        .where(ChainOperation.municipality_id == municipality_id, _due())
        .limit(literal_limit(1))
    )


def town_busy(session: Session, municipality_id: uuid.UUID) -> bool:
    """Whether the town has an operation submitted, or pending and due."""
    return (
        session.scalar(
            select(ChainOperation.id)
            .where(
                ChainOperation.municipality_id == municipality_id,
                or_(ChainOperation.state == ChainState.submitted, _due()),
            )
            .limit(literal_limit(1))
        )
        is not None
    )
