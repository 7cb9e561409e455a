"""Claiming one town's due operations: in one short database transaction, take what is due,
fix each recipient, group KOKU mints per season into ``mintBatch`` transactions and KOKU burns
into ``burnBatch`` ones, bill mints by work into the bills contract's ``mintBatch`` (each work
registered first, see :mod:`kokudaka.settlement.bills`) and bill burns into its ``burnBatch``
(:mod:`kokudaka.settlement.bill_burns`), allocate the minter's nonces, sign with the town's key,
and record each transaction before anything is sent.

What can be signed, what waits and what fails is sorted by :mod:`kokudaka.settlement.sorting`.

A season's mints are claimed only within what the worker knows the town may still mint on chain
for that season. Those that do not fit stay pending, marked as waiting for the cap
(:data:`WAITING_FOR_CAP`), and are looked at again after ``cap_wait_seconds``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Uuid,
    any_,
    bindparam,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute, Session

from kokudaka.chain.client import MAX_BURN_BATCH_SIZE, ChainClient, Fees, PrivateKey
from kokudaka.core.engines import literal_limit
from kokudaka.models import (
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    Issuance,
    User,
    utcnow,
)
from kokudaka.models.chain import TownMinter, TownMinterState
from kokudaka.settlement.allowances import WAITING_FOR_CAP, waiting_for_cap
from kokudaka.settlement.bill_burns import (
    BillMint,
    bill_burn_batches,
    bill_mints_of,
    sign_bill_burns,
)
from kokudaka.settlement.bills import (
    BillPlan,
    Registration,
    WorkRegistry,
    plan_bill_mints,
    sign_bill_plan,
)
from kokudaka.settlement.nonces import allocate_nonces, sent_by
from kokudaka.settlement.outcomes import CycleReport, Recorded
from kokudaka.settlement.recording import (
    Recorder,
    fail,
    mint_recipient,
    set_aside,
    wallet_recipient,
)
from kokudaka.settlement.sessions import SettlementSessions
from kokudaka.settlement.sorting import (
    NO_WALLET,
    WAITING_FOR_MINT,
    CapShortfall,
    SortedDue,
    checksummed_address,
    sort_due,
)

__all__ = [
    "NO_WALLET",
    "WAITING_FOR_CAP",
    "WAITING_FOR_MINT",
    "CapShortfall",
    "Claim",
    "Claimer",
    "checksummed_address",
    "waiting_for_cap",
]

#: Mint batches claimed, signed and recorded in one database transaction at most. Eight (2,520
#: operations) halves the claims of a harvest's 20,000 against four; a claim takes about 0.2 s,
#: well inside a block, and sending starts when the first one commits.
BATCHES_PER_CLAIM: Final = 8


@dataclass(frozen=True)
class Claim:
    """What one claim did."""

    recorded: list[Recorded]
    """Transactions committed as submitted, to be sent now."""
    progressed: bool
    """Whether any operation changed (claimed, held, failed or set waiting)."""
    minted_go: dict[int, int] = field(default_factory=dict)
    """Per season: go the recorded mints will spend of the town's allowance."""
    short: list[CapShortfall] = field(default_factory=list)
    """Seasons whose due mints now wait for the cap."""
    unknown_seasons: set[int] = field(default_factory=set)
    """Seasons with due mints whose allowance the caller did not give: left untouched."""
    retired: bool = False
    """The minter is no longer the town's active one: nothing was claimed."""
    committed: Future[None] | None = None
    """Set when the claim commits on the writer thread: its transactions may be sent once it
    is done (its exception, if any, is the claim's). None: committed before it returned."""


