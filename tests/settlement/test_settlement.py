"""The towns' settlement workers on the normal paths: each town's batches signed by its own
minter, burns, held operations, and a town at its on-chain cap."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.allowances import sync_allowances
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch, ensure_deployment
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import town_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
    User,
)
from kokudaka.settlement import applying, claiming
from kokudaka.settlement.claiming import NO_WALLET, WAITING_FOR_MINT
from kokudaka.settlement.runtime import development_top_up
from kokudaka.towns.minters import rotate_town_minter
from tests.reconcile.conftest import chain_app
from tests.settlement.helpers import (
    add_supporters,
    amounts,
    assert_exactly_once,
    issue_many,
    issue_to,
    minter_address,
    new_settlement,
    refs_per_transaction,
    reverse_entry,
    settle_all,
    states,
    wallet_of,
)
from tests.world import SEASON, YEARLY_CAP_GO, Town, World

__all__ = ["chain_app"]


def test_each_town_settles_in_batches_signed_by_its_own_minter(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    users = add_supporters(db, 12)
    for i, amount in enumerate(amounts(70)):
        town = world.a if i % 3 else world.b
        issue_to(db, town.municipality_id, users[i % len(users)], amount)
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=25)

    settle_all(worker, db)

    assert states(db) == {ChainState.confirmed: 70}
    minter_a = minter_address(db, world.a.municipality_id)
    minter_b = minter_address(db, world.b.municipality_id)
    assert minter_a != minter_b
    with db() as session:
        txs = session.scalars(select(ChainTransaction).order_by(ChainTransaction.nonce)).all()
    # Town a has 46 issuances, town b 24: each in its own batches, from its own sender, with
    # the sender's own nonces.
    by_sender: dict[str, list[ChainTransaction]] = {}
    for tx in txs:
        by_sender.setdefault(tx.sender, []).append(tx)
    assert sorted(by_sender) == sorted([minter_a, minter_b])
    assert [tx.operation_count for tx in by_sender[minter_a]] == [25, 21]
    assert [tx.operation_count for tx in by_sender[minter_b]] == [24]
    for sent in by_sender.values():
        assert [tx.nonce for tx in sent] == list(range(len(sent)))
        for tx in sent:
            assert chain.web3.eth.get_transaction(HexStr(tx.tx_hash))["from"] == tx.sender
    assert all(tx.state is TransactionState.confirmed for tx in txs)
    assert all(tx.gas_used and tx.block_number for tx in txs)
    assert set(refs_per_transaction(db, chain).values()) == {1}
    # Each town's Minted events carry its town id.
    towns = Counter(e.town for e in chain.minted_events(deployment.deployed_block))
    assert towns == {town_id(world.a.municipality_id): 46, town_id(world.b.municipality_id): 24}
    assert_exactly_once(db, chain, deployment)
    # Each town's cap for the season was spent by exactly what it minted.
    minted_a = sum(amount for i, amount in enumerate(amounts(70)) if i % 3)
    minted_b = sum(amounts(70)) - minted_a
    a, b = town_id(world.a.municipality_id), town_id(world.b.municipality_id)
    assert chain.allowance_left(a, SEASON) == YEARLY_CAP_GO - minted_a
    assert chain.allowance_left(b, SEASON) == YEARLY_CAP_GO - minted_b


def test_a_reversal_burns_after_its_mint_is_confirmed(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    [user] = add_supporters(db, 1)
    entry_id, _ = issue_to(db, world.a.municipality_id, user, 2_500)
    kept_entry, _ = issue_to(db, world.a.municipality_id, user, 700)
    reverse_entry(db, entry_id, world.a.admin.id)  # before anything reached the chain
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment)

    report = worker.run_once()
    assert report.held == 1  # the burn waits for its mint
    with db() as session:
        burn = session.scalars(
            select(ChainOperation).where(ChainOperation.kind == ChainOperationKind.burn)
        ).one()
    assert burn.state is ChainState.pending
    assert burn.last_error == WAITING_FOR_MINT

    settle_all(worker, db)
    assert states(db) == {ChainState.confirmed: 3}
    assert chain.balance_of(wallet_of(db, user)) == 700
    assert [e.amount for e in chain.burned_events(deployment.deployed_block)] == [2_500]
    assert_exactly_once(db, chain, deployment)
    assert kept_entry


def test_an_issuance_to_a_user_without_a_wallet_is_held_until_one_is_assigned(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    [walletless] = add_supporters(db, 1, wallet=False)
    [other] = add_supporters(db, 1)
    issue_to(db, world.a.municipality_id, walletless, 1_000)
    issue_to(db, world.a.municipality_id, other, 1_000)
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment)

    worker.settle(timeout=10)  # returns once only the held operation is left
    with db() as session:
        held = session.scalars(
            select(ChainOperation).where(ChainOperation.user_id == walletless)
        ).one()
        assert held.state is ChainState.pending
        assert held.last_error == NO_WALLET
        assert held.attempts == 0
        assert held.recipient_address is None
    assert states(db) == {ChainState.confirmed: 1, ChainState.pending: 1}

    with db.begin() as session:
        user = session.get(User, walletless)
        assert user is not None
        user.wallet_address = "0x" + "ab" * 20
    settle_all(worker, db)
    assert chain.balance_of("0x" + "ab" * 20) == 1_000
    assert_exactly_once(db, chain, deployment)


def waiting_mints(db: sessionmaker[Session], town: Town) -> list[ChainOperation]:
    with db() as session:
        return list(
            session.scalars(
                select(ChainOperation).where(
                    ChainOperation.municipality_id == town.municipality_id,
                    ChainOperation.state == ChainState.pending,
                )
            )
        )


@dataclass(frozen=True)
class ExternalChain:
    """The app's chain runtime as the endpoints see it, on the test's node."""

    client: ChainClient
    deployment: ChainDeployment

    def state_health(self) -> None:
        return None

    def node_usage(self) -> None:
        return None


def chain_towns(
    chain_app: tuple[FastAPI, str], chain: ChainClient, deployment: ChainDeployment
) -> dict[str, dict[str, object]]:
    """``GET /v1/chain``'s towns, by municipality id."""
    app, base_url = chain_app
    app.state.chain_runtime = ExternalChain(chain, deployment)
    try:
        answer = httpx.get(f"{base_url}/v1/chain", timeout=30)
    finally:
        app.state.chain_runtime = None
    assert answer.status_code == 200, answer.text
    return {town["municipality_id"]: town for town in answer.json()["towns"]}


