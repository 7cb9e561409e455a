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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kokudaka.ledger.regions import region_of
from kokudaka.models import RegionSupporterSeason, SupporterSeason, User

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
    each person counted once).

    One query on running rows: for one whole region its :class:`RegionSupporterSeason`
    rows (one per person and season), for any other set of towns their
    :class:`SupporterSeason` rows (one per person, town and season), a few thousand
    where the issuances are a hundred thousand. Summed per person and season, each
    person's first season beside, and counted in the database per season, first
    season, prefecture and kind of support, so that a few dozen rows come back instead
    of one per person.
    """
    first_shown = season - SEASONS_SHOWN + 1
    towns = list(dict.fromkeys(municipality_ids))
    region_id = region_of(session, towns) if len(towns) > 1 else None
    rows: type[RegionSupporterSeason] | type[SupporterSeason]
    if region_id is not None:
        rows, owned = RegionSupporterSeason, RegionSupporterSeason.region_id == region_id
    else:
        rows, owned = SupporterSeason, SupporterSeason.municipality_id.in_(towns)
    people = (
        select(
            rows.user_id,
            rows.season,
            func.sum(rows.investments).label("investments"),
            func.sum(rows.contributions).label("contributions"),
            # Over every season up to this one, not only those shown: a person back
            # after years away is returning, not new.
            func.min(rows.season).over(partition_by=rows.user_id).label("first_season"),
        )
        .where(
            owned,
            rows.season <= season,
            # Every issuance of the person there was reversed: not a supporter.
            rows.investments + rows.contributions > 0,
        )
        .group_by(rows.user_id, rows.season)
        .subquery()
    )
    # Labelled in a subquery and grouped outside it: PostgreSQL would not take an
    # expression with a bound parameter as its own GROUP BY twin.
    shown = (
        select(
            people.c.season,
            people.c.first_season,
            case((people.c.season == season, User.home_prefecture_code)).label("prefecture"),
            (people.c.investments > 0).label("invested"),
            (people.c.contributions > 0).label("volunteered"),
            people.c.contributions,
        )
        .join(User, User.id == people.c.user_id)
        .where(people.c.season >= first_shown)
        .subquery()
    )
    counted = session.execute(
        select(
            shown.c.season,
            shown.c.first_season,
            shown.c.prefecture,
            shown.c.invested,
            shown.c.volunteered,
            func.count(),
            func.sum(shown.c.contributions),
        ).group_by(
            shown.c.season,
            shown.c.first_season,
            shown.c.prefecture,
            shown.c.invested,
            shown.c.volunteered,
        )
    ).all()
    per_season: Counter[int] = Counter()
    new: Counter[int] = Counter()
    prefectures: Counter[str] = Counter()
    visits = volunteers = both = 0
    for of_season, first_season, prefecture, invested, volunteered, count, contributed in counted:
        per_season[of_season] += count
        if first_season == of_season:
            new[of_season] += count
        if of_season == season:
            prefectures[prefecture or NOT_GIVEN] += count
            visits += int(contributed)
            if volunteered:
                volunteers += count
                both += count if invested else 0
    return RelationshipPopulation(
        season=season,
        supporters=per_season[season],
        by_prefecture=_by_prefecture(prefectures),
        seasons=[
            SeasonCount(of, new[of], per_season[of] - new[of])
            for of in range(first_shown, season + 1)
        ],
        volunteer_visits=visits,
        volunteers=volunteers,
        invested_and_volunteered=both,
    )


def _by_prefecture(prefectures: Counter[str]) -> list[tuple[str, int]]:
    """Largest first; prefectures with too few supporters to show are folded together."""
    shown: list[tuple[str, int]] = []
    folded = 0
    for code, count in sorted(prefectures.items(), key=lambda row: -row[1]):
        if code != NOT_GIVEN and count < SMALLEST_SHOWN:
            folded += count
        else:
            shown.append((code, count))
    if folded:
        shown.append((OTHER, folded))
    return shown


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
