"""The national municipality code (全国地方公共団体コード): its check digit, setting it
at creation and by update, and the demo's real codes."""

from __future__ import annotations

import pytest

from kokudaka.demo import TOWNS
from kokudaka.municipalities.schemas import national_code_check_digit
from tests.world import World, assert_problem

# Published codes: the check digit covers every remainder case, 0 (→1) and 1 (→0) too.
PUBLISHED = {
    "074055": "西会津町",
    "072028": "会津若松市",
    "072087": "喜多方市",
    "074217": "会津坂下町",
    "074471": "会津美里町",  # remainder 0: check digit 1
    "074080": "猪苗代町",  # remainder 1: check digit 0
    "012025": "札幌市",
    "131016": "千代田区",
    "010006": "北海道",
}


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_check_digit_of_published_codes(code: str) -> None:
    assert national_code_check_digit(code[:5]) == code[5]


def test_demo_towns_have_valid_codes() -> None:
    for _, name, national_code, _, _ in TOWNS:
        assert PUBLISHED[national_code] == name


def test_set_at_creation_and_by_update(world: World) -> None:
    client, headers = world.client, world.platform_admin.headers
    created = client.post(
        "/v1/municipalities",
        json={
            "region_id": str(world.region_id),
            "code": "aizuwakamatsu",
            "name": "会津若松市",
            "national_code": "072028",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["national_code"] == "072028"
    town_a = f"/v1/municipalities/{world.a.municipality_id}"
    assert client.get(town_a).json()["national_code"] is None

    updated = client.patch(town_a, json={"national_code": "074055"}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["national_code"] == "074055"
    assert updated.json()["name"] == "西会津町"
    assert client.get(town_a).json()["national_code"] == "074055"

    # Unique across towns; setting a town's own code again is no conflict.
    assert_problem(
        client.patch(
            f"/v1/municipalities/{world.b.municipality_id}",
            json={"national_code": "074055"},
            headers=headers,
        ),
        409,
        "national_code_taken",
    )
    assert client.patch(town_a, json={"national_code": "074055"}, headers=headers).is_success
    cleared = client.patch(town_a, json={"national_code": None}, headers=headers)
    assert cleared.json()["national_code"] is None


@pytest.mark.parametrize("bad", ["074056", "74055", "0740550", "07405a", "０７４０５５"])
def test_wrong_codes_are_refused(world: World, bad: str) -> None:
    response = world.client.patch(
        f"/v1/municipalities/{world.a.municipality_id}",
        json={"national_code": bad},
        headers=world.platform_admin.headers,
    )
    assert_problem(response, 422, "validation_error")


def test_only_platform_admins_update(world: World) -> None:
    for person in (world.a.admin, world.auditor, world.alice):
        response = world.client.patch(
            f"/v1/municipalities/{world.a.municipality_id}",
            json={"name": "x"},
            headers=person.headers,
        )
        assert_problem(response, 403, "forbidden")
    assert_problem(
        world.client.patch(
            f"/v1/municipalities/{world.a.municipality_id}",
            json={"name": None},
            headers=world.platform_admin.headers,
        ),
        422,
        "validation_error",
    )
