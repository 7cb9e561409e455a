"""The ledger checked against itself for a reconciliation: every journal entry's postings sum to
zero in each asset (KOKU on issuance and holder accounts, one work's bills on its bill
accounts), and every account's running balance equals the sum of its postings. Two grouped
statements that return only the rows that disagree."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from kokudaka.models import Account, AccountKind, JournalEntry, Posting
from kokudaka.reconcile.ledger import scope_filter
from kokudaka.reconcile.report import DiscrepancyKind, Findings

__all__ = ["check_entries"]

_BILL_KINDS = (AccountKind.bill_issuance, AccountKind.bill_holder, AccountKind.bill_held)


def check_entries(session: Session, scope: Sequence[uuid.UUID] | None, findings: Findings) -> None:
    """Entries of the towns in scope (every entry names its town) and their accounts."""
    a, p, e = Account, Posting, JournalEntry
    # The asset of an account: KOKU (no work) or the work whose bills it holds.
    asset = case((a.kind.in_(_BILL_KINDS), a.work_id), else_=literal(None))
    unbalanced = (
        select(p.entry_id, asset, func.sum(p.amount_go))
        .join(a, a.id == p.account_id)
        .group_by(p.entry_id, asset)
        .having(func.sum(p.amount_go) != 0)
    )
    if scope is not None:
        unbalanced = unbalanced.join(e, e.id == p.entry_id).where(e.municipality_id.in_(scope))
    for entry_id, work_id, total in session.execute(unbalanced):
        findings.add(
            DiscrepancyKind.entry_unbalanced,
            expected=0,
            actual=int(total),
            detail=f"entry {entry_id}: "
            + ("KOKU" if work_id is None else f"the bills of work {work_id}"),
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
        posted = (
            select(p.account_id)
            .join(e, e.id == p.entry_id)
            .where(scope_filter(e.municipality_id, scope))
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