def test_a_town_at_its_cap_waits_while_another_settles_until_the_admin_raises_it(
    chain_app: tuple[FastAPI, str],
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    users = add_supporters(db, 3)
    worker = new_settlement(db, node.rpc_url, chain_settings, deployment)  # no top-up
    issue_to(db, world.a.municipality_id, users[0], 1_000)
    settle_all(worker, db)  # town a's worker now counts nearly its whole cap as left

    # The admin cuts town a's cap behind the worker's back: 500 go left.
    a = town_id(world.a.municipality_id)
    chain.set_season_cap(ANVIL_DEV_KEYS[0], a, SEASON, 1_500)
    for user in users:
        issue_to(db, world.a.municipality_id, user, 3_000)
        issue_to(db, world.b.municipality_id, user, 2_000)
    deadline = time.monotonic() + 20
    while states(db)[ChainState.confirmed] < 4 or len(waiting_mints(db, world.a)) < 3:
        assert time.monotonic() < deadline, states(db)
        worker.run_once()
        time.sleep(0.05)
    # Town b settled; town a's batch reverted once, then its mints wait with the reason.
    with db() as session:
        failed = session.scalars(
            select(ChainTransaction).where(ChainTransaction.state == TransactionState.failed)
        ).all()
    assert len(failed) == 1
    assert "AllowanceExceeded" in (failed[0].last_error or "")
    for _ in range(30):  # past the wait: the chain is asked again, nothing more is sent
        worker.run_once()
        time.sleep(0.05)
    waiting = waiting_mints(db, world.a)
    assert len(waiting) == 3
    assert {op.last_error for op in waiting} == {
        "waiting for the town's on-chain cap for 2026: 500 go left, the next mint needs "
        "3,000 go; an administrator raises it with `kokudaka chain allowances`"
    }
    with db() as session:
        assert (
            session.scalar(
                select(func.count()).where(ChainTransaction.state == TransactionState.failed)
            )
            == 1
        )
    assert states(db) == {ChainState.confirmed: 4, ChainState.pending: 3}
    towns = chain_towns(chain_app, chain, deployment)
    assert towns[str(world.a.municipality_id)] == {
        "municipality_id": str(world.a.municipality_id),
        "code": towns[str(world.a.municipality_id)]["code"],
        "minter_address": minter_address(db, world.a.municipality_id),
        "pending": 3,
        "submitted": 0,
        "bills_pending": 0,
        "bills_submitted": 0,
        "waiting": 3,
        "waiting_reason": waiting[0].last_error,
    }
    town_b = towns[str(world.b.municipality_id)]
    assert town_b["minter_address"] == minter_address(db, world.b.municipality_id)
    assert (town_b["pending"], town_b["waiting"], town_b["waiting_reason"]) == (0, 0, None)

    # `kokudaka chain allowances`: the chain's cap back to the town's policy.
    sync_allowances(db, chain, ANVIL_DEV_KEYS[0])
    settle_all(worker, db)
    assert_exactly_once(db, chain, deployment)
    assert chain.allowance_left(a, SEASON) == YEARLY_CAP_GO - 10_000


def test_in_development_a_town_at_its_cap_has_it_raised_to_its_policy(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    a = town_id(world.a.municipality_id)
    chain.set_season_cap(ANVIL_DEV_KEYS[0], a, SEASON, 100)
    users = add_supporters(db, 2)
    for user in users:
        issue_to(db, world.a.municipality_id, user, 3_000)
    top_up = development_top_up(db, node.rpc_url, deployment.token_address, chain_settings)
    assert top_up is not None
    settle_all(new_settlement(db, node.rpc_url, chain_settings, deployment, top_up=top_up), db)

    assert_exactly_once(db, chain, deployment)
    assert chain.season_cap(a, SEASON) == YEARLY_CAP_GO
    with db() as session:  # it waited instead of sending a batch bound to revert
        assert {tx.state for tx in session.scalars(select(ChainTransaction))} == {
            TransactionState.confirmed
        }
    production = chain_settings.model_copy(
        update={"env": Environment.production, "anchor_key": "0x" + "22" * 32}
    )
    assert development_top_up(db, node.rpc_url, deployment.token_address, production) is None


def test_the_deployment_is_recorded_once_and_a_chain_that_lost_it_is_refused(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    again = ensure_deployment(db, ChainClient(node.rpc_url), chain_settings)
    assert again.token_address == deployment.token_address
    with db() as session:
        assert len(session.scalars(select(ChainDeployment)).all()) == 1
    for town in (world.a, world.b):
        assert chain.minter_of(town_id(town.municipality_id)) == minter_address(
            db, town.municipality_id
        )
        assert chain.season_cap(town_id(town.municipality_id), SEASON) == YEARLY_CAP_GO
    assert deployment.deployed_block >= 1
    token = to_checksum_address(deployment.token_address)
    assert not chain.web3.eth.get_code(token, deployment.deployed_block - 1)

    node.kill()  # no state written: the chain comes back empty, as after a dev reset
    node.start()
    with pytest.raises(DeploymentMismatch, match="lost the KOKU contract") as caught:
        ensure_deployment(db, ChainClient(node.rpc_url), chain_settings)
    assert deployment.token_address in str(caught.value)
    assert "refusing to diverge" in str(caught.value)


def test_a_contract_from_another_version_of_koku_is_refused_with_instructions(
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    # As after an upgrade of Koku.sol on a ./data that holds the older contract.
    chain.rpc("anvil_setCode", [deployment.token_address, "0x60006000fd"])
    with pytest.raises(DeploymentMismatch) as caught:
        ensure_deployment(db, ChainClient(node.rpc_url), chain_settings)
    assert "another version of contracts/Koku.sol" in str(caught.value)
    assert "move the data directory aside" in str(caught.value)


@pytest.mark.parametrize(
    ("deployer", "anchor", "problem"),
    [
        ("", "", "required in production: KOKUDAKA_ANCHOR_KEY"),
        ("0x" + "11" * 32, ANVIL_DEV_KEYS[1], "development keys refused"),
        (ANVIL_DEV_KEYS[0].upper(), "0x" + "22" * 32, "development keys refused"),
    ],
)
def test_production_refuses_empty_and_development_chain_keys(
    deployer: str, anchor: str, problem: str
) -> None:
    production = {
        "env": Environment.production,
        "jwt_secret": "x" * 40,
        "payment_webhook_secret": "webhook-secret-for-this-test",
        "wallet_encryption_key": "wallet-key-for-this-test",
    }
    with pytest.raises(ValueError, match=problem):
        Settings(**production, deployer_key=deployer, anchor_key=anchor)  # type: ignore[arg-type]
    # The admin key is cold: production runs without it.
    accepted = Settings(**production, anchor_key="0x" + "22" * 32)  # type: ignore[arg-type]
    assert accepted.anchor_key
    assert not accepted.deployer_key


def test_a_rotated_minter_is_followed_to_the_end_and_its_town_goes_on_with_the_new_key(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    users = add_supporters(db, 4)
    for user in users:
        issue_to(db, world.a.municipality_id, user, 1_200)
        issue_to(db, world.b.municipality_id, user, 800)
    old = minter_address(db, world.a.municipality_id)
    crashed = new_settlement(db, node.rpc_url, chain_settings, deployment)
    crashed.submit(send=False)  # recorded, then the process died
    del crashed

    # `kokudaka chain rotate-minter`: a new key for town a, the chain told of it.
    with db.begin() as session:
        rotate_town_minter(session, chain_settings, world.a.municipality_id)
    sync_allowances(db, chain, ANVIL_DEV_KEYS[0])
    new = minter_address(db, world.a.municipality_id)
    assert new != old
    assert chain.minter_of(town_id(world.a.municipality_id)) == new

    # Development: the new key gets gas from the admin when its worker starts.
    top_up = development_top_up(db, node.rpc_url, deployment.token_address, chain_settings)
    successor = new_settlement(db, node.rpc_url, chain_settings, deployment, top_up=top_up)
    successor.refresh()
    assert successor.workers[old].draining  # the retired key still has a batch in flight
    assert not successor.workers[new].draining
    settle_all(successor, db)

    # The old key's batch was resent as recorded; no longer a minter, it reverted, and its
    # mints went to the town's new key.
    with db() as session:
        old_txs = session.scalars(
            select(ChainTransaction).where(ChainTransaction.sender == old)
        ).all()
        senders = dict(
            session.execute(
                select(ChainOperation.id, ChainTransaction.sender)
                .join(ChainTransaction, ChainTransaction.id == ChainOperation.transaction_id)
                .where(ChainOperation.municipality_id == world.a.municipality_id)
            ).all()
        )
    assert [tx.state for tx in old_txs] == [TransactionState.failed]
    assert set(senders.values()) == {new}
    assert_exactly_once(db, chain, deployment)
    while old in successor.workers:  # drained: dropped at its next cycle
        successor.run_once()
    assert set(successor.workers) == {new, minter_address(db, world.b.municipality_id)}


def test_a_claim_reads_and_updates_its_operations_by_raw_id(
    world: World,
    db: sessionmaker[Session],
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On SQLite a claim builds no ``uuid.UUID`` per operation (they cost more than its SQL);
    every claimed operation still names the transaction recorded for it."""
    if db.kw["bind"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL's driver itself returns uuid.UUID")
    users = add_supporters(db, 5)
    for i, amount in enumerate(amounts(60)):
        issue_to(db, world.a.municipality_id, users[i % len(users)], amount)
    pool = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=25)
    pool.refresh()
    built = 0
    real_init = uuid.UUID.__init__

    def counting_init(self: uuid.UUID, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(uuid.UUID, "__init__", counting_init)
    report = pool.submit(send=False)
    monkeypatch.undo()

    assert report.claimed == 60
    assert built < 20  # a few per transaction and per query, none per operation
    with db() as session:
        per_tx = Counter(
            session.scalars(
                select(ChainOperation.transaction_id).where(
                    ChainOperation.state == ChainState.submitted
                )
            )
        )
        counts = dict(
            session.execute(select(ChainTransaction.id, ChainTransaction.operation_count)).all()
        )
    assert per_tx == counts
    assert sorted(counts.values()) == [10, 25, 25]
    pool.close()


def test_a_wallet_changed_while_its_batch_is_signed_rolls_the_claim_back(
    world: World,
    db: sessionmaker[Session],
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL (READ COMMITTED): the claim's update reads each recipient back; one that is
    not the address signed rolls the whole claim back, and nothing is recorded or sent."""
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite's one writer cannot change a wallet during a claim")
    users = add_supporters(db, 3)
    for i, amount in enumerate(amounts(6)):
        issue_to(db, world.a.municipality_id, users[i % len(users)], amount)
    pool = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=25)
    pool.refresh()
    client = next(iter(pool.workers.values())).client
    sign = client.build_mint_batch_tx

    def sign_then_change_a_wallet(*args: Any, **kwargs: Any) -> Any:
        with db.begin() as session:  # another transaction, committed meanwhile
            user = session.get(User, users[0])
            assert user is not None
            user.wallet_address = "0x" + "ab" * 20
        return sign(*args, **kwargs)

    monkeypatch.setattr(client, "build_mint_batch_tx", sign_then_change_a_wallet)
    with pytest.raises(RuntimeError, match="a wallet changed"):
        pool.submit(send=False)
    assert states(db) == {ChainState.pending: 6}
    with db() as session:
        assert session.scalar(select(func.count()).select_from(ChainTransaction)) == 0
    pool.close()


def test_on_postgresql_the_next_claim_reads_its_operations_while_the_last_one_commits(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim returns once signed and commits on the writer thread; the next one has read and
    sorted its own operations (skipping the rows still held) before that commit ends, and takes
    the minter's nonces after it. Every operation is claimed once, the nonces follow on, and
    nothing is sent before its claim is committed."""
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite's claims hold its one write lock until they commit")
    issue_many(db, world.a.municipality_id, 60, supporters=6)
    pool = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=5)
    pool.refresh()
    events: list[str] = []
    real_claim, real_commit = claiming.Claimer._claim, claiming._commit

    def reading(self: claiming.Claimer, *args: Any) -> Any:
        events.append("claim reads")
        return real_claim(self, *args)

    def committing(*args: Any) -> None:
        time.sleep(0.3)  # a slow server: the next claim reads meanwhile
        real_commit(*args)
        events.append("committed")

    monkeypatch.setattr(claiming.Claimer, "_claim", reading)
    monkeypatch.setattr(claiming, "_commit", committing)
    sent: list[int] = []
    worker = next(iter(pool.workers.values()))
    send_raw = worker.client.send_raw

    def sending(raw: bytes) -> Any:
        with db() as session:  # committed before it is sent
            sent.append(
                session.scalar(
                    select(func.count())
                    .select_from(ChainTransaction)
                    .where(ChainTransaction.raw_tx == raw)
                )
                or 0
            )
        return send_raw(raw)

    monkeypatch.setattr(worker.client, "send_raw", sending)

    report = pool.submit()

    # Eight batches of five, then the four left: the second claim read before the first
    # committed (a third found nothing due but the rows the other two hold).
    assert events[:2] == ["claim reads", "claim reads"]
    assert events.count("committed") == 2
    assert report.claimed == 60
    assert sent == [1] * 12
    with db() as session:
        txs = session.scalars(select(ChainTransaction).order_by(ChainTransaction.nonce)).all()
    assert [tx.nonce for tx in txs] == list(range(12))
    assert sum(tx.operation_count for tx in txs) == 60
    settle_all(pool, db)
    assert states(db) == {ChainState.confirmed: 60}
    assert set(refs_per_transaction(db, chain).values()) == {1}
    assert_exactly_once(db, chain, deployment)
    pool.close()


def test_on_postgresql_a_claim_that_fails_to_commit_sends_nothing_and_stops_the_next(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first claim's last statements fail on the writer thread: it is rolled back, none of
    its transactions reach the node, the claim after it (waiting for its nonces) is rolled
    back too, and the cycle fails with the error. The next cycle settles everything once."""
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite's claims hold its one write lock until they commit")
    issue_many(db, world.a.municipality_id, 60, supporters=6)
    pool = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=5)
    pool.refresh()
    real_statements = claiming._Finish.statements
    failures = iter([True])

    def failing(self: Any) -> None:
        real_statements(self)
        if next(failures, False):
            time.sleep(0.2)  # the next claim is waiting for this one by now
            raise RuntimeError("the server went away")

    monkeypatch.setattr(claiming._Finish, "statements", failing)
    minter = minter_address(db, world.a.municipality_id)

    with pytest.raises(RuntimeError, match="the server went away"):
        pool.submit()

    assert states(db) == {ChainState.pending: 60}
    with db() as session:
        assert session.scalar(select(func.count()).select_from(ChainTransaction)) == 0
    assert chain.web3.eth.get_transaction_count(to_checksum_address(minter), "pending") == 0
    settle_all(pool, db)
    assert states(db) == {ChainState.confirmed: 60}
    assert_exactly_once(db, chain, deployment)
    pool.close()


def test_on_postgresql_a_blocks_mined_batches_are_recorded_together(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mined transactions are recorded in one set of statements; one that another worker
    recorded first is left as that worker recorded it, and every operation is confirmed once
    with its own transaction's hash and block."""
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite records each transaction in turn, in this process")
    issue_many(db, world.a.municipality_id, 60, supporters=6)
    pool = new_settlement(db, node.rpc_url, chain_settings, deployment, batch_size=10)
    pool.refresh()
    pool.submit()
    with db() as session:
        txs = session.scalars(select(ChainTransaction).order_by(ChainTransaction.nonce)).all()
    assert len(txs) == 6
    for tx in txs:  # mined
        assert chain.web3.eth.wait_for_transaction_receipt(HexStr(tx.tx_hash), timeout=10)
    first = txs[0]
    together: list[int] = []
    real = applying.record_mined_together

    def spy(session: Session, mined: list[Any], *args: Any) -> list[str]:
        together.append(len(mined))
        with db.begin() as other:  # another worker recorded the first one meanwhile
            other.execute(
                update(ChainTransaction)
                .where(ChainTransaction.id == first.id)
                .values(state=TransactionState.confirmed, block_number=1, last_error="elsewhere")
            )
        return real(session, mined, *args)

    monkeypatch.setattr(applying, "record_mined_together", spy)
    report = pool.run_once()

    assert together == [6]
    assert report.confirmed == 50  # the first transaction's operations are the other's
    with db() as session:
        recorded = {tx.id: tx for tx in session.scalars(select(ChainTransaction))}
        ops = session.scalars(select(ChainOperation)).all()
    assert recorded[first.id].last_error == "elsewhere"
    for tx in txs[1:]:
        receipt = chain.web3.eth.get_transaction_receipt(HexStr(tx.tx_hash))
        assert recorded[tx.id].state is TransactionState.confirmed
        assert recorded[tx.id].block_number == receipt["blockNumber"]
        assert recorded[tx.id].gas_used == receipt["gasUsed"]
        mine = [op for op in ops if op.transaction_id == tx.id]
        assert len(mine) == 10
        assert {(op.state, op.tx_hash, op.block_number) for op in mine} == {
            (ChainState.confirmed, tx.tx_hash, receipt["blockNumber"])
        }
    assert Counter(op.state for op in ops) == {ChainState.confirmed: 50, ChainState.submitted: 10}
    pool.close()
