"""``GET /v1/contributions``: the hours a farmer or town has to approve, scoped by role,
filtered and paged."""

from __future__ import annotations

from typing import Any

from tests.volunteering.helpers import logged, post_activity
from tests.world import SEASON, Person, World, assert_problem


def _list(world: World, person: Person, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/contributions", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _ids(world: World, person: Person, **params: Any) -> set[str]:
    return {item["id"] for item in _list(world, person, **params)["items"]}


def test_each_role_sees_its_scope(world: World) -> None:
    client = world.client
    farm_day = post_activity(client, world.a.farmer)
    town_event = post_activity(client, world.a.admin, title="町の清掃")
    other_town = post_activity(client, world.b.farmer)
    on_farm = logged(client, world.alice, farm_day["id"])["id"]
    at_event = logged(client, world.bob, town_event["id"])["id"]
    elsewhere = logged(client, world.alice, other_town["id"])["id"]

    # The host farmer sees the hours on their own activities, not the town's event.
    assert _ids(world, world.a.farmer) == {on_farm}
    assert _ids(world, world.b.farmer) == {elsewhere}
    assert _ids(world, world.a.admin) == {on_farm, at_event}
    assert _ids(world, world.auditor) == {on_farm, at_event, elsewhere}
    assert _ids(world, world.platform_admin) == {on_farm, at_event, elsewhere}
    assert _ids(world, world.other_region_auditor) == set()

    assert_problem(client.get("/v1/contributions", headers=world.bob.headers), 403, "forbidden")
    assert_problem(
        client.get(
            "/v1/contributions",
            params={"municipality_id": str(world.b.municipality_id)},
            headers=world.a.admin.headers,
        ),
        403,
        "forbidden",
    )


def test_the_approval_queue_and_its_filters(world: World) -> None:
    client = world.client
    planting = post_activity(client, world.a.farmer, title="田植え")
    weeding = post_activity(client, world.a.farmer, title="草取り")
    policy = {"season": SEASON - 1, "price_yen_per_go": 10, "volunteer_go_per_hour": 500}
    assert client.put(
        f"/v1/municipalities/{world.a.municipality_id}/policy",
        json={**policy, "yearly_cap_go": 1_000_000},
        headers=world.a.admin.headers,
    ).is_success
    last_year = post_activity(client, world.a.admin, activity_on=f"{SEASON - 1}-09-20")
    carol = world.new_supporter("carol")
    approved = logged(client, world.alice, planting["id"], "2")["id"]
    waiting = logged(client, world.bob, planting["id"], "1")["id"]
    rejected = logged(client, carol, weeding["id"], "3")["id"]
    old = logged(client, world.alice, last_year["id"], "1")["id"]
    farmer = world.a.farmer
    assert client.post(f"/v1/contributions/{approved}/approve", headers=farmer.headers).is_success
    assert client.post(
        f"/v1/contributions/{rejected}/reject",
        json={"reason": "not there"},
        headers=farmer.headers,
    ).is_success

    assert _ids(world, farmer, status="pending") == {waiting}
    assert _ids(world, world.a.admin, status="pending") == {waiting, old}
    assert _ids(world, farmer, status="approved") == {approved}
    assert _ids(world, farmer, activity_id=weeding["id"]) == {rejected}
    assert _ids(world, world.a.admin, season=SEASON) == {approved, waiting, rejected}
    assert _ids(world, world.a.admin, season=SEASON - 1) == {old}
    assert _ids(world, world.a.admin, q="carol") == {rejected}
    assert _ids(world, world.a.admin, q="bob@example.jp") == {waiting}
    assert _ids(world, farmer, q="bob@example.jp") == set()  # farmers search names only

    item = _list(world, farmer, status="approved")["items"][0]
    assert item["supporter_name"] == "alice"
    assert item["supporter_email"] is None
    assert item["activity"]["title"] == "田植え"
    assert item["hours"] == "2"
    assert item["issuance"]["amount"]["go"] == 1_000
    staff_item = _list(world, world.a.admin, status="approved")["items"][0]
    assert staff_item["supporter_email"] == "alice@example.jp"
    for bad in ({"status": "done"}, {"season": "1999"}, {"activity": weeding["id"]}):
        assert (
            client.get("/v1/contributions", params=bad, headers=farmer.headers).status_code == 422
        )


def test_paging_walks_every_contribution_newest_first(world: World) -> None:
    activity = post_activity(world.client, world.a.farmer, capacity=10)
    made = [logged(world.client, world.new_supporter(), activity["id"])["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = _list(world, world.a.farmer, **params)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
