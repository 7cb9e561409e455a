"""Reading the rice bills (米手形) side of the ledger for a reconciliation, and its SQL-only
checks: each bill has exactly one mint operation that matches it, and each person's bills of a
work (their bill account, and what of it is held for redemptions) equal the net of their bill
operations of the work.

Bills are far fewer than issuances (one per supporter and work), so they are read as typed
rows, a handful of statements in all, whatever the number of works.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    Municipality,
    Posting,
    Work,
)
from kokudaka.reconcile.ledger import scope_filter
from kokudaka.reconcile.report import DiscrepancyKind, chunks

__all__ = ["BillLedger", "BillOp", "WorkLedger", "bill_account", "read_bill_ledger"]


def bill_account(work_id: uuid.UUID, user_id: uuid.UUID | None = None) -> str:
    """The ledger account a bill discrepancy is about: a person's bills of a work, or the
    work's bill issuance account."""
    return f"bills:{work_id}" if user_id is None else f"bill:{work_id}:{user_id}"


@dataclass(frozen=True, slots=True)
class BillOp:
    """One bill operation of the outbox, as the comparison needs it."""

    kind: ChainOperationKind
    state: str
    amount: int
    address: str | None
    """Lower-case hex; None while unsent."""
    town: uuid.UUID
    work: uuid.UUID
    user: uuid.UUID
    in_scope: bool


@dataclass(slots=True)
class WorkLedger:
    """One work with bills, as SQL has it."""

    work_id: uuid.UUID
    title: str
    town: uuid.UUID
    town_name: str
    season: int
    bills: int = 0
    issued: int = 0
    """The go of its bills: the bill total its cap on chain is registered with."""
    outstanding: int = 0
    """What its holders' bill accounts hold, held for redemptions or not (postings)."""


@dataclass
class BillLedger:
    mints: dict[str, BillOp] = field(default_factory=dict)
    burns: dict[str, BillOp] = field(default_factory=dict)
    works: dict[uuid.UUID, WorkLedger] = field(default_factory=dict)
    """The works in scope with bills."""

    def __bool__(self) -> bool:
        return bool(self.mints or self.burns or self.works)


Add = Callable[..., None]
"""``add(kind, work_id, **fields)``: record a discrepancy about a work."""


