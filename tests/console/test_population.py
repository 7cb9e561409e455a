"""関係人口: supporters by home prefecture, new and returning, volunteer visits, and
those who both invested and volunteered; counts only, small prefectures folded."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kokudaka.console.population import relationship_population
from kokudaka.console.stats import town_rows
from kokudaka.ledger.regions import region_of
from kokudaka.models import Issuance, Municipality
from tests.console.helpers import confirmed, invested, pending_hours, signed_in_client
from tests.world import SEASON, Person, World


def _from(world: World, person: Person, code: str) -> None:
    response = world.client.patch(
        "/v1/me", json={"home_prefecture_code": code}, headers=person.headers
    )
    assert response.status_code == 200, response.text


def _last_season_investment(world: World, supporter: Person, season: int = SEASON - 1) -> None:
    """An investment confirmed in an earlier season (the one before), in town a."""
    policy = world.client.put(
        f"/v1/municipalities/{world.a.municipality_id}/policy",
        json={
            "season": season,
            "price_yen_per_go": 10,
            "volunteer_go_per_hour": 500,
            "yearly_cap_go": 1_000_000,
        },
        headers=world.a.admin.headers,
    )
    assert policy.status_code in (200, 201), policy.text
    work = world.client.post(
        "/v1/works",
        json={
            "season": season,
            "title": "去年のコシヒカリ",
            "variety": "コシヒカリ",
            "field_area_m2": 1000,
            "planned_yield_go": 100_000,
            "offer_yen": 1_000_000,
        },
        headers=world.a.farmer.headers,
    )
    assert work.status_code == 201, work.text
    made = world.client.post(
        "/v1/investments",
        json={"work_id": work.json()["id"], "amount_yen": 1_000},
        headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    confirmed(world, world.a, made.json()["id"])


def test_the_towns_relationship_population(world: World) -> None:
    tokyo = [world.new_supporter("tokyo") for _ in range(3)]
    for person in tokyo:
        _from(world, person, "13")
        confirmed(world, world.a, invested(world, world.a, person, 1_000))
    _from(world, world.alice, "07")  # the only one from Fukushima: folded into "other"
    confirmed(world, world.a, invested(world, world.a, world.alice, 1_000))
    _last_season_investment(world, world.alice)
    # bob only volunteers; tokyo[0] invests and volunteers
    for person in (world.bob, tokyo[0]):
        contribution = pending_hours(world, world.a, person)
        approved = world.client.post(
            f"/v1/contributions/{contribution}/approve", json={}, headers=world.a.farmer.headers
        )
        assert approved.status_code == 200, approved.text
    confirmed(world, world.b, invested(world, world.b, world.bob, 1_000))  # another town

    with world.db() as session:
        people = relationship_population(session, [world.a.municipality_id], SEASON)
    assert people.supporters == 5
    assert people.by_prefecture == [("13", 3), ("not_given", 1), ("other", 1)]
    assert people.volunteer_visits == 2
    assert people.volunteers == 2
    assert people.invested_and_volunteered == 1
    this, last = people.seasons[-1], people.seasons[-2]
    assert (last.new, last.returning) == (1, 0)
    assert (this.new, this.returning) == (4, 1)  # alice came back

    with world.db() as session:
        region = relationship_population(
            session, [world.a.municipality_id, world.b.municipality_id], SEASON
        )
    assert region.supporters == 5  # bob supported both towns: counted once
    with world.db() as session:
        # Both towns are the whole region: read from its per-person rows.
        both = [world.a.municipality_id, world.b.municipality_id]
        assert region_of(session, both) == world.region_id
        assert region_of(session, both[:1]) is None

    # A reversed issuance no longer counts: bob's only investment in town b.
    with world.db() as session:
        bobs = session.scalar(
            select(Issuance.entry_id).where(
                Issuance.recipient_id == world.bob.id,
                Issuance.municipality_id == world.b.municipality_id,
            )
        )
    reversed_ = world.client.post(
        f"/v1/ledger/entries/{bobs}/reverse",
        json={"reason": "間違い"},
        headers=world.b.admin.headers,
    )
    assert reversed_.status_code == 201, reversed_.text
    with world.db() as session:
        town_b = relationship_population(session, [world.b.municipality_id], SEASON)
        rows = town_rows(session, [session.get_one(Municipality, world.b.municipality_id)], SEASON)
    assert town_b.supporters == 0
    assert rows[0].supporters == 0
    with world.db() as session:
        region = relationship_population(
            session, [world.a.municipality_id, world.b.municipality_id], SEASON
        )
    assert region.supporters == 5  # bob still volunteered in town a
    assert region.seasons[-1].new == 4

    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town").text
    assert "関係人口" in page
    assert "東京都" in page
    assert "その他の都道府県" in page
    assert "福島県" not in page
    assert "alice" not in page


def test_back_after_years_away_is_returning(world: World) -> None:
    """A first season before those shown still makes a person returning, not new."""
    _last_season_investment(world, world.alice, season=SEASON - 3)
    confirmed(world, world.a, invested(world, world.a, world.alice, 1_000))
    confirmed(world, world.a, invested(world, world.a, world.bob, 1_000))
    with world.db() as session:
        people = relationship_population(session, [world.a.municipality_id], SEASON)
    assert [(row.season, row.new, row.returning) for row in people.seasons] == [
        (SEASON - 2, 0, 0),
        (SEASON - 1, 0, 0),
        (SEASON, 1, 1),
    ]
    assert people.supporters == 2
    assert people.volunteers == 0
