"""Rice bill burns on a real anvil: a redemption shipped and a bill gifted at expiry are burned by
the town's worker in the bills contract's ``burnBatch``, each drawn on its bill's mint, read back
with a plain ERC-1155 ABI and reconciled clean; a burn waits for its bill's mint and fails with
it; a worker dying between sending and recording burns each shipment exactly once."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta

from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from kokudaka.chain.bills import bill_token_id
from kokudaka.chain.bills_interface import BURN_BATCH_SELECTOR as BILL_BURN_BATCH_SELECTOR
from kokudaka.chain.client import ChainClient
from kokudaka.chain.node import AnvilNode
from kokudaka.core.settings import Settings
from kokudaka.expiry.schedule import run_bill_jobs
from kokudaka.models import (
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    MunicipalityPolicy,
    TransactionState,
    User,
)
from kokudaka.reconcile.service import reconcile
from kokudaka.settlement.claiming import WAITING_FOR_MINT
from tests.harvest.helpers import harvested, invest_and_confirm
from tests.reconcile.conftest import chain_app
from tests.redemptions.helpers import FULL_HARVEST_KG, redeemed, ship
from tests.settlement.helpers import (
    assert_exactly_once,
    new_settlement,
    settle_all,
    states,
)
from tests.settlement.test_harvest_settlement import ERC1155_BALANCES_ABI, selectors
from tests.settlement.test_settlement import chain_towns
from tests.world import SEASON, World

__all__ = ["chain_app"]

EXPIRES_ON = date(SEASON + 1, 3, 31)


def bill_ids(db: sessionmaker[Session]) -> dict[uuid.UUID, uuid.UUID]:
    """Each holder's bill id."""
    with db() as session:
        return {b.holder_id: b.id for b in session.scalars(select(Bill))}


def wallets(db: sessionmaker[Session]) -> dict[uuid.UUID, str]:
    with db() as session:
        return {
            user_id: address
            for user_id, address in session.execute(select(User.id, User.wallet_address))
            if address is not None
        }


def bill_burns(db: sessionmaker[Session]) -> list[tuple[ChainState, str | None]]:
    with db() as session:
        return [
            (state, error)
            for state, error in session.execute(
                select(ChainOperation.state, ChainOperation.last_error)
                .where(
                    ChainOperation.asset == ChainAsset.bill,
                    ChainOperation.kind == ChainOperationKind.burn,
                )
                .order_by(ChainOperation.created_at)
            )
        ]


