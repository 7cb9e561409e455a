"""Recording a claim: its signed transactions inserted, their operations marked submitted with
their recipients fixed, and the operations that cannot be sent yet set aside or failed; all in
the claim's database transaction, before anything is sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Uuid, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from kokudaka.core.bulk import unnested
from kokudaka.core.ids import new_id
from kokudaka.models import (
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
    User,
)
from kokudaka.settlement.outcomes import Recorded

if TYPE_CHECKING:
    from kokudaka.settlement.claiming import Claimer

__all__ = [
    "Recorder",
    "errors_of",
    "fail",
    "mint_recipient",
    "raw_id",
    "set_aside",
    "wallet_recipient",
]


class Recorder:
    """Inserts a claim's transactions and marks their operations submitted.

    With a ``writer`` (one thread, PostgreSQL), each batch's statements run there in order
    while the claim signs the next batch: the server's work on a batch (its transaction's
    signed bytes, and hundreds of rows with their indexes) overlaps the signing instead of
    following it. :meth:`finish` waits for them; nothing else may use the claim's connection
    until it returns."""

    def __init__(
        self,
        session: Session,
        claimer: Claimer,
        now: datetime,
        writer: Executor | None = None,
    ) -> None:
        self.claimer = claimer
        self.now = now
        self.recorded: list[Recorded] = []
        self.claimed = 0
        self._connection = session.connection()
        self._writer = writer
        self._writes: list[Future[None]] = []

    def record(
        self,
        ops: Sequence[tuple[Any, str]],
        raw: bytes,
        tx_hash: str,
        nonce: int,
        recipient: Any,
        *,
        holders_from_mints: bool = False,
    ) -> None:
        """``recipient`` is the SQL value that fixes each operation's recipient if it has
        none yet. A transaction without operations (a work's registration) is recorded so
        its nonce is held and its fate followed like any other.

        ``holders_from_mints``: the operations are burns, each signed for the holder its mint
        went to, read in this transaction from the mint's recipient (fixed when the mint was
        sent, never changed). On PostgreSQL those signed holders are stored as they are, from
        the batch's own arrays, instead of through ``recipient``'s correlated subquery: its
        plan depends on statistics, and on a table just filled by an expiry job or a harvest
        it scanned every operation once per burn."""
        tx_id = new_id()
        transaction = insert(ChainTransaction).values(
            id=tx_id,
            chain_id=self.claimer.chain_id,
            sender=self.claimer.minter,
            nonce=nonce,
            tx_hash=tx_hash,
            raw_tx=raw,
            state=TransactionState.submitted,
            operation_count=len(ops),
            created_at=self.now,
            updated_at=self.now,
        )
        self.recorded.append(Recorded(tx_id, tx_hash, nonce, raw))
        self.claimed += len(ops)
        claim = self._claim(ops, tx_id, tx_hash, recipient, holders_from_mints) if ops else None
        if self._writer is None:
            self._write(transaction, claim, ops, holders_from_mints)
        else:
            self._writes.append(
                self._writer.submit(self._write, transaction, claim, ops, holders_from_mints)
            )

    def finish(self) -> None:
        """Wait for every batch's statements; raises the first one's error."""
        writes, self._writes = self._writes, []
        errors = [error for error in errors_of(writes) if error is not None]
        if errors:
            raise errors[0]

    def abandon(self) -> None:
        """Wait for every batch's statements and ignore their errors: the claim is failing
        anyway and its transaction is about to be rolled back."""
        writes, self._writes = self._writes, []
        errors_of(writes)

    def _claim(
        self,
        ops: Sequence[tuple[Any, str]],
        tx_id: uuid.UUID,
        tx_hash: str,
        recipient: Any,
        holders_from_mints: bool,
    ) -> Any:
        # One statement for the whole batch, recipients included: hundreds of single-row
        # updates would cost more than signing the batch.
        ids = [row.id for row, _ in ops]
        postgres = self.claimer.sessions.postgres
        if postgres and holders_from_mints:
            signed = unnested(
                "signed", id=(Uuid(), ids), holder=(String(), [holder for _, holder in ops])
            )
            recipient = signed.c.holder
            where = ChainOperation.id == signed.c.id  # UPDATE ... FROM unnest(...)
        elif postgres:
            # The ids as one array parameter: an IN list of 315 bound parameters is rendered
            # and bound anew for every batch.
            where = ChainOperation.id == any_(bindparam("ids", ids, type_=ARRAY(Uuid())))
        else:
            where = self.claimer.raw(ChainOperation.id).in_(ids)
        return (
            update(ChainOperation)
            .where(where)
            .values(
                state=ChainState.submitted,
                transaction_id=tx_id,
                tx_hash=tx_hash,
                recipient_address=func.coalesce(ChainOperation.recipient_address, recipient),
                attempts=ChainOperation.attempts + 1,
                last_error=None,
                updated_at=self.now,
            )
        )

    def _write(
        self, transaction: Any, claim: Any, ops: Sequence[tuple[Any, str]], holders_from_mints: bool
    ) -> None:
        # Core statements on the session's connection: nothing in the session's identity map
        # is one of these rows, and the ORM's bulk-update path cost more than the SQL.
        connection = self._connection
        if claim is None or not self.claimer.sessions.postgres:
            connection.execute(transaction)
            if claim is not None:
                connection.execute(claim)
            return
        # PostgreSQL: the transaction's row is inserted by the update's own statement (a
        # data-modifying WITH), one round trip a batch instead of two. Its operations' foreign
        # keys are checked at the statement's end, once the row is there.
        claim = claim.add_cte(transaction.returning(ChainTransaction.id).cte("recorded"))
        if holders_from_mints:
            # Each holder stored is the one signed (the mint's fixed recipient, or the burn's
            # own from an earlier send), on rows this claim holds locked: nothing to read back.
            if connection.execute(claim).rowcount != len(ops):
                raise RuntimeError("a claimed operation changed while its batch was signed")
        else:
            # Under READ COMMITTED a wallet could change between our read and the update:
            # make sure every stored recipient is the one signed, or roll back (read back by
            # the update itself rather than by another query).
            stored = dict(
                connection.execute(
                    claim.returning(ChainOperation.id, ChainOperation.recipient_address)
                ).all()
            )
            if any((stored[row.id] or "").lower() != a.lower() for row, a in ops):
                raise RuntimeError("a wallet changed while its batch was signed; retrying")


def errors_of(futures: Iterable[Future[Any]]) -> list[BaseException | None]:
    """Each future's error (None for one that succeeded), once all are done."""
    return [future.exception() for future in futures]


