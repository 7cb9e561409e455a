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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session

from kokudaka.core.bulk import bulk_execute, bulk_insert
from kokudaka.core.ids import new_ids
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

# The work's board issuances, each with its supporter's KOKU account, locked: a reversal
# racing the conversion waits, then finds its issuance converted.
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
    .with_for_update(of=_issuances, key_share=True)
)
_TOWN_ACCOUNT = select(_accounts.c.id).where(_accounts.c.key == bindparam("key"))
# A conversion moves balances only: what a holder earned (their rank) stays.
_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance_go=_accounts.c.balance_go + bindparam("amount_go"))
)
# Every board issuance of the work points at its supporter's conversion entry, found by
# the bill's unique (work, holder): one statement, however many boards.
_MARK_CONVERTED = (
    update(_issuances)
    .where(
        _issuances.c.work_id == bindparam("the_work"),
        _issuances.c.reversal_entry_id.is_(None),
        _issuances.c.conversion_entry_id.is_(None),
    )
    .values(
        conversion_entry_id=select(_bills.c.entry_id)
        .where(
            _bills.c.work_id == _issuances.c.work_id,
            _bills.c.holder_id == _issuances.c.recipient_id,
        )
        .scalar_subquery()
    )
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


_ENTRY_COLUMNS = (
    "id", "kind", "municipality_id", "idempotency_key", "memo", "memo_code", "memo_params",
    "created_by_id", "created_at",
)  # fmt: skip
_ACCOUNT_COLUMNS = (
    "id", "key", "kind", "municipality_id", "user_id", "work_id", "balance_go", "earned_go",
    "created_at",
)  # fmt: skip
_POSTING_COLUMNS = ("id", "entry_id", "account_id", "amount_go")
_BILL_COLUMNS = (
    "id", "entry_id", "work_id", "municipality_id", "season", "holder_id", "yield_report_id",
    "board_go", "investment_go", "labour_go", "amount_go", "gifted_go", "created_at",
)  # fmt: skip
# The rest (address, transaction, hash, block, error) start NULL.
_OPERATION_COLUMNS = (
    "id", "asset", "kind", "entry_id", "issuance_id", "bill_id", "municipality_id", "user_id",
    "reference", "amount_go", "state", "attempts", "next_attempt_at", "created_at", "updated_at",
)  # fmt: skip


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
    town = work.municipality_id
    town_account_id = conn.execute(
        _TOWN_ACCOUNT, {"key": issuance_account_key(town)}
    ).scalar_one_or_none()
    entries: list[tuple[Any, ...]] = []
    postings: list[tuple[Any, ...]] = []
    bills: list[tuple[Any, ...]] = []
    operations: list[tuple[Any, ...]] = []
    moves: list[tuple[uuid.UUID, int]] = []
    bill_accounts: list[tuple[Any, ...]] = []
    # Every id this conversion needs, made at once (a board has at most an entry, a bill,
    # a bill account, four postings, and a burn per issuance).
    ids = iter(new_ids(sum(8 + len(b.issuances) for b in boards) + 1))
    bills_account_id = next(ids)
    total_board = total_bill = burns = mints = 0
    for board in boards:
        go = board.total_go
        bill = bill_go(go, report.actual_yield_go, work.planned_yield_go, ceiling_bp)
        entry_id, bill_id = next(ids), next(ids)
        total_board += go
        total_bill += bill
        memo = _memo(work, go, bill)
        entries.append(
            (entry_id, EntryKind.conversion, town, f"conversion:{work.id}:{board.recipient_id}",
             memo.text("en"), memo.code, memo.params, actor_id, now)
        )  # fmt: skip
        assert town_account_id is not None  # boards were issued from it
        postings += [
            (next(ids), entry_id, board.holder_account_id, -go),
            (next(ids), entry_id, town_account_id, go),
        ]
        moves.append((board.holder_account_id, -go))
        for issuance_id, issued in board.issuances:
            op_id = next(ids)
            operations.append(
                (op_id, ChainAsset.koku, ChainOperationKind.burn, entry_id, issuance_id, None,
                 town, board.recipient_id, chain_reference(op_id), issued, ChainState.pending, 0,
                 now, now, now)
            )  # fmt: skip
            burns += 1
        if bill > 0:
            holder_bill_account = next(ids)
            bill_accounts.append(
                (holder_bill_account, bill_account_key(work.id, board.recipient_id),
                 AccountKind.bill_holder, town, board.recipient_id, work.id, bill, 0, now)
            )  # fmt: skip
            postings += [
                (next(ids), entry_id, bills_account_id, -bill),
                (next(ids), entry_id, holder_bill_account, bill),
            ]
            # A bill mint's reference is its bill's.
            operations.append(
                (next(ids), ChainAsset.bill, ChainOperationKind.mint, entry_id, None, bill_id,
                 town, board.recipient_id, chain_reference(bill_id), bill, ChainState.pending,
                 0, now, now, now)
            )  # fmt: skip
            mints += 1
        bills.append(
            (bill_id, entry_id, work.id, town, work.season, board.recipient_id, report.id, go,
             board.investment_go, board.labour_go, bill, 0, now)
        )  # fmt: skip
    if boards:
        assert town_account_id is not None
        moves.append((town_account_id, total_board))
        if total_bill:
            # The work's bill accounts are new: written with their balances, not moved.
            bill_accounts.insert(
                0,
                (bills_account_id, bill_issuance_account_key(work.id), AccountKind.bill_issuance,
                 town, None, work.id, -total_bill, 0, now),
            )  # fmt: skip
        _insert(conn, table_of(JournalEntry), _ENTRY_COLUMNS, entries)
        _insert(conn, table_of(Account), _ACCOUNT_COLUMNS, bill_accounts)
        _insert(conn, table_of(Posting), _POSTING_COLUMNS, postings)
        # In the order of the account ids, as every posting path does: no deadlock.
        bulk_execute(conn, _MOVE_BALANCE, ("account_id", "amount_go"), sorted(moves))
        _insert(conn, table_of(Bill), _BILL_COLUMNS, bills)
        marked = conn.execute(_MARK_CONVERTED, {"the_work": work.id}).rowcount
        if marked != burns:  # the boards read above are locked: never, short of a bug
            raise RuntimeError(f"marked {marked} board issuances converted, not {burns}")
        _insert(conn, table_of(ChainOperation), _OPERATION_COLUMNS, operations)
    work.bills_issued_at = now
    session.flush()
    return Conversion(
        boards=len(boards),
        board_go=total_board,
        bill_go=total_bill,
        burns=burns,
        mints=mints,
        cancelled_investments=cancelled,
    )


def _memo(work: Work, board_go: int, bill: int) -> Memo:
    return Memo("conversion", {"title": work.title, "board_go": board_go, "bill_go": bill})


def _insert(
    conn: Connection, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    bulk_insert(conn, table, columns, rows)


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
