"""Audit filters and the CSV export's columns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from kokudaka.models import IssuanceKind

CSV_COLUMNS = (
    "id",
    "created_at",
    "municipality_code",
    "kind",
    "recipient_id",
    "farmer_id",
    "amount_go",
    "amount_koku",
    "rate",
    "rate_unit",
    "chain_state",
    "tx_hash",
    "reversal_entry_id",
)
"""``rate`` is yen per go for an investment and go per hour for a contribution, as
``rate_unit`` says."""


@dataclass(frozen=True)
class IssuanceFilters:
    municipality_id: uuid.UUID | None = None
    farmer_id: uuid.UUID | None = None
    kind: IssuanceKind | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    is_reversed: bool | None = None


# ``async``: no I/O, so no worker-thread hop (see kokudaka.core.pagination.page_params).
async def issuance_filters(
    municipality_id: Annotated[
        uuid.UUID | None,
        Query(description="Only this town; it must be one the caller may audit."),
    ] = None,
    farmer_id: Annotated[uuid.UUID | None, Query(description="Only this farmer's.")] = None,
    kind: Annotated[IssuanceKind | None, Query(description="investment or contribution")] = None,
    created_from: Annotated[
        AwareDatetime | None,
        Query(
            alias="from",
            description="Issued at or after this instant (with a timezone).",
            examples=["2026-04-01T00:00:00+09:00"],
        ),
    ] = None,
    created_to: Annotated[
        AwareDatetime | None,
        Query(
            alias="to",
            description="Issued before this instant (with a timezone).",
            examples=["2027-04-01T00:00:00+09:00"],
        ),
    ] = None,
    is_reversed: Annotated[
        bool | None,
        Query(alias="reversed", description="true: only reversed ones; false: only the rest."),
    ] = None,
) -> IssuanceFilters:
    return IssuanceFilters(
        municipality_id=municipality_id,
        farmer_id=farmer_id,
        kind=kind,
        created_from=created_from,
        created_to=created_to,
        is_reversed=is_reversed,
    )
