"""The one object that talks to the chain: web3 provider, local signers and the KOKU contract.

Design points the settlement worker relies on:

- Transactions are signed locally (``eth_account``), never by the node, and the *caller* supplies
  the nonce. The worker can then store the transaction hash in the outbox *before* sending, and
  after a crash it knows exactly which transaction to look for or resend.
- Sending and receipt lookups are separate and non-blocking (:meth:`ChainClient.send_raw`,
  :meth:`ChainClient.get_receipt`), so nothing waits on a block while holding a database session.
- Gas for mint batches is computed, not estimated: the limit is a measured worst case per item
  (new recipient, new ref), so a batch can be signed offline and is never under-funded by an
  estimate taken against a state that changed before it was mined. Every batch stays under the
  EIP-7825 per-transaction cap of 2**24 gas.
- Every web3 or node failure leaves this module as a :mod:`kokudaka.chain.errors` type.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal, NamedTuple, cast

from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import is_address, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.providers.rpc import HTTPProvider
from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration
from web3.types import RPCEndpoint, TxParams, TxReceipt, Wei

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.errors import (
    ChainError,
    ChainUnavailable,
    ContractMissing,
    ReceiptTimeout,
    TransactionReverted,
    map_chain_error,
    reverted,
)
from kokudaka.chain.interface import (
    BURN_SELECTOR,
    BURN_WITH_REFERENCE_SELECTOR,
    BURNED_TOPIC,
    MINT_BATCH_SELECTOR,
    MINT_SELECTOR,
    MINTED_TOPIC,
)

__all__ = [
    "BURN_GAS_LIMIT",
    "MAX_BATCH_SIZE",
    "MINT_BATCH_BASE_GAS",
    "MINT_BATCH_ITEM_GAS",
    "MINT_GAS_LIMIT",
    "TX_GAS_CAP",
    "BurnedEvent",
    "ChainClient",
    "Fees",
    "MintedEvent",
    "PrivateKey",
    "SignedTx",
    "encode_mint_batch",
    "mint_batch_gas_limit",
]

PrivateKey = str | bytes
"""A secp256k1 private key: 32 raw bytes or their hex (with or without ``0x``)."""

#: EIP-7825 (Osaka) caps one transaction at 2**24 gas; a larger one is invalid on mainnet.
TX_GAS_CAP: Final = 16_777_216

# Measured with bench/chain_gas.py (anvil 1.7.1, solc 0.8.28, optimizer 200 runs). The worst case
# per item is a recipient with no balance and a fresh ref: two zero-to-nonzero storage writes
# (balance and ref, 22,100 gas each with the cold read), the Transfer and Minted logs (~3.9k) and
# ~0.9k of calldata: 50,452 gas measured per item, up to ~50.9k with large amounts. The fixed part
# is 35,400 (21,000 intrinsic, role and allowance), plus ~17k once in the contract's life, when
# totalSupply first leaves zero. A recipient that already holds KOKU costs ~20k less.
#: Fixed part of a ``mintBatch`` gas limit (measured worst case 52.5k).
MINT_BATCH_BASE_GAS: Final = 60_000
#: Worst-case gas per ``mintBatch`` item (measured 50.5k-50.9k), with ~4% margin.
MINT_BATCH_ITEM_GAS: Final = 53_000
#: Largest batch whose computed gas limit stays under :data:`TX_GAS_CAP` (315); measured, the
#: cap would hold 331 items of fresh recipients exactly.
MAX_BATCH_SIZE: Final = (TX_GAS_CAP - MINT_BATCH_BASE_GAS) // MINT_BATCH_ITEM_GAS
#: Gas limit of a single ``mint`` (measured 83.9k; 101k for the contract's very first mint).
MINT_GAS_LIMIT: Final = 120_000
#: Gas limit of ``burnWithReference`` and ``burn`` (measured, see tests/chain).
BURN_GAS_LIMIT: Final = 80_000

# Reads are retried on connection errors; sending is not, so the worker sees what happened to
# its transaction instead of a retry's confusing "nonce too low" or "already known".
_RETRY_METHODS: Final = tuple(m for m in REQUEST_RETRY_ALLOWLIST if m != "eth_sendRawTransaction")
_LOG_RANGE_HINTS: Final = ("range", "limit", "too many", "exceed", "response size")


def mint_batch_gas_limit(size: int) -> int:
    """A gas limit that covers a ``mintBatch`` of ``size`` items in the worst case."""
    if size < 1:
        raise ValueError("a batch has at least one item")
    return MINT_BATCH_BASE_GAS + size * MINT_BATCH_ITEM_GAS


def encode_mint_batch(
    recipients: Sequence[str], amounts: Sequence[int], refs: Sequence[bytes]
) -> bytes:
    """Calldata of ``mintBatch(recipients, amounts, refs)``, validated item by item.

    Encoded with eth_abi and a precomputed selector rather than web3's contract machinery, which
    re-validates every argument against the ABI and costs milliseconds per large batch.
    """
    size = len(recipients)
    if size != len(amounts) or size != len(refs):
        raise ValueError(
            f"recipients, amounts and refs differ in length: {size}, {len(amounts)}, {len(refs)}"
        )
    return MINT_BATCH_SELECTOR + encode(
        ["address[]", "uint256[]", "bytes32[]"],
        [
            [_require_address(r) for r in recipients],
            [_require_amount(a) for a in amounts],
            [_require_ref(r) for r in refs],
        ],
    )


class Fees(NamedTuple):
    """EIP-1559 fee caps in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class SignedTx(NamedTuple):
    """A locally signed transaction: the bytes to broadcast and the hash to record first."""

    raw: bytes
    tx_hash: str


