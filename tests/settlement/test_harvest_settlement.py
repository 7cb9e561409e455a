"""The harvest on chain: a countersigned yield turns every board into a rice bill, and the towns'
workers settle it on a real anvil: the boards' KOKU burned in ``burnBatch`` transactions (each
burn drawn on its issuance's mint), the bills minted by work on the bills contract after
``registerWork``; exactly once, also when a worker dies between sending and recording."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from kokudaka.chain.bills import bill_token_id
from kokudaka.chain.bills_interface import MINT_BATCH_SELECTOR as BILL_MINT_BATCH_SELECTOR
from kokudaka.chain.bills_interface import REGISTER_WORK_SELECTOR
from kokudaka.chain.client import ChainClient
from kokudaka.chain.interface import BURN_BATCH_SELECTOR, BURN_WITH_REFERENCE_SELECTOR
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Settings
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import (
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    IssuanceKind,
    TransactionState,
    User,
)
from kokudaka.settlement.bills import NO_BILLS_CONTRACT
from tests.harvest.helpers import approved_hours, file_report, invest_and_confirm
from tests.reconcile.conftest import chain_app
from tests.settlement.helpers import (
    add_supporters,
    assert_exactly_once,
    new_settlement,
    settle_all,
    states,
)
from tests.settlement.test_settlement import chain_towns
from tests.world import SEASON, World

__all__ = ["chain_app"]

AT_80 = "432000"  # kg: 2,880,000 go of the work's 3,600,000 go plan
AT_130 = "702000"  # 4,680,000 go: past the town's 120% ceiling

#: What a plain ERC-1155 reader knows (not the artifact): the two balance views.
ERC1155_BALANCES_ABI = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}, {"name": "id", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "balanceOfBatch",
        "stateMutability": "view",
        "inputs": [
            {"name": "accounts", "type": "address[]"},
            {"name": "ids", "type": "uint256[]"},
        ],
        "outputs": [{"name": "", "type": "uint256[]"}],
    },
]


def countersign(world: World, kg: str) -> None:
    """File the yield as the work's farmer, countersign it as the town's administrator."""
    filed = file_report(world.client, world.a.farmer, world.a.work_id, kg=kg)
    assert filed.status_code == 201, filed.text
    signed = world.client.post(
        f"/v1/yield-reports/{filed.json()['id']}/countersign", headers=world.a.admin.headers
    )
    assert signed.status_code == 200, signed.text


def boards(world: World, db: sessionmaker[Session], people: list[uuid.UUID], go: int) -> None:
    """A labour board of ``go`` on town A's work for each of ``people`` (ledger service)."""
    for person in people:
        with db.begin() as session:
            issue(
                session,
                municipality_id=world.a.municipality_id,
                season=SEASON,
                recipient_id=person,
                amount_go=go,
                cause=IssuanceCause(
                    kind=IssuanceKind.contribution,
                    idempotency_key=f"board:{uuid.uuid4()}",
                    memo=Memo("investment", {"amount_yen": 0, "title": "board"}),
                    work_id=world.a.work_id,
                ),
                actor_id=None,
            )


def selectors(db: sessionmaker[Session], chain: ChainClient) -> Counter[bytes]:
    """The function each recorded transaction calls, as the chain has it."""
    with db() as session:
        hashes = session.scalars(select(ChainTransaction.tx_hash)).all()
    return Counter(bytes(chain.web3.eth.get_transaction(h)["input"])[:4] for h in hashes)


@pytest.mark.parametrize(("kg", "ratio_bp"), [(AT_80, 8_000), (AT_130, 12_000)])
def test_a_countersigned_harvest_settles_and_bills_read_with_a_plain_erc1155_abi(
    chain_app: tuple[FastAPI, str],
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    kg: str,
    ratio_bp: int,
) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    invest_and_confirm(world, world.alice, 1_237)  # 123 go: a second board issuance
    approved_hours(world, world.bob, "2", world.a.work_id)  # 1,000 go labour board
    approved_hours(world, world.alice, "1", None)  # 500 go of a town event: stays KOKU
    workers = new_settlement(db, node.rpc_url, chain_settings, deployment)
    # The boards' mints are sent before the harvest; their burns wait until they are confirmed.
    workers.run_once()

    countersign(world, kg)
    # GET /v1/chain counts the harvest's operations: 3 burns and 2 bill mints due.
    town = chain_towns(chain_app, chain, deployment)[str(world.a.municipality_id)]
    assert (town["pending"], town["bills_pending"], town["bills_submitted"]) == (5, 2, 0)
    settle_all(workers, db)
    town = chain_towns(chain_app, chain, deployment)[str(world.a.municipality_id)]
    assert (town["pending"], town["submitted"], town["bills_pending"]) == (0, 0, 0)

    assert set(states(db)) == {ChainState.confirmed}
    assert_exactly_once(db, chain, deployment)
    with db() as session:
        bills = {b.holder_id: b.amount_go for b in session.scalars(select(Bill))}
        wallets = dict(session.execute(select(User.id, User.wallet_address)).all())
    assert bills == {
        world.alice.id: 623 * ratio_bp // 10_000,
        world.bob.id: 1_000 * ratio_bp // 10_000,
    }

    # Straight from the chain, as any ERC-1155 reader sees it.
    assert deployment.bills_address is not None
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    erc1155 = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.bills_address), abi=ERC1155_BALANCES_ABI
    )
    work = bill_token_id(world.a.work_id)
    holders = [wallets[world.alice.id], wallets[world.bob.id]]
    assert erc1155.functions.balanceOf(holders[0], work).call() == bills[world.alice.id]
    assert erc1155.functions.balanceOfBatch(holders, [work, work]).call() == [
        bills[world.alice.id],
        bills[world.bob.id],
    ]
    # The boards' KOKU is gone; the town event's stays.
    chain.use_koku(deployment.token_address)
    assert chain.balance_of(holders[0]) == 500
    assert chain.balance_of(holders[1]) == 0
    # The work registered to town A with its bill total as its cap, filled exactly.
    chain.use_bills(deployment.bills_address)
    registered = chain.bills.work(work)
    assert registered.town == town_id(world.a.municipality_id)
    assert registered.cap == registered.minted == sum(bills.values())
    # Three burns in burnBatch transactions, never one by one; one registration.
    called = selectors(db, chain)
    assert called[BURN_BATCH_SELECTOR] >= 1
    assert called[BURN_WITH_REFERENCE_SELECTOR] == 0
    assert called[REGISTER_WORK_SELECTOR] == 1
    assert called[BILL_MINT_BATCH_SELECTOR] == 1