@cache
def wallet_recipient() -> Any:
    """SQL: the wallet of an operation's user (a mint's recipient unless it has one)."""
    return select(User.wallet_address).where(User.id == ChainOperation.user_id).scalar_subquery()


@cache
def mint_recipient() -> Any:
    """SQL: the address the KOKU mint of an operation's issuance went to (a burn's holder).
    Built once, as it is the same for every batch."""
    mint = aliased(ChainOperation)
    return (
        select(mint.recipient_address)
        .where(
            mint.issuance_id == ChainOperation.issuance_id,
            mint.kind == ChainOperationKind.mint,
            mint.asset == ChainAsset.koku,
        )
        .scalar_subquery()
    )


def set_aside(
    session: Session, held: list[tuple[Any, str]], now: datetime, later: datetime
) -> None:
    if held:
        session.execute(
            update(ChainOperation),
            [
                {
                    "id": raw_id(op_id),
                    "last_error": why,
                    "next_attempt_at": later,
                    "updated_at": now,
                }
                for op_id, why in held
            ],
        )


def fail(session: Session, failed: list[tuple[Any, str]], now: datetime) -> None:
    if failed:
        session.execute(
            update(ChainOperation),
            [
                {
                    "id": raw_id(op_id),
                    "state": ChainState.failed,
                    "last_error": why,
                    "updated_at": now,
                }
                for op_id, why in failed
            ],
        )


def raw_id(value: uuid.UUID | str) -> uuid.UUID:
    """An operation id read raw: on SQLite the 32 hex digits SQLAlchemy's ``Uuid`` stores.

    Claims read and update their operations' ids raw (:meth:`Claimer.raw`): turning each of a
    claim's thousand ids into a ``uuid.UUID`` and back cost more than the claim's SQL.
    PostgreSQL's driver returns ``uuid.UUID`` itself, so there the ids stay as they are.
    """
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)
