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
from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from kokudaka.chain.client import ChainClient
from kokudaka.chain.head import REFRESH_SECONDS
from kokudaka.chain.node import AnvilNode
from kokudaka.models import ChainDeployment
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
            client=client, deployment=deployment, state_health=lambda: None
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
