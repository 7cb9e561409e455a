"""The weekly charts read running day rows (town and farmer): they equal the standing
issuances summed afresh, through town events with no farmer and reversals, and a day
is Japan's calendar day on both databases."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kokudaka.console.stats import WeeklySeries, farmer_weekly, town_weekly
from kokudaka.ledger.daily import (
    as_date,
    farmer_day_totals,
    farmer_days,
    move_issuance_days,
    recompute_issuance_days,
    town_day_totals,
    town_days,
)
from kokudaka.models import Issuance, IssuanceKind
from tests.console.helpers import confirmed, invested, pending_hours
from tests.world import SEASON, World

JAPAN = timedelta(hours=9)


def _recounted(session: Session, *conditions: object) -> WeeklySeries:
    """The series as the charts drew it before the running rows: every standing issuance
    read and summed per Monday of its week in Japan."""
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for issuance in session.scalars(
        select(Issuance).where(*conditions, Issuance.reversal_entry_id.is_(None))  # type: ignore[arg-type]
    ):
        day = (issuance.created_at + JAPAN).date()
        sums[day - timedelta(days=day.weekday())][issuance.kind.value] += issuance.amount_go
    if not sums:
        return WeeklySeries([], {kind.value: [] for kind in IssuanceKind})
    first, last = min(sums), max(sums)
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return WeeklySeries(
        [week.isoformat() for week in weeks],
        {kind.value: [sums[week][kind.value] for week in weeks] for kind in IssuanceKind},
    )


def _rows_equal_recount(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    for table, recount in (
        (town_days, town_day_totals(dialect)),
        (farmer_days, farmer_day_totals(dialect)),
    ):
        running = {
            (owner, season, day, kind): go
            for owner, season, day, kind, go in session.execute(table.select())
            if go
        }
        summed = {
            (owner, season, as_date(day), kind): go
            for owner, season, day, kind, go in session.execute(recount)
        }
        assert running == summed


def _town_event_hours(world: World) -> None:
    """Hours on an activity the town hosts, with no farmer: KOKU for the town's chart
    only."""
    activity = world.client.post(
        "/v1/activities",
        json={
            "title": "町の清掃",
            "description": "",
            "activity_on": f"{SEASON}-05-21",
            "place": "野沢",
            "capacity": 10,
            "max_hours_per_person": "8",
        },
        headers=world.a.admin.headers,
    )
    assert activity.status_code == 201, activity.text
    logged = world.client.post(
        f"/v1/activities/{activity.json()['id']}/contributions",
        json={"hours": "2"},
        headers=world.bob.headers,
    )
    assert logged.status_code == 201, logged.text
    approved = world.client.post(
        f"/v1/contributions/{logged.json()['id']}/approve",
        json={},
        headers=world.a.admin.headers,
    )
    assert approved.status_code == 200, approved.text


def test_the_charts_equal_the_standing_issuances(world: World) -> None:
    for amount_yen in (1_000, 2_000, 3_000):
        confirmed(world, world.a, invested(world, world.a, world.alice, amount_yen))
    confirmed(world, world.b, invested(world, world.b, world.bob, 5_000))
    contribution = pending_hours(world, world.a, world.bob)
    approved = world.client.post(
        f"/v1/contributions/{contribution}/approve", json={}, headers=world.a.farmer.headers
    )
    assert approved.status_code == 200, approved.text
    _town_event_hours(world)
    with world.db() as session:
        first = session.scalars(
            select(Issuance.entry_id)
            .where(Issuance.municipality_id == world.a.municipality_id)
            .order_by(Issuance.id)
        ).first()
    reversed_ = world.client.post(
        f"/v1/ledger/entries/{first}/reverse",
        json={"reason": "二重入金"},
        headers=world.a.admin.headers,
    )
    assert reversed_.status_code == 201, reversed_.text

    with world.db() as session:
        _rows_equal_recount(session)
        town = town_weekly(session, [world.a.municipality_id], SEASON)
        assert town == _recounted(
            session, Issuance.municipality_id == world.a.municipality_id, Issuance.season == SEASON
        )
        # 2,000 and 3,000 yen at 10 yen a go, 2.5 hours for the farmer, 2 for the town.
        assert sum(town.go_by_kind["investment"]) == 500
        assert sum(town.go_by_kind["contribution"]) == 2_250
        farmer = farmer_weekly(session, world.a.farmer_id, SEASON)
        assert farmer == _recounted(
            session, Issuance.farmer_id == world.a.farmer_id, Issuance.season == SEASON
        )
        assert sum(farmer.go_by_kind["contribution"]) == 1_250
        region = town_weekly(session, [world.a.municipality_id, world.b.municipality_id], SEASON)
        assert sum(region.go_by_kind["investment"]) == 1_000


def test_a_day_is_japans_calendar_day(world: World) -> None:
    """Sunday 23:59:59 and Monday 00:00 in Japan (14:59:59 and 15:00 UTC) fall in two
    weeks, counted the same by the write path (Python) and the rebuild (SQL)."""
    for amount_yen in (1_000, 2_000):
        confirmed(world, world.a, invested(world, world.a, world.alice, amount_yen))
    sunday_night = datetime(SEASON, 6, 7, 14, 59, 59, tzinfo=UTC)
    monday = sunday_night + timedelta(seconds=1)
    with world.db.begin() as session:
        ids = session.scalars(
            select(Issuance.id).where(Issuance.municipality_id == world.a.municipality_id)
        ).all()
        for issuance_id, at in zip(sorted(ids), (sunday_night, monday), strict=True):
            session.execute(
                update(Issuance).where(Issuance.id == issuance_id).values(created_at=at)
            )
        recompute_issuance_days(session)
    with world.db() as session:
        weekly = town_weekly(session, [world.a.municipality_id], SEASON)
        assert weekly.weeks == ["2026-06-01", "2026-06-08"]
        assert weekly.go_by_kind["investment"] == [100, 200]
    with world.db.begin() as session:
        session.execute(town_days.delete())
        session.execute(farmer_days.delete())
        for issuance in session.scalars(select(Issuance)):
            move_issuance_days(session.connection(), issuance, 1)
    with world.db() as session:
        _rows_equal_recount(session)
        assert town_weekly(session, [world.a.municipality_id], SEASON) == weekly