def read_bill_ledger(session: Session, scope: Sequence[uuid.UUID] | None, add: Add) -> BillLedger:
    """Every bill operation (all towns, as for KOKU: balances and unknown events need them),
    the works in scope with their bills, and the SQL-only checks of those works."""
    ledger = BillLedger()
    o, b = ChainOperation, Bill
    scope_set = None if scope is None else set(scope)
    mints_of_bill: defaultdict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    net: defaultdict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    rows = session.execute(
        select(
            o.kind,
            o.state,
            o.reference,
            o.amount_go,
            o.recipient_address,
            o.municipality_id,
            o.user_id,
            o.bill_id,
            o.entry_id,
            b.work_id,
        )
        .join(b, b.id == o.bill_id)
        # By the bills' index, not a scan of every KOKU operation.
        .where(o.bill_id.in_(select(b.id)), o.asset == ChainAsset.bill)
    )
    for kind, state, reference, amount, address, town, user, bill, entry, of_work in rows:
        in_scope = scope_set is None or town in scope_set
        op = BillOp(
            kind, str(state), amount, address.lower() if address else None, town, of_work, user,
            in_scope,
        )  # fmt: skip
        if kind is ChainOperationKind.mint:
            ledger.mints[reference] = op
            if bill is not None:  # every bill operation names its bill (a check constraint)
                mints_of_bill[bill].append((amount, user, town, entry))
            net[(of_work, user)] += amount
        else:
            ledger.burns[reference] = op
            net[(of_work, user)] -= amount

    w, m = Work, Municipality
    for work_id, title, town, name, season in session.execute(
        select(w.id, w.title, w.municipality_id, m.name, w.season)
        .join(m, m.id == w.municipality_id)
        .where(w.id.in_(select(b.work_id).distinct()), scope_filter(w.municipality_id, scope))
    ):
        ledger.works[work_id] = WorkLedger(work_id, title, town, name, season)
    if not ledger.works:
        return ledger

    for bill, work_id, town, holder, amount, entry in session.execute(
        select(b.id, b.work_id, b.municipality_id, b.holder_id, b.amount_go, b.entry_id).where(
            scope_filter(b.municipality_id, scope)
        )
    ):
        work = ledger.works.get(work_id)
        if work is None:  # its work is in another town than the bill: shown by the op check
            continue
        work.bills += 1
        work.issued += amount
        ops = mints_of_bill.get(bill, [])
        where = {
            "municipality_id": town,
            "user_id": holder,
            "account": bill_account(work_id, holder),
        }
        if len(ops) > 1:
            add(
                DiscrepancyKind.duplicate_bill_mint_operation,
                work_id,
                expected=1,
                actual=len(ops),
                detail=f"bill {bill}",
                **where,
            )
        if not ops:
            if amount > 0:
                add(DiscrepancyKind.bill_without_mint, work_id, expected=amount, **where)
            continue
        op_amount, op_user, op_town, op_entry = ops[0]
        if (op_amount, op_user, op_town, op_entry) != (amount, holder, town, entry):
            add(
                DiscrepancyKind.bill_mint_operation_mismatch,
                work_id,
                expected=amount,
                actual=op_amount,
                detail=_differences(op_user, holder, op_town, town, op_entry, entry),
                **where,
            )

    # Each person's bills of a work (held for a redemption or not: both are still on chain
    # until shipped) against their bill operations' net.
    a, p = Account, Posting
    for account_work, account_user, total in session.execute(
        select(a.work_id, a.user_id, func.sum(p.amount_go))
        .join(p, p.account_id == a.id)
        .where(
            a.kind.in_((AccountKind.bill_holder, AccountKind.bill_held)),
            scope_filter(a.municipality_id, scope),
        )
        .group_by(a.work_id, a.user_id)
    ):
        if account_work is None or account_user is None:
            continue  # a bill account names both (the conversion writes them so)
        held = int(total)
        work = ledger.works.get(account_work)
        if work is not None:
            work.outstanding += held
        outbox = net.pop((account_work, account_user), 0)
        if held != outbox:
            add(
                DiscrepancyKind.bill_ledger_outbox_mismatch,
                account_work,
                user_id=account_user,
                account=bill_account(account_work, account_user),
                expected=held,
                actual=outbox,
                detail="expected: bill postings; actual: bill mints minus burns in the outbox",
            )
    for (work_id, user), outbox in net.items():
        # Operations of a person with no bill account of the work at all.
        if outbox and work_id in ledger.works:
            add(
                DiscrepancyKind.bill_ledger_outbox_mismatch,
                work_id,
                user_id=user,
                account=bill_account(work_id, user),
                expected=0,
                actual=outbox,
                detail="expected: bill postings; actual: bill mints minus burns in the outbox",
            )
    return ledger


def _differences(
    op_user: uuid.UUID,
    holder: uuid.UUID,
    op_town: uuid.UUID,
    town: uuid.UUID,
    op_entry: uuid.UUID,
    entry: uuid.UUID,
) -> str | None:
    found = [
        f"{what} {actual} (the bill's: {expected})"
        for what, actual, expected in (
            ("operation for user", op_user, holder),
            ("operation of town", op_town, town),
            ("operation of entry", op_entry, entry),
        )
        if actual != expected
    ]
    return "; ".join(found) or None


def late_bill_references(
    session: Session, references: Sequence[str]
) -> dict[str, tuple[ChainOperationKind, uuid.UUID, uuid.UUID]]:
    """Bill operations created after the snapshot, looked up again: kind, town, work."""
    found: dict[str, tuple[ChainOperationKind, uuid.UUID, uuid.UUID]] = {}
    o = ChainOperation
    for chunk in chunks(references):
        for reference, kind, town, work in session.execute(
            select(o.reference, o.kind, o.municipality_id, Bill.work_id)
            .join(Bill, Bill.id == o.bill_id)
            .where(o.reference.in_(chunk), o.asset == ChainAsset.bill)
        ):
            found[reference] = (kind, town, work)
    return found
