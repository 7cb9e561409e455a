"""Typed chain errors, and the one place that maps web3 and node failures onto them.

web3 reports failures as a mix of ``requests`` exceptions, ``Web3RPCError`` with a node-specific
message, and ``ContractLogicError`` with raw revert data. The settlement worker must react to
*what happened* (the node is down: retry later; the nonce is used: resync; the contract said
``AlreadyMinted``: nothing to do), so every call into web3 goes through :func:`map_chain_error`
and callers catch only the classes below.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    Web3RPCError,
)

from kokudaka.chain.interface import error_specs

__all__ = [
    "AnvilNotInstalled",
    "AnvilPortInUse",
    "ChainError",
    "ChainUnavailable",
    "ContractMissing",
    "InsufficientFunds",
    "NonceTooLow",
    "ReceiptTimeout",
    "TransactionAlreadyKnown",
    "TransactionRejected",
    "TransactionReverted",
    "decode_revert",
    "map_chain_error",
]


class ChainError(Exception):
    """Root of every chain failure; ``code`` is stable and machine-readable."""

    code: ClassVar[str] = "chain_error"


class ChainUnavailable(ChainError):
    """The node did not answer: connection refused, reset or timed out. Retry later."""

    code = "chain_unavailable"


class AnvilNotInstalled(ChainError):
    """The local anvil binary is missing: run ``npm ci`` in the repository."""

    code = "anvil_not_installed"


class AnvilPortInUse(ChainUnavailable):
    """The managed anvil's port is held by a process this service did not start."""

    code = "anvil_port_in_use"


class ContractMissing(ChainError):
    """No contract code at the configured KOKU address (wrong address, or a reset dev chain)."""

    code = "contract_missing"


class TransactionRejected(ChainError):
    """The node refused the transaction before executing it; it was not mined."""

    code = "transaction_rejected"


class NonceTooLow(TransactionRejected):
    """The nonce was used already, by this transaction (it landed) or by another one."""

    code = "nonce_too_low"


class InsufficientFunds(TransactionRejected):
    """The sender cannot pay ``gas * maxFeePerGas + value``: top up the minter's ether."""

    code = "insufficient_funds"


class TransactionAlreadyKnown(TransactionRejected):
    """The very same signed transaction is already in the node's pool: wait for it."""

    code = "transaction_already_known"


class ReceiptTimeout(ChainError):
    """No receipt within the wait; the transaction may still be pending or may have been dropped."""

    code = "receipt_timeout"

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TransactionReverted(ChainError):
    """The contract reverted: on a call, a gas estimate, or a mined transaction (status 0).

    ``error_name`` is the custom error decoded against the KOKU ABI (e.g. ``AlreadyMinted``,
    ``AllowanceExceeded``, ``AccessControlUnauthorizedAccount``), ``"Error"`` for a string reason,
    ``"Panic"`` for a panic code, ``"OutOfGas"`` when the gas limit was too low, or ``None`` when
    the node returned no revert data.
    """

    code = "transaction_reverted"

    def __init__(
        self,
        message: str,
        *,
        error_name: str | None = None,
        error_args: tuple[Any, ...] = (),
        revert_data: str | None = None,
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args
        self.revert_data = revert_data
        self.tx_hash = tx_hash


# ---------------------------------------------------------------- revert decoding


def decode_revert(data: str | bytes | None) -> tuple[str | None, tuple[Any, ...]]:
    """Name and arguments of the error in ``data`` (ABI-encoded revert data), if known."""
    if data is None:
        return None, ()
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    if len(raw) < 4:
        return None, ()
    spec = error_specs().get(raw[:4])
    if spec is None:
        return None, ()
    name, types = spec
    try:
        values = decode(list(types), raw[4:])
    except DecodingError:
        return name, ()
    # Checksummed, as everywhere else in the service, so arguments compare equal to addresses.
    return name, tuple(
        to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, values, strict=True)
    )


