"""A real anvil for the chain tests: one per session, a snapshot reverted after every test.

``evm_snapshot``/``evm_revert`` is the chain's twin of a rolled-back database transaction: each
test starts from the same deployed contract and configured minter, whatever the test before it
minted, burned or revoked.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kokudaka.chain.client import ChainClient
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref

ADMIN_KEY = ANVIL_DEV_KEYS[0]
MINTER_KEY = ANVIL_DEV_KEYS[1]
OUTSIDER_KEY = ANVIL_DEV_KEYS[2]
HOLDER_KEY = ANVIL_DEV_KEYS[3]
#: The test minter's allowance at the start of every test: 1,000 KOKU.
MINTER_ALLOWANCE = 1_000_000


def new_ref() -> bytes:
    """A fresh issuance ref, as the service makes them."""
    return issuance_ref(uuid.uuid4())


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    data_dir: Path = tmp_path_factory.mktemp("anvil")
    with AnvilNode(data_dir, state_file=data_dir / "state.json") as node:
        yield node


@pytest.fixture(scope="session")
def deployed(anvil: AnvilNode) -> str:
    """KOKU deployed by the admin key, with MINTER_KEY as a minter."""
    client = ChainClient(anvil.rpc_url)
    address = client.deploy_koku(ADMIN_KEY)
    client.configure_minter(ADMIN_KEY, client.account(MINTER_KEY).address, MINTER_ALLOWANCE)
    return address


@pytest.fixture
def chain(anvil: AnvilNode, deployed: str) -> Iterator[ChainClient]:
    """A client on the deployed contract; the chain is rolled back after the test."""
    client = ChainClient(anvil.rpc_url, koku_address=deployed)
    snapshot = client.rpc("evm_snapshot")
    try:
        yield client
    finally:
        client.rpc("evm_setAutomine", [True])
        assert client.rpc("evm_revert", [snapshot]) is True


@pytest.fixture
def minter(chain: ChainClient) -> str:
    return chain.account(MINTER_KEY).address


def nothing_listens(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a connection to ``host:port`` is refused.

    A connect, not a bind probe: on a busy machine another process's client connection
    may hold the same number as its ephemeral port, which a bind probe takes for a server.
    """
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False
