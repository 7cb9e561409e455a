"""What the console's charts and tiles add up, read-only.

Totals that the API already answers come from its services (the farmer's ledger totals,
the audit lists); these are the series the charts draw, by week and by kind, which no
API route gives. Reversed issuances are left out, as in the ledger totals: a reversal
took their KOKU back.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kokudaka.models import (
    ChainOperation,
    ChainState,
    Farmer,
    FarmerIssuanceDay,
    IssuanceKind,
    Municipality,
    MunicipalityPolicy,
    SupporterSeason,
    TownIssuanceDay,
)


@dataclass(frozen=True, slots=True)
class WeeklySeries:
    """Go issued per week (weeks start on Monday, Japan time), by kind."""

    weeks: list[str]
    """Each week's Monday, ``YYYY-MM-DD``."""
    go_by_kind: dict[str, list[int]]

    def as_chart(self) -> dict[str, object]:
        return {"labels": self.weeks, "series": self.go_by_kind, "unit": "go", "stacked": True}


def town_weekly(
    session: Session, municipality_ids: Sequence[uuid.UUID], season: int
) -> WeeklySeries:
    """The towns' standing issuance in ``season`` per week and kind, from their running
    day rows (:class:`TownIssuanceDay`): a few hundred rows a season, however many
    issuances."""
    return _weekly(
        session,
        select(TownIssuanceDay.day, TownIssuanceDay.kind, func.sum(TownIssuanceDay.amount_go))
        .where(
            TownIssuanceDay.municipality_id.in_(list(municipality_ids)),
            TownIssuanceDay.season == season,
            # A day whose issuances were all reversed keeps its row, at zero.
            TownIssuanceDay.amount_go > 0,
        )
        .group_by(TownIssuanceDay.day, TownIssuanceDay.kind),
    )


def farmer_weekly(session: Session, farmer_id: uuid.UUID, season: int) -> WeeklySeries:
    """The standing issuance made for support of the farmer in ``season``, per week and
    kind, from the farmer's running day rows (:class:`FarmerIssuanceDay`)."""
    return _weekly(
        session,
        select(FarmerIssuanceDay.day, FarmerIssuanceDay.kind, FarmerIssuanceDay.amount_go).where(
            FarmerIssuanceDay.farmer_id == farmer_id,
            FarmerIssuanceDay.season == season,
            FarmerIssuanceDay.amount_go > 0,
        ),
    )


def _weekly(session: Session, days: Select[date, IssuanceKind, int]) -> WeeklySeries:
    """Rows of (day, kind, go) folded into weeks: a week has no portable SQL spelling on
    both SQLite and PostgreSQL, and a season has at most a few hundred days."""
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for on_day, kind, amount_go in session.execute(days):
        sums[on_day - timedelta(days=on_day.weekday())][kind.value] += int(amount_go)
    if not sums:
        return WeeklySeries([], {kind.value: [] for kind in IssuanceKind})
    first, last = min(sums), max(sums)
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return WeeklySeries(
        [week.isoformat() for week in weeks],
        {kind.value: [sums[week][kind.value] for week in weeks] for kind in IssuanceKind},
    )


