"""関係人口 (the relationship population): the people a town's rice brings in touch with it.

Numbers a town can put in its report to the prefecture and the national government:
supporters by home prefecture, new and returning supporters per season, volunteer
visits, and how many supporters both invested and volunteered. Counts only, never a
name; and a prefecture with fewer than :data:`SMALLEST_SHOWN` supporters is folded
into "other prefectures", since in a small town a count of one can name a person.

A supporter of a season is anyone with a standing (not reversed) issuance in it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.models import Issuance, IssuanceKind, User

SMALLEST_SHOWN = 3
SEASONS_SHOWN = 3

NOT_GIVEN = "not_given"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class SeasonCount:
    season: int
    new: int
    returning: int


@dataclass(frozen=True, slots=True)
class RelationshipPopulation:
    season: int
    supporters: int
    by_prefecture: list[tuple[str, int]]
    """(JIS code, ``other`` or ``not_given``, supporters), largest first."""
    seasons: list[SeasonCount]
    """The last few seasons, oldest first: supporters new that season or returning."""
    volunteer_visits: int
    """Approved volunteer contributions in the season: one per person and activity."""
    volunteers: int
    invested_and_volunteered: int


def relationship_population(
    session: Session, municipality_ids: Sequence[uuid.UUID], season: int
) -> RelationshipPopulation:
    """The towns' relationship population in ``season`` (for a region: its towns together,
    each person counted once)."""
    rows = session.execute(
        select(Issuance.season, Issuance.kind, Issuance.recipient_id).where(
            Issuance.municipality_id.in_(list(municipality_ids)),
            Issuance.season <= season,
            Issuance.reversal_entry_id.is_(None),
        )
    ).all()
    by_season: dict[int, set[uuid.UUID]] = {}
    investors: set[uuid.UUID] = set()
    volunteers: set[uuid.UUID] = set()
    visits = 0
    for row_season, kind, recipient in rows:
        by_season.setdefault(row_season, set()).add(recipient)
        if row_season == season:
            if kind is IssuanceKind.investment:
                investors.add(recipient)
            else:
                volunteers.add(recipient)
                visits += 1
    this_season = by_season.get(season, set())
    return RelationshipPopulation(
        season=season,
        supporters=len(this_season),
        by_prefecture=_by_prefecture(session, this_season),
        seasons=_new_and_returning(by_season, season),
        volunteer_visits=visits,
        volunteers=len(volunteers),
        invested_and_volunteered=len(investors & volunteers),
    )


def _by_prefecture(session: Session, people: set[uuid.UUID]) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    ids = list(people)
    for start in range(0, len(ids), 1000):  # bounded IN lists on both databases
        chunk = ids[start : start + 1000]
        for (code,) in session.execute(select(User.home_prefecture_code).where(User.id.in_(chunk))):
            counts[code or NOT_GIVEN] += 1
    shown: list[tuple[str, int]] = []
    folded = 0
    for code, count in counts.most_common():
        if code != NOT_GIVEN and count < SMALLEST_SHOWN:
            folded += count
        else:
            shown.append((code, count))
    if folded:
        shown.append((OTHER, folded))
    return shown


def _new_and_returning(by_season: dict[int, set[uuid.UUID]], season: int) -> list[SeasonCount]:
    result = []
    for shown in range(season - SEASONS_SHOWN + 1, season + 1):
        earlier: set[uuid.UUID] = set()
        for other, people in by_season.items():
            if other < shown:
                earlier |= people
        people = by_season.get(shown, set())
        returning = len(people & earlier)
        result.append(SeasonCount(shown, len(people) - returning, returning))
    return result


def prefecture_chart(population: RelationshipPopulation) -> dict[str, object]:
    return {
        "labels": [code for code, _ in population.by_prefecture],
        "series": {"supporters": [count for _, count in population.by_prefecture]},
        "unit": "count",
        "label_prefecture": True,
    }


def seasons_chart(population: RelationshipPopulation) -> dict[str, object]:
    return {
        "labels": [str(row.season) for row in population.seasons],
        "series": {
            "new": [row.new for row in population.seasons],
            "returning": [row.returning for row in population.seasons],
        },
        "unit": "count",
        "stacked": True,
    }


def page_context(
    session: Session, municipality_ids: Sequence[uuid.UUID], season: int
) -> dict[str, Any]:
    """What ``_population.html`` shows, for a page's template context."""
    people = relationship_population(session, municipality_ids, season)
    return {
        "people": people,
        "prefecture_chart": prefecture_chart(people),
        "seasons_chart": seasons_chart(people),
        "population_smallest": SMALLEST_SHOWN,
    }
