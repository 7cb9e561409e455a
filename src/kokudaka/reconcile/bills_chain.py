"""Reading the rice bills contract (``contracts/KokuBills.sol``) for a reconciliation: its
``BillMinted``/``BillBurned`` events and their skipped twins by reference, each work's
registration (``workOf``) and supply, and the ERC-1155 balance of each (holder, work), all
pinned to the block the KOKU side reads, decoded by hand as :mod:`.onchain` does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from eth_utils.address import to_checksum_address

from kokudaka.chain.bills_interface import (
    BALANCE_OF_BATCH_SELECTOR,
    BILL_BURN_SKIPPED_TOPIC,
    BILL_BURNED_TOPIC,
    BILL_MINT_SKIPPED_TOPIC,
    BILL_MINTED_TOPIC,
    BILL_TOTAL_SUPPLY_SELECTOR,
    WORK_OF_SELECTOR,
)
from kokudaka.chain.client import ChainClient
from kokudaka.chain.events import contract_logs
from kokudaka.reconcile.onchain import eth_call_results
from kokudaka.reconcile.report import chunks

__all__ = ["BillChain", "BillEvent", "OnChainWork", "bill_balances", "read_bill_chain", "works_at"]

#: (holder, work) pairs per ``balanceOfBatch`` call; the calls go in JSON-RPC batches.
BALANCE_PAIRS: Final = 500
_CALLS_PER_BATCH: Final = 20

BillEvent = tuple[str, int, str, str, int]
"""One bill event: (holder address, amount, tx hash, the town's topic, the work's token id);
addresses and topics in lower-case ``0x`` hex."""

_BALANCE_OF_BATCH: Final = "0x" + BALANCE_OF_BATCH_SELECTOR.hex()
_TOTAL_SUPPLY: Final = "0x" + BILL_TOTAL_SUPPLY_SELECTOR.hex()
_WORK_OF: Final = "0x" + WORK_OF_SELECTOR.hex()


@dataclass
class BillChain:
    """The bills contract's events up to one block."""

    minted: dict[str, BillEvent] = field(default_factory=dict)
    minted_duplicates: list[tuple[str, BillEvent]] = field(default_factory=list)
    burned: dict[str, BillEvent] = field(default_factory=dict)
    burned_duplicates: list[tuple[str, BillEvent]] = field(default_factory=list)
    mint_skips: list[tuple[str, BillEvent]] = field(default_factory=list)
    burn_skips: list[tuple[str, BillEvent]] = field(default_factory=list)
    minted_count: int = 0
    burned_count: int = 0


@dataclass(frozen=True, slots=True)
class OnChainWork:
    """``workOf`` (town topic, zero when unregistered; season; cap; minted) and
    ``totalSupply`` of a work."""

    town: str
    season: int
    cap: int
    minted: int
    supply: int


def _events(
    client: ChainClient, address: str, topic: str, start: int, block: int
) -> list[tuple[str, BillEvent]]:
    found: list[tuple[str, BillEvent]] = []
    for log in contract_logs(client, address, topic, start, block):
        topics, data = log["topics"], log["data"]
        found.append(
            (
                topics[1],
                (
                    "0x" + topics[2][-40:],
                    int(data[66:130], 16),
                    log["transactionHash"],
                    topics[3],
                    int(data[2:66], 16),
                ),
            )
        )
    return found


def read_bill_chain(client: ChainClient, address: str, start: int, block: int) -> BillChain:
    """Every bill event of the contract at ``address`` in ``[start, block]``, by reference;
    a reference seen twice is a duplicate (SQL's references are unique across towns)."""
    chain = BillChain()
    for topic, events, duplicates in (
        (BILL_MINTED_TOPIC, chain.minted, chain.minted_duplicates),
        (BILL_BURNED_TOPIC, chain.burned, chain.burned_duplicates),
    ):
        found = _events(client, address, topic, start, block)
        for reference, event in found:
            if reference in events:
                duplicates.append((reference, event))
            else:
                events[reference] = event
        if topic == BILL_MINTED_TOPIC:
            chain.minted_count = len(found)
        else:
            chain.burned_count = len(found)
    chain.mint_skips = _events(client, address, BILL_MINT_SKIPPED_TOPIC, start, block)
    chain.burn_skips = _events(client, address, BILL_BURN_SKIPPED_TOPIC, start, block)
    return chain


def works_at(
    client: ChainClient, address: str, tokens: Sequence[int], block: int
) -> list[OnChainWork]:
    """``workOf`` and ``totalSupply`` of each work's token id at ``block``."""
    calldata: list[str] = []
    for token in tokens:
        argument = f"{token:064x}"
        calldata += [_WORK_OF + argument, _TOTAL_SUPPLY + argument]
    results = eth_call_results(client, to_checksum_address(address), calldata, hex(block))
    works: list[OnChainWork] = []
    for work_of, supply in zip(results[0::2], results[1::2], strict=True):
        words = _words(work_of)
        works.append(
            OnChainWork(
                town="0x" + words[0],
                season=int(words[1], 16),
                cap=int(words[2], 16),
                minted=int(words[3], 16),
                supply=int(supply, 16),
            )
        )
    return works


def bill_balances(
    client: ChainClient, address: str, pairs: Iterable[tuple[str, int]], block: int
) -> dict[tuple[str, int], int]:
    """ERC-1155 ``balanceOf`` each (holder, work) at ``block``, by ``balanceOfBatch`` calls of
    :data:`BALANCE_PAIRS` pairs sent in JSON-RPC batches."""
    ordered = sorted(pairs)
    calldata = [_balance_of_batch(chunk) for chunk in chunks(ordered, BALANCE_PAIRS)]
    results = eth_call_results(
        client, to_checksum_address(address), calldata, hex(block), batch_size=_CALLS_PER_BATCH
    )
    values: list[int] = []
    for result in results:
        words = _words(result)
        # An ABI uint256[]: its offset, its length, then the values.
        values += [int(word, 16) for word in words[2 : 2 + int(words[1], 16)]]
    return dict(zip(ordered, values, strict=True))


def _balance_of_batch(pairs: Sequence[tuple[str, int]]) -> str:
    """Calldata of ``balanceOfBatch(holders, ids)``, encoded by hand (two dynamic arrays)."""
    n = len(pairs)
    head = f"{64:064x}" + f"{64 + 32 * (n + 1):064x}"
    holders = f"{n:064x}" + "".join("0" * 24 + holder.removeprefix("0x") for holder, _ in pairs)
    ids = f"{n:064x}" + "".join(f"{token:064x}" for _, token in pairs)
    return _BALANCE_OF_BATCH + head + holders + ids


def _words(data: str) -> list[str]:
    body = data.removeprefix("0x")
    return [body[i : i + 64] for i in range(0, len(body), 64)]
