"""Where each town's settlement stands, for ``GET /v1/chain``: its minter, its operations
pending and submitted (KOKU's and the rice bills', and of which the bills'), and those waiting
for its on-chain cap (with the reason).

Read from the database, not from the workers' memory: the workers may run in another process
(``kokudaka worker``), and the outbox is the record of what is due.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.models import ChainAsset, ChainOperation, ChainState, Municipality
from kokudaka.models.chain import TownMinter, TownMinterState
from kokudaka.settlement.allowances import count_waiting

__all__ = ["TownSettlement", "town_settlement"]


@dataclass(frozen=True, slots=True)
class TownSettlement:
    """One town's settlement at a glance."""

    municipality_id: uuid.UUID
    code: str
    minter_address: str | None
    """The town's active minter key (None until it has one)."""
    pending: int
    """Operations not sent yet, the waiting ones included."""
    submitted: int
    """Operations in a transaction sent and not yet seen mined."""
    bills_pending: int
    """Of ``pending``, the rice bill mints and burns (the harvest's KOKU burns count as KOKU)."""
    bills_submitted: int
    """Of ``submitted``, the rice bill mints and burns."""
    waiting: int
    """Pending mints waiting for the town's on-chain cap for their season."""
    waiting_reason: str | None
    """Why they wait (one of their reasons: the seasons' wording is the same)."""


def town_settlement(session: Session) -> list[TownSettlement]:
    """Every town, by code."""
    minters = dict(
        session.execute(
            select(TownMinter.municipality_id, TownMinter.address).where(
                TownMinter.state == TownMinterState.active
            )
        ).all()
    )
    # A few ranges of the (municipality_id, state) index: settled operations are not read.
    counts: dict[tuple[uuid.UUID, ChainState], int] = {}
    bills: dict[tuple[uuid.UUID, ChainState], int] = {}
    for municipality_id, state, asset, count in session.execute(
        select(
            ChainOperation.municipality_id,
            ChainOperation.state,
            ChainOperation.asset,
            func.count(),
        )
        .where(ChainOperation.state.in_([ChainState.pending, ChainState.submitted]))
        .group_by(ChainOperation.municipality_id, ChainOperation.state, ChainOperation.asset)
    ):
        key = (municipality_id, state)
        counts[key] = counts.get(key, 0) + int(count)
        if asset is ChainAsset.bill:
            bills[key] = int(count)
    waiting = count_waiting(session)
    towns = session.execute(
        select(Municipality.id, Municipality.code).order_by(Municipality.code)
    ).all()
    return [
        TownSettlement(
            municipality_id=town.id,
            code=town.code,
            minter_address=minters.get(town.id),
            pending=counts.get((town.id, ChainState.pending), 0),
            submitted=counts.get((town.id, ChainState.submitted), 0),
            bills_pending=bills.get((town.id, ChainState.pending), 0),
            bills_submitted=bills.get((town.id, ChainState.submitted), 0),
            waiting=waiting.get(town.id, (0, ""))[0],
            waiting_reason=waiting[town.id][1] if town.id in waiting else None,
        )
        for town in towns
    ]
