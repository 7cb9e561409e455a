"""Faults: a killed chain, a crashed worker, concurrent workers, a restarted database, a
stopped chain. After each, every issuance is minted exactly once, by its town's minter, and the
chain agrees with the ledger. Both towns issue, so each fault hits two minters' nonce streams."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment, ChainState, ChainTransaction, TransactionState
from kokudaka.settlement.pool import SettlementPool
from kokudaka.towns.minters import minter_for
from tests.settlement.helpers import (
    add_supporters,
    amounts,
    assert_exactly_once,
    issue_to,
    new_settlement,
    refs_per_transaction,
    settle_all,
    states,
    wait_until_settled,
)
from tests.world import SEASON, Town, World


def issue_many(
    world: World,
    db: sessionmaker[Session],
    count: int,
    users: int = 8,
    towns: tuple[Town, ...] | None = None,
) -> None:
    """``count`` issuances, alternating between ``towns`` (both of the world's by default)."""
    people = add_supporters(db, users)
    towns = towns or (world.b, world.a)
    for i, amount in enumerate(amounts(count)):
        issue_to(db, towns[i % len(towns)].municipality_id, people[i % users], amount)


def transactions(db: sessionmaker[Session]) -> list[ChainTransaction]:
    with db() as session:
        return list(session.scalars(select(ChainTransaction).order_by(ChainTransaction.nonce)))


class Running:
    """The towns' workers' run_forever in a thread, stopped and joined at the end."""

    def __init__(self, worker: SettlementPool) -> None:
        self.worker = worker
        self.stop = threading.Event()
        self.thread = threading.Thread(target=worker.run_forever, args=(self.stop,), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def test_anvil_killed_mid_batch_and_restarted_from_its_state_file(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=20)
    issue_many(world, db, 40)
    settle_all(worker, db)
    node.stop()  # a clean stop writes the state file: everything so far survives
    node.start()

    issue_many(world, db, 40)
    settle_all(worker, db)  # confirmed in SQL, but never written to the state file
    confirmed_before_kill = {tx.tx_hash for tx in transactions(db)}
    issue_many(world, db, 60)
    worker.submit()  # four batches (two per town) sent, not yet mined or not yet seen mined
    node.kill()  # kill -9: anvil loses everything since its last state dump
    node.start()
    assert chain.block_number() < max(tx.block_number or 0 for tx in transactions(db))

    lost = resent = 0
    deadline = time.monotonic() + 30
    while states(db)[ChainState.confirmed] < 140:
        assert time.monotonic() < deadline, states(db)
        report = worker.run_once()
        lost, resent = lost + report.lost, resent + report.resent
        time.sleep(0.05)

    assert lost == 2  # the two batches (one per town) confirmed after the last state dump
    assert resent >= 2 + 4  # their bytes, and the four batches the node forgot
    assert states(db) == {ChainState.confirmed: 140}
    assert_exactly_once(db, chain, deployment)
    assert {tx.state for tx in transactions(db)} == {TransactionState.confirmed}
    assert len(transactions(db)) == 2 + 2 + 4  # no transaction was signed twice
    assert confirmed_before_kill <= {tx.tx_hash for tx in transactions(db)}


def test_a_worker_that_crashed_after_sending_is_finished_by_a_new_one(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    issue_many(world, db, 50)
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=20)
    report = crashed.submit()  # recorded, committed and sent; no receipt recorded
    assert report.claimed == 50
    assert report.sent == 4  # 20 + 5 per town
    del crashed
    assert states(db) == {ChainState.submitted: 50}

    successor = new_settlement(db, node.rpc_url, chain_settings, deployment)
    settle_all(successor, db)
    assert len(transactions(db)) == 4
    assert set(refs_per_transaction(db, chain).values()) == {1}
    assert_exactly_once(db, chain, deployment)


def test_a_worker_that_crashed_between_commit_and_send_is_resent_by_a_new_one(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    issue_many(world, db, 30)
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=20)
    crashed.submit(send=False)
    recorded = transactions(db)
    assert len(recorded) == 2  # one batch per town
    assert all(chain.get_receipt(tx.tx_hash) is None for tx in recorded)
    del crashed

    successor = new_settlement(db, node.rpc_url, chain_settings, deployment)
    first = successor.run_once()
    assert first.resent == 2  # the recorded bytes, not a new signature
    settle_all(successor, db)
    assert {tx.tx_hash for tx in transactions(db)} == {tx.tx_hash for tx in recorded}
    assert_exactly_once(db, chain, deployment)


def test_a_nonce_taken_by_another_transaction_requeues_its_operations(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    issue_many(world, db, 10, towns=(world.a,))
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment)
    crashed.submit(send=False)
    [orphan] = transactions(db)
    # Someone else with town a's minter key uses that nonce first.
    with db() as session:
        minter_key = minter_for(session, world.a.municipality_id).private_key(chain_settings)
    intruder = chain.build_mint_tx(
        minter_key, SEASON, "0x" + "cd" * 20, 1, issuance_ref(uuid.uuid4()), orphan.nonce
    )
    chain.wait_receipt(chain.send_raw(intruder.raw), timeout=10)

    successor = new_settlement(db, node.rpc_url, chain_settings, deployment)
    settle_all(successor, db)
    orphan_now, replacement = transactions(db)[0], transactions(db)[1]
    assert orphan_now.state is TransactionState.replaced
    assert "was used by another transaction" in (orphan_now.last_error or "")
    assert replacement.state is TransactionState.confirmed
    assert replacement.nonce == orphan.nonce + 1
    assert chain.get_receipt(orphan.tx_hash) is None
    assert_exactly_once_except_intruder(db, chain, deployment)


def assert_exactly_once_except_intruder(
    db: sessionmaker[Session], chain: ChainClient, deployment: ChainDeployment
) -> None:
    # The intruder's 1 go went to an address the ledger does not know; take it out of supply.
    assert chain.balance_of("0x" + "cd" * 20) == 1
    minted_total = sum(
        e.amount for e in chain.minted_events(deployment.deployed_block) if e.amount != 1
    )
    assert minted_total == sum(amounts(10))
    assert states(db) == {ChainState.confirmed: 10}


def test_two_workers_at_once_never_submit_an_operation_twice(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    issue_many(world, db, 300, users=30)
    workers = [
        new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=15, name=f"w{i}")
        for i in range(2)
    ]
    with Running(workers[0]), Running(workers[1]):
        wait_until_settled(db, timeout=30)

    txs = transactions(db)
    assert {tx.state for tx in txs} == {TransactionState.confirmed}
    assert sum(tx.operation_count for tx in txs) == 300
    senders = {tx.sender for tx in txs}
    assert len(senders) == 2  # each town's minter
    for sender in senders:  # each minter's nonces without a gap or a double
        nonces = sorted(tx.nonce for tx in txs if tx.sender == sender)
        assert nonces == list(range(len(nonces)))
    carried = refs_per_transaction(db, chain)
    assert len(carried) == 300
    assert set(carried.values()) == {1}
    assert_exactly_once(db, chain, deployment)
    assert all(w.unavailable_errors == 0 for w in workers)


def _postgres_cluster(url: str) -> tuple[str, str] | None:
    """(version, name) of the local cluster serving ``url``, if this process may restart it."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    if os.geteuid() != 0:
        return None
    port = make_url(url).port or 5432
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(port) and fields[3] == "online":
            return fields[0], fields[1]
    return None


@pytest.fixture
def postgres_cluster(is_postgres: bool) -> tuple[str, str]:
    url = os.environ.get("KOKUDAKA_TEST_DATABASE_URL", "")
    if not is_postgres:
        pytest.skip("restarting the database needs PostgreSQL (KOKUDAKA_TEST_DATABASE_URL)")
    cluster = _postgres_cluster(url)
    if cluster is None:
        pytest.skip("cannot restart the PostgreSQL cluster from here (pg_ctlcluster as root)")
    return cluster


def test_the_worker_survives_a_database_restart(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    postgres_cluster: tuple[str, str],
) -> None:
    issue_many(world, db, 200, users=20)
    worker = new_settlement(
        db, node.rpc_url, chain_settings, deployment, batch_size=10, max_in_flight=4
    )
    version, name = postgres_cluster
    with Running(worker) as running:
        time.sleep(0.3)  # mid-settlement
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
            check=True,
            capture_output=True,
        )
        wait_until_settled(db, timeout=40)
        assert running.thread.is_alive()
    assert worker.database_errors >= 1
    assert_exactly_once(db, chain, deployment)


def test_a_stopped_chain_only_delays_settlement(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    issue_many(world, db, 20)
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=10)
    with Running(worker):
        wait_until_settled(db, timeout=15)
        node.stop()
        issue_many(world, db, 30)
        time.sleep(1.5)
        assert worker.unavailable_errors >= 2  # it kept trying
        assert states(db)[ChainState.confirmed] == 20
        node.start()
        wait_until_settled(db, timeout=20)
    assert worker.fatal_error is None
    assert_exactly_once(db, chain, deployment)
