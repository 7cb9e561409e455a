"""Works: creation by the farmer or their town, public listing, edits and the offer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from kokudaka.models import Investment, InvestmentStatus, User, Work
from tests.world import PASSWORD, PRICE_YEN_PER_GO, SEASON, Person, World, assert_problem, count


def work_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "season": SEASON,
        "title": "棚田のコシヒカリ",
        "variety": "コシヒカリ",
        "description": "標高300mの棚田。",
        "field_area_m2": 5_000,
        "planned_yield_go": 1_800_000,
        "offer_yen": 500_000,
    }
    body.update(changes)
    return body


def create(world: World, person: Person, **changes: Any) -> dict[str, Any]:
    response = world.client.post("/v1/works", json=work_body(**changes), headers=person.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def subscribe(world: World, work_id: uuid.UUID | str, yen: int, status: InvestmentStatus) -> None:
    """An investment row as the investments service leaves it: the yen of one that is not
    cancelled counted in the work's running total (``Work.subscribed_yen``)."""
    with world.db.begin() as session:
        work = session.get(Work, uuid.UUID(str(work_id)))
        assert work is not None
        if status is not InvestmentStatus.cancelled:
            work.subscribed_yen += yen
        go = yen // PRICE_YEN_PER_GO
        session.add(
            Investment(
                supporter_id=world.alice.id,
                work_id=work.id,
                municipality_id=work.municipality_id,
                amount_yen=yen,
                price_yen_per_go=PRICE_YEN_PER_GO,
                go_amount=go,
                remainder_yen=yen - go * PRICE_YEN_PER_GO,
                status=status,
            )
        )


def test_farmer_creates_a_work_for_themself(world: World) -> None:
    work = create(world, world.a.farmer)
    assert work["farmer_id"] == str(world.a.farmer_id)
    assert work["municipality_id"] == str(world.a.municipality_id)
    assert work["planned_yield"] == {"go": 1_800_000, "koku": "1800.000"}
    assert work["is_open"] is True
    assert work["subscribed_yen"] == 0
    assert work["remaining_yen"] == 500_000

    own_id = create(world, world.a.farmer, farmer_id=str(world.a.farmer_id), is_open=False)
    assert own_id["farmer_id"] == str(world.a.farmer_id)
    assert own_id["is_open"] is False

    public = world.client.get(f"/v1/works/{work['id']}")
    assert public.status_code == 200
    assert public.json() == work


def test_town_admin_creates_a_work_for_a_farmer_of_their_town(world: World) -> None:
    work = create(world, world.a.admin, farmer_id=str(world.a.farmer_id))
    assert work["farmer_id"] == str(world.a.farmer_id)
    assert work["municipality_id"] == str(world.a.municipality_id)


def test_a_farmer_registered_through_the_api_opens_their_own_work(world: World) -> None:
    registered = world.client.post(
        "/v1/farmers",
        json={
            "email": "kimura@example.jp",
            "password": PASSWORD,
            "name": "木村花子",
            "farm_name": "木村農園",
        },
        headers=world.b.admin.headers,
    )
    assert registered.status_code == 201, registered.text
    token = world.client.post(
        "/v1/auth/token", data={"username": "kimura@example.jp", "password": PASSWORD}
    ).json()["access_token"]
    with world.db() as session:
        user_id = session.scalar(select(User.id).where(User.email == "kimura@example.jp"))
    assert user_id is not None
    work = create(world, Person(user_id, "kimura@example.jp", token))
    assert work["farmer_id"] == registered.json()["id"]
    assert work["municipality_id"] == str(world.b.municipality_id)