def test_harvest_operations_settle_exactly_once_when_a_worker_dies_between_sending_and_recording(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    people = add_supporters(db, 25)
    boards(world, db, people, 1_000)
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    countersign(world, AT_80)

    # Signed, recorded, sent; then the worker dies before it records any outcome.
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=10)
    report = crashed.submit()
    assert report.claimed == 50  # 25 burns and 25 bill mints
    assert report.sent >= 3 + 1 + 3  # burn batches, the registration, bill mint batches
    del crashed
    with db() as session:
        sent = session.scalars(
            select(ChainTransaction.tx_hash).where(
                ChainTransaction.state == TransactionState.submitted
            )
        ).all()
    for tx_hash in sent:
        chain.wait_receipt(tx_hash, timeout=20)
    # Worse: its record says the first burn batch and the first bill batch never landed (a
    # lost receipt, a replaced nonce), so their operations are claimed again and re-signed.
    with db.begin() as session:
        again = [
            session.scalar(
                select(ChainOperation.transaction_id)
                .where(ChainOperation.asset == asset, ChainOperation.state == ChainState.submitted)
                .order_by(ChainOperation.reference)
                .limit(1)
            )
            for asset in (ChainAsset.koku, ChainAsset.bill)
        ]
        originals = dict(
            session.execute(
                select(ChainOperation.reference, ChainOperation.tx_hash).where(
                    ChainOperation.transaction_id.in_(again)
                )
            ).all()
        )
        session.execute(
            update(ChainTransaction)
            .where(ChainTransaction.id.in_(again))
            .values(state=TransactionState.replaced)
        )
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.transaction_id.in_(again))
            .values(state=ChainState.pending, transaction_id=None, tx_hash=None)
        )

    successor = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=10)
    settle_all(successor, db)
    assert set(states(db)) == {ChainState.confirmed}
    assert_exactly_once(db, chain, deployment)
    with db() as session:
        settled = dict(
            session.execute(
                select(ChainOperation.reference, ChainOperation.tx_hash).where(
                    ChainOperation.reference.in_(list(originals))
                )
            ).all()
        )
        burns = session.scalar(
            select(func.count()).where(ChainOperation.kind == ChainOperationKind.burn)
        )
    # Each re-signed item was skipped on chain, and is recorded where it really landed.
    assert settled == originals
    assert burns == 25
    chain.use_koku(deployment.token_address)
    skipped_burns = {e.ref for e in chain.burn_skipped_events(deployment.deployed_block)}
    assert deployment.bills_address is not None
    chain.use_bills(deployment.bills_address)
    skipped_bills = {
        e.ref for e in chain.bills.minted_events(deployment.deployed_block, skipped=True)
    }
    assert {"0x" + r.hex() for r in skipped_burns | skipped_bills} == set(originals)
    # Every recipient's bill on chain is its bill in the ledger.
    with db() as session:
        rows = session.execute(
            select(User.wallet_address, Bill.amount_go).join(Bill, Bill.holder_id == User.id)
        ).all()
    work = bill_token_id(world.a.work_id)
    assert all(chain.bills.balance_of(address, work) == go for address, go in rows)
    assert sum(go for _, go in rows) == chain.bills.total_supply(work) == 25 * 800


def test_bill_mints_wait_while_no_bills_contract_is_deployed_and_burns_go_on(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    people = add_supporters(db, 3)
    boards(world, db, people, 1_000)
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    countersign(world, AT_80)
    # A production database from before the rice bills: the deployment names no bills contract.
    bills_address = deployment.bills_address
    deployment.bills_address = None
    workers = new_settlement(db, node.rpc_url, chain_settings, deployment)
    deadline = time.monotonic() + 20
    while states(db)[ChainState.confirmed] < 3 + 3:  # the mints, then the burns
        assert time.monotonic() < deadline, states(db)
        workers.run_once()
        time.sleep(0.05)
    with db() as session:
        waiting = session.execute(
            select(ChainOperation.state, ChainOperation.last_error).where(
                ChainOperation.asset == ChainAsset.bill
            )
        ).all()
    assert waiting == [(ChainState.pending, NO_BILLS_CONTRACT)] * 3

    # Once it is deployed (recorded), the same bills settle.
    deployment.bills_address = bills_address
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    assert_exactly_once(db, chain, deployment)
