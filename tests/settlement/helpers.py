"""Issuing through the real ledger service, the towns' workers, and the checks every test ends
with."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence

from eth_abi.abi import decode
from eth_account import Account
from eth_typing import HexStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.auth.caller import Caller
from kokudaka.chain.client import ChainClient
from kokudaka.chain.interface import MINT_BATCH_SELECTOR
from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Settings
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, balance_go, issue, reverse
from kokudaka.models import (
    Account as LedgerAccount,
)
from kokudaka.models import (
    AccountKind,
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    IssuanceKind,
    Posting,
    Role,
    User,
)
from kokudaka.models.chain import TownMinter
from kokudaka.settlement.pool import SettlementPool
from kokudaka.towns.minters import minter_for
from tests.world import SEASON


def add_supporters(
    db: sessionmaker[Session], count: int, *, wallet: bool = True
) -> list[uuid.UUID]:
    """Supporters created directly in the database, each with a fresh custodial address
    (until the wallet code assigns them at sign-up)."""
    with db.begin() as session:
        users = [
            User(
                email=f"supporter-{uuid.uuid4().hex[:10]}@example.jp",
                password_hash="!",  # cannot sign in; not needed here
                display_name="supporter",
                role=Role.supporter,
                wallet_address=Account.create().address if wallet else None,
            )
            for _ in range(count)
        ]
        session.add_all(users)
        session.flush()
        return [user.id for user in users]


def issue_to(
    db: sessionmaker[Session],
    municipality_id: uuid.UUID,
    user_id: uuid.UUID,
    amount_go: int,
    *,
    season: int = SEASON,
) -> tuple[uuid.UUID, str]:
    """One issuance through ledger.service.issue; returns (journal entry id, chain reference)."""
    with db.begin() as session:
        issued = issue(
            session,
            municipality_id=municipality_id,
            season=season,
            recipient_id=user_id,
            amount_go=amount_go,
            cause=IssuanceCause(
                kind=IssuanceKind.contribution,
                idempotency_key=f"settlement-test:{uuid.uuid4()}",
                memo=Memo("investment", {"amount_yen": 0, "title": "settlement test"}),
            ),
            actor_id=None,
        )
        reference = session.scalar(
            select(ChainOperation.reference).where(ChainOperation.issuance_id == issued.issuance.id)
        )
        assert reference is not None
        return issued.issuance.entry_id, reference


def issue_many(
    db: sessionmaker[Session], municipality_id: uuid.UUID, count: int, *, supporters: int
) -> list[uuid.UUID]:
    """``count`` issuances of the town, of varied amounts, to ``supporters`` new supporters in
    turn; returns the supporters."""
    users = add_supporters(db, supporters)
    for i, amount in enumerate(amounts(count)):
        issue_to(db, municipality_id, users[i % len(users)], amount)
    return users


def reverse_entry(db: sessionmaker[Session], entry_id: uuid.UUID, admin_id: uuid.UUID) -> None:
    with db.begin() as session:
        admin = session.get(User, admin_id)
        assert admin is not None
        reverse(
            session, entry_id=entry_id, actor=Caller.of(admin), reason="settlement test correction"
        )


def new_settlement(
    db: sessionmaker[Session],
    rpc_url: str,
    settings: Settings,
    deployment: ChainDeployment,
    **options: object,
) -> SettlementPool:
    """The towns' workers (one per town minter, each with its own client), tuned to react
    within the tests' time. No cap top-up unless ``top_up`` is given: as in production."""
    tuned: dict[str, object] = {
        "refresh_seconds": 0.5,
        "resend_after": 1.0,
        "hold_seconds": 0.3,
        "cap_wait_seconds": 0.5,
        "retry_base_seconds": 0.1,
        "retry_max_seconds": 1.0,
        "reorg_check_seconds": 2.0,
        "backoff_max_seconds": 0.5,
    }
    tuned.update(options)

    def client() -> ChainClient:
        return ChainClient(
            rpc_url, koku_address=deployment.token_address, request_timeout=5, read_retries=0
        )

    return SettlementPool(db, client, settings, deployment, **tuned)  # type: ignore[arg-type]


