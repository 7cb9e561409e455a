"""The connection to the chain: web3 provider, local signers, the KOKU contract handle, sending
and receipts. :class:`~kokudaka.chain.client.ChainClient` adds the contract's reads
(:mod:`~kokudaka.chain.reads`), transactions (:mod:`~kokudaka.chain.transactions`) and events
(:mod:`~kokudaka.chain.events`) on top of it.

Design points the settlement worker relies on:

- Transactions are signed locally (``eth_account``), never by the node, and the *caller* supplies
  the nonce. The worker can then store the transaction hash in the outbox *before* sending, and
  after a crash it knows exactly which transaction to look for or resend.
- Sending and receipt lookups are separate and non-blocking (:meth:`ChainConnection.send_raw`,
  :meth:`ChainConnection.get_receipt`), so nothing waits on a block while holding a database
  session.
- Every web3 or node failure leaves this module as a :mod:`kokudaka.chain.errors` type.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final, Literal, NamedTuple, cast

import orjson
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import is_address, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.providers.rpc import HTTPProvider
from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration
from web3.types import RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.errors import (
    ContractMissing,
    ReceiptTimeout,
    TransactionReverted,
    map_chain_error,
    reverted,
)

__all__ = [
    "TX_GAS_CAP",
    "ChainConnection",
    "Fees",
    "PrivateKey",
    "SignedTx",
    "hex0x",
    "require_address",
    "require_amount",
    "require_ref",
    "rpc_session",
]

PrivateKey = str | bytes
"""A secp256k1 private key: 32 raw bytes or their hex (with or without ``0x``)."""

#: EIP-7825 (Osaka) caps one transaction at 2**24 gas; a larger one is invalid on mainnet.
TX_GAS_CAP: Final = 16_777_216

# Reads are retried on connection errors; sending is not, so the worker sees what happened to
# its transaction instead of a retry's confusing "nonce too low" or "already known".
_RETRY_METHODS: Final = tuple(m for m in REQUEST_RETRY_ALLOWLIST if m != "eth_sendRawTransaction")


class Fees(NamedTuple):
    """EIP-1559 fee caps in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class SignedTx(NamedTuple):
    """A locally signed transaction: the bytes to broadcast and the hash to record first."""

    raw: bytes
    tx_hash: str


def hex0x(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def require_ref(ref: bytes) -> bytes:
    """A 32-byte, non-zero ref (or town id), as the contract accepts."""
    if not isinstance(ref, bytes | bytearray) or len(ref) != 32:
        raise ValueError(f"a ref is 32 bytes, got {ref!r}")
    if not any(ref):
        raise ValueError("the zero ref is refused by the contract")
    return bytes(ref)


def require_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"an amount is a positive integer number of go, got {amount!r}")
    return amount


def require_address(address: str) -> str:
    if not is_address(address):
        raise ValueError(f"not an address: {address!r}")
    return address