@dataclass(frozen=True)
class Claimer:
    """Claims and signs one town's operations with the town's minter key."""

    sessions: SettlementSessions
    client: ChainClient
    chain_id: int
    municipality_id: uuid.UUID
    minter: str
    """The minter's checksummed address: the sender of every transaction signed here."""
    minter_id: uuid.UUID
    """Its ``town_minters`` row, locked while nonces are allocated."""
    minter_key: PrivateKey = field(repr=False)
    batch_size: int
    hold_seconds: float
    """How long an operation that cannot be sent yet (no wallet, mint unconfirmed) waits."""
    cap_wait_seconds: float
    """How long a mint waiting for its town's cap waits before the chain is asked again."""
    registry: WorkRegistry = field(default_factory=WorkRegistry)
    """The town's works this worker knows registered on the bills contract, with their cap."""
    writer: Executor | None = None
    """One thread that runs each signed batch's statements while the next is signed (see
    :class:`~kokudaka.settlement.recording.Recorder`); None writes them in turn."""

    def raw(
        self, column: QueryableAttribute[uuid.UUID] | QueryableAttribute[uuid.UUID | None]
    ) -> ColumnElement[Any] | QueryableAttribute[Any]:
        """A uuid column as the driver gives and takes it (see :func:`raw_id`)."""
        return column if self.sessions.postgres else type_coerce(column, String)

    def among(
        self,
        column: QueryableAttribute[uuid.UUID] | QueryableAttribute[uuid.UUID | None],
        ids: Sequence[Any],
    ) -> ColumnElement[bool]:
        """SQL: ``column`` is one of ``ids`` (raw, as read by :meth:`raw`). On PostgreSQL one
        array parameter: an ``IN`` list of a claim's 2,520 ids is a new statement text for every
        claim, which the driver parses and the server plans anew."""
        if self.sessions.postgres:
            return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid())))
        return self.raw(column).in_(ids)

    def due(self, now: datetime, limit: int) -> Select[*tuple[Any, ...]]:
        query: Select[*tuple[Any, ...]] = (
            select(
                self.raw(ChainOperation.id).label("id"),
                ChainOperation.kind,
                ChainOperation.asset,
                ChainOperation.reference,
                ChainOperation.amount_go,
                ChainOperation.recipient_address,
                self.raw(ChainOperation.issuance_id).label("issuance_id"),
                self.raw(ChainOperation.bill_id).label("bill_id"),
                ChainOperation.attempts,
                User.wallet_address,
                func.coalesce(Issuance.season, Bill.season).label("season"),
                self.raw(Bill.work_id).label("work_id"),
            )
            .join(User, User.id == ChainOperation.user_id)
            .outerjoin(Issuance, Issuance.id == ChainOperation.issuance_id)
            .outerjoin(Bill, Bill.id == ChainOperation.bill_id)
            .where(
                ChainOperation.municipality_id == self.municipality_id,
                ChainOperation.state == ChainState.pending,
                ChainOperation.next_attempt_at <= now,
            )
            .order_by(ChainOperation.next_attempt_at)
            .limit(literal_limit(limit))
        )
        if self.sessions.postgres:
            # SQLite's BEGIN IMMEDIATE already serialises writers.
            query = query.with_for_update(of=ChainOperation, skip_locked=True)
        return query

    def claim(
        self,
        fees: Fees,
        room: int,
        report: CycleReport,
        *,
        allowance: Mapping[int, int],
        chain_nonce: int,
        after: Future[None] | None = None,
    ) -> Claim:
        """Claim, sign and record up to :data:`BATCHES_PER_CLAIM` (and ``room``) times
        ``batch_size`` operations, in one database transaction: KOKU mint batches of up to
        ``batch_size`` per season, KOKU burn batches, bill mint batches (works registered
        first), bill burn batches.

        ``allowance`` is what the town may still mint per season, less what is in flight; a
        season missing from it is left untouched and named in ``Claim.unknown_seasons``.
        ``chain_nonce`` is the minter's mined nonce. Nothing reaches the chain here: the
        caller sends after the commit.

        With a writer thread (PostgreSQL), a claim whose last statements touch only its own
        operations returns once its batches are signed and commits on that thread
        (``Claim.committed``). Meanwhile the next claim reads and sorts its operations (those
        this one holds are skipped) and then waits for ``after``, the previous claim's commit,
        before it takes the minter's row, its nonces and the works it registered: the server's
        work on one claim overlaps the reading of the next instead of preceding it.
        """
        now = utcnow()
        writer = self.writer
        transaction = self.sessions.write()
        session = transaction.__enter__()
        try:
            claim, finish = self._claim(
                session, fees, room, report, allowance, chain_nonce, now, after
            )
            # A claim that holds mints for the cap commits here: that statement touches every
            # due mint of the season, some of which the next claim may hold.
            later = writer is not None and bool(claim.recorded) and not claim.short
            if finish is not None and not later:
                finish.statements()
        except BaseException as exc:
            transaction.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if later and writer is not None and finish is not None:
            return replace(claim, committed=writer.submit(_commit, transaction, finish))
        transaction.__exit__(None, None, None)
        if finish is not None:
            finish.committed()
        return claim

    def _claim(
        self,
        session: Session,
        fees: Fees,
        room: int,
        report: CycleReport,
        allowance: Mapping[int, int],
        chain_nonce: int,
        now: datetime,
        after: Future[None] | None,
    ) -> tuple[Claim, _Finish | None]:
        """The claim up to its commit; the :class:`_Finish` holds what is left to do before and
        after it (None: nothing was claimed)."""
        # Up to BATCHES_PER_CLAIM batches in one transaction: on SQLite each commit waits
        # for the disk while every town's worker waits for the write lock.
        batches = max(1, min(room, BATCHES_PER_CLAIM))
        # Core rows on the session's connection: the ORM's result loading cost more than
        # the query.
        connection = session.connection()
        rows = connection.execute(self.due(now, batches * self.batch_size)).all()
        if not rows:
            return Claim([], progressed=False), None
        mint_of = self._mints_of_burns(connection, rows)
        bill_mint_of = bill_mints_of(connection, self, rows)

        due = sort_due(rows, allowance, mint_of, bill_mint_of, has_bills=self.client.has_bills)
        chunks = [
            (season, batch[start : start + self.batch_size])
            for season, batch in due.mints.items()
            for start in range(0, len(batch), self.batch_size)
        ]
        burn_size = min(self.batch_size, MAX_BURN_BATCH_SIZE)
        burns = due.burns
        burn_chunks = [burns[i : i + burn_size] for i in range(0, len(burns), burn_size)]
        bill_burn_chunks = bill_burn_batches(due.bill_burns, self.batch_size)

        if after is not None:
            after.result()  # the previous claim's nonces and registrations are committed
        # The minter's row serialises its nonces across workers and processes, and says
        # whether the key is still the town's (a rotation retires it).
        state = session.scalar(
            select(TownMinter.state).where(TownMinter.id == self.minter_id).with_for_update()
        )
        if state is not TownMinterState.active:
            return Claim([], progressed=False, retired=True), None
        bill_plan = (
            plan_bill_mints(session, self, self.client.bills, due.bill_mints)
            if due.bill_mints
            else BillPlan()
        )
        nonces = iter(
            allocate_nonces(
                session,
                sent_by(self.chain_id, self.minter),
                chain_nonce,
                len(chunks) + len(burn_chunks) + bill_plan.transactions + len(bill_burn_chunks),
            )
        )
        recorder = Recorder(session, self, now, self.writer)
        try:
            registered = self._sign(
                recorder,
                nonces,
                fees,
                chunks,
                burn_chunks,
                mint_of,
                bill_plan,
                bill_burn_chunks,
                bill_mint_of,
            )
        except BaseException:
            recorder.abandon()  # the connection is the claim's again before the rollback
            raise
        report.claimed += recorder.claimed
        report.held += len(due.held)
        report.failed += len(due.failed)
        claim = Claim(
            recorder.recorded,
            bool(recorder.claimed or due.held or due.failed or due.short),
            due.minting,
            list(due.short.values()),
            due.unknown,
        )
        return claim, _Finish(self, session, recorder, due, now, bill_plan, registered)

    def _sign(
        self,
        recorder: Recorder,
        nonces: Iterator[int],
        fees: Fees,
        chunks: Sequence[tuple[int, Sequence[tuple[Any, str]]]],
        burn_chunks: Sequence[Sequence[tuple[Any, str]]],
        mint_of: Mapping[Any, tuple[ChainState, str | None, str]],
        bill_plan: BillPlan,
        bill_burn_chunks: Sequence[Sequence[tuple[Any, str]]],
        bill_mint_of: Mapping[Any, BillMint],
    ) -> list[Registration]:
        """Sign the claim's batches in nonce order, each recorded as it is signed; returns the
        works registered."""
        for season, batch in chunks:
            nonce = next(nonces)
            signed = self.client.build_mint_batch_tx(
                self.minter_key,
                season,
                # Lower case: the same address to the EVM, with no checksum to verify again.
                [address.lower() for _, address in batch],
                [row.amount_go for row, _ in batch],
                [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in batch],
                nonce,
                fees=fees,
            )
            recorder.record(batch, signed.raw, signed.tx_hash, nonce, wallet_recipient())
        for batch in burn_chunks:
            nonce = next(nonces)
            # Each burn names the mint of the issuance it draws on: the contract burns only
            # what that mint issued, from the address it went to.
            signed = self.client.build_burn_batch_tx(
                self.minter_key,
                [address.lower() for _, address in batch],
                [row.amount_go for row, _ in batch],
                [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in batch],
                [bytes.fromhex(mint_of[row.issuance_id][2].removeprefix("0x")) for row, _ in batch],
                nonce,
                fees=fees,
            )
            recorder.record(
                batch,
                signed.raw,
                signed.tx_hash,
                nonce,
                mint_recipient(),
                holders_from_mints=True,
            )
        registered: list[Registration] = []
        if bill_plan.transactions:
            registered = sign_bill_plan(bill_plan, self, self.client.bills, nonces, fees, recorder)
        if bill_burn_chunks:
            sign_bill_burns(
                bill_burn_chunks, bill_mint_of, self, self.client.bills, nonces, fees, recorder
            )
        return registered

    def _mints_of_burns(
        self, connection: Connection, rows: Sequence[Any]
    ) -> dict[Any, tuple[ChainState, str | None, str]]:
        """issuance id -> (state, recipient, reference) of the mint each due burn reverses: the
        contract burns only what that mint issued, from the address it went to, so each burn
        names the mint's reference."""
        burn_issuances = [
            r.issuance_id
            for r in rows
            if r.kind is ChainOperationKind.burn and r.asset is ChainAsset.koku
        ]
        if not burn_issuances:
            return {}
        return {
            issuance_id: (state, address, reference)
            for issuance_id, state, address, reference in connection.execute(
                select(
                    self.raw(ChainOperation.issuance_id),
                    ChainOperation.state,
                    ChainOperation.recipient_address,
                    ChainOperation.reference,
                ).where(
                    ChainOperation.kind == ChainOperationKind.mint,
                    ChainOperation.asset == ChainAsset.koku,
                    self.among(ChainOperation.issuance_id, burn_issuances),
                )
            )
        }

    def hold_for_cap(self, session: Session, shortfall: CapShortfall, now: datetime) -> None:
        """Every due mint of the town in the season waits, with the reason (one statement:
        a town past its cap may have thousands due)."""
        reason = waiting_for_cap(
            shortfall.season,
            f"{max(shortfall.left_go, 0):,} go left, the next mint needs {shortfall.next_go:,} go",
        )
        session.execute(
            update(ChainOperation)
            .where(
                ChainOperation.municipality_id == self.municipality_id,
                ChainOperation.kind == ChainOperationKind.mint,
                ChainOperation.state == ChainState.pending,
                ChainOperation.next_attempt_at <= now,
                ChainOperation.issuance_id.in_(
                    select(Issuance.id).where(
                        Issuance.municipality_id == self.municipality_id,
                        Issuance.season == shortfall.season,
                    )
                ),
            )
            .values(
                last_error=reason,
                next_attempt_at=now + timedelta(seconds=self.cap_wait_seconds),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


@dataclass
class _Finish:
    """What a claim does once its batches are signed: the rest of its statements, then, once
    committed, what the worker learns from it."""

    claimer: Claimer
    session: Session
    recorder: Recorder
    due: SortedDue
    now: datetime
    bill_plan: BillPlan
    registered: list[Registration]

    def statements(self) -> None:
        """Wait for the batches' statements, then set aside, fail or hold for the cap the
        operations that were not sent."""
        self.recorder.finish()
        later = self.now + timedelta(seconds=self.claimer.hold_seconds)
        set_aside(self.session, self.due.held, self.now, later)
        fail(self.session, self.due.failed, self.now)
        for shortfall in self.due.short.values():
            self.claimer.hold_for_cap(self.session, shortfall, self.now)

    def committed(self) -> None:
        """Only now may the works registered here be taken as registered."""
        registry = self.claimer.registry
        for work, cap in self.bill_plan.known.items():
            registry.learn(work, cap)
        for registration in self.registered:
            registry.learn(registration.work, registration.cap)


def _commit(transaction: AbstractContextManager[Session], finish: _Finish) -> None:
    """On the writer thread, after the claim's batches: its last statements and its commit
    (rolled back on an error, which the claim's future then carries)."""
    try:
        finish.statements()
    except BaseException as exc:
        transaction.__exit__(type(exc), exc, exc.__traceback__)
        raise
    transaction.__exit__(None, None, None)
    finish.committed()
