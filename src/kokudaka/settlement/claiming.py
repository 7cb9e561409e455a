"""Claiming due operations: in one short database transaction, take what is due, fix each
recipient, group mints into one ``mintBatch`` (each burn is its own ``burnWithReference``),
allocate nonces, sign locally, and record each transaction before anything is sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import Select, func, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient, Fees, PrivateKey
from kokudaka.core.ids import new_id
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
    User,
    utcnow,
)
from kokudaka.settlement.nonces import allocate_nonces, sent_by
from kokudaka.settlement.outcomes import CycleReport, Recorded

__all__ = ["NO_WALLET", "WAITING_FOR_MINT", "Claim", "Claimer"]

NO_WALLET: Final = "no wallet address"
WAITING_FOR_MINT: Final = "waiting for its mint to be confirmed"


@lru_cache(maxsize=65_536)
def checksummed_address(address: str) -> str | None:
    """The EIP-55 form of a wallet address, or None if it is not one (cached: supporters
    receive many issuances, and each checksum costs a keccak)."""
    return to_checksum_address(address) if is_address(address) else None


@dataclass(frozen=True)
class Claim:
    """What one claim did."""

    recorded: list[Recorded]
    """Transactions committed as submitted, to be sent now."""
    progressed: bool
    """Whether any operation changed (claimed, held or failed)."""
    short: bool
    """A due mint did not fit in the minter's allowance."""
    minted_go: int
    """Go the recorded mints will spend of the allowance."""