def rpc_session(rpc_url: str) -> requests.Session:
    """The HTTP session every JSON-RPC request to ``rpc_url`` goes through.

    ``requests`` reads the proxy variables and looks for ``~/.netrc`` on every request when a
    session trusts the environment: about 1 ms each, which the settlement workers paid on
    every send and receipt poll. The proxies that apply to the node (``HTTP(S)_PROXY`` and
    ``NO_PROXY``, as on a town hall's closed network) are read once here instead; credentials
    for a node belong in its URL. One pool, shared by the threads that use this connection
    (web3 passes an explicit session to every thread), large enough for all of them.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies = dict(requests.utils.get_environ_proxies(rpc_url))
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Provider(HTTPProvider):
    """web3's HTTP provider, decoding answers with orjson: a batch's receipt (hundreds of logs,
    about 200 kB) took the standard library's decoder milliseconds of the interpreter lock
    that the settlement workers sign with."""

    @staticmethod
    def decode_rpc_response(raw_response: bytes) -> RPCResponse:
        try:
            return cast(RPCResponse, orjson.loads(raw_response))
        except orjson.JSONDecodeError:
            # An integer past 64 bits (not in JSON-RPC's hex quantities, but a node may send
            # one in an error's data), or not JSON at all: the standard decoder's answer.
            return HTTPProvider.decode_rpc_response(raw_response)


class ChainConnection:
    """Owns the Web3 HTTP provider, the local signer accounts and the KOKU contract handle."""

    def __init__(
        self,
        rpc_url: str,
        *,
        koku_address: str | None = None,
        request_timeout: float = 10.0,
        read_retries: int = 3,
    ) -> None:
        """Connect lazily to ``rpc_url``; nothing is sent until the first call.

        ``request_timeout`` bounds every HTTP request, so a hung node surfaces as
        :class:`~kokudaka.chain.errors.ChainUnavailable` instead of blocking a worker forever.
        """
        self.rpc_url = rpc_url
        retry = (
            ExceptionRetryConfiguration(
                errors=(OSError,),
                retries=read_retries,
                backoff_factor=0.1,
                method_allowlist=list(_RETRY_METHODS),
            )
            if read_retries > 0
            else None
        )
        self._w3 = Web3(
            _Provider(
                rpc_url,
                request_kwargs={"timeout": request_timeout},
                session=rpc_session(rpc_url),
                exception_retry_configuration=retry,
            )
        )
        self._artifact = load_koku_artifact()
        self._accounts: dict[bytes, LocalAccount] = {}
        self._chain_id: int | None = None
        self._koku: Contract | None = None
        if koku_address is not None:
            self.use_koku(koku_address)

    # ------------------------------------------------------------ plumbing

    @property
    def web3(self) -> Web3:
        """The underlying Web3 instance, for what this class does not wrap."""
        return self._w3

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call (e.g. ``evm_snapshot``), with errors mapped."""
        try:
            response = self._w3.provider.make_request(RPCEndpoint(method), list(params))
        except Exception as exc:
            raise map_chain_error(exc, context=method) from exc
        if "error" in response:
            error: Any = response["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            rpc_error = Web3RPCError(str(message), rpc_response=response)
            raise map_chain_error(rpc_error, context=method) from rpc_error
        return response.get("result")

    def account(self, key: PrivateKey) -> LocalAccount:
        """The local signer for ``key`` (cached: deriving its address costs an EC multiply)."""
        raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else bytes(key)
        account = self._accounts.get(raw)
        if account is None:
            account = Account.from_key(raw)
            self._accounts[raw] = account
        return account

    @property
    def koku_address(self) -> ChecksumAddress:
        """Address of the KOKU contract this client uses."""
        return self._contract().address

    def use_koku(self, address: str) -> None:
        """Point this client at the KOKU contract at ``address`` (does not check the code)."""
        self._koku = self._w3.eth.contract(
            address=to_checksum_address(require_address(address)), abi=self._artifact.abi
        )

    def _contract(self) -> Contract:
        if self._koku is None:
            raise ContractMissing("no KOKU contract address configured: deploy or configure one")
        return self._koku

    def _call(self, function: str, *args: Any) -> Any:
        try:
            return self._contract().functions[function](*args).call()
        except Exception as exc:
            raise map_chain_error(exc, context=function) from exc

    # ------------------------------------------------------------ chain state

    def chain_id(self) -> int:
        """The chain id (cached: signatures commit to it, and it does not change under a URL)."""
        if self._chain_id is None:
            try:
                self._chain_id = int(self._w3.eth.chain_id)
            except Exception as exc:
                raise map_chain_error(exc, context="eth_chainId") from exc
        return self._chain_id

    def block_number(self) -> int:
        """Number of the latest block."""
        try:
            return int(self._w3.eth.block_number)
        except Exception as exc:
            raise map_chain_error(exc, context="eth_blockNumber") from exc

    def code_exists(self, address: str) -> bool:
        """Whether there is contract code at ``address`` (a reset dev chain has none)."""
        return len(self._code(address)) > 0

    def runs_this_koku(self, address: str) -> bool:
        """Whether the code at ``address`` is this version's KOKU (the committed artifact)."""
        expected = bytes.fromhex(self._artifact.deployed_bytecode.removeprefix("0x"))
        return self._code(address) == expected

    def _code(self, address: str) -> bytes:
        try:
            code = self._w3.eth.get_code(to_checksum_address(require_address(address)))
        except ValueError:
            raise
        except Exception as exc:
            raise map_chain_error(exc, context="eth_getCode") from exc
        return bytes(code)

    def pending_nonce(self, address: str) -> int:
        """Next nonce counting transactions in the node's pool: the one to sign with next."""
        return self._nonce(address, "pending")

    def latest_nonce(self, address: str) -> int:
        """Next nonce counting only mined transactions: below ``pending_nonce`` while some wait."""
        return self._nonce(address, "latest")

    def _nonce(self, address: str, block: Literal["latest", "pending"]) -> int:
        try:
            return int(
                self._w3.eth.get_transaction_count(
                    to_checksum_address(require_address(address)), block
                )
            )
        except ValueError:
            raise
        except Exception as exc:
            raise map_chain_error(exc, context="eth_getTransactionCount") from exc

    def fees(self) -> Fees:
        """EIP-1559 fees from the node: tip as suggested, cap at twice the base fee plus the tip.

        Twice the base fee keeps the transaction includable through six full blocks of base-fee
        growth (12.5% each), so a batch signed now is not stranded by a short fee spike.
        """
        try:
            base_fee = int(self._w3.eth.get_block("latest").get("baseFeePerGas", 0))
            tip = int(self._w3.eth.max_priority_fee)
        except Exception as exc:
            raise map_chain_error(exc, context="fees") from exc
        return Fees(max_fee_per_gas=2 * base_fee + tip, max_priority_fee_per_gas=tip)

    # ------------------------------------------------------------ signing

    def _transact(
        self, key: PrivateKey, to: str | None, data: str, *, context: str, timeout: float
    ) -> TxReceipt:
        """Estimate, sign, send, wait and check: for rare admin calls, not for the mint path.

        The estimate runs the call first, so an unauthorised or invalid call fails with its
        decoded custom error before anything is sent.
        """
        account = self.account(key)
        call: TxParams = {"from": account.address, "data": HexStr(data), "value": Wei(0)}
        if to is not None:
            call["to"] = to_checksum_address(to)
        try:
            gas = int(self._w3.eth.estimate_gas(call))
        except Exception as exc:
            raise map_chain_error(exc, context=context) from exc
        nonce = self.pending_nonce(account.address)
        signed = self._sign(
            account, to, bytes.fromhex(data.removeprefix("0x")), nonce, gas * 6 // 5
        )
        tx_hash = self.send_raw(signed.raw)
        receipt = self.wait_receipt(tx_hash, timeout=timeout)
        self.raise_for_receipt(receipt, context=context)
        return receipt

    def _sign(
        self,
        account: LocalAccount,
        to: str | None,
        data: bytes,
        nonce: int,
        gas: int,
        fees: Fees | None = None,
    ) -> SignedTx:
        if gas > TX_GAS_CAP:
            raise ValueError(f"gas limit {gas} exceeds the per-transaction cap {TX_GAS_CAP}")
        if nonce < 0:
            raise ValueError(f"a nonce is non-negative, got {nonce}")
        fees = fees or self.fees()
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id(),
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "value": 0,
            "data": data,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = account.sign_transaction(tx)
        return SignedTx(raw=bytes(signed.raw_transaction), tx_hash=hex0x(signed.hash))

    # ------------------------------------------------------------ sending and receipts

    def send_raw(self, raw: bytes) -> str:
        """Broadcast a signed transaction; returns its ``0x`` hash. Not retried: see module."""
        try:
            return hex0x(self._w3.eth.send_raw_transaction(raw))
        except Exception as exc:
            raise map_chain_error(exc, context="eth_sendRawTransaction") from exc

    def get_receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt if the transaction is mined, else ``None``; never waits."""
        try:
            return self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        except Exception as exc:
            raise map_chain_error(exc, context="eth_getTransactionReceipt") from exc

    def wait_receipt(
        self, tx_hash: str, timeout: float = 60.0, poll_interval: float = 0.05
    ) -> TxReceipt:
        """Poll until mined; :class:`ReceiptTimeout` after ``timeout`` seconds.

        Returns reverted receipts too (status 0): see :meth:`raise_for_receipt`.
        """
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.get_receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(
                    f"transaction {tx_hash} not mined within {timeout}s", tx_hash=tx_hash
                )
            time.sleep(poll_interval)

    def raise_for_receipt(self, receipt: TxReceipt, *, context: str = "") -> None:
        """Raise :class:`TransactionReverted` for a failed receipt, naming the error if possible.

        A receipt carries no revert data, so the transaction is replayed with ``eth_call`` on the
        state before its block. That is exact when each transaction has its own block (anvil's
        automine) and a best effort otherwise. A transaction that used all its gas without revert
        data is reported as ``OutOfGas``.
        """
        if receipt["status"] == 1:
            return
        tx_hash = hex0x(receipt["transactionHash"])
        try:
            tx = self._w3.eth.get_transaction(HexStr(tx_hash))
            replay: TxParams = {
                "from": tx["from"],
                "data": tx["input"],
                "value": tx["value"],
                "gas": tx["gas"],
            }
            if tx.get("to") is not None:
                replay["to"] = tx["to"]
            self._w3.eth.call(replay, block_identifier=max(receipt["blockNumber"] - 1, 0))
        except Exception as exc:
            mapped = map_chain_error(exc, context=context)
            if not isinstance(mapped, TransactionReverted):
                raise mapped from exc
            raise TransactionReverted(
                f"{mapped} (tx {tx_hash})",
                error_name=mapped.error_name,
                error_args=mapped.error_args,
                revert_data=mapped.revert_data,
                tx_hash=tx_hash,
            ) from exc
        else:
            if receipt["gasUsed"] >= tx["gas"]:
                raise TransactionReverted(
                    f"{context}: ran out of gas ({tx['gas']}) (tx {tx_hash})",
                    error_name="OutOfGas",
                    tx_hash=tx_hash,
                )
        # The replay succeeded: the state it ran on differs from the one the transaction met.
        raise reverted(None, tx_hash=tx_hash, context=context)
