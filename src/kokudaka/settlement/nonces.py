"""Nonces managed by the service, not the node.

The next nonce is the lowest one at or above the minter's mined nonce that no recorded
transaction holds (submitted, confirmed, or reverted in a block). That is ``max(mined nonce,
highest recorded + 1)`` in the normal case, and it refills a hole left by a transaction the
node refused, instead of stranding every later one behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.models import ChainTransaction, TransactionState

__all__ = ["allocate_nonces", "sent_by"]


def sent_by(chain_id: int, sender: str) -> tuple[Any, ...]:
    """The filter of ``sender``'s transactions on ``chain_id``."""
    return (ChainTransaction.chain_id == chain_id, ChainTransaction.sender == sender)


def allocate_nonces(
    session: Session, sender: Sequence[Any], chain_nonce: int, count: int
) -> list[int]:
    """The ``count`` lowest nonces at or above the mined nonce that no recorded
    transaction holds (submitted, mined, or reverted in a block).

    ``sender`` filters the sender's transactions; ``chain_nonce`` is its mined nonce. Called
    with the deployment row locked, so no other worker allocates meanwhile.
    """
    held = (
        *sender,
        # Failed ones reverted in a block: their nonce is used too.
        ChainTransaction.state.in_(
            [TransactionState.submitted, TransactionState.confirmed, TransactionState.failed]
        ),
        ChainTransaction.nonce >= chain_nonce,
    )
    taken_count, highest = session.execute(
        select(func.count(), func.max(ChainTransaction.nonce)).where(*held)
    ).one()
    if highest is None:
        return list(range(chain_nonce, chain_nonce + count))
    if taken_count == highest - chain_nonce + 1:
        # No hole below the highest: the usual case, without reading every nonce.
        return list(range(highest + 1, highest + 1 + count))
    taken = set(session.scalars(select(ChainTransaction.nonce).where(*held)))
    nonces: list[int] = []
    nonce = chain_nonce
    while len(nonces) < count:
        if nonce not in taken:
            nonces.append(nonce)
        nonce += 1
    return nonces
