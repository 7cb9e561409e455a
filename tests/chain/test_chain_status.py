"""``GET /v1/chain`` answers from a block number refreshed in the background.

The node's RPC calls are counted by a proxy between the service and a real anvil.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.head import REFRESH_SECONDS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.processes import free_port
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment
from kokudaka.settlement.runtime import ANVIL_STATE_HISTORY, ChainRuntime
from tests.chain.conftest import anvil, chain, deployed
from tests.reconcile.conftest import chain_app, deployment

__all__ = ["anvil", "chain", "chain_app", "deployed", "deployment"]


@dataclass
class CountingProxy:
    """JSON-RPC calls forwarded to the node, counted by method."""

    url: str
    calls: Counter[str] = field(default_factory=Counter)


@contextmanager
def counting_proxy(node_url: str) -> Iterator[CountingProxy]:
    upstream = httpx.Client(timeout=30)
    lock = threading.Lock()

    class Forward(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = json.loads(body)
            with lock:
                for call in request if isinstance(request, list) else [request]:
                    proxy.calls[call["method"]] += 1
            answer = upstream.post(
                node_url, content=body, headers={"Content-Type": "application/json"}
            )
            self.send_response(answer.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    proxy = CountingProxy(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()


def test_chain_status_does_not_call_the_node_per_request(
    chain_app: tuple[FastAPI, str],
    anvil: AnvilNode,
    chain: ChainClient,
    deployment: ChainDeployment,
) -> None:
    app, base_url = chain_app
    with counting_proxy(anvil.rpc_url) as proxy, httpx.Client(base_url=base_url, timeout=30) as c:
        client = ChainClient(proxy.url, koku_address=deployment.token_address)
        app.state.chain_runtime = SimpleNamespace(
            client=client, deployment=deployment, state_health=lambda: None, node_usage=lambda: None
        )
        try:
            assert c.get("/v1/chain").status_code == 200
            before = proxy.calls["eth_blockNumber"]
            started = time.monotonic()
            for _ in range(200):
                response = c.get("/v1/chain")
                assert response.status_code == 200, response.text
            elapsed = time.monotonic() - started
            calls = proxy.calls["eth_blockNumber"] - before
            # The background refresher's calls only, not 200.
            assert calls <= elapsed / REFRESH_SECONDS + 2, (calls, elapsed)

            # The answer still follows the chain, within about a refresh.
            chain.rpc("evm_mine")
            mined = chain.block_number()
            deadline = time.monotonic() + 4 * REFRESH_SECONDS
            while c.get("/v1/chain").json()["block_number"] != mined:
                assert time.monotonic() < deadline, "the new block was never shown"
                time.sleep(0.05)

            # A poller that holds the answer gets 304 without a body.
            answer = c.get("/v1/chain")
            assert answer.headers["Cache-Control"] == "public, no-cache"
            again = c.get("/v1/chain", headers={"If-None-Match": answer.headers["ETag"]})
            assert (again.status_code, again.content) == (304, b"")
        finally:
            app.state.chain_runtime = None


def test_chain_status_shows_the_managed_nodes_memory_and_state_file(
    chain_app: tuple[FastAPI, str],
    deployment: ChainDeployment,
    settings: Settings,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    app, base_url = chain_app
    managed = settings.model_copy(
        update={"data_dir": tmp_path, "anvil_port": free_port(), "anvil_state_interval": 1}
    )
    runtime = ChainRuntime(managed, db, manage_anvil=True, start_worker=False)
    assert runtime.node is not None
    node = runtime.node
    # The managed anvil keeps a bounded number of blocks' states (bench/chain_memory.py).
    assert f"--prune-history={ANVIL_STATE_HISTORY}" in node.command()
    # The deployment row is the test chain's; what is read here is the managed node's usage.
    runtime.deployment = deployment
    app.state.chain_runtime = runtime
    try:
        with node, httpx.Client(base_url=base_url, timeout=30) as c:
            deadline = time.monotonic() + 10
            while not (node.state_file is not None and node.state_file.is_file()):
                assert time.monotonic() < deadline, "anvil never wrote its state file"
                time.sleep(0.1)
            chain = c.get("/v1/chain").json()
            rss = psutil.Process(node.pid).memory_info().rss
            assert 10 * 2**20 < chain["node_memory_bytes"] < 4 * 2**30
            assert rss / 2 < chain["node_memory_bytes"] < rss * 2
            assert chain["state_file_bytes"] > 0
        # Stopped: no process to measure, and the state file as its last dump left it.
        assert node.state_file is not None
        with httpx.Client(base_url=base_url, timeout=30) as c:
            stopped = c.get("/v1/chain")
        if stopped.status_code == 200:  # a head read in the last seconds is still shown
            assert stopped.json()["node_memory_bytes"] is None
            assert stopped.json()["state_file_bytes"] == node.state_file.stat().st_size
        assert node.usage().memory_bytes is None
        assert node.usage().state_file_bytes == node.state_file.stat().st_size
    finally:
        app.state.chain_runtime = None
        runtime.stop()


def test_chain_status_reports_no_usage_for_a_node_it_does_not_run(
    chain_app: tuple[FastAPI, str], chain: ChainClient, deployment: ChainDeployment
) -> None:
    app, base_url = chain_app
    app.state.chain_runtime = SimpleNamespace(
        client=chain, deployment=deployment, state_health=lambda: None, node_usage=lambda: None
    )
    try:
        with httpx.Client(base_url=base_url, timeout=30) as c:
            answer = c.get("/v1/chain").json()
        assert answer["node_memory_bytes"] is None
        assert answer["state_file_bytes"] is None
    finally:
        app.state.chain_runtime = None
