"""Ledger schemas: issuances with their on-chain state, ledger lines, reversals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.core.i18n import Language
from kokudaka.core.responses import amount_json
from kokudaka.core.schemas import Amount, MultiLine, RequestModel, ResponseModel
from kokudaka.ledger.memos import render_memo
from kokudaka.ledger.repository import HistoryLine
from kokudaka.models import ChainOperation, ChainState, EntryKind, Issuance, IssuanceKind, Written


class ChainStatus(ResponseModel):
    """Where an issuance's mint (or a reversal's burn) stands on the chain."""

    state: ChainState
    reference: str = Field(description="The bytes32 reference the contract records.")
    tx_hash: str | None
    block_number: int | None
    last_error: str | None


class IssuanceRead(ResponseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    kind: IssuanceKind
    municipality_id: uuid.UUID
    season: int
    recipient_id: uuid.UUID
    amount: Amount
    farmer_id: uuid.UUID | None
    work_id: uuid.UUID | None
    investment_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    contribution_id: uuid.UUID | None
    price_yen_per_go: int | None = Field(description="Rate of an investment issuance.")
    go_per_hour: int | None = Field(description="Rate of a volunteering issuance.")
    reversal_entry_id: uuid.UUID | None
    created_at: datetime
    chain: ChainStatus | None


def chain_status_by_entry(
    session: Session, entry_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ChainStatus]:
    if not entry_ids:
        return {}
    operations = session.scalars(
        select(ChainOperation).where(ChainOperation.entry_id.in_(list(entry_ids)))
    ).all()
    return {op.entry_id: ChainStatus.model_validate(op) for op in operations}


def issuance_read_of(i: Issuance | Written, mint: ChainOperation | Written | None) -> IssuanceRead:
    """From models, or from the rows :func:`kokudaka.ledger.service.issue` wrote."""
    return IssuanceRead(
        id=i.id,
        entry_id=i.entry_id,
        kind=i.kind,
        municipality_id=i.municipality_id,
        season=i.season,
        recipient_id=i.recipient_id,
        amount=Amount.of(i.amount_go),
        farmer_id=i.farmer_id,
        work_id=i.work_id,
        investment_id=i.investment_id,
        activity_id=i.activity_id,
        contribution_id=i.contribution_id,
        price_yen_per_go=i.price_yen_per_go,
        go_per_hour=i.go_per_hour,
        reversal_entry_id=i.reversal_entry_id,
        created_at=i.created_at,
        chain=ChainStatus.model_validate(mint) if mint is not None else None,
    )


def issuance_reads(session: Session, issuances: Sequence[Issuance]) -> list[IssuanceRead]:
    """Issuance reads with their mint's chain state, in one extra query for the page."""
    entry_ids = [i.entry_id for i in issuances]
    mints = (
        {
            op.entry_id: op
            for op in session.scalars(
                select(ChainOperation).where(ChainOperation.entry_id.in_(entry_ids))
            )
        }
        if entry_ids
        else {}
    )
    return [issuance_read_of(i, mints.get(i.entry_id)) for i in issuances]


class ReversalRequest(RequestModel):
    reason: Annotated[str, MultiLine] = Field(
        min_length=1, max_length=1000, examples=["Payment was charged back"]
    )


class JournalEntryRead(ResponseModel):
    id: uuid.UUID
    kind: EntryKind
    municipality_id: uuid.UUID
    idempotency_key: str
    reverses_entry_id: uuid.UUID | None
    memo: str
    created_by_id: uuid.UUID | None
    created_at: datetime
    chain: ChainStatus | None = None


class LedgerLine(ResponseModel):
    """One posting on the reader's account, with the entry and issuance behind it."""

    entry_id: uuid.UUID
    entry_kind: EntryKind
    amount: Amount
    memo: str
    created_at: datetime
    issuance_id: uuid.UUID | None
    issuance_kind: IssuanceKind | None
    chain: ChainStatus | None


def ledger_line_json(line: HistoryLine, language: Language) -> dict[str, Any]:
    """A :class:`LedgerLine` as its JSON object, built straight from the page's row (see
    ``core/responses.py``); a test checks it against the model."""
    chain = line.chain
    return {
        "entry_id": line.entry_id,
        "entry_kind": line.entry_kind,
        "amount": amount_json(line.amount_go),
        "memo": render_memo(line.memo_code, line.memo_params, line.memo, language),
        "created_at": line.created_at,
        "issuance_id": line.issuance_id,
        "issuance_kind": line.issuance_kind,
        "chain": None
        if chain is None
        else {
            "state": chain.state,
            "reference": chain.reference,
            "tx_hash": chain.tx_hash,
            "block_number": chain.block_number,
            "last_error": chain.last_error,
        },
    }
