"""Issue through the real ledger service, then settle on anvil the way the worker does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.chain.refs import issuance_ref
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue, reverse
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    IssuanceKind,
    User,
)
from kokudaka.reconcile.report import ReconciliationReport
from kokudaka.reconcile.service import reconcile
from tests.chain.conftest import MINTER_KEY
from tests.world import SEASON, Person, World


@dataclass(frozen=True)
class Issued:
    issuance_id: uuid.UUID
    entry_id: uuid.UUID
    reference: str
    amount_go: int


class Settler:
    """A stand-in for the settlement worker: sends pending operations, records the outcome."""

    def __init__(self, world: World, chain: ChainClient) -> None:
        self.world = world
        self.chain = chain
        self.minter = chain.account(MINTER_KEY).address

    def issue(self, municipality_id: uuid.UUID, person: Person, amount_go: int) -> Issued:
        with self.world.db.begin() as session:
            issued = issue(
                session,
                municipality_id=municipality_id,
                season=SEASON,
                recipient_id=person.id,
                amount_go=amount_go,
                cause=IssuanceCause(
                    kind=IssuanceKind.contribution,
                    idempotency_key=f"test:{uuid.uuid4()}",
                    memo=Memo("investment", {"amount_yen": 0, "title": "reconciliation test"}),
                ),
                actor_id=None,
            )
            reference = session.scalar(
                select(ChainOperation.reference).where(
                    ChainOperation.issuance_id == issued.issuance.id,
                    ChainOperation.kind == ChainOperationKind.mint,
                )
            )
            assert reference is not None
            return Issued(issued.issuance.id, issued.issuance.entry_id, reference, amount_go)

    def reverse(self, issued: Issued, actor: Person) -> None:
        with self.world.db.begin() as session:
            admin = session.get(User, actor.id)
            assert admin is not None
            reverse(session, entry_id=issued.entry_id, actor=admin, reason="test correction")

    def settle(self, *, confirm: bool = True) -> int:
        """Mint every pending mint in one batch and burn every pending burn; mark them
        confirmed (or leave them submitted, as a worker between send and receipt)."""
        state = ChainState.confirmed if confirm else ChainState.submitted
        with self.world.db.begin() as session:
            pending = session.scalars(
                select(ChainOperation)
                .where(ChainOperation.state == ChainState.pending)
                .order_by(ChainOperation.id)
            ).all()
            mints = [op for op in pending if op.kind is ChainOperationKind.mint]
            burns = [op for op in pending if op.kind is ChainOperationKind.burn]
            nonce = self.chain.pending_nonce(self.minter)
            if mints:
                for op in mints:
                    op.recipient_address = self._wallet(session, op.user_id)
                signed = self.chain.build_mint_batch_tx(
                    MINTER_KEY,
                    [op.recipient_address or "" for op in mints],
                    [op.amount_go for op in mints],
                    [bytes.fromhex(op.reference[2:]) for op in mints],
                    nonce,
                )
                nonce += 1
                self._send(signed.raw, mints, state)
            for op in burns:
                op.recipient_address = self._minted_to(session, op.issuance_id)
                signed = self.chain.build_burn_with_reference_tx(
                    MINTER_KEY,
                    op.recipient_address,
                    op.amount_go,
                    bytes.fromhex(op.reference[2:]),
                    issuance_ref(op.issuance_id),
                    nonce,
                )
                nonce += 1
                self._send(signed.raw, [op], state)
            return len(pending)

    def _send(self, raw: bytes, ops: list[ChainOperation], state: ChainState) -> None:
        receipt = self.chain.wait_receipt(self.chain.send_raw(raw))
        self.chain.raise_for_receipt(receipt)
        for op in ops:
            op.state = state
            op.tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
            op.block_number = receipt["blockNumber"]

    @staticmethod
    def _wallet(session: Session, user_id: uuid.UUID) -> str:
        user = session.get(User, user_id)
        assert user is not None
        assert user.wallet_address is not None
        return user.wallet_address

    @staticmethod
    def _minted_to(session: Session, issuance_id: uuid.UUID) -> str:
        address = session.scalar(
            select(ChainOperation.recipient_address).where(
                ChainOperation.issuance_id == issuance_id,
                ChainOperation.kind == ChainOperationKind.mint,
            )
        )
        assert address is not None
        return address

    # ------------------------------------------------------------ tampering with the chain

    def mint_outside_the_ledger(self, to: str, amount_go: int) -> str:
        signed = self.chain.build_mint_tx(
            MINTER_KEY,
            to,
            amount_go,
            issuance_ref(uuid.uuid4()),
            self.chain.pending_nonce(self.minter),
        )
        self.chain.raise_for_receipt(self.chain.wait_receipt(self.chain.send_raw(signed.raw)))
        return signed.tx_hash

    def burn_outside_the_ledger(self, holder: str, amount_go: int) -> str:
        """A correction the ledger does not know, of an issuance minted to ``holder``."""
        with self.world.db() as session:
            minted = session.scalar(
                select(ChainOperation.reference).where(
                    ChainOperation.kind == ChainOperationKind.mint,
                    ChainOperation.recipient_address == holder,
                )
            )
        assert minted is not None
        signed = self.chain.build_burn_with_reference_tx(
            MINTER_KEY,
            holder,
            amount_go,
            issuance_ref(uuid.uuid4()),
            bytes.fromhex(minted[2:]),
            self.chain.pending_nonce(self.minter),
        )
        self.chain.raise_for_receipt(self.chain.wait_receipt(self.chain.send_raw(signed.raw)))
        return signed.tx_hash

    def wallet(self, person: Person) -> str:
        with self.world.db() as session:
            return self._wallet(session, person.id)

    def reconcile(
        self,
        deployment: ChainDeployment,
        municipality_ids: list[uuid.UUID] | None = None,
    ) -> ReconciliationReport:
        with self.world.db() as session:
            return reconcile(session, self.chain, deployment, municipality_ids)
