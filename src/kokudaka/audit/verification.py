"""Checking the staff audit log: recompute the chain, compare it with its head and its
anchors on chain, and name the first row that was changed, removed or reordered.

What each check catches:

- a row whose fields were edited: its hash no longer matches them (``changed``);
- a row that was deleted: a gap in the sequence numbers (``removed``), or, for the
  last rows, the head row or an anchor naming a sequence past the end;
- rows swapped or renumbered: the hash covers the sequence number, and a row's
  ``prev_hash`` tells which row it followed (``reordered``);
- a row edited with its hash recomputed: the next row's ``prev_hash`` (or, for the
  last row, the head) no longer matches; if the head and every later row were
  rewritten too, the anchor on chain at or after that row does not match;
- a row inserted past the head (``added``), when head and rows are read from one
  snapshot (:func:`kokudaka.core.db.read_snapshot`; the command does).

Reads are ordered so that a log being appended to is not reported broken: the anchors
first, then the head, then the rows up to the head (an append writes its row and moves
the head in one transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import StaffLogRow, heads, log_rows, recomputed_hash
from kokudaka.core.engines import literal_limit
from kokudaka.models import GENESIS_HASH

BATCH_SIZE = 2_000


class BreakKind(StrEnum):
    changed = "changed"
    removed = "removed"
    reordered = "reordered"
    added = "added"
    """A row past the head: written into the table, not appended."""


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """The log's head as an ``AuditLogAnchored`` event on chain recorded it."""

    sequence: int
    hash: str
    """Hex, without ``0x``."""
    tx_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the log stops being what was appended."""

    sequence: int
    """The first row changed, removed or reordered."""
    kind: BreakKind
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    rows: int
    """Rows checked."""
    head_sequence: int
    anchors_checked: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _rows_up_to(session: Session, last: int | None) -> Iterator[StaffLogRow]:
    """Every row in sequence order (up to ``last``, if given), read in keyset batches."""
    after = 0
    while True:
        statement = (
            select(*log_rows.c)
            .where(log_rows.c.sequence > after)
            .order_by(log_rows.c.sequence)
            .limit(literal_limit(BATCH_SIZE))
        )
        if last is not None:
            statement = statement.where(log_rows.c.sequence <= last)
        batch = [StaffLogRow(**row._mapping) for row in session.execute(statement)]
        yield from batch
        if len(batch) < BATCH_SIZE:
            return
        after = batch[-1].sequence


def _sequence_of_hash(session: Session, hash_hex: str) -> int | None:
    if hash_hex == GENESIS_HASH:
        return 0
    return session.scalar(
        select(log_rows.c.sequence).where(log_rows.c.hash == hash_hex).limit(literal_limit(1))
    )


def _mismatch(session: Session, row: StaffLogRow) -> ChainBreak:
    """A row whose hash does not match its fields: moved from elsewhere, or edited."""
    before = _sequence_of_hash(session, row.prev_hash)
    if before is not None and before + 1 != row.sequence:
        original = before + 1
        if recomputed_hash(row, original) == row.hash:
            return ChainBreak(
                row.sequence,
                BreakKind.reordered,
                f"row {row.sequence} holds what was appended as row {original}",
            )
    return ChainBreak(
        row.sequence, BreakKind.changed, f"row {row.sequence}'s hash does not match its fields"
    )


def verify_log(session: Session, anchors: Sequence[ChainAnchor] = ()) -> VerifyReport:
    """Recompute the chain in ``session`` and check it against the head and ``anchors``
    (read from the chain before this is called)."""
    head = session.execute(select(heads.c.sequence, heads.c.hash)).first()
    head_sequence = 0 if head is None else int(head.sequence)
    by_sequence = {anchor.sequence: anchor for anchor in anchors}
    checked = 0
    expected, prev_hash = 1, GENESIS_HASH

    def report(first_break: ChainBreak | None) -> VerifyReport:
        return VerifyReport(expected - 1, head_sequence, checked, first_break)

    for row in _rows_up_to(session, None if head is None else head_sequence):
        if row.sequence != expected:
            return report(
                ChainBreak(
                    expected,
                    BreakKind.removed,
                    f"row {expected} is missing (the row after row {expected - 1} "
                    f"is row {row.sequence})",
                )
            )
        if recomputed_hash(row) != row.hash:
            return report(_mismatch(session, row))
        if row.prev_hash != prev_hash:
            return report(
                ChainBreak(
                    expected - 1,
                    BreakKind.changed,
                    f"row {row.sequence} does not chain to row {expected - 1}: row "
                    f"{expected - 1} was changed with its hash recomputed (or row "
                    f"{row.sequence} rewritten)",
                )
            )
        anchor = by_sequence.get(row.sequence)
        if anchor is not None:
            if anchor.hash != row.hash:
                return report(
                    ChainBreak(
                        row.sequence,
                        BreakKind.changed,
                        f"row {row.sequence} differs from its anchor on chain (tx "
                        f"{anchor.tx_hash}, block {anchor.block_number}): a row up to "
                        f"{row.sequence} was changed, removed or reordered and the chain "
                        "rewritten after it",
                    )
                )
            checked += 1
        prev_hash = row.hash
        expected += 1
    last = expected - 1
    if head is None and last > 0:
        return report(ChainBreak(last, BreakKind.changed, "the log's head row is missing"))
    if head_sequence > last:
        return report(
            ChainBreak(
                last + 1,
                BreakKind.removed,
                f"rows {last + 1} to {head_sequence} are missing (the head is at {head_sequence})",
            )
        )
    if head is not None and head.hash != prev_hash:
        return report(
            ChainBreak(
                last,
                BreakKind.changed,
                f"row {last} does not match the log's head: changed with its hash recomputed",
            )
        )
    past_head = session.scalar(
        select(log_rows.c.sequence)
        .where(log_rows.c.sequence > head_sequence)
        .order_by(log_rows.c.sequence)
        .limit(literal_limit(1))
    )
    if head is not None and past_head is not None:
        return report(
            ChainBreak(
                past_head,
                BreakKind.added,
                f"row {past_head} is past the log's head ({head_sequence}): written into "
                "the table, not appended",
            )
        )
    beyond = [anchor for anchor in anchors if anchor.sequence > last]
    if beyond:
        anchor = min(beyond, key=lambda a: a.sequence)
        return report(
            ChainBreak(
                last + 1,
                BreakKind.removed,
                f"rows from {last + 1} are missing: the chain anchored row "
                f"{anchor.sequence} (tx {anchor.tx_hash}, block {anchor.block_number})",
            )
        )
    return report(None)