def test_work_creation_refused_outside_the_farmer_and_their_town(world: World) -> None:
    works = count(world, Work)
    assert_problem(world.client.post("/v1/works", json=work_body()), 401, "not_authenticated")
    # A farmer may not create a work for another farmer.
    assert_problem(
        world.client.post(
            "/v1/works",
            json=work_body(farmer_id=str(world.b.farmer_id)),
            headers=world.a.farmer.headers,
        ),
        403,
        "forbidden",
    )
    # Another town's administrator may not create one for this town's farmer.
    assert_problem(
        world.client.post(
            "/v1/works",
            json=work_body(farmer_id=str(world.a.farmer_id)),
            headers=world.b.admin.headers,
        ),
        403,
        "forbidden",
    )
    for person in (world.alice, world.auditor, world.other_region_auditor, world.platform_admin):
        assert_problem(
            world.client.post(
                "/v1/works",
                json=work_body(farmer_id=str(world.a.farmer_id)),
                headers=person.headers,
            ),
            403,
            "forbidden",
        )
    assert count(world, Work) == works


def test_town_admin_must_name_an_existing_farmer(world: World) -> None:
    works = count(world, Work)
    assert_problem(
        world.client.post("/v1/works", json=work_body(), headers=world.a.admin.headers),
        422,
        "farmer_id_required",
    )
    assert_problem(
        world.client.post(
            "/v1/works",
            json=work_body(farmer_id=str(uuid.uuid4())),
            headers=world.a.admin.headers,
        ),
        404,
        "not_found",
    )
    assert count(world, Work) == works


