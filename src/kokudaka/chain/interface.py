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

from kokudaka.chain.artifact import load_bills_artifact, load_koku_artifact

__all__ = [
    "ALLOWANCE_EXCEEDED",
    "ALLOWANCE_LEFT_SELECTOR",
    "ALREADY_BURNED",
    "ANCHOR_AUDIT_LOG_SELECTOR",
    "ANCHOR_NOT_NEWER",
    "ANCHOR_ROLE",
    "AUDIT_LOG_ANCHORED_TOPIC",
    "BALANCE_OF_SELECTOR",
    "BURNED_TOPIC",
    "BURN_BATCH_SELECTOR",
    "BURN_SKIPPED_TOPIC",
    "BURN_WITH_REFERENCE_SELECTOR",
    "MINTED_TOPIC",
    "MINTER_ROLE",
    "MINT_BATCH_SELECTOR",
    "MINT_SELECTOR",
    "MINT_SKIPPED_TOPIC",
    "PERMANENT_REVERTS",
    "SEASON_CAP_SELECTOR",
    "SEASON_CAP_SET_TOPIC",
    "SEASON_MINTED_SELECTOR",
    "TOTAL_SUPPLY_SELECTOR",
    "TOWN_MINTER_SET_TOPIC",
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

#: ``Minted(bytes32 indexed ref, address indexed to, uint256 amount, bytes32 indexed town)``
MINTED_TOPIC: Final = event_topic("Minted(bytes32,address,uint256,bytes32)")
#: ``MintSkipped(bytes32 indexed ref, address indexed to, uint256 amount, bytes32 indexed town)``:
#: a batch item whose ref its town had minted before (nothing minted).
MINT_SKIPPED_TOPIC: Final = event_topic("MintSkipped(bytes32,address,uint256,bytes32)")
#: ``Burned(bytes32 indexed ref, address indexed from, uint256 amount, bytes32 indexed town)``
BURNED_TOPIC: Final = event_topic("Burned(bytes32,address,uint256,bytes32)")
#: ``BurnSkipped(bytes32 indexed ref, address indexed from, uint256 amount, bytes32 indexed town)``:
#: a ``burnBatch`` item whose correction ref its town had burned before (nothing burned).
BURN_SKIPPED_TOPIC: Final = event_topic("BurnSkipped(bytes32,address,uint256,bytes32)")
#: ``TownMinterSet(bytes32 indexed town, address indexed minter, address previous)``
TOWN_MINTER_SET_TOPIC: Final = event_topic("TownMinterSet(bytes32,address,address)")
#: ``SeasonCapSet(bytes32 indexed town, uint16 indexed season, uint256 cap)``
SEASON_CAP_SET_TOPIC: Final = event_topic("SeasonCapSet(bytes32,uint16,uint256)")
#: ``AuditLogAnchored(uint64 indexed sequence, bytes32 head, address indexed anchoredBy)``
AUDIT_LOG_ANCHORED_TOPIC: Final = event_topic("AuditLogAnchored(uint64,bytes32,address)")

# ---------------------------------------------------------------- functions

MINT_BATCH_SELECTOR: Final = selector("mintBatch(uint16,address[],uint256[],bytes32[])")
MINT_SELECTOR: Final = selector("mint(uint16,address,uint256,bytes32)")
BURN_WITH_REFERENCE_SELECTOR: Final = selector("burnWithReference(address,uint256,bytes32,bytes32)")
BURN_BATCH_SELECTOR: Final = selector("burnBatch(address[],uint256[],bytes32[],bytes32[])")
ANCHOR_AUDIT_LOG_SELECTOR: Final = selector("anchorAuditLog(uint64,bytes32)")
#: Read-only calls, as ``0x`` hex ready to prefix an ``eth_call``'s encoded arguments.
BALANCE_OF_SELECTOR: Final = "0x" + selector("balanceOf(address)").hex()
TOTAL_SUPPLY_SELECTOR: Final = "0x" + selector("totalSupply()").hex()
ALLOWANCE_LEFT_SELECTOR: Final = "0x" + selector("allowanceLeft(bytes32,uint16)").hex()
SEASON_CAP_SELECTOR: Final = "0x" + selector("seasonCap(bytes32,uint16)").hex()
SEASON_MINTED_SELECTOR: Final = "0x" + selector("seasonMinted(bytes32,uint16)").hex()

#: ``keccak256("ANCHOR_ROLE")``: the role of the key that anchors the staff audit log.
ANCHOR_ROLE: Final = keccak(text="ANCHOR_ROLE")
#: ``keccak256("MINTER_ROLE")``: the towns' minter keys.
MINTER_ROLE: Final = keccak(text="MINTER_ROLE")

# ---------------------------------------------------------------- custom errors

#: A burn whose ref was burned before: the operation is settled, by the earlier transaction.
ALREADY_BURNED: Final = "AlreadyBurned"
#: A mint past the town's cap for the season: the town waits until the admin raises the cap.
ALLOWANCE_EXCEEDED: Final = "AllowanceExceeded"
#: An anchor of the audit log not newer than the last one: that head (or a later one) is anchored.
ANCHOR_NOT_NEWER: Final = "AnchorNotNewer"

#: Reverts a retry cannot cure; every other revert sends the operations back with backoff
#: (``AllowanceExceeded`` once the admin raises the town's cap, ``AccessControlUnauthorizedAccount``
#: once an administrator restores the town's minter, a revert without data, ...).
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
        "TransfersDisabled",
    }
)

ErrorSpec = tuple[str, tuple[str, ...]]
"""A custom error's name and argument types."""


@cache
def error_specs() -> Mapping[bytes, ErrorSpec]:
    """Selector -> (name, argument types), from the KOKU and rice bills ABIs plus Solidity's two
    built-ins (an error both contracts declare has one selector, so the union is unambiguous)."""
    specs: dict[bytes, ErrorSpec] = {
        selector("Error(string)"): ("Error", ("string",)),
        selector("Panic(uint256)"): ("Panic", ("uint256",)),
    }
    for element in (*load_koku_artifact().abi, *load_bills_artifact().abi):
        entry = cast(dict[str, Any], element)
        if entry.get("type") != "error":
            continue
        name = str(entry.get("name"))
        types = tuple(str(param["type"]) for param in entry.get("inputs", ()))
        specs[selector(f"{name}({','.join(types)})")] = (name, types)
    return specs
