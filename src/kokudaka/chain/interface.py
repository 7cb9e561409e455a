"""The KOKU contract's interface as the service speaks it: event topics, function selectors,
custom error (revert) names.

Everything that reads raw logs, encodes calldata by hand or reacts to a revert takes its
constants from here, so a change to ``contracts/Koku.sol`` has one Python module to follow
(``tests/chain/test_interface.py`` checks every name here against the compiled ABI).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Final, cast

from eth_utils.crypto import keccak

from kokudaka.chain.artifact import load_koku_artifact

__all__ = [
    "ALLOWANCE_EXCEEDED",
    "ALREADY_BURNED",
    "BALANCE_OF_SELECTOR",
    "BURNED_TOPIC",
    "BURN_SELECTOR",
    "BURN_WITH_REFERENCE_SELECTOR",
    "MINTED_TOPIC",
    "MINTER_ALLOWANCE_SELECTOR",
    "MINTER_CONFIGURED_TOPIC",
    "MINTER_REMOVED_TOPIC",
    "MINT_BATCH_SELECTOR",
    "MINT_SELECTOR",
    "PERMANENT_REVERTS",
    "TOTAL_SUPPLY_SELECTOR",
    "ErrorSpec",
    "error_specs",
    "event_topic",
    "selector",
]


def selector(signature: str) -> bytes:
    """The four bytes that select a function or custom error, e.g. ``"burn(uint256)"``."""
    return keccak(text=signature)[:4]


def event_topic(signature: str) -> str:
    """``topics[0]`` of an event's logs, as ``0x`` lower-case hex (how nodes return it)."""
    return "0x" + keccak(text=signature).hex()


# ---------------------------------------------------------------- events

#: ``Minted(bytes32 indexed ref, address indexed to, uint256 amount, address indexed minter)``
MINTED_TOPIC: Final = event_topic("Minted(bytes32,address,uint256,address)")
#: ``Burned(bytes32 indexed ref, address indexed from, uint256 amount, address indexed minter)``
BURNED_TOPIC: Final = event_topic("Burned(bytes32,address,uint256,address)")
#: ``MinterConfigured(address indexed minter, uint256 allowance)``
MINTER_CONFIGURED_TOPIC: Final = event_topic("MinterConfigured(address,uint256)")
#: ``MinterRemoved(address indexed minter)``
MINTER_REMOVED_TOPIC: Final = event_topic("MinterRemoved(address)")

# ---------------------------------------------------------------- functions

MINT_BATCH_SELECTOR: Final = selector("mintBatch(address[],uint256[],bytes32[])")
MINT_SELECTOR: Final = selector("mint(address,uint256,bytes32)")
BURN_WITH_REFERENCE_SELECTOR: Final = selector("burnWithReference(address,uint256,bytes32,bytes32)")
BURN_SELECTOR: Final = selector("burn(uint256)")
#: Read-only calls, as ``0x`` hex ready to prefix an ``eth_call``'s encoded arguments.
BALANCE_OF_SELECTOR: Final = "0x" + selector("balanceOf(address)").hex()
TOTAL_SUPPLY_SELECTOR: Final = "0x" + selector("totalSupply()").hex()
MINTER_ALLOWANCE_SELECTOR: Final = "0x" + selector("minterAllowance(address)").hex()

# ---------------------------------------------------------------- custom errors

#: A burn whose ref was burned before: the operation is settled, by the earlier transaction.
ALREADY_BURNED: Final = "AlreadyBurned"
#: A mint past the minter's allowance: read the allowance again before minting more.
ALLOWANCE_EXCEEDED: Final = "AllowanceExceeded"

#: Reverts a retry cannot cure; every other revert sends the operations back with backoff
#: (``AllowanceExceeded`` after a top-up, ``AccessControlUnauthorizedAccount`` once an
#: administrator restores the minter, a revert without data, ...).
PERMANENT_REVERTS: Final = frozenset(
    {
        "ERC20InsufficientBalance",  # a burn from a wallet that no longer holds the tokens
        "BurnExceedsIssued",  # a burn past what its issuance left, or from another address
        "AmountTooLarge",
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "InvalidRef",
        "ZeroAmount",
        "LengthMismatch",
    }
)

ErrorSpec = tuple[str, tuple[str, ...]]
"""A custom error's name and argument types."""


@cache
def error_specs() -> Mapping[bytes, ErrorSpec]:
    """Selector -> (name, argument types), from the KOKU ABI plus Solidity's two built-ins."""
    specs: dict[bytes, ErrorSpec] = {
        selector("Error(string)"): ("Error", ("string",)),
        selector("Panic(uint256)"): ("Panic", ("uint256",)),
    }
    for element in load_koku_artifact().abi:
        entry = cast(dict[str, Any], element)
        if entry.get("type") != "error":
            continue
        name = str(entry.get("name"))
        types = tuple(str(param["type"]) for param in entry.get("inputs", ()))
        specs[selector(f"{name}({','.join(types)})")] = (name, types)
    return specs
