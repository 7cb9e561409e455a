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
from kokudaka.towns.minters import TownMinterKey, active_minters, ensure_town_minters, minter_for
from tests.chain.conftest import ADMIN_KEY
from tests.world import SEASON, YEARLY_CAP_GO, Person, World

#: Gas money for a town's minter key on the test chain (anvil_setBalance), in wei.
MINTER_FUNDS = hex(10**21)


def put_towns_on_chain(world: World, chain: ChainClient, cap_go: int = YEARLY_CAP_GO) -> None:
    """Make each of the world's towns an issuer, as ``kokudaka chain deploy`` does: its
    minter key funded and set on the contract, its cap for the season."""
    with world.db.begin() as session:
        # The world's towns are inserted directly, as towns made before keys were per town.
        ensure_town_minters(session, world.settings)
    with world.db() as session:
        minters = active_minters(session)
    for minter in minters:
        chain.rpc("anvil_setBalance", [minter.address, MINTER_FUNDS])
        chain.set_town_minter(ADMIN_KEY, minter.town, minter.address)
        chain.set_season_cap(ADMIN_KEY, minter.town, SEASON, cap_go)


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

    def minter(self, municipality_id: uuid.UUID) -> tuple[TownMinterKey, bytes]:
        """The town's minter and its private key."""
        with self.world.db() as session:
            minter = minter_for(session, municipality_id)
        return minter, minter.private_key(self.world.settings)

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
        with self.world.db() as session:
            keys = {m.municipality_id: m for m in active_minters(session)}
        with self.world.db.begin() as session:
            pending = session.scalars(
                select(ChainOperation)
                .where(ChainOperation.state == ChainState.pending)
                .order_by(ChainOperation.id)
            ).all()
            for town in dict.fromkeys(op.municipality_id for op in pending):
                minter = keys[town]
                key = minter.private_key(self.world.settings)
                nonce = self.chain.pending_nonce(minter.address)
                mints = [
                    op
                    for op in pending
                    if op.kind is ChainOperationKind.mint and op.municipality_id == town
                ]
                burns = [
                    op
                    for op in pending
                    if op.kind is ChainOperationKind.burn and op.municipality_id == town
                ]
                if mints:
                    for op in mints:
                        op.recipient_address = self._wallet(session, op.user_id)
                    signed = self.chain.build_mint_batch_tx(
                        key,
                        SEASON,
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
                        key,
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

    def mint_outside_the_ledger(
        self, municipality_id: uuid.UUID, to: str, amount_go: int, ref: bytes | None = None
    ) -> str:
        """A mint by the town's key that the ledger does not know (a fresh ref by default)."""
        minter, key = self.minter(municipality_id)
        signed = self.chain.build_mint_tx(
            key,
            SEASON,
            to,
            amount_go,
            ref or issuance_ref(uuid.uuid4()),
            self.chain.pending_nonce(minter.address),
        )
        self.chain.raise_for_receipt(self.chain.wait_receipt(self.chain.send_raw(signed.raw)))
        return signed.tx_hash

    def burn_outside_the_ledger(self, holder: str, amount_go: int) -> str:
        """A correction the ledger does not know, of an issuance minted to ``holder``."""
        with self.world.db() as session:
            row = session.execute(
                select(ChainOperation.reference, ChainOperation.municipality_id).where(
                    ChainOperation.kind == ChainOperationKind.mint,
                    ChainOperation.recipient_address == holder,
                )
            ).first()
        assert row is not None
        minted, town = row
        minter, key = self.minter(town)
        signed = self.chain.build_burn_with_reference_tx(
            key,
            holder,
            amount_go,
            issuance_ref(uuid.uuid4()),
            bytes.fromhex(minted[2:]),
            self.chain.pending_nonce(minter.address),
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
