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
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from kokudaka.console.formatting import JAPAN
from kokudaka.models import ChainOperation, ChainState, Issuance, IssuanceKind


@dataclass(frozen=True, slots=True)
class WeeklySeries:
    """Go issued per week (weeks start on Monday, Japan time), by kind."""

    weeks: list[str]
    """Each week's Monday, ``YYYY-MM-DD``."""
    go_by_kind: dict[str, list[int]]

    def as_chart(self) -> dict[str, object]:
        return {"labels": self.weeks, "series": self.go_by_kind, "unit": "go", "stacked": True}


def _monday(moment: datetime) -> date:
    day = moment.astimezone(JAPAN).date()
    return day - timedelta(days=day.weekday())


def weekly_issuance(session: Session, conditions: Sequence[ColumnElement[bool]]) -> WeeklySeries:
    """Standing issuances matching ``conditions``, summed per week and kind.

    Summed here rather than in SQL: a week in Japan time has no portable SQL spelling
    on both SQLite and PostgreSQL, and one farmer's or town's season is a few thousand
    rows at most.
    """
    rows = session.execute(
        select(Issuance.created_at, Issuance.kind, Issuance.amount_go).where(
            *conditions, Issuance.reversal_entry_id.is_(None)
        )
    ).all()
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for created_at, kind, amount_go in rows:
        sums[_monday(created_at)][kind.value] += amount_go
    if not sums:
        return WeeklySeries([], {kind.value: [] for kind in IssuanceKind})
    first, last = min(sums), max(sums)
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return WeeklySeries(
        [week.isoformat() for week in weeks],
        {kind.value: [sums[week][kind.value] for week in weeks] for kind in IssuanceKind},
    )


def town_conditions(
    municipality_ids: Sequence[uuid.UUID], season: int
) -> list[ColumnElement[bool]]:
    return [Issuance.municipality_id.in_(list(municipality_ids)), Issuance.season == season]


def percent(part: int, whole: int) -> int:
    """A whole percentage, rounded down (a cap is never shown as reached before it is)."""
    return 0 if whole <= 0 else part * 100 // whole


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


def farmer_conditions(farmer_id: uuid.UUID, season: int) -> list[ColumnElement[bool]]:
    return [Issuance.farmer_id == farmer_id, Issuance.season == season]
