"""What a town may still mint per season on chain, as its settlement worker counts it, and the
state of mints that wait for the town's cap.

The contract keeps a cap per (town, season), set by the admin (``setSeasonCap``), and reverts a
``mintBatch`` that passes what is left of it (``AllowanceExceeded``). The worker claims a
season's mints only within what it knows is left, so a town at its cap does not send batch after
batch to be reverted: the mints that do not fit stay ``pending`` with a ``last_error`` that says
so (:func:`waiting_for_cap`) and are looked at again after a while. Other towns, each with its
own worker, keep settling meanwhile.

The count per season is the chain's ``allowanceLeft`` read while none of the town's mints of that
season are in flight (so nothing mined but not yet recorded is counted twice), then lowered by
every batch the worker signs. It is forgotten, and read again, whenever it may be wrong: a
shortfall, an ``AllowanceExceeded`` revert, a restart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.core.engines import literal_limit
from kokudaka.models import ChainOperation, ChainOperationKind, ChainState, Issuance, utcnow
from kokudaka.settlement.sessions import SettlementSessions

__all__ = [
    "WAITING_FOR_CAP",
    "SeasonAllowances",
    "count_waiting",
    "release_waiting",
    "waiting_for_cap",
]

logger = logging.getLogger(__name__)

#: How every ``last_error`` of a mint waiting for its town's on-chain cap begins
#: (``GET /v1/chain`` counts them by it).
WAITING_FOR_CAP: Final = "waiting for the town's on-chain cap"


def waiting_for_cap(season: int, detail: str) -> str:
    """The ``last_error`` of a mint that waits for its town's cap for ``season``."""
    return (
        f"{WAITING_FOR_CAP} for {season}: {detail}; an administrator raises it with "
        "`kokudaka chain allowances`"
    )


class SeasonAllowances:
    """One town's allowance left per season, as its worker counts it (see the module notes)."""

    def __init__(
        self,
        sessions: SettlementSessions,
        client: ChainClient,
        municipality_id: uuid.UUID,
        town: bytes,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.municipality_id = municipality_id
        self.town = town
        self._left: dict[int, int] = {}

    @property
    def left(self) -> Mapping[int, int]:
        """Go left per season this worker knows of (a season not in it is unknown)."""
        return self._left

    def spend(self, minted: Mapping[int, int]) -> None:
        for season, go in minted.items():
            if season in self._left:
                self._left[season] -= go

    def forget(self, season: int | None = None) -> None:
        """Read ``season`` (every season without one) from the chain again before minting."""
        if season is None:
            self._left.clear()
        else:
            self._left.pop(season, None)

    def learn(self, seasons: Iterable[int]) -> bool:
        """Read the allowance of each season from the chain, unless some of the town's mints
        of that season are in flight (their fate is not recorded yet: asked again later).
        Returns whether any season became known."""
        learnt = False
        for season in seasons:
            if self._in_flight(season):
                continue
            self._left[season] = self.client.allowance_left(self.town, season)
            learnt = True
        return learnt

    def _in_flight(self, season: int) -> bool:
        with self.sessions.read() as session:
            return (
                session.scalar(
                    select(ChainOperation.id)
                    .join(Issuance, Issuance.id == ChainOperation.issuance_id)
                    .where(
                        ChainOperation.municipality_id == self.municipality_id,
                        ChainOperation.state == ChainState.submitted,
                        ChainOperation.kind == ChainOperationKind.mint,
                        Issuance.season == season,
                    )
                    .limit(literal_limit(1))
                )
                is not None
            )


def release_waiting(sessions: SettlementSessions, municipality_id: uuid.UUID, season: int) -> int:
    """Make the town's mints of ``season`` that wait for the cap due now (after the cap was
    raised); returns how many."""
    now = utcnow()
    with sessions.write() as session:
        result = session.execute(
            update(ChainOperation)
            .where(
                ChainOperation.municipality_id == municipality_id,
                ChainOperation.kind == ChainOperationKind.mint,
                ChainOperation.state == ChainState.pending,
                ChainOperation.last_error.like(f"{WAITING_FOR_CAP} for {season}:%"),
            )
            .values(next_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def count_waiting(session: Session) -> dict[uuid.UUID, tuple[int, str]]:
    """municipality id -> (mints waiting for the town's cap, one of their reasons)."""
    rows = session.execute(
        select(
            ChainOperation.municipality_id,
            func.count(),
            func.max(ChainOperation.last_error),
        )
        .where(
            ChainOperation.state == ChainState.pending,
            ChainOperation.last_error.like(f"{WAITING_FOR_CAP}%"),
        )
        .group_by(ChainOperation.municipality_id)
    ).all()
    return {municipality_id: (int(count), str(reason)) for municipality_id, count, reason in rows}
