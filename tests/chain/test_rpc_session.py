"""The JSON-RPC session reads the proxy settings once, a town hall's proxy still carries the
node's requests, and answers are decoded whatever JSON they hold."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from kokudaka.chain.connection import ChainConnection, rpc_session

NODE = "http://node.kokudaka.invalid:8545"


class _Proxy(BaseHTTPRequestHandler):
    """An HTTP proxy that answers every JSON-RPC request itself, noting what it was asked."""

    seen: ClassVar[list[str]] = []
    result: ClassVar[object] = "0x7a69"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(self.path)
        answer = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": self.result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    _Proxy.result = "0x7a69"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _through(proxy: str, monkeypatch: pytest.MonkeyPatch) -> ChainConnection:
    """A connection to the node made with ``proxy`` as the environment's HTTP proxy."""
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return ChainConnection(NODE, read_retries=0)


def test_the_node_is_reached_through_the_proxy_in_the_environment(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = _through(proxy, monkeypatch)
    assert connection.rpc("eth_chainId") == "0x7a69"
    assert _Proxy.seen == [NODE + "/"]  # an absolute URI: the request went to the proxy


def test_the_environment_is_read_once_not_on_every_request(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "node.kokudaka.invalid")
    session = rpc_session(NODE)
    assert session.trust_env is False
    assert session.proxies == {}
    # Changing the environment afterwards does not reach a session already made.
    monkeypatch.delenv("NO_PROXY")
    assert rpc_session(NODE).proxies["http"] == proxy
    assert session.proxies == {}


def test_an_answer_orjson_refuses_is_decoded_by_the_standard_library(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = _through(proxy, monkeypatch)
    # Valid JSON, though no JSON-RPC quantity looks like it: orjson stops at 64 bits.
    _Proxy.result = 2**70
    assert connection.rpc("eth_chainId") == 2**70
    _Proxy.result = {"logs": [{"data": "0x" + "00" * 32}] * 3, "status": "0x1"}
    assert connection.rpc("eth_getTransactionReceipt", ["0x01"]) == _Proxy.result
