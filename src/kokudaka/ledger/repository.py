"""Reading an account's history: one prebuilt statement per page.

The supporter's app scrolls its ledger often (``GET /v1/me/ledger``). A page through the
ORM cost three statements (postings with their entries, the issuances, the mints), each
built anew per request, and as much time in building and loading as in SQLite. Here a
page is one Core statement built at import, with its issuance and its on-chain state
joined, read into frozen rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

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
    table_of,
)

__all__ = ["HistoryLine", "MintState", "account_history"]

_accounts = table_of(Account)
_entries = table_of(JournalEntry)
_postings = table_of(Posting)
_issuances = table_of(Issuance)
_operations = table_of(ChainOperation)
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
            _issued.c.id,
            _issued.c.kind,
            _reversed.c.id,
            _reversed.c.kind,
            _operations.c.state,
            _operations.c.reference,
            _operations.c.tx_hash,
            _operations.c.block_number,
            _operations.c.last_error,
        )
        .join(_entries, _entries.c.id == _postings.c.entry_id)
        .outerjoin(_issued, _issued.c.entry_id == _entries.c.id)
        .outerjoin(_reversed, _reversed.c.reversal_entry_id == _entries.c.id)
        .outerjoin(_operations, _operations.c.entry_id == _entries.c.id)
        # The account's id first, so both databases walk ix_postings_account_id_id
        # backwards from the cursor and stop after the page.
        .where(
            _postings.c.account_id
            == select(_accounts.c.id).where(_accounts.c.key == bindparam("key")).scalar_subquery()
        )
    )
    if after_cursor:
        statement = statement.where(_postings.c.id < bindparam("cursor"))
    return statement.order_by(_postings.c.id.desc()).limit(bindparam("limit"))


_FIRST_PAGE = _history(after_cursor=False)
_NEXT_PAGE = _history(after_cursor=True)


def account_history(session: Session, account_key: str, page: PageParams) -> list[HistoryLine]:
    """An account's postings, newest first, from ``page.cursor`` on: up to
    ``page.limit + 1`` lines (the extra one tells whether another page follows)."""
    params: dict[str, Any] = {"key": account_key, "limit": page.limit + 1}
    if page.cursor is None:
        statement = _FIRST_PAGE
    else:
        statement = _NEXT_PAGE
        params["cursor"] = page.cursor
    lines = []
    for row in session.connection().execute(statement, params):
        (posting_id, entry_id, kind, amount_go, memo_code, memo_params, memo, created_at,
         issued_id, issued_kind, reversed_id, reversed_kind,
         state, reference, tx_hash, block_number, last_error) = row  # fmt: skip
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
                issuance_id=issued_id if issued_id is not None else reversed_id,
                issuance_kind=issued_kind if issued_id is not None else reversed_kind,
                chain=None
                if state is None
                else MintState(state, reference, tx_hash, block_number, last_error),
            )
        )
    return lines
