"""Expiry with a soft landing: a bill past its town's date becomes a gift to the farmer.

Bills are valid through the town's ``bills_expire_on`` for their season (a day in Japan);
from the next day the expiry job closes them. What is left on a bill (its holder's bill
account; 合 held for a redemption requested in time stay held, and the farmer still ships
them) goes back to the work's bill issuance account in one ``gift`` entry per bill, is
burned on chain through the outbox (referenced by the gift entry), and the supporter gets
a ``bill_gifted`` notice. The farmer keeps that rice.

The job runs in chunks, each its own transaction, and picks only bills not yet closed
(``Bill.expired_at``): stopped half-way it resumes where it was; run twice, or in two
processes at once, it gifts once (PostgreSQL skips the rows another run holds, SQLite has
one writer, and the gift's idempotency key ``gift:<bill id>`` is unique).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Connection, Uuid, bindparam, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from kokudaka.core.bulk import bulk_execute, bulk_insert, unnested
from kokudaka.core.db import on_postgres
from kokudaka.core.engines import literal_limit
from kokudaka.core.ids import new_ids
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import chain_reference
from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    JournalEntry,
    MunicipalityPolicy,
    Notice,
    NoticeKind,
    Posting,
    Work,
    table_of,
    utcnow,
)

__all__ = ["ExpiryRun", "expire_bills", "expire_chunk"]

CHUNK = 2_000
"""Bills closed per transaction: short enough not to hold SQLite's write lock for long."""

SESSIONS = 2
"""Transactions closing bills side by side on PostgreSQL (see :func:`expire_bills`)."""

_accounts = table_of(Account)
_bills = table_of(Bill)
_notices = table_of(Notice)
_holder = aliased(Account, name="holder")
_issuing = aliased(Account, name="issuing")


@dataclass
class ExpiryRun:
    """What one run of the expiry job did."""

    bills: int = 0
    gifts: int = 0
    gifted_go: int = 0


def _due(today: date, limit: int, postgres: bool) -> Any:
    """The next bills past their town's date and not closed, with what is left on each."""
    statement = (
        select(
            Bill.id,
            Bill.work_id,
            Bill.municipality_id,
            Bill.holder_id,
            Work.title,
            _holder.id,
            _holder.balance_go,
            _issuing.id,
        )
        .join(Work, Work.id == Bill.work_id)
        .join(
            MunicipalityPolicy,
            (MunicipalityPolicy.municipality_id == Bill.municipality_id)
            & (MunicipalityPolicy.season == Bill.season),
        )
        .outerjoin(
            _holder,
            (_holder.work_id == Bill.work_id)
            & (_holder.user_id == Bill.holder_id)
            & (_holder.kind == AccountKind.bill_holder),
        )
        .outerjoin(
            _issuing,
            # user_id IS NULL: the (work_id, user_id) index then finds the work's one issuing
            # account, rather than walking every holder of the work for each bill.
            (_issuing.work_id == Bill.work_id)
            & _issuing.user_id.is_(None)
            & (_issuing.kind == AccountKind.bill_issuance),
        )
        .where(Bill.expired_at.is_(None), MunicipalityPolicy.bills_expire_on < today)
        .order_by(Bill.id)
        .limit(literal_limit(limit))
    )
    if postgres:
        statement = statement.with_for_update(of=Bill, skip_locked=True)
    return statement


def expire_chunk(session: Session, today: date, limit: int = CHUNK) -> ExpiryRun:
    """Close up to ``limit`` expired bills in the session's transaction."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    rows = session.execute(_due(today, limit, postgres)).all()
    run = ExpiryRun(bills=len(rows))
    if not rows:
        return run
    now = utcnow()
    entries: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    operations: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    moves: dict[uuid.UUID, int] = defaultdict(int)
    ids = iter(new_ids(5 * len(rows)))  # a gift's entry, postings, burn and notice
    for bill_id, work_id, town_id, holder_id, title, holder_account, left, issuing in rows:
        gift_entry: uuid.UUID | None = None
        left = left or 0
        if left > 0:
            gift_entry = next(ids)
            memo = Memo("gift", {"title": title, "gift_go": left})
            entries.append(
                {
                    "id": gift_entry,
                    "kind": EntryKind.gift,
                    "municipality_id": town_id,
                    "idempotency_key": f"gift:{bill_id}",
                    "reverses_entry_id": None,
                    "memo": memo.text("en"),
                    "memo_code": memo.code,
                    "memo_params": memo.params,
                    "created_by_id": None,
                    "created_at": now,
                }
            )
            postings += [
                {"id": next(ids), "entry_id": gift_entry, "account_id": holder_account,
                 "amount_go": -left},
                {"id": next(ids), "entry_id": gift_entry, "account_id": issuing,
                 "amount_go": left},
            ]  # fmt: skip
            moves[holder_account] -= left
            moves[issuing] += left
            operations.append(_burn(next(ids), gift_entry, bill_id, town_id, holder_id, left, now))
            notices.append(
                {
                    "id": next(ids),
                    "user_id": holder_id,
                    "kind": NoticeKind.bill_gifted,
                    "subject_id": bill_id,
                    "params": {"title": title, "gift_go": left, "work_id": str(work_id)},
                    "read_at": None,
                    "created_at": now,
                }
            )
            run.gifts += 1
            run.gifted_go += left
        closed.append(
            {"bill": bill_id, "at": now, "entry": gift_entry, "go": left if gift_entry else 0}
        )
    if entries:
        _insert(conn, JournalEntry, entries)
        _insert(conn, Posting, postings)
        _insert(conn, ChainOperation, operations)
        if postgres:
            # COPY: no bill_gifted notice of these bills can exist, since only a gift writes
            # one, in the transaction that closes the bill, and these are locked and open.
            _insert(conn, Notice, notices)
        else:
            _write(conn, _INSERT_NOTICES, notices)
    _close(conn, postgres, closed)
    # Last: every chunk moves its works' issuing accounts, and PostgreSQL keeps an updated
    # row locked until the commit, so a chunk running beside this one waits only from here.
    if moves:
        _move_balances(conn, postgres, sorted(moves.items()))
    return run


def _move_balances(conn: Connection, postgres: bool, moves: list[tuple[uuid.UUID, int]]) -> None:
    """Each account's balance moved by its amount (the accounts distinct, in id order)."""
    if not postgres:
        _write(conn, _MOVE_BALANCE, [{"account": a, "go": go} for a, go in moves])
        return
    # One UPDATE ... FROM unnest(...) for the chunk: an executemany is a statement per row
    # there, and the chunk's 2,000 holders cost more in round trips than in updates.
    moved = unnested(
        "moved", account=(Uuid(), [a for a, _ in moves]), go=(BigInteger(), [go for _, go in moves])
    )
    conn.execute(
        update(_accounts)
        .where(_accounts.c.id == moved.c.account)
        .values(balance_go=_accounts.c.balance_go + moved.c.go)
    )


