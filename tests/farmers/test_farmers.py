"""Farmer profiles, their registration by the town, and the support ledger."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue, reverse
from kokudaka.models import (
    Activity,
    Contribution,
    ContributionStatus,
    Farmer,
    Investment,
    InvestmentStatus,
    IssuanceKind,
    MunicipalityPolicy,
    User,
)
from tests.world import PASSWORD, PRICE_YEN_PER_GO, SEASON, Person, World, assert_problem, count


def farmer_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"farmer-{uuid.uuid4().hex[:8]}@example.jp",
        "password": PASSWORD,
        "name": "佐藤一郎",
        "farm_name": "佐藤農園",
        "story": "三代続く棚田の米作り。",
        "varieties": ["コシヒカリ", "ひとめぼれ"],
        "photo_url": "https://example.jp/sato.jpg",
    }
    body.update(changes)
    return body


def register(world: World, admin: Person, **changes: Any) -> dict[str, Any]:
    response = world.client.post("/v1/farmers", json=farmer_body(**changes), headers=admin.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sign_in(world: World, email: str) -> Person:
    response = world.client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    with world.db() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return Person(user_id, email, response.json()["access_token"])


def test_town_admin_registers_a_farmer_of_their_own_town(world: World) -> None:
    body = farmer_body(email="Sato@Example.jp")
    created = world.client.post("/v1/farmers", json=body, headers=world.a.admin.headers)
    assert created.status_code == 201, created.text
    farmer = created.json()
    assert farmer["municipality_id"] == str(world.a.municipality_id)
    assert farmer["varieties"] == ["コシヒカリ", "ひとめぼれ"]
    assert "email" not in farmer
    assert "password" not in farmer

    with world.db() as session:
        user = session.get(User, uuid.UUID(farmer["user_id"]))
        assert user is not None
        assert user.role == "farmer"
        assert user.municipality_id == world.a.municipality_id
        assert user.email == "sato@example.jp"
        assert user.password_hash != PASSWORD

    # The new farmer signs in and edits their own profile.
    farmer_person = sign_in(world, "sato@example.jp")
    edited = world.client.patch(
        f"/v1/farmers/{farmer['id']}", json={"story": "新しい話"}, headers=farmer_person.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["story"] == "新しい話"

    public = world.client.get(f"/v1/farmers/{farmer['id']}")
    assert public.status_code == 200
    assert public.json()["farm_name"] == "佐藤農園"


def test_only_town_admins_register_farmers(world: World) -> None:
    farmers, users = count(world, Farmer), count(world, User)
    assert_problem(world.client.post("/v1/farmers", json=farmer_body()), 401, "not_authenticated")
    for person in (
        world.alice,
        world.a.farmer,
        world.auditor,
        world.other_region_auditor,
        world.platform_admin,
    ):
        response = world.client.post("/v1/farmers", json=farmer_body(), headers=person.headers)
        assert_problem(response, 403, "forbidden")
    assert (count(world, Farmer), count(world, User)) == (farmers, users)


@pytest.mark.parametrize(
    "sneaky",
    [
        {"role": "town_admin"},
        {"municipality_id": "__b__"},
        {"user_id": str(uuid.uuid4())},
        {"id": str(uuid.uuid4())},
    ],
)
def test_registration_refuses_mass_assignment(world: World, sneaky: dict[str, str]) -> None:
    sneaky = {k: str(world.b.municipality_id) if v == "__b__" else v for k, v in sneaky.items()}
    farmers, users = count(world, Farmer), count(world, User)
    response = world.client.post(
        "/v1/farmers", json=farmer_body(**sneaky), headers=world.a.admin.headers
    )
    assert_problem(response, 422, "validation_error")
    assert (count(world, Farmer), count(world, User)) == (farmers, users)


@pytest.mark.parametrize(
    "change",
    [
        {"photo_url": "http://example.jp/sato.jpg"},
        {"photo_url": "javascript:alert(1)"},
        {"photo_url": "https://" + "a" * 2000 + ".jp"},
        {"varieties": [f"v{n}" for n in range(21)]},
        {"varieties": ["x" * 51]},
        {"varieties": [""]},
        {"varieties": "コシヒカリ"},
        {"story": "x" * 5001},
        {"name": ""},
        {"name": "x" * 101},
        {"farm_name": "x" * 201},
        {"email": "not-an-email"},
        {"password": "short"},
    ],
)
def test_bad_registration_input_is_422_and_writes_nothing(
    world: World, change: dict[str, Any]
) -> None:
    farmers, users = count(world, Farmer), count(world, User)
    response = world.client.post(
        "/v1/farmers", json=farmer_body(**change), headers=world.a.admin.headers
    )
    assert_problem(response, 422, "validation_error")
    assert (count(world, Farmer), count(world, User)) == (farmers, users)


def test_taken_email_is_409_and_writes_no_profile(world: World) -> None:
    farmers, users = count(world, Farmer), count(world, User)
    response = world.client.post(
        "/v1/farmers", json=farmer_body(email=world.alice.email), headers=world.a.admin.headers
    )
    assert_problem(response, 409, "email_taken")
    assert (count(world, Farmer), count(world, User)) == (farmers, users)


def test_farmers_are_listed_publicly_with_filters(world: World) -> None:
    sato = register(world, world.a.admin, name="佐藤一郎", varieties=["ひとめぼれ"])
    kimura = register(
        world,
        world.b.admin,
        name="木村花子",
        farm_name="Kimura 100% Farm",
        varieties=["コシヒカリ", "天のつぶ"],
    )

    def ids(**params: str) -> set[str]:
        response = world.client.get("/v1/farmers", params=params)
        assert response.status_code == 200, response.text
        return {f["id"] for f in response.json()["items"]}

    assert ids(municipality_id=str(world.a.municipality_id)) == {str(world.a.farmer_id), sato["id"]}
    assert ids(variety="ひとめぼれ") == {sato["id"]}
    assert ids(variety="コシヒカリ") == {
        str(world.a.farmer_id),
        str(world.b.farmer_id),
        kimura["id"],
    }
    assert ids(variety="コシ") == set()  # whole varieties only, not substrings
    assert ids(variety="天のつぶ", municipality_id=str(world.a.municipality_id)) == set()
    assert ids(q="木村") == {kimura["id"]}
    assert ids(q="kimura") == {kimura["id"]}
    assert ids(q="100%") == {kimura["id"]}  # LIKE wildcards are searched literally
    assert ids(q="%") == {kimura["id"]}
    assert len(ids()) == 4


def test_farmers_page_by_cursor_without_gaps_or_repeats(world: World) -> None:
    expected = {str(world.a.farmer_id), str(world.b.farmer_id)}
    for n in range(5):
        expected.add(register(world, world.a.admin, name=f"農家{n}")["id"])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = world.client.get("/v1/farmers", params=params).json()
        seen.extend(f["id"] for f in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == expected


def test_unknown_farmer_is_404(world: World) -> None:
    assert_problem(world.client.get(f"/v1/farmers/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(
        world.client.patch(
            f"/v1/farmers/{uuid.uuid4()}", json={"story": "x"}, headers=world.a.admin.headers
        ),
        404,
        "not_found",
    )


def test_farmer_and_their_town_admin_edit_the_profile(world: World) -> None:
    path = f"/v1/farmers/{world.a.farmer_id}"
    by_farmer = world.client.patch(
        path,
        json={"farm_name": "新しい農園", "varieties": ["ササニシキ", "ササニシキ"]},
        headers=world.a.farmer.headers,
    )
    assert by_farmer.status_code == 200, by_farmer.text
    assert by_farmer.json()["farm_name"] == "新しい農園"
    assert by_farmer.json()["varieties"] == ["ササニシキ"]

    by_admin = world.client.patch(
        path, json={"name": "新しい名前", "photo_url": None}, headers=world.a.admin.headers
    )
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["name"] == "新しい名前"
    assert by_admin.json()["photo_url"] is None
    # Fields not sent are kept.
    assert by_admin.json()["farm_name"] == "新しい農園"
    with world.db() as session:
        user = session.get(User, world.a.farmer.id)
        assert user is not None
        assert user.display_name == "新しい名前"


def test_profile_edits_refused_to_everyone_else(world: World) -> None:
    path = f"/v1/farmers/{world.a.farmer_id}"
    before = world.client.get(path).json()
    assert_problem(world.client.patch(path, json={"story": "x"}), 401, "not_authenticated")
    for person in (
        world.b.admin,
        world.b.farmer,
        world.alice,
        world.auditor,
        world.other_region_auditor,
        world.platform_admin,
    ):
        response = world.client.patch(path, json={"story": "hacked"}, headers=person.headers)
        assert_problem(response, 403, "forbidden")
    assert world.client.get(path).json() == before


@pytest.mark.parametrize(
    "body",
    [
        {"municipality_id": "__b__"},
        {"user_id": "__bob__"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"name": None},
        {"farm_name": None},
        {"varieties": None},
        {"story": "x" * 5001},
        {"photo_url": "ftp://example.jp/x.jpg"},
    ],
)
def test_profile_edit_refuses_mass_assignment_and_bad_input(
    world: World, body: dict[str, Any]
) -> None:
    replace = {"__b__": str(world.b.municipality_id), "__bob__": str(world.bob.id)}
    body = {k: replace.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    path = f"/v1/farmers/{world.a.farmer_id}"
    before = world.client.get(path).json()
    response = world.client.patch(path, json=body, headers=world.a.farmer.headers)
    assert_problem(response, 422, "validation_error")
    assert world.client.get(path).json() == before


# --- the support ledger -------------------------------------------------------------


def _issue_investment(
    world: World, supporter: uuid.UUID, yen: int, season: int = SEASON
) -> uuid.UUID:
    with world.db.begin() as session:
        go = yen // PRICE_YEN_PER_GO
        investment = Investment(
            supporter_id=supporter,
            work_id=world.a.work_id,
            municipality_id=world.a.municipality_id,
            amount_yen=yen,
            price_yen_per_go=PRICE_YEN_PER_GO,
            go_amount=go,
            remainder_yen=yen - go * PRICE_YEN_PER_GO,
            status=InvestmentStatus.confirmed,
        )
        session.add(investment)
        session.flush()
        issued = issue(
            session,
            municipality_id=world.a.municipality_id,
            season=season,
            recipient_id=supporter,
            amount_go=go,
            cause=IssuanceCause(
                kind=IssuanceKind.investment,
                idempotency_key=f"investment:{investment.id}",
                memo=Memo("investment", {"amount_yen": 0, "title": "test investment"}),
                farmer_id=world.a.farmer_id,
                work_id=world.a.work_id,
                investment_id=investment.id,
                price_yen_per_go=PRICE_YEN_PER_GO,
            ),
            actor_id=world.a.admin.id,
        )
        return issued.issuance.entry_id


def _issue_contribution(world: World, supporter: uuid.UUID, minutes: int) -> uuid.UUID:
    with world.db.begin() as session:
        activity = Activity(
            municipality_id=world.a.municipality_id,
            farmer_id=world.a.farmer_id,
            created_by_id=world.a.farmer.id,
            title="田植え体験",
            description="",
            activity_on=date(SEASON, 5, 20),
            place="西会津",
            go_per_hour=600,
            capacity=10,
            max_minutes_per_person=480,
        )
        session.add(activity)
        session.flush()
        contribution = Contribution(
            activity_id=activity.id,
            supporter_id=supporter,
            minutes=minutes,
            status=ContributionStatus.approved,
        )
        session.add(contribution)
        session.flush()
        issued = issue(
            session,
            municipality_id=world.a.municipality_id,
            season=SEASON,
            recipient_id=supporter,
            amount_go=minutes * 600 // 60,
            cause=IssuanceCause(
                kind=IssuanceKind.contribution,
                idempotency_key=f"contribution:{contribution.id}",
                memo=Memo("investment", {"amount_yen": 0, "title": "test contribution"}),
                farmer_id=world.a.farmer_id,
                activity_id=activity.id,
                contribution_id=contribution.id,
                go_per_hour=600,
            ),
            actor_id=world.a.farmer.id,
        )
        return issued.issuance.entry_id


def test_support_ledger_lists_investments_and_hours_newest_first(world: World) -> None:
    invested_entry = _issue_investment(world, world.alice.id, 12_345)
    _issue_contribution(world, world.bob.id, 150)
    with world.db.begin() as session:
        admin = session.get(User, world.a.admin.id)
        assert admin is not None
        reverse(session, entry_id=invested_entry, actor=admin, reason="charged back")

    response = world.client.get(
        f"/v1/farmers/{world.a.farmer_id}/ledger", headers=world.a.farmer.headers
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    contribution, investment = page["items"]

    assert contribution["kind"] == "contribution"
    assert contribution["supporter_id"] == str(world.bob.id)
    assert contribution["supporter_name"] == "bob"
    assert contribution["activity_title"] == "田植え体験"
    assert contribution["work_id"] is None
    assert contribution["minutes"] == 150
    assert contribution["hours"] == "2.5"
    assert contribution["amount_yen"] is None
    assert contribution["go_per_hour"] == 600
    assert contribution["amount"] == {"go": 1_500, "koku": "1.500"}
    assert contribution["reversed"] is False
    assert contribution["chain"]["state"] == "pending"

    assert investment["kind"] == "investment"
    assert investment["supporter_id"] == str(world.alice.id)
    assert investment["work_id"] == str(world.a.work_id)
    assert investment["work_title"] == f"nishiaizu コシヒカリ {SEASON}"
    assert investment["amount_yen"] == 12_345
    assert investment["hours"] is None
    assert investment["price_yen_per_go"] == PRICE_YEN_PER_GO
    assert investment["amount"] == {"go": 1_234, "koku": "1.234"}
    assert investment["reversed"] is True
    assert investment["reversal_entry_id"] is not None


def test_support_ledger_filters_by_work_and_pages(world: World) -> None:
    for n in range(5):
        _issue_investment(world, world.alice.id, 1_000 + n * 10)
    _issue_contribution(world, world.bob.id, 20)
    path = f"/v1/farmers/{world.a.farmer_id}/ledger"

    only_work = world.client.get(
        path, params={"work_id": str(world.a.work_id)}, headers=world.a.admin.headers
    ).json()
    assert len(only_work["items"]) == 5
    assert {item["kind"] for item in only_work["items"]} == {"investment"}

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = world.client.get(path, params=params, headers=world.auditor.headers).json()
        seen.extend(item["issuance_id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    assert seen == sorted(seen, key=uuid.UUID, reverse=True)
    hours = [
        i["hours"] for i in world.client.get(path, headers=world.a.admin.headers).json()["items"]
    ]
    assert hours[0] == "0.33"


def test_support_ledger_readers_and_refusals(world: World) -> None:
    _issue_investment(world, world.alice.id, 5_000)
    path = f"/v1/farmers/{world.a.farmer_id}/ledger"
    for reader in (world.a.farmer, world.a.admin, world.auditor, world.platform_admin):
        response = world.client.get(path, headers=reader.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 1
    assert_problem(world.client.get(path), 401, "not_authenticated")
    for outsider in (
        world.b.admin,
        world.b.farmer,
        world.alice,
        world.bob,
        world.other_region_auditor,
    ):
        assert_problem(world.client.get(path, headers=outsider.headers), 403, "forbidden")
    assert_problem(
        world.client.get(f"/v1/farmers/{uuid.uuid4()}/ledger", headers=world.a.admin.headers),
        404,
        "not_found",
    )


def test_support_ledger_filters_by_season_with_totals(world: World) -> None:
    with world.db.begin() as session:
        session.add(
            MunicipalityPolicy(
                municipality_id=world.a.municipality_id,
                season=SEASON - 1,
                price_yen_per_go=PRICE_YEN_PER_GO,
                volunteer_go_per_hour=500,
                yearly_cap_go=10_000_000,
            )
        )
    _issue_investment(world, world.alice.id, 10_005)  # 1,000 go
    reversed_entry = _issue_investment(world, world.bob.id, 5_000)
    _issue_contribution(world, world.bob.id, 90)  # 900 go
    _issue_investment(world, world.bob.id, 2_000, season=SEASON - 1)
    with world.db.begin() as session:
        admin = session.get(User, world.a.admin.id)
        assert admin is not None
        reverse(session, entry_id=reversed_entry, actor=admin, reason="charged back")
    path = f"/v1/farmers/{world.a.farmer_id}/ledger"

    this_season = world.client.get(
        path, params={"season": SEASON, "limit": 1}, headers=world.a.farmer.headers
    ).json()
    assert len(this_season["items"]) == 1
    assert this_season["next_cursor"] is not None
    # Over every page of the season; the reversed investment counts for nothing.
    assert this_season["totals"] == {
        "amount_yen": 10_005,
        "amount": {"go": 1_900, "koku": "1.900"},
        "minutes": 90,
        "hours": "1.5",
        "supporters": 2,
        "issuances": 2,
    }
    last_season = world.client.get(
        path, params={"season": SEASON - 1}, headers=world.a.admin.headers
    ).json()
    assert [item["amount_yen"] for item in last_season["items"]] == [2_000]
    assert last_season["totals"]["amount"] == {"go": 200, "koku": "0.200"}
    assert last_season["totals"]["supporters"] == 1
    everything = world.client.get(path, headers=world.auditor.headers).json()
    assert len(everything["items"]) == 4
    assert everything["totals"]["amount_yen"] == 12_005
    empty = world.client.get(
        path, params={"season": SEASON + 1}, headers=world.a.farmer.headers
    ).json()
    assert empty["items"] == []
    assert empty["totals"]["amount"] == {"go": 0, "koku": "0.000"}
    assert empty["totals"]["hours"] == "0"
    assert_problem(
        world.client.get(path, params={"season": "x"}, headers=world.a.farmer.headers),
        422,
        "validation_error",
    )
