"""A supporter may tell their home prefecture in the app; it is never required."""

from __future__ import annotations

from tests.world import World, assert_problem


def test_a_supporter_sets_and_withdraws_their_home_prefecture(world: World) -> None:
    before = world.client.get("/v1/me", headers=world.alice.headers).json()
    assert before["home_prefecture_code"] is None
    set_ = world.client.patch(
        "/v1/me", json={"home_prefecture_code": "13"}, headers=world.alice.headers
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["home_prefecture_code"] == "13"
    assert (
        world.client.get("/v1/me", headers=world.alice.headers).json()["home_prefecture_code"]
        == "13"
    )
    withdrawn = world.client.patch(
        "/v1/me", json={"home_prefecture_code": None}, headers=world.alice.headers
    )
    assert withdrawn.json()["home_prefecture_code"] is None


def test_only_the_47_prefecture_codes_are_taken(world: World) -> None:
    for code in ("00", "48", "1", "tokyo", "１３"):
        refused = world.client.patch(
            "/v1/me", json={"home_prefecture_code": code}, headers=world.alice.headers
        )
        assert_problem(refused, 422, "validation_error")
    unknown_field = world.client.patch(
        "/v1/me",
        json={"home_prefecture_code": "13", "role": "platform_admin"},
        headers=world.alice.headers,
    )
    assert_problem(unknown_field, 422, "validation_error")
    assert world.client.patch("/v1/me", json={"home_prefecture_code": "13"}).status_code == 401
