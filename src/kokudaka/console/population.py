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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, select
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
    each person counted once). Every figure is one aggregate query on the issuances."""
    towns = Issuance.municipality_id.in_(list(municipality_ids))
    standing = Issuance.reversal_entry_id.is_(None)
    of_season = and_(towns, standing, Issuance.season == season)
    supporters, visits, volunteers = session.execute(
        select(
            func.count(distinct(Issuance.recipient_id)),
            func.count().filter(Issuance.kind == IssuanceKind.contribution),
            func.count(distinct(Issuance.recipient_id)).filter(
                Issuance.kind == IssuanceKind.contribution
            ),
        ).where(of_season)
    ).one()
    # Both kinds in the season: a grouped scan, no correlated subquery (which SQLite
    # plans poorly).
    both_kinds = (
        select(Issuance.recipient_id)
        .where(of_season)
        .group_by(Issuance.recipient_id)
        .having(func.count(distinct(Issuance.kind)) == len(IssuanceKind))
        .subquery()
    )
    both = session.scalar(select(func.count()).select_from(both_kinds))
    return RelationshipPopulation(
        season=season,
        supporters=int(supporters),
        by_prefecture=_by_prefecture(session, of_season),
        seasons=_new_and_returning(session, municipality_ids, season),
        volunteer_visits=int(visits),
        volunteers=int(volunteers),
        invested_and_volunteered=int(both or 0),
    )


def _by_prefecture(session: Session, of_season: ColumnElement[bool]) -> list[tuple[str, int]]:
    rows = session.execute(
        select(User.home_prefecture_code, func.count(distinct(Issuance.recipient_id)))
        .join(User, User.id == Issuance.recipient_id)
        .where(of_season)
        .group_by(User.home_prefecture_code)
    ).all()
    counts = sorted(
        ((code or NOT_GIVEN, int(count)) for code, count in rows), key=lambda row: -row[1]
    )
    shown: list[tuple[str, int]] = []
    folded = 0
    for code, count in counts:
        if code != NOT_GIVEN and count < SMALLEST_SHOWN:
            folded += count
        else:
            shown.append((code, count))
    if folded:
        shown.append((OTHER, folded))
    return shown


def _new_and_returning(
    session: Session, municipality_ids: Sequence[uuid.UUID], season: int
) -> list[SeasonCount]:
    """Per season shown: its supporters, and how many of them came for the first time
    (their earliest season with the towns); the others are returning."""
    first = season - SEASONS_SHOWN + 1
    standing = and_(
        Issuance.municipality_id.in_(list(municipality_ids)),
        Issuance.reversal_entry_id.is_(None),
    )
    people: dict[int, int] = dict(
        session.execute(
            select(Issuance.season, func.count(distinct(Issuance.recipient_id)))
            .where(standing, Issuance.season.between(first, season))
            .group_by(Issuance.season)
        ).all()
    )
    firsts = (
        select(func.min(Issuance.season).label("first_season"))
        .where(standing, Issuance.season <= season)
        .group_by(Issuance.recipient_id)
        .subquery()
    )
    new: dict[int, int] = dict(
        session.execute(
            select(firsts.c.first_season, func.count())
            .where(firsts.c.first_season >= first)
            .group_by(firsts.c.first_season)
        ).all()
    )
    return [
        SeasonCount(
            shown,
            int(new.get(shown, 0)),
            int(people.get(shown, 0)) - int(new.get(shown, 0)),
        )
        for shown in range(first, season + 1)
    ]


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
