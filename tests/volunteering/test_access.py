"""Who may see and review whose hours: everyone outside gets 403 or 404."""

from __future__ import annotations

from typing import Any

import httpx

from tests.volunteering.helpers import logged, post_activity, row_counts
from tests.world import Person, World, assert_problem


def _setup(client: httpx.Client, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    activity = post_activity(client, world.a.farmer)
    return activity, logged(client, world.alice, activity["id"])


def test_contribution_is_visible_to_its_supporter_host_town_and_auditors(
    client: httpx.Client, world: World
) -> None:
    _, contribution = _setup(client, world)
    url = f"/v1/contributions/{contribution['id']}"
    allowed = (world.alice, world.a.farmer, world.a.admin, world.auditor, world.platform_admin)
    for person in allowed:
        response = client.get(url, headers=person.headers)
        assert response.status_code == 200, (person.email, response.text)
        assert response.json()["id"] == contribution["id"]
    outsiders = (world.bob, world.b.admin, world.b.farmer, world.other_region_auditor)
    for person in outsiders:
        assert_problem(client.get(url, headers=person.headers), 404, "not_found")


def test_only_the_host_farmer_and_town_admins_review(client: httpx.Client, world: World) -> None:
    _, contribution = _setup(client, world)
    before = row_counts(world)
    outsiders: tuple[Person, ...] = (
        world.alice,  # the contributor, who is no reviewer
        world.bob,
        world.b.admin,
        world.b.farmer,
        world.auditor,  # auditors read, never review
        world.other_region_auditor,
        world.platform_admin,
    )
    for person in outsiders:
        for action, body in (("approve", None), ("reject", {"reason": "no"})):
            response = client.post(
                f"/v1/contributions/{contribution['id']}/{action}",
                json=body,
                headers=person.headers,
            )
            assert_problem(response, 404, "not_found")
    assert row_counts(world) == before


def test_town_b_farmer_does_not_review_town_a_events(client: httpx.Client, world: World) -> None:
    town_event = post_activity(client, world.a.admin)
    contribution = logged(client, world.alice, town_event["id"])
    for person in (world.a.farmer, world.b.farmer):
        response = client.post(
            f"/v1/contributions/{contribution['id']}/approve", headers=person.headers
        )
        assert_problem(response, 404, "not_found")
    response = client.post(
        f"/v1/contributions/{contribution['id']}/approve", headers=world.a.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["issuance"]["farmer_id"] is None


def test_only_supporters_log_hours(client: httpx.Client, world: World) -> None:
    activity, _ = _setup(client, world)
    staff = (
        world.a.farmer,
        world.a.admin,
        world.b.admin,
        world.auditor,
        world.other_region_auditor,
        world.platform_admin,
    )
    for person in staff:
        response = client.post(
            f"/v1/activities/{activity['id']}/contributions",
            json={"hours": "1"},
            headers=person.headers,
        )
        assert_problem(response, 403, "forbidden")
    assert row_counts(world)["contributions"] == 1


def test_problem_messages_follow_the_language(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer, max_hours_per_person="2")
    url = f"/v1/activities/{activity['id']}/contributions"
    english = client.post(url, json={"hours": "3"}, headers=world.alice.headers)
    japanese = client.post(
        url, json={"hours": "3"}, headers={**world.alice.headers, "Accept-Language": "ja"}
    )
    assert english.json()["detail"] == "At most 2 hours per person for this activity."
    assert japanese.json()["detail"] == "この活動は1人あたり最大2時間です。"
    rate = client.post(
        "/v1/activities",
        json={
            "title": "t",
            "activity_on": "2026-05-01",
            "place": "p",
            "capacity": 1,
            "max_hours_per_person": 1,
            "go_per_hour": 900,
        },
        headers={**world.a.farmer.headers, "Accept-Language": "ja"},
    )
    assert_problem(rate, 409, "rate_above_policy")
    assert rate.json()["detail"] == "1時間あたり900合は自治体のポリシー(500合)を超えています。"
