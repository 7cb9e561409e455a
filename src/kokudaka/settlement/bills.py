"""The rice bill side of a town's claim: its bill mints grouped by work into ``mintBatch``
transactions on the bills contract, each work registered first (``registerWork``) with its bill
total as its cap.

A bill mint can only land once its work is registered to the town on chain with a cap that
covers it. ``registerWork`` is absolute (a resend, or a second registration with the same cap,
changes nothing), so the worker registers a work whenever it does not know it registered:
:class:`WorkRegistry` remembers what the chain said or what this worker signed, reads
``workOf`` once for a work it has not seen, and is forgotten when a transaction of the minter
reverts or is replaced (a mint then refused ``NotTownWork`` or ``WorkCapExceeded`` is retried
with backoff, after a fresh look at the chain). Registrations take the next nonces of the same
minter before the mint batches, so they are mined first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.chain.bills import BillsClient, bill_mint_batch_gas_limit, bill_token_id
from kokudaka.chain.connection import TX_GAS_CAP, Fees
from kokudaka.chain.refs import town_id
from kokudaka.models import Bill
from kokudaka.settlement.recording import wallet_recipient

if TYPE_CHECKING:
    from kokudaka.settlement.claiming import Claimer
    from kokudaka.settlement.recording import Recorder

__all__ = ["NO_BILLS_CONTRACT", "BillPlan", "WorkRegistry", "plan_bill_mints", "sign_bill_plan"]

NO_BILLS_CONTRACT = "waiting for the rice bills contract to be deployed"


class WorkRegistry:
    """The bill cap each of the town's works has on chain, as far as this worker knows."""

    def __init__(self) -> None:
        self._caps: dict[int, int] = {}

    def forget(self) -> None:
        """Read the chain again before trusting a registration (after a revert or a
        replaced transaction of the minter)."""
        self._caps.clear()

    def knows(self, work: int) -> bool:
        """Whether the work is registered with its bill total (a work's bills, written once
        by its conversion, never change that total)."""
        return work in self._caps

    def learn(self, work: int, cap: int) -> None:
        self._caps[work] = cap


@dataclass(frozen=True)
class Registration:
    work: int
    """The work's token id."""
    season: int
    cap: int


@dataclass(frozen=True)
class BillPlan:
    """What a claim signs for the town's bill mints: registrations, then batches."""

    registrations: list[Registration] = field(default_factory=list)
    batches: list[list[tuple[Any, str]]] = field(default_factory=list)
    """Each batch's (row, checksummed recipient), sorted by work."""
    known: dict[int, int] = field(default_factory=dict)
    """Works found registered with their cap on chain: remembered at once."""

    @property
    def transactions(self) -> int:
        return len(self.registrations) + len(self.batches)


def plan_bill_mints(
    session: Session,
    claimer: Claimer,
    bills: BillsClient,
    mints: Sequence[tuple[Any, str]],
) -> BillPlan:
    """Group the claim's bill mints ``(row, recipient)`` by work and decide which works need
    ``registerWork`` first: those whose cap on chain (asked once per work this worker has not
    seen) is not the work's bill total."""
    if not mints:
        return BillPlan()
    token_of = {row.work_id: bill_token_id(_uuid(row.work_id)) for row, _ in mints}
    registry = claimer.registry
    unknown = [work_id for work_id, token in token_of.items() if not registry.knows(token)]
    totals: dict[Any, int] = (
        dict(
            session.execute(
                select(claimer.raw(Bill.work_id), func.sum(Bill.amount_go))
                .where(claimer.raw(Bill.work_id).in_(unknown))
                .group_by(Bill.work_id)
            ).all()
        )
        if unknown
        else {}
    )
    season_of = {row.work_id: row.season for row, _ in mints}
    town = town_id(claimer.municipality_id)
    plan = BillPlan()
    for work_id in unknown:
        token, cap = token_of[work_id], int(totals[work_id])
        on_chain = bills.work(token)
        if on_chain.town == town and on_chain.cap == cap:
            plan.known[token] = cap
            continue
        plan.registrations.append(Registration(token, season_of[work_id], cap))
    ordered = sorted(mints, key=lambda item: token_of[item[0].work_id])
    plan.batches.extend(_pack(ordered, token_of, claimer.batch_size))
    return plan


def _pack(
    ordered: Sequence[tuple[Any, str]], token_of: dict[Any, int], size: int
) -> Iterator[list[tuple[Any, str]]]:
    """Batches of at most ``size`` items whose gas limit (items and runs of one work) stays
    under the per-transaction cap."""
    batch: list[tuple[Any, str]] = []
    runs = 0
    for item in ordered:
        new_run = not batch or token_of[batch[-1][0].work_id] != token_of[item[0].work_id]
        if batch and (
            len(batch) >= size
            or bill_mint_batch_gas_limit(len(batch) + 1, runs + new_run) > TX_GAS_CAP
        ):
            yield batch
            batch, runs, new_run = [], 0, True
        batch.append(item)
        runs += new_run
    if batch:
        yield batch


def sign_bill_plan(
    plan: BillPlan,
    claimer: Claimer,
    bills: BillsClient,
    nonces: Iterator[int],
    fees: Fees,
    recorder: Recorder,
) -> list[Registration]:
    """Sign and record the plan's registrations, then its mint batches, with the next
    nonces; returns the registrations (remembered once the claim is committed)."""
    key = claimer.minter_key
    for registration in plan.registrations:
        nonce = next(nonces)
        signed = bills.build_register_work_tx(
            key, registration.work, registration.season, registration.cap, nonce, fees=fees
        )
        recorder.record([], signed.raw, signed.tx_hash, nonce, None)
    for batch in plan.batches:
        nonce = next(nonces)
        signed = bills.build_mint_batch_tx(
            key,
            [bill_token_id(_uuid(row.work_id)) for row, _ in batch],
            [address.lower() for _, address in batch],
            [row.amount_go for row, _ in batch],
            [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in batch],
            nonce,
            fees=fees,
        )
        recorder.record(batch, signed.raw, signed.tx_hash, nonce, wallet_recipient())
    return plan.registrations


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)
