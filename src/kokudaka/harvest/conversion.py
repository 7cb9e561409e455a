"""The harvest conversion: every board on a work becomes a rice bill (米手形).

Run by the countersignature of a work's yield report, inside its transaction, with the
work's row locked (``harvest.service``). So it happens exactly once per work: the
transaction either commits every board's conversion with the countersignature, or (a
crash, a refused statement) nothing at all, and the report is still awaiting
countersignature; a second administrator countersigning at the same moment waits for the
work's lock and then finds the bills issued. The unique keys say it again in the database:
one conversion entry per (work, supporter) (``conversion:<work>:<user>``) and one bill.

For each supporter holding boards on the work, one journal entry:

- KOKU: the board (every standing issuance to them naming the work) goes from their
  holder account back to the town's issuance account: burned;
- the work's bills: ⌊board × min(actual, ceiling × planned) ÷ planned⌋ 合 from the work's
  bill issuance account to their bill account: minted (no bill postings when it is 0);

each asset's postings summing to zero. In the outbox: one KOKU burn per board issuance
(the contract burns by the issuance each was minted with) and one bill mint. The
issuances are marked converted, so none is reversed later. Investments in the work still
awaiting payment are cancelled (``work_harvested``), their yen and cap room given back.

A work may hold thousands of boards, and on SQLite the write lock is held for the whole
transaction, so everything is written with prebuilt Core statements, many rows each.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from kokudaka.core.ids import new_id
from kokudaka.harvest.yields import bill_go
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import chain_reference, issuance_account_key, release_cap_room
from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    Investment,
    InvestmentCancellation,
    InvestmentStatus,
    Issuance,
    JournalEntry,
    Posting,
    Work,
    YieldReport,
    table_of,
    utcnow,
)

__all__ = [
    "Conversion",
    "bill_account_key",
    "bill_issuance_account_key",
    "cancel_unpaid_investments",
    "convert_work",
    "lock_unpaid_investments",
]

_accounts = table_of(Account)
_entries = table_of(JournalEntry)
_postings = table_of(Posting)
_issuances = table_of(Issuance)
_operations = table_of(ChainOperation)
_bills = table_of(Bill)
_investments = table_of(Investment)
_works = table_of(Work)

# The work's board issuances, each with its supporter's KOKU account.
_BOARD_ISSUANCES = (
    select(
        _issuances.c.id,
        _issuances.c.recipient_id,
        _issuances.c.kind,
        _issuances.c.amount_go,
        _accounts.c.id,
    )
    .join(
        _accounts,
        (_accounts.c.user_id == _issuances.c.recipient_id)
        & (_accounts.c.kind == AccountKind.holder),
    )
    .where(
        _issuances.c.work_id == bindparam("work_id"),
        _issuances.c.reversal_entry_id.is_(None),
        _issuances.c.conversion_entry_id.is_(None),
    )
    .order_by(_issuances.c.recipient_id, _issuances.c.id)
)
_TOWN_ACCOUNT = select(_accounts.c.id).where(_accounts.c.key == bindparam("key"))
_INSERT_ENTRIES = insert(_entries)
_INSERT_POSTINGS = insert(_postings)
_INSERT_ACCOUNTS = insert(_accounts)
_INSERT_BILLS = insert(_bills)
_INSERT_OPERATIONS = insert(_operations)
# A conversion moves balances only: what a holder earned (their rank) stays.
_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance_go=_accounts.c.balance_go + bindparam("amount_go"))
)
_MARK_CONVERTED = (
    update(_issuances)
    .where(_issuances.c.id == bindparam("issuance_id"))
    .values(conversion_entry_id=bindparam("conversion_id"))
)
_UNPAID = select(_investments.c.id, _investments.c.amount_yen, _investments.c.go_amount).where(
    _investments.c.work_id == bindparam("work_id"),
    _investments.c.status == InvestmentStatus.pending_payment,
)


def bill_issuance_account_key(work_id: uuid.UUID) -> str:
    """The work's bill issuance account: the source of its bills."""
    return f"bills:{work_id}"


