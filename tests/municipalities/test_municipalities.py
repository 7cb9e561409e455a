"""Regions, municipalities and per-season policies through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import (
    Issuance,
    IssuanceKind,
    Municipality,
    MunicipalityPolicy,
    Region,
)
from tests.world import (
    PRICE_YEN_PER_GO,
    SEASON,
    VOLUNTEER_GO_PER_HOUR,
    YEARLY_CAP_GO,
    Person,
    World,
    assert_problem,
    count,
)


def policy_body(season: int = SEASON, price: int = 12) -> dict[str, int]:
    return {
        "season": season,
        "price_yen_per_go": price,
        "volunteer_go_per_hour": 400,
        "yearly_cap_go": 5_000_000,
    }


def test_platform_admin_creates_region_and_municipality_read_publicly(world: World) -> None:
    client = world.client
    region = client.post(
        "/v1/regions",
        json={"code": "minamiaizu", "name": "南会津"},
        headers=world.platform_admin.headers,
    )
    assert region.status_code == 201, region.text
    region_id = region.json()["id"]
    assert region.json()["code"] == "minamiaizu"

    town = client.post(
        "/v1/municipalities",
        json={"region_id": region_id, "code": "tadami", "name": "只見町"},
        headers=world.platform_admin.headers,
    )
    assert town.status_code == 201, town.text
    town_id = town.json()["id"]
    assert town.json()["region_id"] == region_id

    regions = client.get("/v1/regions").json()["items"]
    assert region_id in {r["id"] for r in regions}
    read = client.get(f"/v1/municipalities/{town_id}")
    assert read.status_code == 200
    assert read.json()["name"] == "只見町"

    in_region = client.get("/v1/municipalities", params={"region_id": region_id}).json()
    assert [m["id"] for m in in_region["items"]] == [town_id]
    assert in_region["next_cursor"] is None
    everywhere = client.get("/v1/municipalities").json()["items"]
    assert {str(world.a.municipality_id), str(world.b.municipality_id), town_id} == {
        m["id"] for m in everywhere
    }


def test_unknown_municipality_is_a_404_problem(world: World) -> None:
    response = world.client.get(f"/v1/municipalities/{uuid.uuid4()}")
    assert_problem(response, 404, "not_found")


def test_only_platform_admins_create_regions_and_municipalities(world: World) -> None:
    client = world.client
    region_body = {"code": "nakadori", "name": "中通り"}
    town_body = {"region_id": str(world.region_id), "code": "aizumisato", "name": "会津美里町"}
    regions, towns = count(world, Region), count(world, Municipality)

    assert_problem(client.post("/v1/regions", json=region_body), 401, "not_authenticated")
    assert_problem(client.post("/v1/municipalities", json=town_body), 401, "not_authenticated")
    for person in (world.a.admin, world.a.farmer, world.alice, world.auditor):
        assert_problem(
            client.post("/v1/regions", json=region_body, headers=person.headers), 403, "forbidden"
        )
        assert_problem(
            client.post("/v1/municipalities", json=town_body, headers=person.headers),
            403,
            "forbidden",
        )
    assert (count(world, Region), count(world, Municipality)) == (regions, towns)


def test_duplicate_codes_conflict_and_write_nothing(world: World) -> None:
    headers = world.platform_admin.headers
    towns = count(world, Municipality)
    taken = world.client.post(
        "/v1/municipalities",
        json={"region_id": str(world.region_id), "code": "nishiaizu", "name": "もう一つ"},
        headers=headers,
    )
    assert_problem(taken, 409, "municipality_code_taken")
    assert count(world, Municipality) == towns

    regions = count(world, Region)
    region_taken = world.client.post(
        "/v1/regions", json={"code": "aizu", "name": "会津2"}, headers=headers
    )
    assert_problem(region_taken, 409, "region_code_taken")
    assert count(world, Region) == regions


@pytest.mark.parametrize(
    "body",
    [
        {"code": "Nishi Aizu", "name": "x"},
        {"code": "a", "name": "x"},
        {"code": "x" * 41, "name": "x"},
        {"code": "ok-code", "name": ""},
        {"code": "ok-code", "name": "x" * 201},
        {"code": "ok-code", "name": "x", "id": str(uuid.uuid4())},
        {"code": "ok-code"},
    ],
)
def test_bad_municipality_input_is_422_and_writes_nothing(
    world: World, body: dict[str, str]
) -> None:
    towns = count(world, Municipality)
    response = world.client.post(
        "/v1/municipalities",
        json={"region_id": str(world.region_id), **body},
        headers=world.platform_admin.headers,
    )
    assert_problem(response, 422, "validation_error")
    assert count(world, Municipality) == towns


def test_municipality_in_unknown_region_is_404(world: World) -> None:
    response = world.client.post(
        "/v1/municipalities",
        json={"region_id": str(uuid.uuid4()), "code": "nowhere", "name": "どこでもない町"},
        headers=world.platform_admin.headers,
    )
    assert_problem(response, 404, "not_found")


def test_municipalities_page_by_cursor_without_gaps_or_repeats(world: World) -> None:
    created = {str(world.a.municipality_id), str(world.b.municipality_id)}
    for n in range(7):
        response = world.client.post(
            "/v1/municipalities",
            json={"region_id": str(world.region_id), "code": f"town-{n}", "name": f"町{n}"},
            headers=world.platform_admin.headers,
        )
        assert response.status_code == 201, response.text
        created.add(response.json()["id"])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = world.client.get("/v1/municipalities", params=params).json()
        assert len(page["items"]) <= 3
        seen.extend(m["id"] for m in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 9
    assert set(seen) == created
    # Newest first.
    assert seen == sorted(seen, key=uuid.UUID, reverse=True)


def test_bad_cursor_and_limit_are_422(world: World) -> None:
    assert_problem(
        world.client.get("/v1/municipalities", params={"cursor": "!!"}), 422, "invalid_cursor"
    )
    assert_problem(
        world.client.get("/v1/municipalities", params={"limit": 0}), 422, "validation_error"
    )


def test_policy_is_public_with_cap_and_issued(world: World) -> None:
    response = world.client.get(
        f"/v1/municipalities/{world.a.municipality_id}/policy", params={"season": SEASON}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["season"] == SEASON
    assert body["price_yen_per_go"] == PRICE_YEN_PER_GO
    assert body["volunteer_go_per_hour"] == VOLUNTEER_GO_PER_HOUR
    assert body["yearly_cap"] == {"go": YEARLY_CAP_GO, "koku": "10000.000"}
    assert body["issued"] == {"go": 0, "koku": "0.000"}
    assert body["remaining"]["go"] == YEARLY_CAP_GO


def test_policy_season_defaults_to_this_year_in_japan(world: World) -> None:
    this_year = datetime.now(UTC).astimezone(timezone(timedelta(hours=9))).year
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    put = world.client.put(path, json=policy_body(this_year), headers=world.a.admin.headers)
    assert put.status_code in (200, 201), put.text
    read = world.client.get(path)
    assert read.status_code == 200, read.text
    assert read.json()["season"] == this_year


def test_missing_policy_and_bad_season_are_problems(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    assert_problem(world.client.get(path, params={"season": 2099}), 404, "not_found")
    assert_problem(world.client.get(path, params={"season": 1999}), 422, "validation_error")
    assert_problem(
        world.client.get(f"/v1/municipalities/{uuid.uuid4()}/policy", params={"season": SEASON}),
        404,
        "not_found",
    )


def test_town_admin_updates_and_creates_own_policy(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    updated = world.client.put(path, json=policy_body(SEASON, 12), headers=world.a.admin.headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["price_yen_per_go"] == 12
    assert updated.json()["yearly_cap"]["go"] == 5_000_000

    policies = count(world, MunicipalityPolicy)
    created = world.client.put(path, json=policy_body(2030, 15), headers=world.a.admin.headers)
    assert created.status_code == 201, created.text
    assert count(world, MunicipalityPolicy) == policies + 1
    again = world.client.put(path, json=policy_body(2030, 16), headers=world.a.admin.headers)
    assert again.status_code == 200
    assert count(world, MunicipalityPolicy) == policies + 1

    read = world.client.get(path, params={"season": 2030}).json()
    assert read["price_yen_per_go"] == 16
    # The other season is untouched.
    assert world.client.get(path, params={"season": SEASON}).json()["price_yen_per_go"] == 12


def test_platform_admin_may_set_any_towns_policy(world: World) -> None:
    response = world.client.put(
        f"/v1/municipalities/{world.b.municipality_id}/policy",
        json=policy_body(SEASON, 20),
        headers=world.platform_admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["price_yen_per_go"] == 20


def test_policy_writes_refused_outside_the_town(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    assert_problem(world.client.put(path, json=policy_body()), 401, "not_authenticated")
    others: list[Person] = [
        world.b.admin,
        world.a.farmer,
        world.alice,
        world.auditor,
        world.other_region_auditor,
    ]
    for person in others:
        assert_problem(
            world.client.put(path, json=policy_body(SEASON, 99), headers=person.headers),
            403,
            "forbidden",
        )
    price = world.client.get(path, params={"season": SEASON}).json()["price_yen_per_go"]
    assert price == PRICE_YEN_PER_GO


@pytest.mark.parametrize(
    "change",
    [
        {"price_yen_per_go": 0},
        {"price_yen_per_go": 10**9 + 1},
        {"volunteer_go_per_hour": -1},
        {"volunteer_go_per_hour": 10**6 + 1},
        {"yearly_cap_go": -1},
        {"yearly_cap_go": 10**15 + 1},
        {"season": 1999},
        {"season": 2201},
        {"price_yen_per_go": "ten"},
        {"municipality_id": str(uuid.uuid4())},
    ],
)
def test_bad_policy_input_is_422_and_changes_nothing(
    world: World, change: dict[str, object]
) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    policies = count(world, MunicipalityPolicy)
    response = world.client.put(
        path, json={**policy_body(SEASON, 77), **change}, headers=world.a.admin.headers
    )
    assert_problem(response, 422, "validation_error")
    assert count(world, MunicipalityPolicy) == policies
    assert world.client.get(path, params={"season": SEASON}).json()["price_yen_per_go"] == (
        PRICE_YEN_PER_GO
    )


def test_policy_change_never_changes_past_issuances(world: World) -> None:
    with world.db.begin() as session:
        issued = issue(
            session,
            municipality_id=world.a.municipality_id,
            season=SEASON,
            recipient_id=world.alice.id,
            amount_go=1_000,
            cause=IssuanceCause(
                kind=IssuanceKind.investment,
                idempotency_key=f"test:{uuid.uuid4()}",
                memo=Memo("investment", {"amount_yen": 0, "title": "before the price change"}),
                farmer_id=world.a.farmer_id,
                work_id=world.a.work_id,
                price_yen_per_go=PRICE_YEN_PER_GO,
            ),
            actor_id=None,
        )
        issuance_id = issued.issuance.id

    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    changed = world.client.put(path, json=policy_body(SEASON, 25), headers=world.a.admin.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_yen_per_go"] == 25
    assert changed.json()["issued"] == {"go": 1_000, "koku": "1.000"}
    assert changed.json()["remaining"]["go"] == 5_000_000 - 1_000

    with world.db() as session:
        stored = session.get(Issuance, issuance_id)
        assert stored is not None
        assert stored.price_yen_per_go == PRICE_YEN_PER_GO
        assert stored.amount_go == 1_000
