"""Reading an account's history: one prebuilt statement per page.

The supporter's app scrolls its ledger often (``GET /v1/me/ledger``). A page through the
ORM cost three statements (postings with their entries, the issuances, the mints), each
built anew per request, and as much time in building and loading as in SQLite. Here a
page is one Core statement built at import, with its issuance and its on-chain state
joined, read into frozen rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, true
from sqlalchemy.orm import Session

from kokudaka.auth.caller import ACCOUNT_COLUMNS, ACTIVE, AccountCheck
from kokudaka.core.engines import literal_limit
from kokudaka.core.pagination import PageParams
from kokudaka.models import (
    Account,
    ChainOperation,
    ChainState,
    EntryKind,
    Issuance,
    IssuanceKind,
    JournalEntry,
    Posting,
    User,
    table_of,
)

__all__ = [
    "HistoryLine",
    "HolderBalance",
    "MintState",
    "account_balance",
    "account_history",
    "holder_balance",
]

_accounts = table_of(Account)
_entries = table_of(JournalEntry)
_postings = table_of(Posting)
_issuances = table_of(Issuance)
_operations = table_of(ChainOperation)
_users = table_of(User)
# A reversal's line names the issuance it undid (its ``reversal_entry_id``); an
# issuance's line names itself. Both columns are unique, so each join finds one row at
# most, by index.
_issued = _issuances.alias("issued")
_reversed = _issuances.alias("reversed")


@dataclass(frozen=True, slots=True)
class MintState:
    """Where the mint (or a reversal's burn) of a ledger line's entry stands on the chain."""

    state: ChainState
    reference: str
    tx_hash: str | None
    block_number: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One posting on an account, with what its entry says and what it issued."""

    posting_id: uuid.UUID
    entry_id: uuid.UUID
    entry_kind: EntryKind
    amount_go: int
    memo_code: str | None
    memo_params: dict[str, Any] | None
    memo: str
    """The stored English memo, shown as it is when the entry has no memo code."""
    created_at: datetime
    issuance_id: uuid.UUID | None
    issuance_kind: IssuanceKind | None
    chain: MintState | None


def _history(after_cursor: bool) -> Select[Any]:
    statement = (
        select(
            _postings.c.id,
            _entries.c.id,
            _entries.c.kind,
            _postings.c.amount_go,
            _entries.c.memo_code,
            _entries.c.memo_params,
            _entries.c.memo,
            _entries.c.created_at,
            # One of the two at most (see above): the line's issuance.
            func.coalesce(_issued.c.id, _reversed.c.id),
            func.coalesce(_issued.c.kind, _reversed.c.kind),
            _operations.c.state,
            _operations.c.reference,
            _operations.c.tx_hash,
            _operations.c.block_number,
            _operations.c.last_error,
        )
        .join(_entries, _entries.c.id == _postings.c.entry_id)
        .outerjoin(_issued, _issued.c.entry_id == _entries.c.id)
        .outerjoin(_reversed, _reversed.c.reversal_entry_id == _entries.c.id)
        # An issuance's mint, a reversal's burn. A harvest conversion has several chain
        # operations (a burn per board issuance, the bill's mint): its line shows none, and
        # the bill shows its own (GET /v1/me/bills).
        .outerjoin(
            _operations,
            (_operations.c.entry_id == _entries.c.id) & (_entries.c.kind != EntryKind.conversion),
        )
        # The account's id first, so both databases walk ix_postings_account_id_id
        # backwards from the cursor and stop after the page.
        .where(
            _postings.c.account_id
            == select(_accounts.c.id).where(_accounts.c.key == bindparam("key")).scalar_subquery()
        )
    )
    if after_cursor:
        statement = statement.where(_postings.c.id < bindparam("cursor"))
    return statement.order_by(_postings.c.id.desc()).limit(literal_limit())


def _checked(page: Select[Any]) -> Select[Any]:
    """``page`` beside the caller's account check (``auth/caller.py``): no row when the
    caller's active account is not found, else one row per line, or one without a line."""
    lines = page.subquery("lines")
    return (
        select(*ACCOUNT_COLUMNS, *lines.c)
        .select_from(_users.outerjoin(lines, true()))
        .where(_users.c.id == bindparam("user_id"), ACTIVE)
        .order_by(lines.c[0].desc())
    )


_FIRST_PAGE = _history(after_cursor=False)
_NEXT_PAGE = _history(after_cursor=True)
_CHECKED_FIRST_PAGE = _checked(_FIRST_PAGE)
_CHECKED_NEXT_PAGE = _checked(_NEXT_PAGE)
_CHECK = len(ACCOUNT_COLUMNS)


def account_history(
    session: Session,
    account_key: str,
    page: PageParams,
    *,
    account_check: AccountCheck | None = None,
) -> list[HistoryLine]:
    """An account's postings, newest first, from ``page.cursor`` on: up to
    ``page.limit + 1`` lines (the extra one tells whether another page follows).

    With ``account_check`` (taken back from the request, see
    :func:`kokudaka.auth.caller.take_account_check`) the caller's account is checked in
    the same statement, which must then be the transaction's first: the app's most read
    page costs one statement, one round trip on PostgreSQL.
    """
    params: dict[str, Any] = {"key": account_key, "limit": page.limit + 1}
    if page.cursor is not None:
        params["cursor"] = page.cursor
    rows: Sequence[Sequence[Any]]
    if account_check is None:
        statement = _FIRST_PAGE if page.cursor is None else _NEXT_PAGE
        rows = session.connection().execute(statement, params).all()
    else:
        statement = _CHECKED_FIRST_PAGE if page.cursor is None else _CHECKED_NEXT_PAGE
        params["user_id"] = account_check.caller.id
        checked = session.connection().execute(statement, params).all()
        account_check.verify(checked[0][:_CHECK] if checked else None)
        rows = [row[_CHECK:] for row in checked if row[_CHECK] is not None]
    lines = []
    for row in rows:
        (posting_id, entry_id, kind, amount_go, memo_code, memo_params, memo, created_at,
         issuance_id, issuance_kind, state, *mint) = row  # fmt: skip
        lines.append(
            HistoryLine(
                posting_id=posting_id,
                entry_id=entry_id,
                entry_kind=kind,
                amount_go=amount_go,
                memo_code=memo_code,
                memo_params=memo_params,
                memo=memo,
                created_at=created_at,
                issuance_id=issuance_id,
                issuance_kind=issuance_kind,
                chain=None if state is None else MintState(state, *mint),
            )
        )
    return lines


_BALANCE = select(_accounts.c.balance_go).where(_accounts.c.key == bindparam("key"))
_HOLDER = select(_accounts.c.balance_go, _accounts.c.earned_go).where(
    _accounts.c.key == bindparam("key")
)
# The caller's active account, and beside it their holder account's balance and what it
# earned if it exists.
_CHECKED_BALANCE = (
    select(*ACCOUNT_COLUMNS, _accounts.c.balance_go, _accounts.c.earned_go)
    .select_from(_users.outerjoin(_accounts, _accounts.c.key == bindparam("key")))
    .where(_users.c.id == bindparam("user_id"), ACTIVE)
)


@dataclass(frozen=True, slots=True)
class HolderBalance:
    """A holder account's KOKU: what is held now and what was earned in all."""

    balance_go: int
    """What the person holds (``Account.balance_go``): lowered when boards become bills."""
    earned_go: int
    """KOKU earned net of reversals (``Account.earned_go``), their lifetime 石高."""


def account_balance(session: Session, account_key: str) -> int:
    """An account's running balance (``Account.balance_go``; 0 before its first posting),
    one row however many postings it sums."""
    total = session.connection().execute(_BALANCE, {"key": account_key}).scalar()
    return int(total or 0)


def holder_balance(
    session: Session, account_key: str, *, account_check: AccountCheck | None = None
) -> HolderBalance:
    """A holder account's balance and what it earned (both 0 before its first posting).
    With ``account_check``, the caller's account is checked in the same statement, as in
    :func:`account_history`: ``GET /v1/me/balance`` costs one statement."""
    if account_check is None:
        found = session.connection().execute(_HOLDER, {"key": account_key}).first()
        if found is None:
            return HolderBalance(balance_go=0, earned_go=0)
        return HolderBalance(balance_go=int(found[0]), earned_go=int(found[1]))
    row = (
        session.connection()
        .execute(_CHECKED_BALANCE, {"key": account_key, "user_id": account_check.caller.id})
        .first()
    )
    account_check.verify(None if row is None else row[:_CHECK])
    assert row is not None  # verify refused the request otherwise
    return HolderBalance(balance_go=int(row[_CHECK] or 0), earned_go=int(row[_CHECK + 1] or 0))