def _describe(name: str | None, args: tuple[Any, ...]) -> str:
    if name is None:
        return "reverted without a known reason"
    rendered = ", ".join(f"0x{a.hex()}" if isinstance(a, bytes) else str(a) for a in args)
    return f"reverted with {name}({rendered})"


def _revert_data_of(exc: BaseException) -> str | None:
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None and isinstance(exc, Web3RPCError) and exc.rpc_response is not None:
        error: Any = exc.rpc_response.get("error")
        if isinstance(error, dict):
            data = error.get("data")
    if isinstance(data, bytes):
        return "0x" + data.hex()
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


def reverted(
    revert_data: str | None, *, tx_hash: str | None = None, context: str = ""
) -> TransactionReverted:
    """A :class:`TransactionReverted` for ``revert_data``, with the error decoded when known."""
    name, args = decode_revert(revert_data)
    prefix = f"{context}: " if context else ""
    where = f" (tx {tx_hash})" if tx_hash else ""
    return TransactionReverted(
        f"{prefix}{_describe(name, args)}{where}",
        error_name=name,
        error_args=args,
        revert_data=revert_data,
        tx_hash=tx_hash,
    )


# ---------------------------------------------------------------- the mapping

_REJECTIONS: tuple[tuple[tuple[str, ...], type[TransactionRejected]], ...] = (
    (("nonce too low", "nonce has already been used", "oldnonce"), NonceTooLow),
    (("insufficient funds", "insufficient balance"), InsufficientFunds),
    (("already known", "already imported", "known transaction"), TransactionAlreadyKnown),
)
_REJECTION_HINTS = (
    "underpriced",
    "intrinsic gas",
    "exceeds block gas limit",
    "gas limit",
    "max fee per gas",
    "failed to decode transaction",
    "invalid chain id",
)


def _rpc_message(exc: Web3RPCError) -> str:
    """The node's own message, without web3's rendering of the whole error object around it."""
    error: Any = exc.rpc_response.get("error") if exc.rpc_response is not None else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return exc.message


def map_chain_error(exc: BaseException, *, context: str = "") -> ChainError:
    """Translate any exception raised while talking to the node into a :class:`ChainError`.

    Returns (does not raise) the mapped error, so callers write
    ``raise map_chain_error(exc, context="mintBatch") from exc`` and keep the original as cause.
    Unknown failures become a plain :class:`ChainError` rather than leaking web3 types.
    """
    prefix = f"{context}: " if context else ""
    if isinstance(exc, ChainError):
        return exc
    if isinstance(exc, TimeExhausted):
        return ReceiptTimeout(f"{prefix}{exc}")
    if isinstance(exc, ContractLogicError):
        return reverted(_revert_data_of(exc), context=context)
    if isinstance(exc, BadFunctionCallOutput):
        return ContractMissing(f"{prefix}no contract answered at the address ({exc})")
    if isinstance(exc, Web3RPCError):
        text = _rpc_message(exc)
        message = text.lower()
        for needles, error_class in _REJECTIONS:
            if any(needle in message for needle in needles):
                return error_class(f"{prefix}{text}")
        if "outofgas" in message or "out of gas" in message:
            return TransactionReverted(f"{prefix}{text}", error_name="OutOfGas")
        if "revert" in message:
            return reverted(_revert_data_of(exc), context=context)
        if any(hint in message for hint in _REJECTION_HINTS):
            return TransactionRejected(f"{prefix}{text}")
        return ChainError(f"{prefix}{text}")
    # requests.ConnectionError and requests.Timeout derive from OSError, as do the stdlib's
    # ConnectionError and TimeoutError: all mean "the node did not answer".
    if isinstance(exc, ProviderConnectionError | RequestTimedOut | OSError):
        return ChainUnavailable(f"{prefix}node unreachable: {exc}")
    return ChainError(f"{prefix}{type(exc).__name__}: {exc}")
