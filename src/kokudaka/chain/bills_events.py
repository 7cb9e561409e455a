"""The rice bills contract's events, read back for settlement lookups, reconciliation and audit:
bills minted and skipped, burned and skipped, works registered, fetched with raw ``eth_getLogs``
and decoded by slicing (as :mod:`kokudaka.chain.events` does for KOKU, for the same speed).

Amounts are go, works are token ids (``uint256``), towns and refs 32 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from kokudaka.chain.bills_interface import (
    BILL_BURN_SKIPPED_TOPIC,
    BILL_BURNED_TOPIC,
    BILL_MINT_SKIPPED_TOPIC,
    BILL_MINTED_TOPIC,
    WORK_REGISTERED_TOPIC,
)
from kokudaka.chain.connection import ChainConnection
from kokudaka.chain.events import contract_logs

__all__ = [
    "BillBurnedEvent",
    "BillMintedEvent",
    "BillsEvents",
    "LogPosition",
    "WorkRegisteredEvent",
]


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where a log is on the chain."""

    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class BillMintedEvent:
    """One ``BillMinted`` (or ``BillMintSkipped``: nothing minted) log."""

    ref: bytes
    to: ChecksumAddress
    work_id: int
    amount: int
    town: bytes
    at: LogPosition


@dataclass(frozen=True, slots=True)
class BillBurnedEvent:
    """One ``BillBurned`` (or ``BillBurnSkipped``: nothing burned) log."""

    ref: bytes
    from_: ChecksumAddress
    work_id: int
    amount: int
    town: bytes
    issuance_ref: bytes
    at: LogPosition


@dataclass(frozen=True, slots=True)
class WorkRegisteredEvent:
    """One ``WorkRegistered`` log: ``town`` set ``work_id``'s cap for ``season``."""

    work_id: int
    town: bytes
    season: int
    cap: int
    at: LogPosition


def _position(log: dict[str, Any]) -> LogPosition:
    return LogPosition(
        tx_hash=log["transactionHash"],
        block_number=int(log["blockNumber"], 16),
        log_index=int(log["logIndex"], 16),
    )


def _words(data: str) -> list[str]:
    body = data[2:]
    return [body[i : i + 64] for i in range(0, len(body), 64)]


class BillsEvents:
    """Event scans of the bills contract over block ranges (chunked; a chunk the node refuses as
    too large is halved). Needs ``connection`` and ``address`` from the client."""

    connection: ChainConnection

    @property
    def address(self) -> ChecksumAddress:
        raise NotImplementedError

    def minted_events(
        self, from_block: int = 0, to_block: int | None = None, *, skipped: bool = False
    ) -> Iterator[BillMintedEvent]:
        """Every ``BillMinted`` log in ``[from_block, to_block]`` (``BillMintSkipped`` with
        ``skipped``), in chain order."""
        topic = BILL_MINT_SKIPPED_TOPIC if skipped else BILL_MINTED_TOPIC
        for log in self._logs(topic, from_block, to_block):
            topics, words = log["topics"], _words(log["data"])
            yield BillMintedEvent(
                ref=bytes.fromhex(topics[1][2:]),
                to=to_checksum_address("0x" + topics[2][-40:]),
                work_id=int(words[0], 16),
                amount=int(words[1], 16),
                town=bytes.fromhex(topics[3][2:]),
                at=_position(log),
            )

    def burned_events(
        self, from_block: int = 0, to_block: int | None = None, *, skipped: bool = False
    ) -> Iterator[BillBurnedEvent]:
        """Every ``BillBurned`` log (``BillBurnSkipped`` with ``skipped``), in chain order."""
        topic = BILL_BURN_SKIPPED_TOPIC if skipped else BILL_BURNED_TOPIC
        for log in self._logs(topic, from_block, to_block):
            topics, words = log["topics"], _words(log["data"])
            yield BillBurnedEvent(
                ref=bytes.fromhex(topics[1][2:]),
                from_=to_checksum_address("0x" + topics[2][-40:]),
                work_id=int(words[0], 16),
                amount=int(words[1], 16),
                town=bytes.fromhex(topics[3][2:]),
                issuance_ref=bytes.fromhex(words[2]),
                at=_position(log),
            )

    def work_registered_events(
        self, from_block: int = 0, to_block: int | None = None
    ) -> Iterator[WorkRegisteredEvent]:
        """Every ``WorkRegistered`` log, in chain order (a work's last one holds its cap)."""
        for log in self._logs(WORK_REGISTERED_TOPIC, from_block, to_block):
            topics = log["topics"]
            yield WorkRegisteredEvent(
                work_id=int(topics[1], 16),
                town=bytes.fromhex(topics[2][2:]),
                season=int(topics[3], 16),
                cap=int(log["data"], 16),
                at=_position(log),
            )

    def _logs(self, topic: str, from_block: int, to_block: int | None) -> Iterator[dict[str, Any]]:
        return contract_logs(self.connection, self.address, topic, from_block, to_block)