def bill_account_key(work_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """A person's bills of one work."""
    return f"bill:{work_id}:{user_id}"


@dataclass(frozen=True, slots=True)
class _Board:
    """One supporter's board issuances on the work, as the conversion reads them."""

    recipient_id: uuid.UUID
    holder_account_id: uuid.UUID
    issuances: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    investment_go: int = 0
    labour_go: int = 0

    @property
    def total_go(self) -> int:
        return sum(go for _, go in self.issuances)


@dataclass(frozen=True, slots=True)
class Conversion:
    """What a work's conversion wrote (recorded in the staff audit log and shown)."""

    boards: int
    board_go: int
    bill_go: int
    burns: int
    mints: int
    cancelled_investments: int


def lock_unpaid_investments(session: Session, work_id: uuid.UUID) -> None:
    """Lock the work's investments awaiting payment, before the work's row: every path
    that locks both takes the investment first (see ``investments.service``)."""
    session.execute(
        select(Investment.id)
        .where(
            Investment.work_id == work_id,
            Investment.status == InvestmentStatus.pending_payment,
        )
        .order_by(Investment.id)
        .with_for_update(key_share=True)
    )


def cancel_unpaid_investments(session: Session, work: Work) -> int:
    """Cancel the work's investments still awaiting payment (``work_harvested``), giving
    their yen back to the offer and their go back to the town's cap. The count."""
    conn = session.connection()
    unpaid = conn.execute(_UNPAID, {"work_id": work.id}).all()
    if not unpaid:
        return 0
    now = utcnow()
    conn.execute(
        update(_investments)
        .where(_investments.c.id == bindparam("investment_id"))
        .values(
            status=InvestmentStatus.cancelled,
            cancelled_at=now,
            cancellation_reason=InvestmentCancellation.work_harvested,
        ),
        [{"investment_id": row[0]} for row in unpaid],
    )
    work.subscribed_yen -= sum(row[1] for row in unpaid)
    release_cap_room(
        session,
        municipality_id=work.municipality_id,
        season=work.season,
        amount_go=sum(row[2] for row in unpaid),
    )
    return len(unpaid)


def _boards(conn: Connection, work_id: uuid.UUID) -> list[_Board]:
    boards: dict[uuid.UUID, _Board] = {}
    by_kind: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for issuance_id, recipient_id, kind, amount_go, account_id in conn.execute(
        _BOARD_ISSUANCES, {"work_id": work_id}
    ):
        board = boards.get(recipient_id)
        if board is None:
            board = boards[recipient_id] = _Board(recipient_id, account_id)
        board.issuances.append((issuance_id, amount_go))
        by_kind[recipient_id][str(kind)] += amount_go
    return [
        _Board(
            recipient_id=b.recipient_id,
            holder_account_id=b.holder_account_id,
            issuances=b.issuances,
            investment_go=by_kind[b.recipient_id]["investment"],
            labour_go=by_kind[b.recipient_id]["contribution"],
        )
        for b in boards.values()
    ]


def _pending_operation(
    *, asset: ChainAsset, kind: ChainOperationKind, entry_id: uuid.UUID, work: Work,
    user_id: uuid.UUID, amount_go: int, now: Any, issuance_id: uuid.UUID | None = None,
    bill_id: uuid.UUID | None = None,
) -> dict[str, Any]:  # fmt: skip
    op_id = new_id()
    return {
        "id": op_id,
        "asset": asset,
        "kind": kind,
        "entry_id": entry_id,
        "issuance_id": issuance_id,
        "bill_id": bill_id,
        "municipality_id": work.municipality_id,
        "user_id": user_id,
        # A bill mint's reference is its bill's; a burn's is its own.
        "reference": chain_reference(bill_id if bill_id is not None else op_id),
        "amount_go": amount_go,
        "state": ChainState.pending,
        "attempts": 0,
        "next_attempt_at": now,
        "recipient_address": None,
        "transaction_id": None,
        "tx_hash": None,
        "block_number": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


def convert_work(
    session: Session,
    work: Work,
    report: YieldReport,
    ceiling_bp: int,
    actor_id: uuid.UUID,
) -> Conversion:
    """Turn every board on ``work`` (locked by the caller) into a bill sized by the
    countersigned ``report``, and mark the work's bills issued."""
    conn = session.connection()
    cancelled = cancel_unpaid_investments(session, work)
    boards = _boards(conn, work.id)
    now = utcnow()
    town_account_id = conn.execute(
        _TOWN_ACCOUNT, {"key": issuance_account_key(work.municipality_id)}
    ).scalar_one_or_none()
    entries: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    bills: list[dict[str, Any]] = []
    operations: list[dict[str, Any]] = []
    converted: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    bill_accounts: list[dict[str, Any]] = []
    bills_account_id = new_id()
    total_board = total_bill = burns = 0
    for board in boards:
        go = board.total_go
        bill = bill_go(go, report.actual_yield_go, work.planned_yield_go, ceiling_bp)
        entry_id, bill_id = new_id(), new_id()
        total_board += go
        total_bill += bill
        entries.append(
            {
                "id": entry_id,
                "kind": EntryKind.conversion,
                "municipality_id": work.municipality_id,
                "idempotency_key": f"conversion:{work.id}:{board.recipient_id}",
                "reverses_entry_id": None,
                "memo": (memo := _memo(work, go, bill)).text("en"),
                "memo_code": memo.code,
                "memo_params": memo.params,
                "created_by_id": actor_id,
                "created_at": now,
            }
        )
        assert town_account_id is not None  # boards were issued from it
        postings += [
            _posting(entry_id, board.holder_account_id, -go),
            _posting(entry_id, town_account_id, go),
        ]
        moves.append({"account_id": board.holder_account_id, "amount_go": -go})
        for issuance_id, issued in board.issuances:
            converted.append({"issuance_id": issuance_id, "conversion_id": entry_id})
            operations.append(
                _pending_operation(
                    asset=ChainAsset.koku,
                    kind=ChainOperationKind.burn,
                    entry_id=entry_id,
                    work=work,
                    user_id=board.recipient_id,
                    amount_go=issued,
                    now=now,
                    issuance_id=issuance_id,
                )
            )
            burns += 1
        if bill > 0:
            holder_bill_account = new_id()
            bill_accounts.append(
                _bill_account(
                    holder_bill_account,
                    bill_account_key(work.id, board.recipient_id),
                    AccountKind.bill_holder,
                    work,
                    bill,
                    now,
                    user_id=board.recipient_id,
                )
            )
            postings += [
                _posting(entry_id, bills_account_id, -bill),
                _posting(entry_id, holder_bill_account, bill),
            ]
            operations.append(
                _pending_operation(
                    asset=ChainAsset.bill,
                    kind=ChainOperationKind.mint,
                    entry_id=entry_id,
                    work=work,
                    user_id=board.recipient_id,
                    amount_go=bill,
                    now=now,
                    bill_id=bill_id,
                )
            )
        bills.append(
            {
                "id": bill_id,
                "entry_id": entry_id,
                "work_id": work.id,
                "municipality_id": work.municipality_id,
                "season": work.season,
                "holder_id": board.recipient_id,
                "yield_report_id": report.id,
                "board_go": go,
                "investment_go": board.investment_go,
                "labour_go": board.labour_go,
                "amount_go": bill,
                "created_at": now,
            }
        )
    if boards:
        assert town_account_id is not None
        moves.append({"account_id": town_account_id, "amount_go": total_board})
        # The work's bill accounts are new: written with their balances, not moved.
        bill_accounts.insert(
            0,
            _bill_account(
                bills_account_id,
                bill_issuance_account_key(work.id),
                AccountKind.bill_issuance,
                work,
                -total_bill,
                now,
            ),
        )
        _insert(conn, _INSERT_ENTRIES, entries)
        _insert(conn, _INSERT_ACCOUNTS, bill_accounts if total_bill else [])
        _insert(conn, _INSERT_POSTINGS, postings)
        # In the order of the account ids, as every posting path does: no deadlock.
        conn.execute(_MOVE_BALANCE, sorted(moves, key=lambda m: m["account_id"]))
        conn.execute(_MARK_CONVERTED, converted)
        _insert(conn, _INSERT_BILLS, bills)
        _insert(conn, _INSERT_OPERATIONS, operations)
    work.bills_issued_at = now
    session.flush()
    return Conversion(
        boards=len(boards),
        board_go=total_board,
        bill_go=total_bill,
        burns=burns,
        mints=sum(1 for b in bills if b["amount_go"] > 0),
        cancelled_investments=cancelled,
    )


def _memo(work: Work, board_go: int, bill: int) -> Memo:
    return Memo("conversion", {"title": work.title, "board_go": board_go, "bill_go": bill})


def _posting(entry_id: uuid.UUID, account_id: uuid.UUID, go: int) -> dict[str, Any]:
    return {"id": new_id(), "entry_id": entry_id, "account_id": account_id, "amount_go": go}


def _bill_account(
    account_id: uuid.UUID,
    key: str,
    kind: AccountKind,
    work: Work,
    balance: int,
    now: Any,
    user_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "id": account_id,
        "key": key,
        "kind": kind,
        "municipality_id": work.municipality_id,
        "user_id": user_id,
        "work_id": work.id,
        "balance_go": balance,
        "earned_go": 0,
        "created_at": now,
    }


def _insert(conn: Connection, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        conn.execute(statement, rows)


def bill_totals(session: Session, work_id: uuid.UUID) -> tuple[int, int, int]:
    """(bills, board go converted, bill go issued) of a work."""
    row = session.execute(
        select(
            func.count(Bill.id),
            func.coalesce(func.sum(Bill.board_go), 0),
            func.coalesce(func.sum(Bill.amount_go), 0),
        ).where(Bill.work_id == work_id)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