def percent(part: int, whole: int) -> float:
    """A percentage to one decimal, rounded down (a cap is never shown as reached before
    it is). For display only: the amounts it compares stay integers."""
    return 0.0 if whole <= 0 else (part * 1000 // whole) / 10


def by_kind_chart(weekly: WeeklySeries) -> dict[str, object]:
    """The season's issuance split by kind, from the weekly series."""
    names = list(weekly.go_by_kind)
    totals = [sum(weekly.go_by_kind[name]) for name in names]
    if not any(totals):
        return {"labels": [], "series": {}, "unit": "go"}
    return {"labels": names, "series": {"issued": totals}, "unit": "go", "label_kind": True}


def chain_states(session: Session, municipality_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """How many of the towns' on-chain operations are in each state."""
    rows = session.execute(
        select(ChainOperation.state, func.count())
        .where(ChainOperation.municipality_id.in_(list(municipality_ids)))
        .group_by(ChainOperation.state)
    ).all()
    counts = {state.value: 0 for state in ChainState}
    counts.update({state.value: int(count) for state, count in rows})
    return counts


def remember_reconciliation(app: Any, scope: Sequence[uuid.UUID] | None, report: Any) -> None:
    """Keep the last reconciliation a console user ran, per scope, for the dashboards.

    In the process's memory: a reconciliation is a live comparison with the chain, not
    a record (``kokudaka audit reconcile`` runs it from the command line the same way),
    so a restart forgets it and the next run shows it again."""
    if not hasattr(app.state, "console_reconciliations"):
        app.state.console_reconciliations = {}
    key = None if scope is None else frozenset(scope)
    app.state.console_reconciliations[key] = report


def last_reconciliation(app: Any, scope: Sequence[uuid.UUID] | None) -> Any:
    key = None if scope is None else frozenset(scope)
    return getattr(app.state, "console_reconciliations", {}).get(key)


@dataclass(frozen=True, slots=True)
class TownRow:
    """One town of a region at a glance, for one season."""

    municipality_id: uuid.UUID
    name: str
    issued_go: int
    cap_go: int | None
    """None when the town has no policy for the season."""
    cap_used_percent: float | None
    supporters: int
    farmers: int
    unsettled: dict[str, int]
    """The town's on-chain operations not confirmed yet, by state (pending, submitted,
    failed). Confirmed ones are not counted here: they are nearly all of a town's
    operations, and the region's table only asks whether anything waits or failed."""

    @property
    def settled(self) -> bool:
        """Every issuance of the town is on the chain: nothing waits, nothing failed."""
        return not any(self.unsettled.values())


def town_rows(session: Session, towns: Sequence[Municipality], season: int) -> list[TownRow]:
    """Each town's issuance against its cap, supporters, farmers and settlement state:
    one grouped query per figure, whatever the number of towns."""
    ids = [town.id for town in towns]
    policies = {
        row.municipality_id: row
        for row in session.scalars(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id.in_(ids), MunicipalityPolicy.season == season
            )
        )
    }
    # From the running per-person rows, not the issuances (see SupporterSeason).
    supporters: dict[uuid.UUID, int] = dict(
        session.execute(
            select(SupporterSeason.municipality_id, func.count())
            .where(
                SupporterSeason.municipality_id.in_(ids),
                SupporterSeason.season == season,
                SupporterSeason.investments + SupporterSeason.contributions > 0,
            )
            .group_by(SupporterSeason.municipality_id)
        ).all()
    )
    farmers: dict[uuid.UUID, int] = dict(
        session.execute(
            select(Farmer.municipality_id, func.count())
            .where(Farmer.municipality_id.in_(ids))
            .group_by(Farmer.municipality_id)
        ).all()
    )
    unsettled_states = [state for state in ChainState if state is not ChainState.confirmed]
    unsettled: dict[uuid.UUID, dict[str, int]] = {
        town_id: {state.value: 0 for state in unsettled_states} for town_id in ids
    }
    # A few ranges of the (municipality_id, state) index, not every operation.
    for town_id, state, count in session.execute(
        select(ChainOperation.municipality_id, ChainOperation.state, func.count())
        .where(ChainOperation.municipality_id.in_(ids), ChainOperation.state.in_(unsettled_states))
        .group_by(ChainOperation.municipality_id, ChainOperation.state)
    ):
        unsettled[town_id][state.value] = int(count)
    rows = []
    for town in towns:
        policy = policies.get(town.id)
        issued = policy.issued_go if policy else 0
        rows.append(
            TownRow(
                municipality_id=town.id,
                name=town.name,
                issued_go=issued,
                cap_go=policy.yearly_cap_go if policy else None,
                cap_used_percent=percent(issued, policy.yearly_cap_go) if policy else None,
                supporters=int(supporters.get(town.id, 0)),
                farmers=int(farmers.get(town.id, 0)),
                unsettled=unsettled[town.id],
            )
        )
    return rows


def region_charts(rows: Sequence[TownRow]) -> tuple[dict[str, object], dict[str, object]]:
    """Issuance by town, and the share of each town's cap used."""
    names = [row.name for row in rows]
    issued: dict[str, object] = {
        "labels": names,
        "series": {"issued": [row.issued_go for row in rows]},
        "unit": "go",
    }
    cap_used: dict[str, object] = {
        "labels": names,
        "series": {"cap_used": [row.cap_used_percent or 0 for row in rows]},
        "unit": "percent",
    }
    return issued, cap_used
