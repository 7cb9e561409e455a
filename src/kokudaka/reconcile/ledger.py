"""Reading the ledger for a reconciliation: the KOKU outbox snapshot streamed into memory, and
the SQL-only checks (ledger vs outbox: one mint per issuance, one burn per reversal or harvest
conversion, each person's holder balance equal to their KOKU operations' net). Bill operations
are :mod:`.bills_ledger`'s."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session

from kokudaka.models import (
    Account,
    AccountKind,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    Issuance,
    Posting,
)
from kokudaka.reconcile.report import DiscrepancyKind, Findings, Op, Ticker, chunks

_YIELD_PER: Final = 20_000

ZERO: Final = literal_column("0", BigInteger())
CONFIRMED: Final = ChainState.confirmed.value
FAILED: Final = ChainState.failed.value
MINT: Final = ChainOperationKind.mint.value
BURN: Final = ChainOperationKind.burn.value
KOKU: Final = ChainAsset.koku

# ---------------------------------------------------------------- SQL: the ledger snapshot


class Ledger:
    def __init__(self) -> None:
        self.mints: dict[str, Op] = {}
        self.burns: dict[str, Op] = {}
        self.addresses: set[str] = set()
        """Addresses of the operations whose balances are checked (all, or the scope's)."""
        self.operations = 0
        self.issuances = 0
        self.users = 0


def operations_statement(scope: Sequence[uuid.UUID] | None) -> Any:
    """Every KOKU operation (all towns: balances and unknown events need them)."""
    op = ChainOperation.__table__.c
    issuance = Issuance.__table__.c
    return (
        select(
            type_coerce(op.kind, String),
            type_coerce(op.state, String),
            op.reference,
            op.amount_go,
            op.recipient_address,
            scope_filter(op.municipality_id, scope),
            cast(op.municipality_id, String),
            issuance.season,
        )
        # The season a mint spends on chain is its issuance's (a burn's: the reversed or
        # converted one's). Bill operations name no issuance.
        .join(Issuance.__table__, issuance.id == op.issuance_id)
        .where(op.asset == KOKU)
        .execution_options(yield_per=_YIELD_PER)
    )


def collect_operations(
    result: Result[str, str, str, int, str | None, bool, str, int], tick: Ticker
) -> Ledger:
    ledger = Ledger()
    mints, burns, addresses = ledger.mints, ledger.burns, ledger.addresses
    # One string per town, shared by its operations, rather than one per row.
    towns: dict[str, str] = {}
    done = scoped_count = 0
    for partition in result.partitions():
        for kind, state, reference, amount, address, scoped, town, season in partition:
            scoped = bool(scoped)
            town = towns.setdefault(town, town)
            if address:
                address = address.lower()
                if scoped:
                    addresses.add(address)
            else:
                address = None
            (mints if kind == MINT else burns)[reference] = (
                state,
                amount,
                address,
                scoped,
                town,
                season,
            )
            scoped_count += scoped
        done += len(partition)
        tick("operations", done)
    ledger.operations = scoped_count
    tick.always("operations", done)
    return ledger


def scope_filter(column: Any, scope: Sequence[uuid.UUID] | None) -> Any:
    return true() if scope is None else column.in_(scope)


def check_ledger_vs_outbox(
    session: Session, scope: Sequence[uuid.UUID] | None, ledger: Ledger, findings: Findings
) -> None:
    """Issuance ↔ mint, reversal or conversion ↔ burn, and holder postings ↔ KOKU operations:
    in SQL, each one statement (so each sees one snapshot) that returns only the rows that
    disagree."""
    i, o = Issuance, ChainOperation
    ledger.issuances = int(
        session.scalar(
            select(func.count()).select_from(i).where(scope_filter(i.municipality_id, scope))
        )
        or 0
    )
    mint = o.__table__.alias("mint_op")
    rows = session.execute(
        select(
            i.id, i.municipality_id, i.recipient_id, i.amount_go, mint.c.amount_go, mint.c.user_id
        )
        # Only KOKU operations name an issuance.
        .outerjoin(mint, and_(mint.c.issuance_id == i.id, mint.c.kind == ChainOperationKind.mint))
        .where(
            scope_filter(i.municipality_id, scope),
            or_(
                mint.c.id.is_(None),
                mint.c.amount_go != i.amount_go,
                mint.c.user_id != i.recipient_id,
                mint.c.municipality_id != i.municipality_id,
                mint.c.entry_id != i.entry_id,
            ),
        )
    )
    for issuance_id, town, recipient, amount, op_amount, op_user in rows:
        if op_amount is None:
            findings.add(
                DiscrepancyKind.issuance_without_mint,
                issuance_id=issuance_id,
                municipality_id=town,
                user_id=recipient,
                account=f"holder:{recipient}",
                expected=amount,
            )
        else:
            findings.add(
                DiscrepancyKind.issuance_mint_mismatch,
                issuance_id=issuance_id,
                municipality_id=town,
                user_id=recipient,
                account=f"holder:{recipient}",
                expected=amount,
                actual=op_amount,
                detail=None if op_user == recipient else f"operation for user {op_user}",
            )
    mints = func.sum(case((o.kind == ChainOperationKind.mint, 1), else_=0))
    burns = func.sum(case((o.kind == ChainOperationKind.burn, 1), else_=0))
    duplicates = session.execute(
        select(o.issuance_id, o.municipality_id, mints, burns)
        .where(o.issuance_id.is_not(None), scope_filter(o.municipality_id, scope))
        .group_by(o.issuance_id, o.municipality_id)
        .having(or_(mints > 1, burns > 1))
    )
    for issuance_id, town, mint_count, burn_count in duplicates:
        for kind, count in (
            (DiscrepancyKind.duplicate_mint_operation, mint_count),
            (DiscrepancyKind.duplicate_burn_operation, burn_count),
        ):
            if count > 1:
                findings.add(
                    kind, issuance_id=issuance_id, municipality_id=town, expected=1, actual=count
                )
    # A reversed issuance has one burn of its reversal entry, a converted one one burn of its
    # conversion entry (which holds a burn per board issuance: matched by issuance too).
    burn = o.__table__.alias("burn_op")
    undone = func.coalesce(i.reversal_entry_id, i.conversion_entry_id)
    rows = session.execute(
        select(
            i.id,
            i.municipality_id,
            i.recipient_id,
            i.amount_go,
            burn.c.amount_go,
            i.reversal_entry_id.is_(None),
        )
        .outerjoin(
            burn,
            and_(
                burn.c.issuance_id == i.id,
                burn.c.entry_id == undone,
                burn.c.kind == ChainOperationKind.burn,
            ),
        )
        .where(
            scope_filter(i.municipality_id, scope),
            undone.is_not(None),
            or_(
                burn.c.id.is_(None),
                burn.c.amount_go != i.amount_go,
                burn.c.user_id != i.recipient_id,
                burn.c.municipality_id != i.municipality_id,
            ),
        )
    )
    for issuance_id, town, recipient, amount, op_amount, converted in rows:
        if converted:
            kind = (
                DiscrepancyKind.conversion_without_burn
                if op_amount is None
                else DiscrepancyKind.conversion_burn_mismatch
            )
        else:
            kind = (
                DiscrepancyKind.reversal_without_burn
                if op_amount is None
                else DiscrepancyKind.reversal_burn_mismatch
            )
        findings.add(
            kind,
            issuance_id=issuance_id,
            municipality_id=town,
            user_id=recipient,
            account=f"holder:{recipient}",
            expected=amount,
            actual=op_amount,
        )
    orphans = session.execute(
        select(o.reference, o.issuance_id, o.municipality_id, o.user_id, o.amount_go)
        .outerjoin(
            i,
            and_(
                i.id == o.issuance_id,
                or_(i.reversal_entry_id == o.entry_id, i.conversion_entry_id == o.entry_id),
            ),
        )
        .where(
            o.kind == ChainOperationKind.burn,
            o.asset == KOKU,
            scope_filter(o.municipality_id, scope),
            i.id.is_(None),
        )
    )
    for reference, issuance_id, town, user_id, amount in orphans:
        findings.add(
            DiscrepancyKind.burn_without_reversal,
            reference=reference,
            issuance_id=issuance_id,
            municipality_id=town,
            user_id=user_id,
            actual=amount,
        )

    # Holder balance vs the outbox's net, per person: one UNION ALL, grouped, so postings
    # and operations come from the same snapshot even under READ COMMITTED.
    a, p = Account, Posting
    postings = (
        select(a.user_id.label("user_id"), p.amount_go.label("ledger"), ZERO.label("outbox"))
        .select_from(p)
        .join(a, a.id == p.account_id)
        .where(a.kind == AccountKind.holder)
    )
    signed = case((o.kind == ChainOperationKind.mint, o.amount_go), else_=-o.amount_go)
    outbox = select(o.user_id.label("user_id"), ZERO.label("ledger"), signed.label("outbox")).where(
        o.asset == KOKU
    )
    both = postings.union_all(outbox).subquery()
    grouped = (
        select(both.c.user_id, func.sum(both.c.ledger), func.sum(both.c.outbox))
        .where(both.c.user_id.is_not(None))
        .group_by(both.c.user_id)
    )
    if scope is not None:
        grouped = grouped.where(
            both.c.user_id.in_(
                select(o.user_id).where(o.municipality_id.in_(scope), o.asset == KOKU)
            )
        )
    for user_id, ledger_go, outbox_go in session.execute(grouped):
        ledger.users += 1
        if int(ledger_go) != int(outbox_go):
            findings.add(
                DiscrepancyKind.ledger_outbox_mismatch,
                user_id=user_id,
                account=f"holder:{user_id}",
                expected=int(ledger_go),
                actual=int(outbox_go),
                detail="expected: holder postings; actual: mints minus burns in the outbox",
            )


def known_references(
    session: Session, references: Sequence[str]
) -> dict[str, tuple[str, uuid.UUID, int]]:
    """Operations created after the snapshot, looked up again (a statement of its own, so
    under READ COMMITTED it sees what the worker committed since): kind, town, season."""
    found: dict[str, tuple[str, uuid.UUID, int]] = {}
    op = ChainOperation
    for chunk in chunks(references):
        rows = session.execute(
            select(op.reference, type_coerce(op.kind, String), op.municipality_id, Issuance.season)
            .join(Issuance, Issuance.id == op.issuance_id)
            .where(op.reference.in_(chunk), op.asset == KOKU)
        )
        for reference, kind, town, season in rows:
            found[reference] = (kind, town, season)
    return found
