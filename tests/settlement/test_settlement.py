"""The settlement worker on the normal paths: batches, burns, held operations, allowance."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch, ensure_deployment
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
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
from kokudaka.settlement.claiming import NO_WALLET, WAITING_FOR_MINT
from tests.settlement.helpers import (
    add_supporters,
    amounts,
    assert_exactly_once,
    issue_to,
    new_worker,
    refs_per_transaction,
    reverse_entry,
    settle_all,
    states,
    wallet_of,
)
from tests.world import YEARLY_CAP_GO, World


def test_issuances_settle_in_batches_and_the_chain_agrees_with_the_ledger(
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
    worker = new_worker(db, node.rpc_url, chain_settings, deployment, batch_size=25)

    settle_all(worker, db)

    assert states(db) == {ChainState.confirmed: 70}
    with db() as session:
        txs = session.scalars(select(ChainTransaction).order_by(ChainTransaction.nonce)).all()
    assert [tx.operation_count for tx in txs] == [25, 25, 20]
    assert all(tx.state is TransactionState.confirmed for tx in txs)
    assert all(tx.gas_used and tx.block_number for tx in txs)
    nonces = [tx.nonce for tx in txs]
    assert nonces == list(range(nonces[0], nonces[0] + 3))
    assert set(refs_per_transaction(db, chain).values()) == {1}
    assert_exactly_once(db, chain, deployment)
    # The allowance was spent by exactly what was minted.
    minted = sum(amounts(70))
    assert chain.minter_allowance(deployment.minter_address) == 2 * YEARLY_CAP_GO - minted


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
    worker = new_worker(db, node.rpc_url, chain_settings, deployment)

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
    worker = new_worker(db, node.rpc_url, chain_settings, deployment)

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


def test_a_short_allowance_is_topped_up_and_a_reverted_batch_retried(
    world: World,
    db: sessionmaker[Session],
    chain: ChainClient,
    node: AnvilNode,
    chain_settings: Settings,
    deployment: ChainDeployment,
) -> None:
    users = add_supporters(db, 3)
    worker = new_worker(db, node.rpc_url, chain_settings, deployment)
    issue_to(db, world.a.municipality_id, users[0], 1_000)
    settle_all(worker, db)  # the worker now believes it has the full allowance left

    # An administrator cuts the allowance behind the worker's back: its next batch reverts.
    chain.configure_minter(ANVIL_DEV_KEYS[0], deployment.minter_address, 10)
    for user in users:
        issue_to(db, world.b.municipality_id, user, 3_000)
    settle_all(worker, db)

    with db() as session:
        failed = session.scalars(
            select(ChainTransaction).where(ChainTransaction.state == TransactionState.failed)
        ).all()
    assert len(failed) == 1
    assert "AllowanceExceeded" in (failed[0].last_error or "")
    assert_exactly_once(db, chain, deployment)
    # Topped up to all caps minus what was minted, then spent by the retried batch.
    assert chain.minter_allowance(deployment.minter_address) == 2 * YEARLY_CAP_GO - 10_000


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
    assert chain.is_minter(deployment.minter_address)
    assert chain.minter_allowance(deployment.minter_address) == 2 * YEARLY_CAP_GO
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
    ("deployer", "minter", "problem"),
    [
        ("", "", "required in production"),
        ("0x" + "11" * 32, ANVIL_DEV_KEYS[1], "development keys refused"),
        (ANVIL_DEV_KEYS[0].upper(), "0x" + "22" * 32, "development keys refused"),
    ],
)
def test_production_refuses_empty_and_development_chain_keys(
    deployer: str, minter: str, problem: str
) -> None:
    production = {
        "env": Environment.production,
        "jwt_secret": "x" * 40,
        "payment_webhook_secret": "webhook-secret-for-this-test",
        "wallet_encryption_key": "wallet-key-for-this-test",
    }
    with pytest.raises(ValueError, match=problem):
        Settings(**production, deployer_key=deployer, minter_key=minter)  # type: ignore[arg-type]
    accepted = Settings(
        **production,  # type: ignore[arg-type]
        deployer_key="0x" + "11" * 32,
        minter_key="0x" + "22" * 32,
    )
    assert accepted.minter_key
