"""The ledger checked against itself for a reconciliation: every journal entry's postings sum to
zero in each asset (KOKU on issuance and holder accounts, one work's bills on its bill
accounts), and every account's running balance equals the sum of its postings. Two grouped
statements that return only the rows that disagree."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.models import Account, AccountKind, JournalEntry, Posting
from kokudaka.reconcile.report import DiscrepancyKind, Findings

__all__ = ["check_entries"]

_BILL_KINDS = (AccountKind.bill_issuance, AccountKind.bill_holder, AccountKind.bill_held)


def check_entries(session: Session, scope: Sequence[uuid.UUID] | None, findings: Findings) -> None:
    """Entries of the towns in scope (every entry names its town) and their accounts."""
    a, p, e = Account, Posting, JournalEntry
    # Two cheap sums instead of one grouped by entry and asset (a lookup of every posting's
    # account, six times slower on SQLite): each entry's total over every asset, and each
    # entry's sum per work over the few bill accounts. An entry is balanced in every asset
    # exactly when both are zero: its KOKU sum is its total less its bills' sums.
    totals = select(p.entry_id, func.sum(p.amount_go)).group_by(p.entry_id)
    bills = (
        select(p.entry_id, a.work_id, func.sum(p.amount_go))
        .join(a, a.id == p.account_id)
        .where(p.account_id.in_(select(a.id).where(a.kind.in_(_BILL_KINDS))))
        .group_by(p.entry_id, a.work_id)
        .having(func.sum(p.amount_go) != 0)
    )
    if scope is not None:
        in_scope = select(e.id).where(e.municipality_id.in_(scope))
        totals = totals.where(p.entry_id.in_(in_scope))
        bills = bills.where(p.entry_id.in_(in_scope))
    unbalanced: dict[uuid.UUID, int] = {
        entry_id: int(total)
        for entry_id, total in session.execute(totals.having(func.sum(p.amount_go) != 0))
    }
    koku = dict(unbalanced)
    for entry_id, work_id, total in session.execute(bills):
        koku[entry_id] = koku.get(entry_id, 0) - int(total)
        findings.add(
            DiscrepancyKind.entry_unbalanced,
            expected=0,
            actual=int(total),
            detail=f"entry {entry_id}: the bills of work {work_id}",
        )
    for entry_id, total in koku.items():
        if total:
            findings.add(
                DiscrepancyKind.entry_unbalanced,
                expected=0,
                actual=total,
                detail=f"entry {entry_id}: KOKU",
            )

    # An account's postings, against its running balance; an account with none holds 0.
    sums = (
        select(p.account_id, func.sum(p.amount_go).label("total")).group_by(p.account_id).subquery()
    )
    held = func.coalesce(sums.c.total, 0)
    accounts = (
        select(a.key, a.municipality_id, a.user_id, a.balance_go, held)
        .outerjoin(sums, sums.c.account_id == a.id)
        .where(a.balance_go != held)
    )
    if scope is not None:
        # A holder account names no town: it is in scope when a town in scope posted to it.
        posted = select(p.account_id).where(
            p.entry_id.in_(select(e.id).where(e.municipality_id.in_(scope)))
        )
        accounts = accounts.where(
            (a.municipality_id.in_(scope)) | (a.municipality_id.is_(None) & a.id.in_(posted))
        )
    for key, town, user, balance, total in session.execute(accounts):
        findings.add(
            DiscrepancyKind.account_balance_mismatch,
            municipality_id=town,
            user_id=user,
            account=key,
            expected=int(total),
            actual=int(balance),
            detail="expected: the sum of its postings; actual: its running balance",
        )