def minter_address(db: sessionmaker[Session], municipality_id: uuid.UUID) -> str:
    """The town's active minter key's address."""
    with db() as session:
        return minter_for(session, municipality_id).address


def states(db: sessionmaker[Session]) -> Counter[ChainState]:
    with db() as session:
        rows = session.execute(
            select(ChainOperation.state, func.count()).group_by(ChainOperation.state)
        ).all()
        return Counter({state: count for state, count in rows})


def settle_all(worker: SettlementPool, db: sessionmaker[Session], timeout: float = 20.0) -> None:
    """Run cycles until no operation is pending or submitted (held ones included)."""
    deadline = time.monotonic() + timeout
    while True:
        worker.run_once()
        counts = states(db)
        if not counts[ChainState.pending] and not counts[ChainState.submitted]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {timeout}s: {dict(counts)}")
        time.sleep(0.05)


def wait_until_settled(db: sessionmaker[Session], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = states(db)
        if not counts[ChainState.pending] and not counts[ChainState.submitted]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {timeout}s: {dict(counts)}")
        time.sleep(0.1)


def assert_exactly_once(
    db: sessionmaker[Session], chain: ChainClient, deployment: ChainDeployment
) -> None:
    """Every operation confirmed; each mint ref minted exactly once and each burn ref burned
    exactly once on chain, in its town's namespace, to the recorded address and amount, by a
    transaction its town's minter sent; every wallet's balance equals its ledger balance;
    totalSupply equals the KOKU in circulation by the ledger. Bill mints and burns likewise on the
    bills contract, each of its bill's work, each burn from its bill's holder and drawn on its
    bill's mint."""
    chain.use_koku(deployment.token_address)
    if deployment.bills_address is not None:
        chain.use_bills(deployment.bills_address)
    with db() as session:
        ops = session.execute(
            select(
                ChainOperation.kind,
                ChainOperation.asset,
                ChainOperation.bill_id,
                Bill.work_id,
                ChainOperation.reference,
                ChainOperation.amount_go,
                ChainOperation.recipient_address,
                ChainOperation.state,
                ChainOperation.tx_hash,
                ChainOperation.block_number,
                ChainOperation.user_id,
                ChainOperation.municipality_id,
                ChainTransaction.sender,
            )
            .outerjoin(ChainTransaction, ChainTransaction.id == ChainOperation.transaction_id)
            .outerjoin(Bill, Bill.id == ChainOperation.bill_id)
        ).all()
        minters: dict[uuid.UUID, set[str]] = {}
        for municipality_id, address in session.execute(
            select(TownMinter.municipality_id, TownMinter.address)
        ):
            minters.setdefault(municipality_id, set()).add(address)
        wallets: dict[uuid.UUID, str] = {
            user_id: address
            for user_id, address in session.execute(
                select(User.id, User.wallet_address).where(User.wallet_address.is_not(None))
            ).all()
            if address is not None
        }
        ledger_balances = {user_id: balance_go(session, user_id) for user_id in wallets}
        in_circulation = session.scalar(
            select(func.coalesce(func.sum(Posting.amount_go), 0))
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(LedgerAccount.kind == AccountKind.holder)
        )
    assert ops, "nothing was issued"
    assert {op.state for op in ops} == {ChainState.confirmed}, Counter(op.state for op in ops)
    minted = Counter(e.ref for e in chain.minted_events(deployment.deployed_block))
    burned = Counter(e.ref for e in chain.burned_events(deployment.deployed_block))
    events = {
        ("0x" + e.ref.hex(), e.tx_hash.lower()): e
        for e in chain.minted_events(deployment.deployed_block)
    }
    burns = {"0x" + e.ref.hex(): e for e in chain.burned_events(deployment.deployed_block)}
    bill_events = (
        list(chain.bills.minted_events(deployment.deployed_block)) if chain.has_bills else []
    )
    bills_minted = Counter(e.ref for e in bill_events)
    bill_mints = {("0x" + e.ref.hex(), e.at.tx_hash.lower()): e for e in bill_events}
    bill_burn_events = (
        list(chain.bills.burned_events(deployment.deployed_block)) if chain.has_bills else []
    )
    bills_burned = Counter(e.ref for e in bill_burn_events)
    bill_burns = {("0x" + e.ref.hex(), e.at.tx_hash.lower()): e for e in bill_burn_events}
    mint_of_bill = {
        op.bill_id: op
        for op in ops
        if op.asset is ChainAsset.bill and op.kind is ChainOperationKind.mint
    }
    for op in ops:
        ref = bytes.fromhex(op.reference[2:])
        assert op.block_number is not None
        assert op.tx_hash is not None
        # Signed by a minter key of the op's own town (its active one, or one rotated out).
        assert op.sender in minters[op.municipality_id], op.reference
        if op.asset is ChainAsset.bill and op.kind is ChainOperationKind.burn:
            assert bills_burned[ref] == 1, f"bill {op.reference} burned {bills_burned[ref]} times"
            burn = bill_burns[(op.reference, op.tx_hash.lower())]
            mint = mint_of_bill[op.bill_id]
            assert (burn.amount, burn.work_id) == (op.amount_go, op.work_id.int)
            assert burn.from_.lower() == (op.recipient_address or "").lower()
            assert burn.from_.lower() == (mint.recipient_address or "").lower()
            assert "0x" + burn.issuance_ref.hex() == mint.reference
            assert burn.town == town_id(op.municipality_id)
            assert burn.at.block_number == op.block_number
        elif op.asset is ChainAsset.bill:
            assert bills_minted[ref] == 1, f"bill {op.reference} minted {bills_minted[ref]} times"
            bill = bill_mints[(op.reference, op.tx_hash.lower())]
            assert (bill.amount, bill.work_id) == (op.amount_go, op.work_id.int)
            assert bill.to.lower() == (op.recipient_address or "").lower()
            assert bill.town == town_id(op.municipality_id)
            assert bill.at.block_number == op.block_number
        elif op.kind is ChainOperationKind.mint:
            assert minted[ref] == 1, f"{op.reference} minted {minted[ref]} times"
            event = events[(op.reference, op.tx_hash.lower())]
            assert event.amount == op.amount_go
            assert event.to.lower() == (op.recipient_address or "").lower()
            assert event.block_number == op.block_number
            assert event.town == town_id(op.municipality_id)
        else:
            assert burned[ref] == 1, f"{op.reference} burned {burned[ref]} times"
            assert burns[op.reference].town == town_id(op.municipality_id)
    koku = [op for op in ops if op.asset is ChainAsset.koku]
    assert sum(minted.values()) == sum(1 for op in koku if op.kind is ChainOperationKind.mint)
    bill_ops = [op for op in ops if op.asset is ChainAsset.bill]
    assert sum(bills_minted.values()) == sum(
        1 for op in bill_ops if op.kind is ChainOperationKind.mint
    )
    assert sum(bills_burned.values()) == len(bill_ops) - sum(bills_minted.values())
    assert sum(burned.values()) == sum(1 for op in koku if op.kind is ChainOperationKind.burn)
    for user_id, address in wallets.items():
        assert chain.balance_of(address) == ledger_balances[user_id], address
    assert chain.total_supply() == in_circulation


def refs_per_transaction(db: sessionmaker[Session], chain: ChainClient) -> Counter[str]:
    """How many recorded transactions carry each mint ref, decoded from the signed calldata
    as the chain has it: a ref in two transactions would be a double submission."""
    with db() as session:
        hashes = session.scalars(select(ChainTransaction.tx_hash)).all()
    carried: Counter[str] = Counter()
    for tx_hash in hashes:
        tx = chain.web3.eth.get_transaction(HexStr(tx_hash))
        data = bytes(tx["input"])
        if data[:4] != MINT_BATCH_SELECTOR:
            continue
        _, _, _, refs = decode(["uint16", "address[]", "uint256[]", "bytes32[]"], data[4:])
        carried.update("0x" + bytes(ref).hex() for ref in refs)
    return carried


def wallet_of(db: sessionmaker[Session], user_id: uuid.UUID) -> str:
    with db() as session:
        address = session.scalar(select(User.wallet_address).where(User.id == user_id))
        assert address is not None
        return address


def amounts(count: int, start: int = 100) -> Sequence[int]:
    """Varied, realistic amounts in go (0.1 to ~5 KOKU)."""
    return [start + (i * 379) % 4900 for i in range(count)]
