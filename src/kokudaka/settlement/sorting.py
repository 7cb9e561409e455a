"""Sorting a claim's due operations: what can be signed now (KOKU mints per season within the
town's allowance, KOKU burns, bill mints, bill burns), what waits (no wallet yet, no bills
contract, a burn whose mint is not confirmed), what fails for good (an invalid address, a burn
whose mint failed), and the seasons whose mints wait for the town's cap.

A burn, KOKU's or a bill's, is drawn on the mint it reverses (the issuance's or the bill's): it
waits until that mint is confirmed (:data:`WAITING_FOR_MINT`) and fails if that mint failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from eth_utils.crypto import keccak

from kokudaka.models import ChainAsset, ChainOperationKind, ChainState
from kokudaka.settlement.bills import NO_BILLS_CONTRACT

__all__ = [
    "NO_WALLET",
    "WAITING_FOR_MINT",
    "CapShortfall",
    "DrawnOn",
    "SortedDue",
    "checksummed_address",
    "sort_due",
]

DrawnOn = tuple[ChainState, str | None, str]
"""The mint a burn draws on: (state, recipient, reference)."""
NO_WALLET: Final = "no wallet address"
WAITING_FOR_MINT: Final = "waiting for its mint to be confirmed"


_HEX_ADDRESS: Final = re.compile(r"(?:0[xX])?([0-9a-fA-F]{40})")


@lru_cache(maxsize=65_536)
def checksummed_address(address: str) -> str | None:
    """The EIP-55 form of a wallet address, or None if it is not 40 hex digits: what
    ``to_checksum_address(a) if is_address(a) else None`` gives (eth_utils does not check a
    mixed-case address's checksum either), in half its time. Cached: supporters receive many
    operations."""
    match = _HEX_ADDRESS.fullmatch(address)
    if match is None:
        return None
    lower = match.group(1).lower()
    digest = keccak(text=lower).hex()
    checksummed = "".join(
        c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest, strict=False)
    )
    return "0x" + checksummed


@dataclass(frozen=True)
class CapShortfall:
    """A season whose due mints did not all fit in what the town may still mint."""

    season: int
    left_go: int
    """What the worker counted as left for the season after this claim's mints."""
    next_go: int
    """The first mint that did not fit."""


@dataclass
class SortedDue:
    """A claim's due operations, sorted. Rows are the claim's Core rows; each signable one comes
    with the address it is signed for."""

    mints: dict[int, list[tuple[Any, str]]] = field(default_factory=dict)
    """KOKU mints per season, within what the town may still mint."""
    burns: list[tuple[Any, str]] = field(default_factory=list)
    bill_mints: list[tuple[Any, str]] = field(default_factory=list)
    bill_burns: list[tuple[Any, str]] = field(default_factory=list)
    held: list[tuple[Any, str]] = field(default_factory=list)
    """(operation id, why) of those that wait."""
    failed: list[tuple[Any, str]] = field(default_factory=list)
    """(operation id, why) of those that fail for good."""
    minting: dict[int, int] = field(default_factory=dict)
    """Per season: go the mints will spend of the town's allowance."""
    short: dict[int, CapShortfall] = field(default_factory=dict)
    unknown: set[int] = field(default_factory=set)
    """Seasons with due mints whose allowance the caller did not give: left untouched."""


def sort_due(
    rows: Sequence[Any],
    allowance: Mapping[int, int],
    mint_of: Mapping[Any, DrawnOn],
    bill_mint_of: Mapping[Any, DrawnOn],
    *,
    has_bills: bool,
) -> SortedDue:
    """Sort ``rows`` (see :meth:`~kokudaka.settlement.claiming.Claimer.due`). ``allowance`` is
    what the town may still mint per season; ``mint_of`` and ``bill_mint_of`` are the mints the
    burns draw on, by issuance and by bill."""
    due = SortedDue()
    for row in rows:
        if row.kind is ChainOperationKind.mint:
            address = row.recipient_address or row.wallet_address
            checksummed = checksummed_address(address) if address else None
            left = allowance.get(row.season)
            spent = due.minting.get(row.season, 0)
            if address is None:
                due.held.append((row.id, NO_WALLET))
            elif checksummed is None:
                due.failed.append((row.id, f"invalid wallet address {address!r}"))
            elif row.asset is ChainAsset.bill and not has_bills:
                due.held.append((row.id, NO_BILLS_CONTRACT))
            elif row.asset is ChainAsset.bill:
                due.bill_mints.append((row, checksummed))
            elif left is None:
                due.unknown.add(row.season)  # untouched until the caller knows
            elif row.season in due.short or spent + row.amount_go > left:
                due.short.setdefault(
                    row.season, CapShortfall(row.season, left - spent, row.amount_go)
                )
            else:
                due.minting[row.season] = spent + row.amount_go
                due.mints.setdefault(row.season, []).append((row, checksummed))
            continue
        bill = row.asset is ChainAsset.bill
        if bill and not has_bills:
            due.held.append((row.id, NO_BILLS_CONTRACT))
            continue
        mint = bill_mint_of.get(row.bill_id) if bill else mint_of.get(row.issuance_id)
        address = row.recipient_address or (mint[1] if mint else None)
        if mint is not None and mint[0] is ChainState.failed:
            due.failed.append((row.id, "its mint failed: there is nothing to burn"))
        elif mint is None or mint[0] is not ChainState.confirmed or address is None:
            due.held.append((row.id, WAITING_FOR_MINT))
        else:
            (due.bill_burns if bill else due.burns).append(
                (row, checksummed_address(address) or address)
            )
    return due