@pytest.mark.parametrize(
    "change",
    [
        {"field_area_m2": 0},
        {"planned_yield_go": 0},
        {"planned_yield_go": 10**12 + 1},
        {"offer_yen": -1},
        {"offer_yen": 10**12 + 1},
        {"season": 1999},
        {"title": ""},
        {"title": "x" * 201},
        {"variety": "x" * 101},
        {"description": "x" * 5001},
        {"planned_yield_go": 1.5},
        {"municipality_id": "00000000-0000-0000-0000-000000000000"},
        {"subscribed_yen": 0},
        {"id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_bad_work_input_is_422_and_writes_nothing(world: World, change: dict[str, Any]) -> None:
    works = count(world, Work)
    response = world.client.post(
        "/v1/works", json=work_body(**change), headers=world.a.farmer.headers
    )
    assert_problem(response, 422, "validation_error")
    assert count(world, Work) == works


def test_works_are_listed_publicly_with_filters(world: World) -> None:
    closed = create(world, world.a.farmer, is_open=False, variety="ひとめぼれ")
    later = create(world, world.b.farmer, season=SEASON + 1)

    def ids(**params: str | int | bool) -> set[str]:
        response = world.client.get("/v1/works", params=params)
        assert response.status_code == 200, response.text
        return {w["id"] for w in response.json()["items"]}

    a_work, b_work = str(world.a.work_id), str(world.b.work_id)
    assert ids() == {a_work, b_work, closed["id"], later["id"]}
    assert ids(municipality_id=str(world.a.municipality_id)) == {a_work, closed["id"]}
    assert ids(farmer_id=str(world.b.farmer_id)) == {b_work, later["id"]}
    assert ids(variety="ひとめぼれ") == {closed["id"]}
    assert ids(season=SEASON + 1) == {later["id"]}
    assert ids(is_open="false") == {closed["id"]}
    assert ids(is_open="true", municipality_id=str(world.a.municipality_id)) == {a_work}
    assert_problem(world.client.get("/v1/works", params={"season": 3000}), 422, "validation_error")


def test_works_page_by_cursor_with_subscribed_yen(world: World) -> None:
    expected = {str(world.a.work_id), str(world.b.work_id)}
    for n in range(6):
        expected.add(create(world, world.a.farmer, title=f"作品{n}", offer_yen=1_000 * n)["id"])
    subscribe(world, world.a.work_id, 3_000, InvestmentStatus.pending_payment)
    subscribe(world, world.a.work_id, 4_000, InvestmentStatus.confirmed)
    subscribe(world, world.a.work_id, 100_000, InvestmentStatus.cancelled)
    subscribe(world, world.b.work_id, 50, InvestmentStatus.confirmed)

    seen: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = world.client.get("/v1/works", params=params).json()
        for work in page["items"]:
            order.append(work["id"])
            seen[work["id"]] = work
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(order) == len(set(order)) == 8
    assert set(order) == expected
    a_work = seen[str(world.a.work_id)]
    assert a_work["subscribed_yen"] == 7_000
    assert a_work["remaining_yen"] == a_work["offer_yen"] - 7_000
    assert seen[str(world.b.work_id)]["subscribed_yen"] == 50
    assert all(
        w["subscribed_yen"] == 0
        for i, w in seen.items()
        if i
        not in {
            str(world.a.work_id),
            str(world.b.work_id),
        }
    )

    single = world.client.get(f"/v1/works/{world.a.work_id}").json()
    assert single["subscribed_yen"] == 7_000


def test_unknown_work_is_404(world: World) -> None:
    assert_problem(world.client.get(f"/v1/works/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(
        world.client.patch(
            f"/v1/works/{uuid.uuid4()}", json={"title": "x"}, headers=world.a.admin.headers
        ),
        404,
        "not_found",
    )


def test_owner_farmer_and_town_admin_edit_a_work(world: World) -> None:
    path = f"/v1/works/{world.a.work_id}"
    by_farmer = world.client.patch(
        path, json={"title": "新しい題", "is_open": False}, headers=world.a.farmer.headers
    )
    assert by_farmer.status_code == 200, by_farmer.text
    assert by_farmer.json()["title"] == "新しい題"
    assert by_farmer.json()["is_open"] is False
    by_admin = world.client.patch(
        path,
        json={"description": "説明", "field_area_m2": 12_000, "planned_yield_go": 4_000_000},
        headers=world.a.admin.headers,
    )
    assert by_admin.status_code == 200, by_admin.text
    body = by_admin.json()
    assert body["title"] == "新しい題"
    assert body["field_area_m2"] == 12_000
    assert body["planned_yield"]["go"] == 4_000_000
    assert world.client.get(path).json() == body


def test_work_edits_refused_to_everyone_else(world: World) -> None:
    path = f"/v1/works/{world.a.work_id}"
    before = world.client.get(path).json()
    assert_problem(world.client.patch(path, json={"title": "x"}), 401, "not_authenticated")
    for person in (
        world.b.admin,
        world.b.farmer,
        world.alice,
        world.auditor,
        world.other_region_auditor,
        world.platform_admin,
    ):
        assert_problem(
            world.client.patch(path, json={"title": "hacked"}, headers=person.headers),
            403,
            "forbidden",
        )
    assert world.client.get(path).json() == before


@pytest.mark.parametrize(
    "body",
    [
        {"farmer_id": "__b__"},
        {"municipality_id": "__b__"},
        {"season": SEASON + 1},
        {"subscribed_yen": 0},
        {"title": None},
        {"offer_yen": None},
        {"is_open": None},
        {"field_area_m2": -5},
        {"description": "x" * 5001},
    ],
)
def test_work_edit_refuses_mass_assignment_and_bad_input(
    world: World, body: dict[str, Any]
) -> None:
    body = {k: str(world.b.farmer_id) if v == "__b__" else v for k, v in body.items()}
    path = f"/v1/works/{world.a.work_id}"
    before = world.client.get(path).json()
    response = world.client.patch(path, json=body, headers=world.a.farmer.headers)
    assert_problem(response, 422, "validation_error")
    assert world.client.get(path).json() == before


def test_offer_cannot_go_below_what_is_subscribed(world: World) -> None:
    subscribe(world, world.a.work_id, 6_000, InvestmentStatus.pending_payment)
    subscribe(world, world.a.work_id, 4_000, InvestmentStatus.confirmed)
    subscribe(world, world.a.work_id, 90_000, InvestmentStatus.cancelled)
    path = f"/v1/works/{world.a.work_id}"

    below = world.client.patch(path, json={"offer_yen": 9_999}, headers=world.a.admin.headers)
    assert_problem(below, 409, "offer_below_subscribed")
    assert "10000" in below.json()["detail"]
    assert world.client.get(path).json()["offer_yen"] == 10_000_000

    exact = world.client.patch(path, json={"offer_yen": 10_000}, headers=world.a.farmer.headers)
    assert exact.status_code == 200, exact.text
    assert exact.json()["subscribed_yen"] == 10_000
    assert exact.json()["remaining_yen"] == 0
