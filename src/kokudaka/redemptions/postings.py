"""The bill asset's entries for redemptions: hold, release and shipment.

Each is one journal entry of two postings summing to zero in the work's bill asset,
written with Core statements built once (as ``kokudaka.ledger.service`` writes
issuances), with each account's running balance moved in the same transaction:

- ``hold``: the holder's bill account −x, their held account +x. The holder's side is
  one conditional UPDATE (``balance_go >= x``), as the town's cap is claimed in
  ``ledger.service._claim_cap_room``: it locks the row, and PostgreSQL re-checks the
  condition on the row a concurrent hold committed, so two requests can never both take
  the last 合 of a bill. Only a refusal reads the balance, to say what is left.
- ``release``: held −x, holder +x (a cancelled or refused redemption).
- ``shipment``: held −x, the work's bill issuance account +x (burned).

Lock order: balances move in the order of the account ids. A held account is made on a
person's first redemption of a work, after their bill account and the work's issuance
account (ids are time-ordered), so the hold's claim on the bill account first, then the
held account, is that order too: no two of these entries (nor a gift) deadlock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kokudaka.core.errors import Conflict
from kokudaka.core.ids import new_id
from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key
from kokudaka.ledger.memos import Memo
from kokudaka.models import Account, AccountKind, EntryKind, JournalEntry, Posting, table_of, utcnow

__all__ = ["BillAccounts", "bill_held_account_key", "hold", "release", "ship"]

_accounts = table_of(Account)
_entries = table_of(JournalEntry)
_postings = table_of(Posting)

_ACCOUNT_ID = select(_accounts.c.id).where(_accounts.c.key == bindparam("key"))
_BALANCE = select(_accounts.c.balance_go).where(_accounts.c.key == bindparam("key"))
_CLAIM = (
    update(_accounts)
    .where(_accounts.c.key == bindparam("account_key"), _accounts.c.balance_go >= bindparam("go"))
    .values(balance_go=_accounts.c.balance_go - bindparam("go"))
)
# Holds, releases and shipments move balances only: what a person earned stays.
_MOVE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance_go=_accounts.c.balance_go + bindparam("amount_go"))
)
_INSERT_ENTRY = insert(_entries)
_INSERT_POSTINGS = insert(_postings)


def bill_held_account_key(work_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """A person's bills of one work held for their redemptions awaiting shipment."""
    return f"bill-held:{work_id}:{user_id}"


@dataclass(frozen=True, slots=True)
class BillAccounts:
    """Whose bill of which work, in which town: what an entry needs to find its accounts."""

    work_id: uuid.UUID
    holder_id: uuid.UUID
    municipality_id: uuid.UUID


def _account_id(conn: Connection, key: str) -> uuid.UUID:
    found: uuid.UUID = conn.execute(_ACCOUNT_ID, {"key": key}).scalar_one()
    return found