class MintedEvent(NamedTuple):
    """One ``Minted`` log: the chain's record of an issuance, for reconciliation."""

    ref: bytes
    to: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    minter: ChecksumAddress


class BurnedEvent(NamedTuple):
    """One ``Burned`` log: a correction by the custodial service."""

    ref: bytes
    from_: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    minter: ChecksumAddress


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _require_ref(ref: bytes) -> bytes:
    if not isinstance(ref, bytes | bytearray) or len(ref) != 32:
        raise ValueError(f"a ref is 32 bytes, got {ref!r}")
    if not any(ref):
        raise ValueError("the zero ref is refused by the contract")
    return bytes(ref)


def _require_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"an amount is a positive integer number of go, got {amount!r}")
    return amount


def _require_address(address: str) -> str:
    if not is_address(address):
        raise ValueError(f"not an address: {address!r}")
    return address


class ChainClient:
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
            HTTPProvider(
                rpc_url,
                request_kwargs={"timeout": request_timeout},
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
            address=to_checksum_address(_require_address(address)), abi=self._artifact.abi
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
            code = self._w3.eth.get_code(to_checksum_address(_require_address(address)))
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
                    to_checksum_address(_require_address(address)), block
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

    # ------------------------------------------------------------ KOKU reads

    def balance_of(self, address: str) -> int:
        """Balance of ``address`` in go."""
        return int(self._call("balanceOf", to_checksum_address(_require_address(address))))

    def total_supply(self) -> int:
        """Total KOKU in circulation, in go."""
        return int(self._call("totalSupply"))

    def minter_allowance(self, address: str) -> int:
        """What ``address`` may still mint, in go."""
        return int(self._call("minterAllowance", to_checksum_address(_require_address(address))))

    def is_minter(self, address: str) -> bool:
        """Whether ``address`` holds the minter role."""
        return bool(self._call("isMinter", to_checksum_address(_require_address(address))))

    def is_minted(self, ref: bytes) -> bool:
        """Whether the issuance ``ref`` has been minted (the contract's exactly-once record)."""
        return bool(self._call("isMinted", _require_ref(ref)))

    def is_burned(self, ref: bytes) -> bool:
        """Whether the correction ``ref`` has been burned."""
        return bool(self._call("isBurned", _require_ref(ref)))

    # ------------------------------------------------------------ administration (synchronous)

    def deploy_koku(
        self,
        deployer_key: PrivateKey,
        *,
        admin: str | None = None,
        admin_delay: int = 0,
        timeout: float = 60.0,
    ) -> ChecksumAddress:
        """Deploy KOKU (admin = ``admin`` or the deployer), wait for it and start using it.

        ``admin_delay`` is the seconds a handover of the admin role must wait once scheduled.
        """
        deployer = self.account(deployer_key)
        admin_address = to_checksum_address(_require_address(admin or deployer.address))
        if not 0 <= admin_delay < 2**48:
            raise ValueError(f"the admin delay is a uint48 of seconds, got {admin_delay!r}")
        data = (
            self._artifact.bytecode
            + encode(["uint48", "address"], [admin_delay, admin_address]).hex()
        )
        receipt = self._transact(deployer_key, None, data, context="deploy", timeout=timeout)
        address = receipt.get("contractAddress")
        if address is None:
            raise ChainError("deployment receipt has no contract address")
        self.use_koku(address)
        return to_checksum_address(address)

    def configure_minter(
        self,
        admin_key: PrivateKey,
        minter_address: str,
        allowance: int,
        *,
        timeout: float = 60.0,
    ) -> str:
        """Set ``minter_address``'s remaining allowance to ``allowance`` go; returns the tx hash."""
        if isinstance(allowance, bool) or not isinstance(allowance, int) or allowance < 0:
            raise ValueError(f"an allowance is a non-negative integer, got {allowance!r}")
        data = self._contract().encode_abi(
            "configureMinter", [to_checksum_address(_require_address(minter_address)), allowance]
        )
        receipt = self._transact(
            admin_key, self.koku_address, data, context="configureMinter", timeout=timeout
        )
        return _hex(receipt["transactionHash"])

    def remove_minter(
        self, admin_key: PrivateKey, minter_address: str, *, timeout: float = 60.0
    ) -> str:
        """Revoke ``minter_address`` (role and allowance); returns the tx hash."""
        data = self._contract().encode_abi(
            "removeMinter", [to_checksum_address(_require_address(minter_address))]
        )
        receipt = self._transact(
            admin_key, self.koku_address, data, context="removeMinter", timeout=timeout
        )
        return _hex(receipt["transactionHash"])

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

    # ------------------------------------------------------------ transaction builders (offline)

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
        return SignedTx(raw=bytes(signed.raw_transaction), tx_hash=_hex(signed.hash))

    def build_mint_batch_tx(
        self,
        minter_key: PrivateKey,
        recipients: Sequence[str],
        amounts: Sequence[int],
        refs: Sequence[bytes],
        nonce: int,
        gas: int | None = None,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``mintBatch(recipients, amounts, refs)`` with ``nonce``; nothing is sent.

        Already-minted refs are skipped by the contract, so re-signing and resending a batch
        whose fate is unknown is safe. ``gas`` defaults to :func:`mint_batch_gas_limit`; batches
        above :data:`MAX_BATCH_SIZE` are refused so none can exceed :data:`TX_GAS_CAP`.
        """
        size = len(recipients)
        if gas is None:
            if size > MAX_BATCH_SIZE:
                raise ValueError(f"batch of {size} exceeds MAX_BATCH_SIZE={MAX_BATCH_SIZE}")
            gas = mint_batch_gas_limit(size)
        data = encode_mint_batch(recipients, amounts, refs)
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_mint_tx(
        self,
        minter_key: PrivateKey,
        to: str,
        amount: int,
        ref: bytes,
        nonce: int,
        gas: int = MINT_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign a single ``mint``; unlike a batch it reverts ``AlreadyMinted`` on a used ref."""
        data = MINT_SELECTOR + encode(
            ["address", "uint256", "bytes32"],
            [_require_address(to), _require_amount(amount), _require_ref(ref)],
        )
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_burn_with_reference_tx(
        self,
        minter_key: PrivateKey,
        from_address: str,
        amount: int,
        ref: bytes,
        issuance_ref: bytes,
        nonce: int,
        gas: int = BURN_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burnWithReference``: a minter removes ``amount`` go from the wallet the
        issuance ``issuance_ref`` was minted to, for the correction ``ref`` that reverses it."""
        data = BURN_WITH_REFERENCE_SELECTOR + encode(
            ["address", "uint256", "bytes32", "bytes32"],
            [
                _require_address(from_address),
                _require_amount(amount),
                _require_ref(ref),
                _require_ref(issuance_ref),
            ],
        )
        return self._sign(self.account(minter_key), self.koku_address, data, nonce, gas, fees)

    def build_burn_tx(
        self,
        holder_key: PrivateKey,
        amount: int,
        nonce: int,
        gas: int = BURN_GAS_LIMIT,
        fees: Fees | None = None,
    ) -> SignedTx:
        """Sign ``burn(amount)``: a holder destroys its own tokens (e.g. redeeming rice)."""
        data = BURN_SELECTOR + encode(["uint256"], [_require_amount(amount)])
        return self._sign(self.account(holder_key), self.koku_address, data, nonce, gas, fees)

    # ------------------------------------------------------------ sending and receipts

    def send_raw(self, raw: bytes) -> str:
        """Broadcast a signed transaction; returns its ``0x`` hash. Not retried: see module."""
        try:
            return _hex(self._w3.eth.send_raw_transaction(raw))
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
        tx_hash = _hex(receipt["transactionHash"])
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

    # ------------------------------------------------------------ events (reconciliation)

    def minted_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[MintedEvent]:
        """Every ``Minted`` log in ``[from_block, to_block]`` (default: up to the latest block).

        Fetched with raw ``eth_getLogs`` in block chunks (halved when a node refuses a range as
        too large) and decoded from the topics by hand: the auditor replays the whole history,
        and web3's generic event decoding is many times slower.
        """
        for log in self._logs(MINTED_TOPIC, from_block, to_block, chunk_blocks):
            topics = log["topics"]
            yield MintedEvent(
                ref=bytes.fromhex(topics[1][2:]),
                to=to_checksum_address("0x" + topics[2][-40:]),
                amount=int(log["data"], 16),
                tx_hash=log["transactionHash"],
                block_number=int(log["blockNumber"], 16),
                log_index=int(log["logIndex"], 16),
                minter=to_checksum_address("0x" + topics[3][-40:]),
            )

    def burned_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[BurnedEvent]:
        """Every ``Burned`` log in ``[from_block, to_block]``, like :meth:`minted_events`."""
        for log in self._logs(BURNED_TOPIC, from_block, to_block, chunk_blocks):
            topics = log["topics"]
            yield BurnedEvent(
                ref=bytes.fromhex(topics[1][2:]),
                from_=to_checksum_address("0x" + topics[2][-40:]),
                amount=int(log["data"], 16),
                tx_hash=log["transactionHash"],
                block_number=int(log["blockNumber"], 16),
                log_index=int(log["logIndex"], 16),
                minter=to_checksum_address("0x" + topics[3][-40:]),
            )

    def _logs(
        self, topic: str, from_block: int, to_block: int | None, chunk_blocks: int
    ) -> Iterator[dict[str, Any]]:
        if chunk_blocks < 1:
            raise ValueError("chunk_blocks must be positive")
        address = self.koku_address
        last = self.block_number() if to_block is None else to_block
        start = from_block
        size = chunk_blocks
        while start <= last:
            end = min(start + size - 1, last)
            params = {
                "address": address,
                "topics": [topic],
                "fromBlock": hex(start),
                "toBlock": hex(end),
            }
            try:
                logs = cast(list[dict[str, Any]], self.rpc("eth_getLogs", [params]))
            except ChainUnavailable:
                raise
            except ChainError as exc:
                message = str(exc).lower()
                if end > start and any(hint in message for hint in _LOG_RANGE_HINTS):
                    size = max(1, (end - start + 1) // 2)
                    continue
                raise
            yield from logs
            start = end + 1
