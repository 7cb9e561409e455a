"""The rice bills contract's interface (``contracts/KokuBills.sol``) as the service speaks it: event
topics, function selectors, custom error (revert) names.

The KOKU names stay in :mod:`kokudaka.chain.interface`; the helpers (``selector``,
``event_topic``) and the revert decoding (``error_specs``, which covers both contracts) are
shared. ``tests/chain/test_bills.py`` checks every name here against the compiled ABI.
"""

from __future__ import annotations

from typing import Final

from eth_utils.crypto import keccak

from kokudaka.chain.interface import event_topic, selector

__all__ = [
    "BALANCE_OF_BATCH_SELECTOR",
    "BILL_BURNED_TOPIC",
    "BILL_BURN_SKIPPED_TOPIC",
    "BILL_MINTED_TOPIC",
    "BILL_MINT_SKIPPED_TOPIC",
    "BILL_PERMANENT_REVERTS",
    "BILL_TOTAL_SUPPLY_SELECTOR",
    "BURN_BATCH_SELECTOR",
    "BURN_WITH_REFERENCE_SELECTOR",
    "MINTER_ROLE",
    "MINT_BATCH_SELECTOR",
    "NOT_TOWN_WORK",
    "REGISTER_WORK_SELECTOR",
    "SEASON_CAP_SET_TOPIC",
    "TOWN_MINTER_SET_TOPIC",
    "TRANSFER_BATCH_TOPIC",
    "TRANSFER_SINGLE_TOPIC",
    "WORK_CAP_EXCEEDED",
    "WORK_OF_SELECTOR",
    "WORK_REGISTERED_TOPIC",
    "WORK_RELEASED_TOPIC",
]

# ---------------------------------------------------------------- events

#: ``BillMinted(bytes32 indexed ref, address indexed to, uint256 workId, uint256 amount,
#: bytes32 indexed town)``
BILL_MINTED_TOPIC: Final = event_topic("BillMinted(bytes32,address,uint256,uint256,bytes32)")
#: ``BillMintSkipped(...)``, same fields: a batch item whose ref its town had minted before.
BILL_MINT_SKIPPED_TOPIC: Final = event_topic(
    "BillMintSkipped(bytes32,address,uint256,uint256,bytes32)"
)
#: ``BillBurned(bytes32 indexed ref, address indexed from, uint256 workId, uint256 amount,
#: bytes32 indexed town, bytes32 issuanceRef)``
BILL_BURNED_TOPIC: Final = event_topic(
    "BillBurned(bytes32,address,uint256,uint256,bytes32,bytes32)"
)
#: ``BillBurnSkipped(...)``, same fields: a ``burnBatch`` item whose ref was burned before.
BILL_BURN_SKIPPED_TOPIC: Final = event_topic(
    "BillBurnSkipped(bytes32,address,uint256,uint256,bytes32,bytes32)"
)
#: ``WorkRegistered(uint256 indexed workId, bytes32 indexed town, uint16 indexed season,
#: uint256 cap)``
WORK_REGISTERED_TOPIC: Final = event_topic("WorkRegistered(uint256,bytes32,uint16,uint256)")
#: ``WorkReleased(uint256 indexed workId, bytes32 indexed town, uint16 indexed season,
#: uint256 minted)``
WORK_RELEASED_TOPIC: Final = event_topic("WorkReleased(uint256,bytes32,uint16,uint256)")
#: The same signatures as KOKU's, hence the same topics (told apart by the emitting address).
TOWN_MINTER_SET_TOPIC: Final = event_topic("TownMinterSet(bytes32,address,address)")
SEASON_CAP_SET_TOPIC: Final = event_topic("SeasonCapSet(bytes32,uint16,uint256)")
#: ERC-1155's own events, which every mint and burn emits (from or to the zero address).
TRANSFER_SINGLE_TOPIC: Final = event_topic(
    "TransferSingle(address,address,address,uint256,uint256)"
)
TRANSFER_BATCH_TOPIC: Final = event_topic(
    "TransferBatch(address,address,address,uint256[],uint256[])"
)

# ---------------------------------------------------------------- functions

REGISTER_WORK_SELECTOR: Final = selector("registerWork(uint256,uint16,uint256)")
MINT_BATCH_SELECTOR: Final = selector("mintBatch(uint256[],address[],uint256[],bytes32[])")
BURN_WITH_REFERENCE_SELECTOR: Final = selector(
    "burnWithReference(address,uint256,uint256,bytes32,bytes32)"
)
BURN_BATCH_SELECTOR: Final = selector(
    "burnBatch(address[],uint256[],uint256[],bytes32[],bytes32[])"
)
#: Reads (reconciliation): ERC-1155's batch balance, a work's supply and its registration.
BALANCE_OF_BATCH_SELECTOR: Final = selector("balanceOfBatch(address[],uint256[])")
BILL_TOTAL_SUPPLY_SELECTOR: Final = selector("totalSupply(uint256)")
WORK_OF_SELECTOR: Final = selector("workOf(uint256)")

#: ``keccak256("MINTER_ROLE")``: the towns' minter keys (the same role id as KOKU's).
MINTER_ROLE: Final = keccak(text="MINTER_ROLE")

# ---------------------------------------------------------------- custom errors

#: A mint of a work not registered to the minter's town (or not registered at all): the
#: registration must land first (the same key's earlier nonce), or the admin must release a
#: work another town registered.
NOT_TOWN_WORK: Final = "NotTownWork"
#: A mint past the work's registered cap: the conversion and the registration disagree.
WORK_CAP_EXCEEDED: Final = "WorkCapExceeded"

#: Reverts a retry cannot cure (``AllowanceExceeded`` on a registration waits for the admin,
#: ``NotTownWork`` for the registration or the admin, as with KOKU's retried reverts).
BILL_PERMANENT_REVERTS: Final = frozenset(
    {
        "ERC1155InsufficientBalance",
        "ERC1155InvalidReceiver",
        "BurnExceedsIssued",
        "AmountTooLarge",
        "InvalidRef",
        "ZeroAmount",
        "LengthMismatch",
        "TransfersDisabled",
        "WorkSeasonFixed",
        "WorkCapBelowMinted",
    }
)