@dataclass(frozen=True)
class Claimer:
    """Claims and signs for one minter on one chain."""

    session_factory: sessionmaker[Session]
    client: ChainClient
    chain_id: int
    minter: str
    minter_key: PrivateKey
    postgres: bool
    """PostgreSQL locks due rows with ``FOR UPDATE SKIP LOCKED``; SQLite's ``BEGIN IMMEDIATE``
    already serialises writers."""
    batch_size: int
    hold_seconds: float
    """How long an operation that cannot be sent yet (no wallet, mint unconfirmed) waits."""

    def due(self, now: datetime) -> Select[*tuple[Any, ...]]:
        query = (
            select(
                ChainOperation.id,
                ChainOperation.kind,
                ChainOperation.reference,
                ChainOperation.amount_go,
                ChainOperation.recipient_address,
                ChainOperation.issuance_id,
                ChainOperation.attempts,
                User.wallet_address,
            )
            .join(User, User.id == ChainOperation.user_id)
            .where(
                ChainOperation.state == ChainState.pending,
                ChainOperation.next_attempt_at <= now,
            )
            # The index order (state, next_attempt_at): no sort of every pending row.
            .order_by(ChainOperation.next_attempt_at)
            .limit(self.batch_size)
        )
        if self.postgres:
            query = query.with_for_update(of=ChainOperation, skip_locked=True)
        return query

    def claim(
        self,
        fees: Fees,
        room: int,
        report: CycleReport,
        *,
        allowance: int | None,
        chain_nonce: int,
    ) -> Claim:
        """Claim, sign and record up to one mint batch and ``room - 1`` burns, in one transaction.

        ``allowance`` is what the minter may still mint (None: unknown, mint what is due);
        ``chain_nonce`` is its mined nonce. Nothing reaches the chain here: the caller sends
        after the commit.
        """
        now = utcnow()
        with self.session_factory.begin() as session:
            session.execute(
                select(ChainDeployment.id)
                .where(ChainDeployment.chain_id == self.chain_id)
                .with_for_update()
            )
            rows = session.execute(self.due(now)).all()
            if not rows:
                return Claim([], progressed=False, short=False, minted_go=0)
            burn_issuances = [r.issuance_id for r in rows if r.kind is ChainOperationKind.burn]
            # A burn reverses its issuance's mint: the contract burns only what that mint issued,
            # from the address it went to, so each burn names the mint's reference.
            mint_of: dict[uuid.UUID, tuple[ChainState, str | None, str]] = {}
            if burn_issuances:
                for issuance_id, state, address, reference in session.execute(
                    select(
                        ChainOperation.issuance_id,
                        ChainOperation.state,
                        ChainOperation.recipient_address,
                        ChainOperation.reference,
                    ).where(
                        ChainOperation.kind == ChainOperationKind.mint,
                        ChainOperation.issuance_id.in_(burn_issuances),
                    )
                ):
                    mint_of[issuance_id] = (state, address, reference)

            mints: list[tuple[Any, str]] = []
            burns: list[tuple[Any, str]] = []
            held: list[tuple[uuid.UUID, str]] = []
            failed: list[tuple[uuid.UUID, str]] = []
            minting = 0
            short = False
            for row in rows:
                if row.kind is ChainOperationKind.mint:
                    address = row.recipient_address or row.wallet_address
                    checksummed = checksummed_address(address) if address else None
                    if address is None:
                        held.append((row.id, NO_WALLET))
                    elif checksummed is None:
                        failed.append((row.id, f"invalid wallet address {address!r}"))
                    elif allowance is not None and minting + row.amount_go > allowance:
                        short = True  # stays pending, untouched, until the allowance grows
                    else:
                        minting += row.amount_go
                        mints.append((row, checksummed))
                    continue
                mint = mint_of.get(row.issuance_id)
                address = row.recipient_address or (mint[1] if mint else None)
                if mint is not None and mint[0] is ChainState.failed:
                    failed.append((row.id, "its mint failed: there is nothing to burn"))
                elif mint is None or mint[0] is not ChainState.confirmed or address is None:
                    held.append((row.id, WAITING_FOR_MINT))
                elif len(burns) + 1 < max(room, 2):
                    burns.append((row, checksummed_address(address) or address))
                # else: no room for another transaction this time; it stays pending

            count = (1 if mints else 0) + len(burns)
            nonces = iter(
                allocate_nonces(session, sent_by(self.chain_id, self.minter), chain_nonce, count)
            )
            recorded: list[Recorded] = []
            claimed = 0

            def record(
                ops: list[tuple[Any, str]], raw: bytes, tx_hash: str, nonce: int, recipient: Any
            ) -> None:
                """Insert the transaction and mark its operations submitted; ``recipient`` is
                the SQL value that fixes each operation's recipient if it has none yet."""
                nonlocal claimed
                tx_id = new_id()
                session.execute(
                    insert(ChainTransaction).values(
                        id=tx_id,
                        chain_id=self.chain_id,
                        sender=self.minter,
                        nonce=nonce,
                        tx_hash=tx_hash,
                        raw_tx=raw,
                        state=TransactionState.submitted,
                        operation_count=len(ops),
                        created_at=now,
                        updated_at=now,
                    )
                )
                recorded.append(Recorded(tx_id, tx_hash, nonce, raw))
                # One statement for the whole batch, recipients included: hundreds of single-row
                # updates would cost more than signing the batch.
                ids = [row.id for row, _ in ops]
                session.execute(
                    update(ChainOperation)
                    .where(ChainOperation.id.in_(ids))
                    .values(
                        state=ChainState.submitted,
                        transaction_id=tx_id,
                        tx_hash=tx_hash,
                        recipient_address=func.coalesce(
                            ChainOperation.recipient_address, recipient
                        ),
                        attempts=ChainOperation.attempts + 1,
                        last_error=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if self.postgres:
                    # Under READ COMMITTED a wallet could change between our read and the
                    # update: make sure every stored recipient is the one signed, or roll back.
                    stored = dict(
                        session.execute(
                            select(ChainOperation.id, ChainOperation.recipient_address).where(
                                ChainOperation.id.in_(ids)
                            )
                        ).all()
                    )
                    if any((stored[row.id] or "").lower() != a.lower() for row, a in ops):
                        raise RuntimeError("a wallet changed while its batch was signed; retrying")
                claimed += len(ops)

            if mints:
                nonce = next(nonces)
                signed = self.client.build_mint_batch_tx(
                    self.minter_key,
                    # Lower case: the same address to the EVM, with no checksum to verify again.
                    [address.lower() for _, address in mints],
                    [row.amount_go for row, _ in mints],
                    [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in mints],
                    nonce,
                    fees=fees,
                )
                wallet = (
                    select(User.wallet_address)
                    .where(User.id == ChainOperation.user_id)
                    .scalar_subquery()
                )
                record(mints, signed.raw, signed.tx_hash, nonce, wallet)
            for row, address in burns:
                nonce = next(nonces)
                signed = self.client.build_burn_with_reference_tx(
                    self.minter_key,
                    address,
                    row.amount_go,
                    bytes.fromhex(row.reference.removeprefix("0x")),
                    bytes.fromhex(mint_of[row.issuance_id][2].removeprefix("0x")),
                    nonce,
                    fees=fees,
                )
                record([(row, address)], signed.raw, signed.tx_hash, nonce, literal(address))
            if held:
                later = now + timedelta(seconds=self.hold_seconds)
                session.execute(
                    update(ChainOperation),
                    [
                        {
                            "id": op_id,
                            "last_error": why,
                            "next_attempt_at": later,
                            "updated_at": now,
                        }
                        for op_id, why in held
                    ],
                )
            if failed:
                session.execute(
                    update(ChainOperation),
                    [
                        {
                            "id": op_id,
                            "state": ChainState.failed,
                            "last_error": why,
                            "updated_at": now,
                        }
                        for op_id, why in failed
                    ],
                )
        # Committed: only now may anything reach the chain.
        report.claimed += claimed
        report.held += len(held)
        report.failed += len(failed)
        return Claim(recorded, bool(claimed or held or failed), short, minting)
