"""The chain runtime as the service runs it: a managed, supervised anvil with its state file,
the deployment check, the worker thread, the app lifespan, and ``kokudaka worker``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import DeploymentMismatch
from kokudaka.chain.devkeys import ANVIL_DEV_ADDRESSES
from kokudaka.chain.errors import ChainError
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.processes import free_port
from kokudaka.core.settings import Settings
from kokudaka.main import create_app
from kokudaka.models import ChainDeployment
from kokudaka.settlement.runtime import ANVIL_STATE_HISTORY, ChainRuntime
from tests.settlement.helpers import (
    add_supporters,
    assert_exactly_once,
    issue_to,
    wait_until_settled,
)
from tests.world import World

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def served(app: FastAPI) -> Iterator[httpx.Client]:
    """The app under uvicorn with its lifespan, as `kokudaka serve` runs it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the app did not start"
        assert time.monotonic() < deadline, "the app did not start in time"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.fixture
def managed_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "chain_enabled": True,
            "chain_rpc_url": "",
            "anvil_port": free_port(),
            "anvil_block_time": 0.2,
            "data_dir": tmp_path,
            "settlement_poll_seconds": 0.05,
        }
    )


def test_the_managed_anvil_mines_only_while_transactions_wait_and_keeps_few_states(
    db: sessionmaker[Session], managed_settings: Settings
) -> None:
    runtime = ChainRuntime(managed_settings, db, start_worker=False, supervise_interval=0.1)
    with runtime:
        assert runtime.node is not None
        assert "--no-mining" in runtime.node.command()
        client = runtime.client
        head = client.block_number()
        time.sleep(5 * 0.2)  # five block times
        assert client.block_number() == head, "an idle chain made blocks"

        tx = client.rpc(
            "eth_sendTransaction",
            [{"from": ANVIL_DEV_ADDRESSES[0], "to": ANVIL_DEV_ADDRESSES[1], "value": "0x1"}],
        )
        deadline = time.monotonic() + 5
        while client.rpc("eth_getTransactionReceipt", [tx]) is None:
            assert time.monotonic() < deadline, "a waiting transaction was not mined"
            time.sleep(0.05)
        assert client.block_number() == head + 1

        # Without interval mining anvil keeps only the last ANVIL_STATE_HISTORY states.
        client.rpc("anvil_mine", [hex(ANVIL_STATE_HISTORY + 5)])
        top = client.block_number()
        balance = [ANVIL_DEV_ADDRESSES[1], hex(top - 2)]
        assert int(client.rpc("eth_getBalance", balance), 16) > 0
        with pytest.raises(ChainError):
            client.rpc(
                "eth_getBalance", [ANVIL_DEV_ADDRESSES[1], hex(top - ANVIL_STATE_HISTORY - 3)]
            )


def test_the_runtime_manages_anvil_settles_and_keeps_its_state(
    world: World, db: sessionmaker[Session], managed_settings: Settings, tmp_path: Path
) -> None:
    users = add_supporters(db, 3)
    for i in range(9):
        issue_to(db, world.a.municipality_id, users[i % 3], 1_000 + i)
    state_file = tmp_path / "chain" / "anvil-state.json"

    runtime = ChainRuntime(managed_settings, db, supervise_interval=0.1)
    with runtime:
        assert runtime.deployment is not None
        address = runtime.deployment.token_address
        wait_until_settled(db, timeout=15)
        assert runtime.node is not None
        runtime.node.stop()  # dies (cleanly, so its state is kept): the supervisor restarts it
        deadline = time.monotonic() + 10
        while not runtime.node.running:
            assert time.monotonic() < deadline, "the supervisor did not restart anvil"
            time.sleep(0.05)
        issue_to(db, world.b.municipality_id, users[0], 5_000)
        wait_until_settled(db, timeout=15)
        assert_exactly_once(db, runtime.client, runtime.deployment)
        assert runtime.error is None
    assert state_file.stat().st_size > 0  # SIGTERM at stop: anvil wrote its state

    # The app's lifespan starts the same runtime on the same state: no second deployment.
    app = create_app(managed_settings)
    with served(app) as http:
        assert app.state.chain_runtime.deployment.token_address == address
        answer = http.get("/v1/chain")
        assert answer.status_code == 200, answer.text
        assert answer.json()["token_address"] == address
    assert app.state.chain_runtime.node is not None
    assert not app.state.chain_runtime.node.running  # stopped with the app
    with db() as session:
        assert len(session.scalars(select(ChainDeployment)).all()) == 1

    # A chain reset (the state file gone) is refused rather than silently redeployed.
    state_file.unlink()
    reset = ChainRuntime(managed_settings, db)
    with pytest.raises(DeploymentMismatch, match=f"lost the KOKU contract deployed at {address}"):
        reset.start()
    assert reset.node is not None
    assert not reset.node.running  # start() stopped the anvil it had started


def test_kokudaka_worker_settles_and_stops_on_sigterm(
    world: World,
    db: sessionmaker[Session],
    node: AnvilNode,
    chain: ChainClient,
    deployment: ChainDeployment,
    settings: Settings,
    tmp_path: Path,
) -> None:
    users = add_supporters(db, 2)
    for i in range(6):
        issue_to(db, world.a.municipality_id, users[i % 2], 300 + i)
    env = {
        **os.environ,
        "KOKUDAKA_ENV": "test",
        "KOKUDAKA_DATABASE_URL": settings.sqlalchemy_url,
        "KOKUDAKA_DATA_DIR": str(tmp_path),
        "KOKUDAKA_CHAIN_RPC_URL": node.rpc_url,
        "KOKUDAKA_SETTLEMENT_POLL_SECONDS": "0.05",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "kokudaka.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_settled(db, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output.decode()
    assert b"settlement worker running" in output
    assert_exactly_once(db, chain, deployment)
