"""The KOKU contract's events, read back for reconciliation and audit: mints, skipped batch items,
burns, skipped burns and audit-log anchors, fetched with raw ``eth_getLogs`` and decoded by hand.

The auditor replays the whole history, and web3's generic event decoding is many times slower
than slicing the topics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NamedTuple, cast

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from kokudaka.chain.connection import ChainConnection
from kokudaka.chain.errors import ChainError, ChainUnavailable
from kokudaka.chain.interface import (
    AUDIT_LOG_ANCHORED_TOPIC,
    BURN_SKIPPED_TOPIC,
    BURNED_TOPIC,
    MINT_SKIPPED_TOPIC,
    MINTED_TOPIC,
)

__all__ = [
    "AnchoredEvent",
    "BurnSkippedEvent",
    "BurnedEvent",
    "KokuEvents",
    "MintSkippedEvent",
    "MintedEvent",
    "contract_logs",
]

_LOG_RANGE_HINTS: Final = ("range", "limit", "too many", "exceed", "response size")


class MintedEvent(NamedTuple):
    """One ``Minted`` log: the chain's record of a town's issuance, for reconciliation."""

    ref: bytes
    to: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    town: bytes


class MintSkippedEvent(NamedTuple):
    """One ``MintSkipped`` log: a batch item whose ref its town had minted before."""

    ref: bytes
    to: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    town: bytes


class BurnedEvent(NamedTuple):
    """One ``Burned`` log: a correction by the custodial service."""

    ref: bytes
    from_: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    town: bytes


class BurnSkippedEvent(NamedTuple):
    """One ``BurnSkipped`` log: a ``burnBatch`` item whose correction ref its town had burned
    before (nothing burned)."""

    ref: bytes
    from_: ChecksumAddress
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    town: bytes


class AnchoredEvent(NamedTuple):
    """One ``AuditLogAnchored`` log: the staff audit log's row ``sequence`` had hash ``head``."""

    sequence: int
    head: bytes
    anchored_by: ChecksumAddress
    tx_hash: str
    block_number: int
    log_index: int


def _address(topic: str) -> ChecksumAddress:
    return to_checksum_address("0x" + topic[-40:])


def _word(topic: str) -> bytes:
    return bytes.fromhex(topic[2:])


def _ref_event(
    log: dict[str, Any],
) -> tuple[bytes, ChecksumAddress, int, str, int, int, bytes]:
    """The fields every reference event shares, in the events' field order: ``(bytes32
    indexed ref, address indexed holder, uint256 amount, bytes32 indexed town)``."""
    topics = log["topics"]
    return (
        _word(topics[1]),
        _address(topics[2]),
        int(log["data"], 16),
        log["transactionHash"],
        int(log["blockNumber"], 16),
        int(log["logIndex"], 16),
        _word(topics[3]),
    )


class KokuEvents(ChainConnection):
    """Event scans over block ranges (chunked; a chunk a node refuses as too large is halved)."""

    def minted_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[MintedEvent]:
        """Every ``Minted`` log in ``[from_block, to_block]`` (default: up to the latest block)."""
        for log in self._logs(MINTED_TOPIC, from_block, to_block, chunk_blocks):
            yield MintedEvent(*_ref_event(log))

    def mint_skipped_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[MintSkippedEvent]:
        """Every ``MintSkipped`` log, like :meth:`minted_events`."""
        for log in self._logs(MINT_SKIPPED_TOPIC, from_block, to_block, chunk_blocks):
            yield MintSkippedEvent(*_ref_event(log))

    def burned_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[BurnedEvent]:
        """Every ``Burned`` log in ``[from_block, to_block]``, like :meth:`minted_events`."""
        for log in self._logs(BURNED_TOPIC, from_block, to_block, chunk_blocks):
            yield BurnedEvent(*_ref_event(log))

    def burn_skipped_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[BurnSkippedEvent]:
        """Every ``BurnSkipped`` log, like :meth:`minted_events`."""
        for log in self._logs(BURN_SKIPPED_TOPIC, from_block, to_block, chunk_blocks):
            yield BurnSkippedEvent(*_ref_event(log))

    def anchored_events(
        self, from_block: int = 0, to_block: int | None = None, *, chunk_blocks: int = 10_000
    ) -> Iterator[AnchoredEvent]:
        """Every ``AuditLogAnchored`` log, in chain order."""
        for log in self._logs(AUDIT_LOG_ANCHORED_TOPIC, from_block, to_block, chunk_blocks):
            topics = log["topics"]
            yield AnchoredEvent(
                sequence=int(topics[1], 16),
                head=bytes.fromhex(log["data"][2:66]),
                anchored_by=_address(topics[2]),
                tx_hash=log["transactionHash"],
                block_number=int(log["blockNumber"], 16),
                log_index=int(log["logIndex"], 16),
            )

    def _logs(
        self, topic: str, from_block: int, to_block: int | None, chunk_blocks: int
    ) -> Iterator[dict[str, Any]]:
        return contract_logs(self, self.koku_address, topic, from_block, to_block, chunk_blocks)


def contract_logs(
    connection: ChainConnection,
    address: str,
    topic: str,
    from_block: int,
    to_block: int | None,
    chunk_blocks: int = 10_000,
) -> Iterator[dict[str, Any]]:
    """Raw logs of ``topic`` emitted by the contract at ``address`` in ``[from_block,
    to_block]`` (default: up to the latest block), fetched in chunks of blocks; a chunk a node
    refuses as too large is halved and asked again."""
    if chunk_blocks < 1:
        raise ValueError("chunk_blocks must be positive")
    last = connection.block_number() if to_block is None else to_block
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
            logs = cast(list[dict[str, Any]], connection.rpc("eth_getLogs", [params]))
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
