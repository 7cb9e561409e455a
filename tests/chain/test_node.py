"""AnvilNode: start, persistence across a clean restart, what a crash loses, that its state
is written (or the failure said), and that it never outlives the process that started it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kokudaka.chain.client import ChainClient
from kokudaka.chain.devkeys import ANVIL_DEV_ADDRESSES, ANVIL_DEV_KEYS
from kokudaka.chain.errors import AnvilNotInstalled, AnvilPortInUse, ChainUnavailable
from kokudaka.chain.node import AnvilNode, find_anvil_binary
from tests.chain.conftest import (
    ADMIN_KEY,
    MINTER_KEY,
    SEASON,
    configure_towns,
    new_ref,
    nothing_listens,
)


def _mint(client: ChainClient, to: str, amount: int) -> None:
    minter = client.account(MINTER_KEY).address
    signed = client.build_mint_tx(
        MINTER_KEY, SEASON, to, amount, new_ref(), client.pending_nonce(minter)
    )
    client.raise_for_receipt(client.wait_receipt(client.send_raw(signed.raw), timeout=10))


def _deploy_with_minter(client: ChainClient) -> str:
    address = client.deploy_koku(ADMIN_KEY)
    configure_towns(client)
    return address


def test_dev_keys_are_the_nodes_accounts(chain: ChainClient) -> None:
    assert chain.rpc("eth_accounts") == [a.lower() for a in ANVIL_DEV_ADDRESSES]
    assert [chain.account(k).address for k in ANVIL_DEV_KEYS] == list(ANVIL_DEV_ADDRESSES)
    assert chain.chain_id() == 31337


def test_state_survives_a_clean_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    holder = "0x" + os.urandom(20).hex()
    node = AnvilNode(tmp_path, state_file=state)
    with node:
        client = ChainClient(node.rpc_url)
        address = _deploy_with_minter(client)
        _mint(client, holder, 4_200)
        height = client.block_number()
        url = node.rpc_url
    assert not node.running
    assert state.stat().st_size > 0

    with node:
        assert node.rpc_url == url  # same port: clients made before the restart still work
        client = ChainClient(node.rpc_url, koku_address=address)
        assert client.code_exists(address)
        assert client.balance_of(holder) == 4_200
        assert client.block_number() == height
        _mint(client, holder, 800)  # the nonces carried over too
        assert client.balance_of(holder) == 5_000
    assert (tmp_path / "anvil.log").exists()


def test_kill_loses_what_was_not_dumped(tmp_path: Path) -> None:
    node = AnvilNode(tmp_path, state_file=tmp_path / "state.json", state_interval=1)
    node.start()
    client = ChainClient(node.rpc_url, read_retries=0, request_timeout=2)
    address = _deploy_with_minter(client)
    holder = "0x" + os.urandom(20).hex()
    _mint(client, holder, 1_000)
    time.sleep(2.2)  # at least one periodic dump after the first mint
    _mint(client, holder, 1)  # very likely not dumped before the kill
    node.kill()
    assert not node.running
    with pytest.raises(ChainUnavailable):
        client.block_number()

    with node:
        client = ChainClient(node.rpc_url, koku_address=address)
        assert client.code_exists(address)
        assert client.balance_of(holder) in (1_000, 1_001)


def test_missing_binary_says_to_run_npm_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOKUDAKA_ANVIL_BIN", raising=False)
    with pytest.raises(AnvilNotInstalled, match="npm ci"):
        find_anvil_binary(search_root=tmp_path)
    monkeypatch.setenv("KOKUDAKA_ANVIL_BIN", str(tmp_path / "nope"))
    with pytest.raises(AnvilNotInstalled, match="KOKUDAKA_ANVIL_BIN"):
        AnvilNode(tmp_path).start()


def test_startup_failure_is_reported_with_the_log(tmp_path: Path) -> None:
    node = AnvilNode(tmp_path, hardfork="no-such-fork", startup_timeout=5)
    with pytest.raises(ChainUnavailable, match="anvil exited"):
        node.start()
    assert not node.running


def test_kill_without_periodic_dumps_loses_everything(tmp_path: Path) -> None:
    node = AnvilNode(tmp_path, state_file=tmp_path / "state.json")
    with node:
        client = ChainClient(node.rpc_url)
        address = _deploy_with_minter(client)
        node.kill()
        node.start()
        assert not client.code_exists(address)
        assert client.block_number() == 0


def test_a_relative_state_path_is_written_and_a_failing_one_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # anvil runs in its own directory: a relative path is the caller's, so it is made absolute.
    monkeypatch.chdir(tmp_path)
    state_dir = tmp_path / "state"
    node = AnvilNode(Path("anvil"), state_file=Path("state/state.json"), state_interval=1)
    with node:
        assert node.state_file == state_dir / "state.json"
        deadline = time.monotonic() + 10
        while node.state_health().written_at is None:
            assert time.monotonic() < deadline, "anvil did not write its state"
            time.sleep(0.1)
        assert node.state_health().persisted is True
        (state_dir / "state.json").unlink()
        state_dir.rmdir()  # every dump from now on fails
        time.sleep(1.5)
        assert node.state_health(now=time.time() + 3).persisted is False
        errors = node.log_errors()
        assert errors, "anvil's failed dumps are not in its log"
        assert "Failed to dump state" in errors[-1]


def test_a_node_started_from_a_short_lived_thread_outlives_the_thread(tmp_path: Path) -> None:
    """The kernel's parent-death signal follows the forking thread, not the process."""
    node = AnvilNode(tmp_path)
    starter = threading.Thread(target=node.start)
    starter.start()
    starter.join()
    try:
        time.sleep(0.5)
        assert node.running
        assert ChainClient(node.rpc_url).chain_id() == 31337
    finally:
        node.stop()
    assert not (tmp_path / "anvil.pid").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_anvil_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from kokudaka.chain.node import AnvilNode\n"
        "node = AnvilNode(Path(sys.argv[1]), state_file=Path(sys.argv[1]) / 'state.json')\n"
        "node.start()\n"
        "print(node.pid, node.port, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        pid, port = (int(word) for word in parent.stdout.readline().split())
        assert (tmp_path / "anvil.pid").read_text().strip() == str(pid)
        parent.kill()  # kill -9: no chance to stop anvil itself
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/cmdline").exists() and Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "anvil outlived the process that started it"
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not nothing_listens(port):  # its sockets close as the process is reaped
        assert time.monotonic() < deadline, f"port {port} still answers after anvil exited"
        time.sleep(0.1)
    assert (tmp_path / "state.json").stat().st_size > 0  # SIGTERM: it wrote its state


def test_a_port_held_by_another_process_is_refused(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        node = AnvilNode(tmp_path, port=held.getsockname()[1])
        with pytest.raises(AnvilPortInUse, match="held by another process"):
            node.start()
    assert not node.running
