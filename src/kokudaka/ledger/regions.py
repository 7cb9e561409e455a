"""Each supporter's standing issuances per region and season
(:class:`~kokudaka.models.RegionSupporterSeason`), beside the per-town
:class:`~kokudaka.models.SupporterSeason`: the running rows a region's 関係人口
(relationship population) reads, one per person.

:func:`move_region_supporter_season` is called with the per-town row's upsert, by the
ledger's ``issue()`` and ``reverse()`` in the issuance's own transaction. The region is
the issuance's town's, read in the same statement (an INSERT from a SELECT of the town),
so the write path makes no extra round trip for it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Connection, Uuid, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kokudaka.models import (
    Issuance,
    IssuanceKind,
    Municipality,
    RegionSupporterSeason,
    Written,
    table_of,
)

__all__ = [
    "move_region_supporter_season",
    "recompute_region_supporter_seasons",
    "region_of",
    "region_supporter_season_totals",
]

region_supporter_seasons = table_of(RegionSupporterSeason)
municipalities = table_of(Municipality)
issuances = table_of(Issuance)

_COLUMNS = ["region_id", "season", "user_id", "investments", "contributions"]


def _count_in_region(dialect: Any) -> Any:
    """Add ``investments`` and ``contributions`` (one of them 1, or -1 for a reversal) to
    the supporter's row for the town's region and the season, creating it on first use."""
    rows = region_supporter_seasons
    statement = dialect.insert(rows).from_select(
        _COLUMNS,
        select(
            municipalities.c.region_id,
            bindparam("season", type_=BigInteger()),
            bindparam("user_id", type_=Uuid()),
            bindparam("investments", type_=BigInteger()),
            bindparam("contributions", type_=BigInteger()),
        ).where(municipalities.c.id == bindparam("municipality_id", type_=Uuid())),
    )
    return statement.on_conflict_do_update(
        index_elements=["region_id", "season", "user_id"],
        set_={
            "investments": rows.c.investments + statement.excluded.investments,
            "contributions": rows.c.contributions + statement.excluded.contributions,
        },
    )


_COUNT_IN_REGION = {"postgresql": _count_in_region(postgresql), "sqlite": _count_in_region(sqlite)}


def move_region_supporter_season(conn: Connection, issuance: Issuance | Written, step: int) -> None:
    """Count the issuance (``step`` 1) or its reversal (``step`` -1) in the recipient's
    row for the region of the issuance's town."""
    is_investment = issuance.kind is IssuanceKind.investment
    conn.execute(
        _COUNT_IN_REGION[conn.dialect.name],
        {
            "municipality_id": issuance.municipality_id,
            "season": issuance.season,
            "user_id": issuance.recipient_id,
            "investments": step if is_investment else 0,
            "contributions": 0 if is_investment else step,
        },
    )


def region_supporter_season_totals() -> Any:
    """Each supporter's standing issuances per region and season, by kind, from the
    issuances themselves: what :class:`RegionSupporterSeason` must hold."""
    invested = issuances.c.kind == IssuanceKind.investment
    return (
        select(
            municipalities.c.region_id,
            issuances.c.season,
            issuances.c.recipient_id,
            func.count().filter(invested),
            func.count().filter(~invested),
        )
        .join(municipalities, municipalities.c.id == issuances.c.municipality_id)
        .where(issuances.c.reversal_entry_id.is_(None))
        .group_by(municipalities.c.region_id, issuances.c.season, issuances.c.recipient_id)
    )


def recompute_region_supporter_seasons(session: Session) -> None:
    """Set every :class:`RegionSupporterSeason` from the standing issuances, for bulk
    loads that write issuances directly (the benchmarks' set-up); migration 0011 does
    the same."""
    session.execute(region_supporter_seasons.delete())
    session.execute(
        region_supporter_seasons.insert().from_select(_COLUMNS, region_supporter_season_totals())
    )


def region_of(session: Session, municipality_ids: list[uuid.UUID]) -> uuid.UUID | None:
    """The region whose towns are exactly ``municipality_ids``, if they are one whole
    region: then its rows answer for them (each person counted once across its towns);
    any other set of towns is counted from the per-town rows."""
    if not municipality_ids:
        return None
    theirs = select(municipalities.c.region_id).where(municipalities.c.id.in_(municipality_ids))
    regions = session.execute(
        select(municipalities.c.region_id, func.count())
        .where(municipalities.c.region_id.in_(theirs))
        .group_by(municipalities.c.region_id)
    ).all()
    if len(regions) != 1 or regions[0][1] != len(set(municipality_ids)):
        return None
    return regions[0][0]  # type: ignore[no-any-return]