def test_a_shipment_and_an_expiry_gift_burn_on_chain_and_reconcile_clean(
    chain_app: tuple[FastAPI, str],
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    invest_and_confirm(world, world.alice, 10_000)  # a board of 1,000 go
    invest_and_confirm(world, world.bob, 5_000)  # 500 go
    workers = new_settlement(db, node.rpc_url, chain_settings, deployment)
    settle_all(workers, db)  # the boards' mints: the conversion's burns draw on them
    harvested(world, world.a, FULL_HARVEST_KG)  # 100%: each bill is its board
    settle_all(workers, db)

    assert deployment.bills_address is not None
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    erc1155 = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.bills_address), abi=ERC1155_BALANCES_ABI
    )
    work = bill_token_id(world.a.work_id)
    alice, bob = (wallets(db)[p.id] for p in (world.alice, world.bob))

    def balances() -> list[int]:
        return list(erc1155.functions.balanceOfBatch([alice, bob], [work, work]).call())

    assert balances() == [1_000, 500]  # minted

    # Alice redeems 300 go; the farmer ships them: one bill burn due, counted by GET /v1/chain.
    bill = bill_ids(db)[world.alice.id]
    made = redeemed(world, world.alice, bill, 300)
    assert balances() == [1_000, 500]  # held in the ledger, still on chain
    shipped = ship(world.client, world.a.farmer, made["id"])
    assert shipped.status_code == 200, shipped.text
    town = chain_towns(chain_app, chain, deployment)[str(world.a.municipality_id)]
    assert (town["pending"], town["bills_pending"]) == (1, 1)
    settle_all(workers, db)
    town = chain_towns(chain_app, chain, deployment)[str(world.a.municipality_id)]
    assert (town["pending"], town["submitted"], town["bills_pending"]) == (0, 0, 0)
    assert balances() == [700, 500]  # the shipment burned
    received = world.client.post(
        f"/v1/redemptions/{made['id']}/receive", headers=world.alice.headers
    )
    assert received.status_code == 200, received.text
    shown = world.client.get(f"/v1/me/bills/{bill}", headers=world.alice.headers)
    assert shown.status_code == 200, shown.text

    # Past the town's date, what is left of each bill is gifted to the farmer and burned.
    with db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(bills_expire_on=EXPIRES_ON)
        )
    done = run_bill_jobs(db, EXPIRES_ON + timedelta(days=1))
    assert (done.expiry.gifts, done.expiry.gifted_go) == (2, 1_200)
    settle_all(workers, db)
    assert balances() == [0, 0]

    chain.use_koku(deployment.token_address)
    chain.use_bills(deployment.bills_address)
    assert chain.bills.total_supply(work) == 0
    assert_exactly_once(db, chain, deployment)
    assert bill_burns(db) == [(ChainState.confirmed, None)] * 3
    called = selectors(db, chain)
    assert called[BILL_BURN_BATCH_SELECTOR] == 2  # the shipment, then both gifts together
    with db() as session:
        report = reconcile(session, chain, deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    (bills,) = report.bills
    assert (bills.issued.go, bills.outstanding.go, bills.on_chain_outstanding.go) == (1_500, 0, 0)
    assert bills.mismatches == 0
    workers.close()


def test_a_bill_burn_waits_for_its_mint_and_fails_with_it(
    world: World,
    db: sessionmaker[Session],
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    invest_and_confirm(world, world.bob, 5_000)
    workers = new_settlement(db, node.rpc_url, chain_settings, deployment)
    settle_all(workers, db)
    harvested(world, world.a, FULL_HARVEST_KG)
    ids = bill_ids(db)
    # Both shipped before the bills are minted: their burns wait for the mints.
    for person in (world.alice, world.bob):
        made = redeemed(world, person, ids[person.id], 100)
        assert ship(world.client, world.a.farmer, made["id"]).status_code == 200
    # Bob's mint fails for good (as after a permanent revert) before the worker claims.
    with db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(
                ChainOperation.bill_id == ids[world.bob.id],
                ChainOperation.kind == ChainOperationKind.mint,
            )
            .values(state=ChainState.failed, last_error="refused")
        )
    workers.run_once()
    assert Counter(bill_burns(db)) == Counter(
        [
            (ChainState.pending, WAITING_FOR_MINT),
            (ChainState.failed, "its mint failed: there is nothing to burn"),
        ]
    )
    deadline_runs = 400
    while states(db)[ChainState.pending] or states(db)[ChainState.submitted]:
        workers.run_once()
        deadline_runs -= 1
        assert deadline_runs, states(db)
    assert sorted(state for state, _ in bill_burns(db)) == sorted(
        [ChainState.confirmed, ChainState.failed]
    )
    with db() as session:
        alice = session.scalar(select(User.wallet_address).where(User.id == world.alice.id))
    assert alice is not None
    client = ChainClient(node.rpc_url, koku_address=deployment.token_address)
    assert deployment.bills_address is not None
    client.use_bills(deployment.bills_address)
    assert client.bills.balance_of(alice, bill_token_id(world.a.work_id)) == 900
    workers.close()


def test_each_shipment_burns_exactly_once_when_a_worker_dies_between_sending_and_recording(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    people = [world.alice, world.bob]
    for person in people:
        invest_and_confirm(world, person, 10_000)
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    harvested(world, world.a, FULL_HARVEST_KG)
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment), db)
    ids = bill_ids(db)
    # Twelve shipments: six redemptions of each bill.
    for i in range(12):
        person = people[i % 2]
        made = redeemed(world, person, ids[person.id], 10 + i)
        assert ship(world.client, world.a.farmer, made["id"]).status_code == 200

    # Signed, recorded, sent in batches of five; then the worker dies before recording more.
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=5)
    report = crashed.submit()
    assert (report.claimed, report.sent) == (12, 3)
    del crashed
    with db() as session:
        sent = session.scalars(
            select(ChainTransaction.tx_hash).where(
                ChainTransaction.state == TransactionState.submitted
            )
        ).all()
    for tx_hash in sent:
        chain.wait_receipt(tx_hash, timeout=20)
    # Worse: its record says the first batch never landed (a lost receipt, a replaced nonce),
    # so its burns are claimed again and re-signed.
    with db.begin() as session:
        again = session.scalar(
            select(ChainOperation.transaction_id)
            .where(ChainOperation.state == ChainState.submitted)
            .order_by(ChainOperation.reference)
            .limit(1)
        )
        originals = dict(
            session.execute(
                select(ChainOperation.reference, ChainOperation.tx_hash).where(
                    ChainOperation.transaction_id == again
                )
            ).all()
        )
        session.execute(
            update(ChainTransaction)
            .where(ChainTransaction.id == again)
            .values(state=TransactionState.replaced)
        )
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.transaction_id == again)
            .values(state=ChainState.pending, transaction_id=None, tx_hash=None)
        )

    successor = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=5)
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
            select(func.count()).where(
                ChainOperation.asset == ChainAsset.bill,
                ChainOperation.kind == ChainOperationKind.burn,
            )
        )
    # Each re-signed burn was skipped on chain and is recorded where it really landed.
    assert len(originals) == 5
    assert settled == originals
    assert burns == 12
    assert deployment.bills_address is not None
    chain.use_bills(deployment.bills_address)
    skipped = Counter(
        "0x" + e.ref.hex()
        for e in chain.bills.burned_events(deployment.deployed_block, skipped=True)
    )
    assert set(skipped) == set(originals)
    burned = Counter(
        "0x" + e.ref.hex() for e in chain.bills.burned_events(deployment.deployed_block)
    )
    assert len(burned) == 12
    assert set(burned.values()) == {1}
    work = bill_token_id(world.a.work_id)
    redeemed_go = {people[0].id: 0, people[1].id: 0}
    for i in range(12):
        redeemed_go[people[i % 2].id] += 10 + i
    for person in people:
        address = wallets(db)[person.id]
        assert chain.bills.balance_of(address, work) == 1_000 - redeemed_go[person.id]
    successor.close()
