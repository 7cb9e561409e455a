"""Audit filters, the named issuance read and the CSV export's columns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import Field

from kokudaka.core.i18n import Language
from kokudaka.core.schemas import QueryBool, UtcDatetime
from kokudaka.ledger.schemas import IssuanceRead
from kokudaka.models import ChainState, IssuanceKind
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON

# (English header, Japanese header), in the order of the file. English headers are the
# stable names a program reads; the Japanese ones are what a town's accounting office
# reads in Excel, and the default.
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("issued_at", "発行日時"),
    ("season", "年度"),
    ("national_municipality_code", "全国地方公共団体コード"),
    ("municipality", "自治体"),
    ("kind", "種別"),
    ("supporter", "応援者"),
    ("farmer", "農家"),
    ("work", "作品"),
    ("activity", "活動"),
    ("amount_yen", "金額(円)"),
    ("price_yen_per_go", "単価(円/合)"),
    ("hours", "時間"),
    ("go_per_hour", "時間あたり(合)"),
    ("amount_go", "発行量(合)"),
    ("amount_koku", "発行量(石)"),
    ("chain_state", "チェーン状態"),
    ("tx_hash", "トランザクションハッシュ"),
    ("issuance_id", "発行ID"),
    ("reversal_entry_id", "取消仕訳ID"),
)
CSV_COLUMNS: tuple[str, ...] = tuple(english for english, _ in _COLUMNS)
"""The English headers (``Accept-Language: en``). ``issued_at`` is Japan time,
``YYYY-MM-DD HH:MM:SS``; ``amount_yen`` and ``price_yen_per_go`` are for investments,
``hours`` and ``go_per_hour`` for contributions."""
CSV_COLUMNS_JA: tuple[str, ...] = tuple(japanese for _, japanese in _COLUMNS)
"""The Japanese headers, the default."""

KIND_LABELS: dict[Language, dict[IssuanceKind, str]] = {
    "ja": {IssuanceKind.investment: "投資", IssuanceKind.contribution: "貢献"},
    "en": {kind: kind.value for kind in IssuanceKind},
}
CHAIN_STATE_LABELS: dict[Language, dict[ChainState, str]] = {
    "ja": {
        ChainState.pending: "送信待ち",
        ChainState.submitted: "送信済み",
        ChainState.confirmed: "確定",
        ChainState.failed: "失敗",
    },
    "en": {state: state.value for state in ChainState},
}


def csv_header(language: Language) -> tuple[str, ...]:
    return CSV_COLUMNS_JA if language == "ja" else CSV_COLUMNS


class AuditIssuanceRead(IssuanceRead):
    """An issuance with the names an auditor reads it by, beside the ids."""

    municipality_name: str
    national_municipality_code: str | None = Field(
        description="The town's 全国地方公共団体コード, when set."
    )
    recipient_name: str = Field(description="The supporter's display name.")
    farmer_name: str | None
    work_title: str | None
    activity_title: str | None
    amount_yen: int | None = Field(description="Yen paid, for an investment issuance.")
    hours: str | None = Field(
        description="Approved hours, for a contribution issuance.", examples=["2.5"]
    )


@dataclass(frozen=True)
class IssuanceFilters:
    municipality_id: uuid.UUID | None = None
    farmer_id: uuid.UUID | None = None
    kind: IssuanceKind | None = None
    season: int | None = None
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
    season: Annotated[
        int | None,
        Query(ge=MIN_SEASON, le=MAX_SEASON, description="Only this season.", examples=[2026]),
    ] = None,
    created_from: Annotated[
        UtcDatetime | None,
        Query(
            alias="from",
            description="Issued at or after this instant (with a timezone).",
            examples=["2026-04-01T00:00:00+09:00"],
        ),
    ] = None,
    created_to: Annotated[
        UtcDatetime | None,
        Query(
            alias="to",
            description="Issued before this instant (with a timezone).",
            examples=["2027-04-01T00:00:00+09:00"],
        ),
    ] = None,
    is_reversed: Annotated[
        QueryBool | None,
        Query(alias="reversed", description="true: only reversed ones; false: only the rest."),
    ] = None,
) -> IssuanceFilters:
    return IssuanceFilters(
        municipality_id=municipality_id,
        farmer_id=farmer_id,
        kind=kind,
        season=season,
        created_from=created_from,
        created_to=created_to,
        is_reversed=is_reversed,
    )