def _held_account_id(conn: Connection, bill: BillAccounts) -> uuid.UUID:
    """Get or create the held account; an insert that ignores a conflict, so two first
    redemptions at once end with the one account."""
    key = bill_held_account_key(bill.work_id, bill.holder_id)
    found: uuid.UUID | None = conn.execute(_ACCOUNT_ID, {"key": key}).scalar_one_or_none()
    if found is not None:
        return found
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        upsert(_accounts)
        .values(
            id=new_id(),
            key=key,
            kind=AccountKind.bill_held,
            municipality_id=bill.municipality_id,
            user_id=bill.holder_id,
            work_id=bill.work_id,
            balance_go=0,
            earned_go=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return _account_id(conn, key)


def _write_entry(
    conn: Connection,
    *,
    kind: EntryKind,
    bill: BillAccounts,
    idempotency_key: str,
    memo: Memo,
    actor_id: uuid.UUID | None,
    legs: list[tuple[uuid.UUID, int]],
    moved: frozenset[uuid.UUID] = frozenset(),
) -> uuid.UUID:
    """The entry and its postings; moves each leg's balance in account-id order, except
    the ``moved`` accounts (already moved by a conditional claim)."""
    assert sum(go for _, go in legs) == 0
    entry_id = new_id()
    conn.execute(
        _INSERT_ENTRY,
        {
            "id": entry_id,
            "kind": kind,
            "municipality_id": bill.municipality_id,
            "idempotency_key": idempotency_key,
            "reverses_entry_id": None,
            "memo": memo.text("en"),
            "memo_code": memo.code,
            "memo_params": memo.params,
            "created_by_id": actor_id,
            "created_at": utcnow(),
        },
    )
    conn.execute(
        _INSERT_POSTINGS,
        [
            {"id": new_id(), "entry_id": entry_id, "account_id": account, "amount_go": go}
            for account, go in legs
        ],
    )
    moves: list[dict[str, Any]] = [
        {"account_id": account, "amount_go": go}
        for account, go in sorted(legs)
        if account not in moved
    ]
    if moves:
        conn.execute(_MOVE, moves)
    return entry_id


def hold(
    conn: Connection,
    bill: BillAccounts,
    *,
    redemption_id: uuid.UUID,
    amount_go: int,
    title: str,
    actor_id: uuid.UUID,
) -> uuid.UUID:
    """Hold ``amount_go`` of the bill for the redemption, or refuse with
    ``bill_insufficient`` saying how much is left. The hold entry's id."""
    key = bill_account_key(bill.work_id, bill.holder_id)
    if conn.execute(_CLAIM, {"account_key": key, "go": amount_go}).rowcount != 1:
        left = conn.execute(_BALANCE, {"key": key}).scalar_one_or_none() or 0
        raise Conflict("bill_insufficient", remaining_go=max(left, 0))
    holder_account = _account_id(conn, key)
    held_account = _held_account_id(conn, bill)
    return _write_entry(
        conn,
        kind=EntryKind.hold,
        bill=bill,
        idempotency_key=f"hold:{redemption_id}",
        memo=Memo("hold", {"title": title, "amount_go": amount_go}),
        actor_id=actor_id,
        legs=[(holder_account, -amount_go), (held_account, amount_go)],
        moved=frozenset({holder_account}),
    )


def release(
    conn: Connection,
    bill: BillAccounts,
    *,
    redemption_id: uuid.UUID,
    amount_go: int,
    title: str,
    refused: bool,
    actor_id: uuid.UUID,
) -> uuid.UUID:
    """Give a cancelled or refused redemption's hold back to the bill. The entry's id."""
    held = _account_id(conn, bill_held_account_key(bill.work_id, bill.holder_id))
    holder = _account_id(conn, bill_account_key(bill.work_id, bill.holder_id))
    return _write_entry(
        conn,
        kind=EntryKind.release,
        bill=bill,
        idempotency_key=f"release:{redemption_id}",
        memo=Memo(
            "release_refused" if refused else "release_cancelled",
            {"title": title, "amount_go": amount_go},
        ),
        actor_id=actor_id,
        legs=[(held, -amount_go), (holder, amount_go)],
    )


def ship(
    conn: Connection,
    bill: BillAccounts,
    *,
    redemption_id: uuid.UUID,
    amount_go: int,
    title: str,
    actor_id: uuid.UUID,
) -> uuid.UUID:
    """Burn a shipped redemption's hold: back to the work's bill issuance account. The
    entry's id."""
    held = _account_id(conn, bill_held_account_key(bill.work_id, bill.holder_id))
    issuance = _account_id(conn, bill_issuance_account_key(bill.work_id))
    return _write_entry(
        conn,
        kind=EntryKind.shipment,
        bill=bill,
        idempotency_key=f"shipment:{redemption_id}",
        memo=Memo("shipment", {"title": title, "amount_go": amount_go}),
        actor_id=actor_id,
        legs=[(held, -amount_go), (issuance, amount_go)],
    )
