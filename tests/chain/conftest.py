"""A real anvil for the chain tests: one per session, a snapshot reverted after every test.

``evm_snapshot``/``evm_revert`` is the chain's twin of a rolled-back database transaction: each
test starts from the same deployed contract, the same two towns with their own minter keys and
caps for :data:`SEASON`, and the anchor key, whatever the test before it minted, burned, rotated
or revoked.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kokudaka.chain.bills import BillsClient
from kokudaka.chain.client import ChainClient
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref, town_id

#: The contract admin (the cold key in production).
ADMIN_KEY = ANVIL_DEV_KEYS[0]
#: :data:`TOWN`'s minter.
MINTER_KEY = ANVIL_DEV_KEYS[1]
#: An account with no role at all.
OUTSIDER_KEY = ANVIL_DEV_KEYS[2]
#: A supporter's wallet.
HOLDER_KEY = ANVIL_DEV_KEYS[3]
#: :data:`OTHER_TOWN`'s minter.
OTHER_MINTER_KEY = ANVIL_DEV_KEYS[4]
#: Holds ANCHOR_ROLE: it anchors the staff audit log and can do nothing else.
ANCHOR_KEY = ANVIL_DEV_KEYS[5]
#: No role at the start: the key a town's minter is rotated to.
SPARE_KEY = ANVIL_DEV_KEYS[6]

#: Two municipalities, as the contract knows them (fixed ids, so failures read the same).
TOWN = town_id(uuid.UUID("0b5e5a1e-0000-4000-8000-00000000000a"))
OTHER_TOWN = town_id(uuid.UUID("0b5e5a1e-0000-4000-8000-00000000000b"))
#: The season both towns have a cap for.
SEASON = 2026
#: Caps at the start of every test, in go: 1,000 KOKU for TOWN, 500 for OTHER_TOWN.
TOWN_CAP = 1_000_000
OTHER_TOWN_CAP = 500_000
#: Rice bill allowances at the start of every test, in go: 100 石 for TOWN, 50 for OTHER_TOWN.
BILLS_CAP = 100_000_000
OTHER_BILLS_CAP = 50_000_000
BILLS_URI = "https://kokudaka.test/v1/bills/{id}.json"


def new_ref() -> bytes:
    """A fresh issuance ref, as the service makes them."""
    return issuance_ref(uuid.uuid4())


def configure_towns(client: ChainClient) -> None:
    """Both towns' minters and caps for :data:`SEASON`, and the anchor key, on the contract the
    client uses (signed by :data:`ADMIN_KEY`)."""
    client.set_town_minter(ADMIN_KEY, TOWN, client.account(MINTER_KEY).address)
    client.set_town_minter(ADMIN_KEY, OTHER_TOWN, client.account(OTHER_MINTER_KEY).address)
    client.set_season_cap(ADMIN_KEY, TOWN, SEASON, TOWN_CAP)
    client.set_season_cap(ADMIN_KEY, OTHER_TOWN, SEASON, OTHER_TOWN_CAP)
    client.grant_anchor_role(ADMIN_KEY, client.account(ANCHOR_KEY).address)


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    data_dir: Path = tmp_path_factory.mktemp("anvil")
    with AnvilNode(data_dir, state_file=data_dir / "state.json") as node:
        yield node


@pytest.fixture(scope="session")
def deployed(anvil: AnvilNode) -> str:
    """KOKU deployed by the admin key, with the two towns configured (:func:`configure_towns`)."""
    client = ChainClient(anvil.rpc_url)
    address = client.deploy_koku(ADMIN_KEY)
    configure_towns(client)
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


@pytest.fixture(scope="session")
def bills_deployed(anvil: AnvilNode, deployed: str) -> str:
    """KokuBills deployed by the admin key beside KOKU, the two towns' minters (the same keys
    as on KOKU) and allowances for :data:`SEASON`."""
    client = BillsClient(ChainClient(anvil.rpc_url))
    address = client.deploy(ADMIN_KEY, uri=BILLS_URI)
    client.set_town_minter(ADMIN_KEY, TOWN, client.connection.account(MINTER_KEY).address)
    other = client.connection.account(OTHER_MINTER_KEY).address
    client.set_town_minter(ADMIN_KEY, OTHER_TOWN, other)
    client.set_season_cap(ADMIN_KEY, TOWN, SEASON, BILLS_CAP)
    client.set_season_cap(ADMIN_KEY, OTHER_TOWN, SEASON, OTHER_BILLS_CAP)
    return address


@pytest.fixture
def bills(chain: ChainClient, bills_deployed: str) -> BillsClient:
    """The bills contract over the test's chain client (rolled back with it)."""
    return BillsClient(chain, bills_deployed)


@pytest.fixture
def minter(chain: ChainClient) -> str:
    """:data:`TOWN`'s minter address."""
    return chain.account(MINTER_KEY).address


@pytest.fixture
def other_minter(chain: ChainClient) -> str:
    """:data:`OTHER_TOWN`'s minter address."""
    return chain.account(OTHER_MINTER_KEY).address


def listening_pids(port: int) -> set[int]:
    """The processes with a TCP socket listening on ``port`` (any address), read from /proc.

    Which process listens, not merely whether a connection succeeds: with the suites running
    side by side, a port freed by one test's anvil may be handed to another test's server
    a moment later, and a connect to an ephemeral-range port can even connect to itself.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    pids: set[int] = set()
    if not inodes:
        return pids
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.add(int(proc.name))
    return pids


def nothing_listens_from(directory: Path, port: int) -> bool:
    """Whether no process started in ``directory`` (or below it) listens on ``port``."""
    for pid in listening_pids(port):
        with contextlib.suppress(OSError):
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(directory.resolve()):
                return False
    return True


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
