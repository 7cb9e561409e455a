"""The rice bill burns of a town's claim: redemption shipments and expiry gifts, batched into the
bills contract's ``burnBatch`` (any of the town's works mixed in one batch).

Each burn is drawn on its bill's own mint: the contract burns only from the address that mint
went to, only of its work, and no more than is left of it. So a bill burn is claimed only once
its bill's mint is confirmed (until then it waits, like a KOKU burn, with the same reason), fails
if that mint failed, and names the mint's reference (``issuanceRef``) and recipient. A burn ref
used before is skipped on chain with ``BillBurnSkipped``, so a batch re-signed after a crash is
harmless; the skipped item is confirmed where it landed (:mod:`kokudaka.settlement.receipts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from kokudaka.chain.bills import BILL_MAX_BURN_BATCH_SIZE, BillsClient, bill_token_id
from kokudaka.chain.connection import Fees
from kokudaka.models import ChainAsset, ChainOperation, ChainOperationKind, ChainState

if TYPE_CHECKING:
    from kokudaka.settlement.claiming import Claimer
    from kokudaka.settlement.recording import Recorder

__all__ = [
    "BillMint",
    "bill_burn_batches",
    "bill_mint_recipient",
    "bill_mints_of",
    "sign_bill_burns",
]

BillMint = tuple[ChainState, str | None, str]
"""A bill's mint as its burns need it: (state, recipient, reference)."""


def bill_mints_of(
    connection: Connection, claimer: Claimer, rows: Sequence[Any]
) -> dict[Any, BillMint]:
    """bill id -> the mint of each bill a due bill burn draws on (one statement, by the
    operations' bill index)."""
    bills = list(
        {
            r.bill_id
            for r in rows
            if r.kind is ChainOperationKind.burn and r.asset is ChainAsset.bill
        }
    )
    if not bills:
        return {}
    return {
        bill_id: (state, address, reference)
        for bill_id, state, address, reference in connection.execute(
            select(
                claimer.raw(ChainOperation.bill_id),
                ChainOperation.state,
                ChainOperation.recipient_address,
                ChainOperation.reference,
            ).where(
                claimer.among(ChainOperation.bill_id, bills),
                ChainOperation.kind == ChainOperationKind.mint,
                ChainOperation.asset == ChainAsset.bill,
            )
        )
    }


@cache
def bill_mint_recipient() -> Any:
    """SQL: the address the mint of an operation's bill went to (a bill burn's holder). Built
    once: an aliased subquery costs about 2 ms to construct."""
    mint = aliased(ChainOperation)
    return (
        select(mint.recipient_address)
        .where(
            mint.bill_id == ChainOperation.bill_id,
            mint.kind == ChainOperationKind.mint,
            mint.asset == ChainAsset.bill,
        )
        .scalar_subquery()
    )


def bill_burn_batches(
    burns: Sequence[tuple[Any, str]], batch_size: int
) -> list[Sequence[tuple[Any, str]]]:
    """The claim's bill burns ``(row, holder)`` in batches within the per-transaction gas cap."""
    size = min(batch_size, BILL_MAX_BURN_BATCH_SIZE)
    return [burns[i : i + size] for i in range(0, len(burns), size)]


def sign_bill_burns(
    batches: Sequence[Sequence[tuple[Any, str]]],
    mint_of: Mapping[Any, BillMint],
    claimer: Claimer,
    bills: BillsClient,
    nonces: Iterator[int],
    fees: Fees,
    recorder: Recorder,
) -> None:
    """Sign and record each batch with the next nonce: every item drawn on its bill's mint."""
    for batch in batches:
        nonce = next(nonces)
        signed = bills.build_burn_batch_tx(
            claimer.minter_key,
            # Lower case: the same address to the EVM, with no checksum to verify again.
            [holder.lower() for _, holder in batch],
            [bill_token_id(_uuid(row.work_id)) for row, _ in batch],
            [row.amount_go for row, _ in batch],
            [bytes.fromhex(row.reference.removeprefix("0x")) for row, _ in batch],
            [bytes.fromhex(mint_of[row.bill_id][2].removeprefix("0x")) for row, _ in batch],
            nonce,
            fees=fees,
        )
        recorder.record(
            list(batch),
            signed.raw,
            signed.tx_hash,
            nonce,
            bill_mint_recipient(),
            holders_from_mints=True,
        )


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)
