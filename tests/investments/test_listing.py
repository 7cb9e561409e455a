"""``GET /v1/investments``: the payments a town has to confirm, a farmer's supporters,
scoped by role, filtered and paged."""

from __future__ import annotations

import uuid
from typing import Any

from kokudaka.models import Farmer, MunicipalityPolicy, Work
from tests.investments.test_investments import invest
from tests.world import PASSWORD, PRICE_YEN_PER_GO, SEASON, Person, World, assert_problem


def _created(world: World, person: Person, work_id: uuid.UUID, yen: int) -> str:
    response = invest(world, person.headers, work_id, yen)
    assert response.status_code == 201, response.text
    investment_id: str = response.json()["id"]
    return investment_id


def _second_farmer_of_town_a(world: World) -> tuple[Person, uuid.UUID]:
    """Another farmer of town a, with a work of last season."""
    response = world.client.post(
        "/v1/farmers",
        json={
            "email": "yamada@example.jp",
            "password": PASSWORD,
            "name": "山田 次郎",
            "farm_name": "山田農園",
        },
        headers=world.a.admin.headers,
    )
    assert response.status_code == 201, response.text
    with world.db.begin() as session:
        farmer = session.get(Farmer, uuid.UUID(response.json()["id"]))
        assert farmer is not None
        session.add(
            MunicipalityPolicy(
                municipality_id=world.a.municipality_id,
                season=SEASON - 1,
                price_yen_per_go=PRICE_YEN_PER_GO,
                volunteer_go_per_hour=500,
                yearly_cap_go=10_000_000,
            )
        )
        work = Work(
            farmer_id=farmer.id,
            municipality_id=world.a.municipality_id,
            season=SEASON - 1,
            title="山田農園のひとめぼれ",
            variety="ひとめぼれ",
            field_area_m2=5_000,
            planned_yield_go=1_000_000,
            offer_yen=1_000_000,
        )
        session.add(work)
        session.flush()
        work_id = work.id
    token = world.client.post(
        "/v1/auth/token", data={"username": "yamada@example.jp", "password": PASSWORD}
    ).json()["access_token"]
    return Person(farmer.user_id, "yamada@example.jp", token), work_id


def _list(world: World, person: Person, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/investments", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _ids(world: World, person: Person, **params: Any) -> set[str]:
    return {item["id"] for item in _list(world, person, **params)["items"]}


def test_each_role_sees_its_scope(world: World) -> None:
    yamada, yamada_work = _second_farmer_of_town_a(world)
    a_pending = _created(world, world.alice, world.a.work_id, 1_000)
    a_yamada = _created(world, world.bob, yamada_work, 2_000)
    b_pending = _created(world, world.bob, world.b.work_id, 3_000)

    assert _ids(world, world.a.admin) == {a_pending, a_yamada}
    assert _ids(world, world.b.admin) == {b_pending}
    assert _ids(world, world.auditor) == {a_pending, a_yamada, b_pending}
    assert _ids(world, world.platform_admin) == {a_pending, a_yamada, b_pending}
    assert _ids(world, world.other_region_auditor) == set()
    # A farmer sees only the investments in their own works.
    assert _ids(world, world.a.farmer) == {a_pending}
    assert _ids(world, yamada) == {a_yamada}

    # Supporters have /v1/me/investments; the staff list is not theirs.
    assert_problem(
        world.client.get("/v1/investments", headers=world.alice.headers), 403, "forbidden"
    )
    assert_problem(world.client.get("/v1/investments"), 401, "not_authenticated")
    # Another town, asked for by name, is refused rather than emptied.
    for person in (world.a.admin, world.other_region_auditor):
        assert_problem(
            world.client.get(
                "/v1/investments",
                params={"municipality_id": str(world.b.municipality_id)},
                headers=person.headers,
            ),
            403,
            "forbidden",
        )


def test_items_name_the_supporter_and_work_email_for_staff_only(world: World) -> None:
    _created(world, world.alice, world.a.work_id, 1_234)
    staff_view = _list(world, world.a.admin)["items"][0]
    assert staff_view["supporter_name"] == "alice"
    assert staff_view["supporter_email"] == "alice@example.jp"
    assert staff_view["work_title"] == f"nishiaizu コシヒカリ {SEASON}"
    assert staff_view["season"] == SEASON
    assert staff_view["amount"] == {"go": 123, "koku": "0.123"}
    assert staff_view["status"] == "pending_payment"
    farmer_view = _list(world, world.a.farmer)["items"][0]
    assert farmer_view["supporter_name"] == "alice"
    assert farmer_view["supporter_email"] is None
    # A farmer cannot find a supporter by email either.
    assert _ids(world, world.a.farmer, q="alice@example") == set()


def test_filters_make_the_payment_queue(world: World) -> None:
    _, yamada_work = _second_farmer_of_town_a(world)
    paid = _created(world, world.alice, world.a.work_id, 1_000)
    waiting = _created(world, world.bob, world.a.work_id, 2_000)
    cancelled = _created(world, world.alice, world.a.work_id, 3_000)
    last_season = _created(world, world.bob, yamada_work, 4_000)
    confirm = world.client.post(
        f"/v1/investments/{paid}/confirm",
        json={"payment_reference": "furikomi-1"},
        headers=world.a.admin.headers,
    )
    assert confirm.status_code == 200, confirm.text
    cancel = world.client.post(f"/v1/investments/{cancelled}/cancel", headers=world.alice.headers)
    assert cancel.status_code == 200, cancel.text
    admin = world.a.admin

    assert _ids(world, admin, status="pending_payment") == {waiting, last_season}
    assert _ids(world, admin, status="confirmed") == {paid}
    assert _ids(world, admin, status="cancelled") == {cancelled}
    assert _ids(world, admin, season=SEASON) == {paid, waiting, cancelled}
    assert _ids(world, admin, season=SEASON - 1) == {last_season}
    assert _ids(world, admin, work_id=str(yamada_work)) == {last_season}
    assert _ids(world, admin, q="ALICE") == {paid, cancelled}
    assert _ids(world, admin, q="bob@example.jp") == {waiting, last_season}
    assert _ids(world, admin, q="%") == set()  # a wildcard is searched as itself
    assert _ids(
        world,
        admin,
        status="pending_payment",
        season=SEASON,
        municipality_id=str(world.a.municipality_id),
    ) == {waiting}
    confirmed = _list(world, admin, status="confirmed")["items"][0]
    assert confirmed["issuance"]["amount"] == {"go": 100, "koku": "0.100"}
    for bad in ({"status": "paid"}, {"season": "x"}, {"q": ""}, {"stauts": "confirmed"}):
        response = world.client.get("/v1/investments", params=bad, headers=admin.headers)
        assert response.status_code == 422, bad


def test_paging_walks_every_investment_newest_first(world: World) -> None:
    made = [_created(world, world.alice, world.a.work_id, 1_000 + n) for n in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = _list(world, world.a.admin, **params)
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