def _close(conn: Connection, postgres: bool, closed: list[dict[str, Any]]) -> None:
    """The bills closed, each with its gift entry (or none) and the go it gifted."""
    if not postgres:
        _write(conn, _CLOSE, closed)
        return
    # One UPDATE ... FROM unnest(...), as for the balances.
    gifts = unnested(
        "gifts",
        bill=(Uuid(), [c["bill"] for c in closed]),
        entry=(Uuid(), [c["entry"] for c in closed]),
        go=(BigInteger(), [c["go"] for c in closed]),
    )
    conn.execute(
        update(_bills)
        .where(_bills.c.id == gifts.c.bill)
        .values(
            expired_at=closed[0]["at"],
            gift_entry_id=gifts.c.entry,
            gifted_go=gifts.c.go,
        )
    )


def _insert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """New rows of ``model`` (dictionaries with the same keys): COPY on PostgreSQL."""
    if rows:
        bulk_insert(conn, table_of(model), tuple(rows[0]), [tuple(r.values()) for r in rows])


def _write(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``statement`` over ``rows`` (dictionaries with the same keys) in one executemany."""
    if rows:
        bulk_execute(conn, statement, tuple(rows[0]), [tuple(r.values()) for r in rows])


def expire_bills(
    session_factory: sessionmaker[Session],
    today: date,
    *,
    chunk: int = CHUNK,
    sessions: int = SESSIONS,
) -> ExpiryRun:
    """Close every bill expired by ``today`` (a day in Japan), a chunk per transaction.

    On PostgreSQL ``sessions`` transactions run side by side, each taking the next bills
    no other holds (``SKIP LOCKED``): while the server writes one chunk, Python builds the
    next (``bench/bill_expiry.py``, 100,000 bills: 26.4-29.9 s, against 34.4 s in one
    session on the same day). A session
    stops at its first short chunk; the last to stop found no bill left that another did
    not hold, so every bill due is closed when all have stopped. SQLite has one writer:
    one session."""
    if not on_postgres(session_factory) or sessions <= 1:
        return _expire_in_turn(session_factory, today, chunk)
    with ThreadPoolExecutor(sessions, thread_name_prefix="expiry") as pool:
        runs = [
            future.result()
            for future in [
                pool.submit(_expire_in_turn, session_factory, today, chunk) for _ in range(sessions)
            ]
        ]
    return ExpiryRun(
        bills=sum(r.bills for r in runs),
        gifts=sum(r.gifts for r in runs),
        gifted_go=sum(r.gifted_go for r in runs),
    )


def _expire_in_turn(session_factory: sessionmaker[Session], today: date, chunk: int) -> ExpiryRun:
    """Chunk after chunk in one session until a chunk comes back short."""
    total = ExpiryRun()
    while True:
        with session_factory.begin() as session:
            run = expire_chunk(session, today, chunk)
        total.bills += run.bills
        total.gifts += run.gifts
        total.gifted_go += run.gifted_go
        if run.bills < chunk:
            return total


_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account"))
    .values(balance_go=_accounts.c.balance_go + bindparam("go"))
)
_CLOSE = (
    update(_bills)
    .where(_bills.c.id == bindparam("bill"))
    .values(
        expired_at=bindparam("at"),
        gift_entry_id=bindparam("entry"),
        gifted_go=bindparam("go"),
    )
)


# SQLite only (PostgreSQL copies them in): a notice already made is left as it is.
_INSERT_NOTICES = sqlite.insert(_notices).on_conflict_do_nothing(
    index_elements=["subject_id", "kind"]
)


def _burn(
    operation_id: uuid.UUID,
    entry_id: uuid.UUID,
    bill_id: uuid.UUID,
    town_id: uuid.UUID,
    holder_id: uuid.UUID,
    go: int,
    now: Any,
) -> dict[str, Any]:
    return {
        "id": operation_id,
        "asset": ChainAsset.bill,
        "kind": ChainOperationKind.burn,
        "entry_id": entry_id,
        "issuance_id": None,
        "bill_id": bill_id,
        "municipality_id": town_id,
        "user_id": holder_id,
        "reference": chain_reference(entry_id),
        "amount_go": go,
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
