"""Posting, reading and listing volunteer activities."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kokudaka.models import Activity
from tests.volunteering.helpers import ACTIVITY_ON, activity_body, logged, post_activity, row_counts
from tests.world import VOLUNTEER_GO_PER_HOUR, World, assert_problem


def test_farmer_posts_on_their_own_farm_at_the_policy_rate(
    client: httpx.Client, world: World
) -> None:
    activity = post_activity(client, world.a.farmer)
    assert activity["municipality_id"] == str(world.a.municipality_id)
    assert activity["farmer_id"] == str(world.a.farmer_id)
    assert activity["created_by_id"] == str(world.a.farmer.id)
    assert activity["go_per_hour"] == VOLUNTEER_GO_PER_HOUR
    assert activity["max_hours_per_person"] == "4.5"
    assert activity["activity_on"] == ACTIVITY_ON
    assert (activity["participants"], activity["remaining_capacity"]) == (0, 10)
    with world.db() as session:
        stored = session.scalars(select(Activity)).one()
        assert stored.max_minutes_per_person == 270

    public = client.get(f"/v1/activities/{activity['id']}")
    assert public.status_code == 200
    assert public.json() == activity


def test_farmer_may_set_a_lower_rate_but_not_a_higher_one(
    client: httpx.Client, world: World
) -> None:
    lower = post_activity(client, world.a.farmer, go_per_hour=300)
    assert lower["go_per_hour"] == 300
    assert post_activity(client, world.a.farmer, go_per_hour=0)["go_per_hour"] == 0

    before = row_counts(world)
    higher = client.post(
        "/v1/activities",
        json=activity_body(go_per_hour=VOLUNTEER_GO_PER_HOUR + 1),
        headers=world.a.farmer.headers,
    )
    assert_problem(higher, 409, "rate_above_policy")
    assert row_counts(world) == before


def test_no_policy_for_the_season_is_a_conflict(client: httpx.Client, world: World) -> None:
    for body in (
        activity_body(activity_on="2031-05-01"),
        activity_body(activity_on="2031-05-01", go_per_hour=1),
    ):
        response = client.post("/v1/activities", json=body, headers=world.a.farmer.headers)
        assert_problem(response, 409, "policy_missing")
    assert row_counts(world)["activities"] == 0


def test_town_admin_posts_for_their_town_with_or_without_a_host(
    client: httpx.Client, world: World
) -> None:
    town_event = post_activity(client, world.a.admin)
    assert town_event["municipality_id"] == str(world.a.municipality_id)
    assert town_event["farmer_id"] is None

    hosted = post_activity(client, world.a.admin, farmer_id=str(world.a.farmer_id))
    assert hosted["farmer_id"] == str(world.a.farmer_id)
    assert hosted["municipality_id"] == str(world.a.municipality_id)

    other_town = client.post(
        "/v1/activities",
        json=activity_body(farmer_id=str(world.b.farmer_id)),
        headers=world.a.admin.headers,
    )
    assert_problem(other_town, 403, "forbidden")
    unknown = client.post(
        "/v1/activities",
        json=activity_body(farmer_id="00000000-0000-7000-8000-000000000000"),
        headers=world.a.admin.headers,
    )
    assert_problem(unknown, 404, "not_found")
    assert row_counts(world)["activities"] == 2


def test_a_farmer_cannot_post_for_another_farmer(client: httpx.Client, world: World) -> None:
    response = client.post(
        "/v1/activities",
        json=activity_body(farmer_id=str(world.b.farmer_id)),
        headers=world.a.farmer.headers,
    )
    assert_problem(response, 403, "forbidden")
    own = post_activity(client, world.a.farmer, farmer_id=str(world.a.farmer_id))
    assert own["farmer_id"] == str(world.a.farmer_id)


def test_only_farmers_and_town_admins_post(client: httpx.Client, world: World) -> None:
    for person in (world.alice, world.auditor, world.platform_admin):
        response = client.post("/v1/activities", json=activity_body(), headers=person.headers)
        assert_problem(response, 403, "forbidden")
    assert_problem(client.post("/v1/activities", json=activity_body()), 401, "not_authenticated")
    assert row_counts(world)["activities"] == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"title": "x" * 201},
        {"title": "   "},
        {"description": "x" * 5001},
        {"place": ""},
        {"place": "x" * 201},
        {"capacity": 0},
        {"capacity": 10_001},
        {"capacity": "5"},
        {"max_hours_per_person": 0},
        {"max_hours_per_person": "24.25"},
        {"max_hours_per_person": "1.1"},
        {"max_hours_per_person": "NaN"},
        {"go_per_hour": -1},
        {"go_per_hour": 1_000_001},
        {"go_per_hour": 2.5},
        {"activity_on": "2026-02-30"},
        {"municipality_id": "00000000-0000-7000-8000-000000000000"},
    ],
)
def test_invalid_activity_is_refused_and_nothing_is_written(
    client: httpx.Client, world: World, overrides: dict[str, Any]
) -> None:
    response = client.post(
        "/v1/activities", json=activity_body(**overrides), headers=world.a.farmer.headers
    )
    assert_problem(response, 422, "validation_error")
    assert row_counts(world)["activities"] == 0


def test_unknown_activity_is_404(client: httpx.Client, world: World) -> None:
    assert_problem(
        client.get("/v1/activities/00000000-0000-7000-8000-000000000000"), 404, "not_found"
    )
    assert_problem(client.get("/v1/activities/not-a-uuid"), 422, "validation_error")


def test_list_filters_and_shows_participants(client: httpx.Client, world: World) -> None:
    a_farm = post_activity(client, world.a.farmer, capacity=3, activity_on="2026-05-10")
    a_town = post_activity(client, world.a.admin, activity_on="2026-08-01")
    b_farm = post_activity(client, world.b.farmer, activity_on="2026-09-20")
    logged(client, world.alice, a_farm["id"])
    logged(client, world.bob, a_farm["id"], "1")

    everything = client.get("/v1/activities").json()
    assert [item["id"] for item in everything["items"]] == [
        b_farm["id"],
        a_town["id"],
        a_farm["id"],
    ]
    assert everything["next_cursor"] is None
    listed = {item["id"]: item for item in everything["items"]}
    assert (listed[a_farm["id"]]["participants"], listed[a_farm["id"]]["remaining_capacity"]) == (
        2,
        1,
    )
    assert listed[b_farm["id"]]["participants"] == 0

    def ids(**params: str) -> set[str]:
        response = client.get("/v1/activities", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids(municipality_id=str(world.a.municipality_id)) == {a_farm["id"], a_town["id"]}
    assert ids(farmer_id=str(world.b.farmer_id)) == {b_farm["id"]}
    assert ids(**{"from": "2026-08-01"}) == {a_town["id"], b_farm["id"]}
    assert ids(to="2026-08-01") == {a_farm["id"], a_town["id"]}
    assert ids(**{"from": "2026-06-01", "to": "2026-08-31"}) == {a_town["id"]}
    assert ids(municipality_id=str(world.b.municipality_id), to="2026-08-01") == set()
    assert_problem(client.get("/v1/activities", params={"from": "June"}), 422, "validation_error")


def test_list_pages_by_cursor(client: httpx.Client, world: World) -> None:
    posted = [post_activity(client, world.a.farmer, title=f"day {n}")["id"] for n in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/activities", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(posted))
    assert_problem(client.get("/v1/activities", params={"cursor": "!!"}), 422, "invalid_cursor")
    assert_problem(client.get("/v1/activities", params={"limit": "0"}), 422, "validation_error")
