"""Boards: confirmed investments and approved hours on activities naming a work."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kokudaka.harvest.boards import work_boards
from kokudaka.models import Issuance
from tests.harvest.helpers import (
    approved_hours,
    invest_and_confirm,
    set_boards_close_on,
    yesterday,
)
from tests.volunteering.helpers import log_hours, post_activity
from tests.world import PRICE_YEN_PER_GO, SEASON, VOLUNTEER_GO_PER_HOUR, World, assert_problem


def test_boards_per_work_from_investments_and_hours_naming_the_work(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    approved_hours(world, world.alice, "2", world.a.work_id)  # 1,000 go, a labour board
    approved_hours(world, world.alice, "1", None)  # 500 go of plain KOKU: never a board
    invest_and_confirm(world, world.bob, 1_000)  # 100 go, bob's

    boards = world.client.get("/v1/me/boards", headers=world.alice.headers)
    assert boards.status_code == 200, boards.text
    (board,) = boards.json()["items"]
    assert board["work"]["id"] == str(world.a.work_id)
    assert board["work"]["season"] == SEASON
    assert board["farmer"]["id"] == str(world.a.farmer_id)
    assert board["planned_yield"]["go"] == 3_600_000
    assert board["investment_board"] == {"go": 5_000 // PRICE_YEN_PER_GO, "koku": "0.500"}
    assert board["labour_board"]["go"] == 2 * VOLUNTEER_GO_PER_HOUR
    assert board["total"]["go"] == 1_500
    assert board["bills_issued_at"] is None

    # The hours' issuance records the work; the town event's does not.
    with world.db() as session:
        works = set(
            session.scalars(select(Issuance.work_id).where(Issuance.recipient_id == world.alice.id))
        )
        assert works == {world.a.work_id, None}
        per_supporter = {b.recipient_id: b.total_go for b in work_boards(session, world.a.work_id)}
    assert per_supporter == {world.alice.id: 1_500, world.bob.id: 100}

    # The work shows the boards in total, naming no one.
    work = world.client.get(f"/v1/works/{world.a.work_id}").json()
    assert work["boards"]["investment"]["go"] == 600
    assert work["boards"]["labour"]["go"] == 1_000
    assert work["boards"]["total"]["go"] == 1_600
    assert str(world.alice.id) not in str(work)

    assert (
        world.client.get("/v1/me/boards", headers=world.bob.headers).json()["items"][0]["total"][
            "go"
        ]
        == 100
    )
    other = world.client.get(f"/v1/me/boards?season={SEASON + 1}", headers=world.alice.headers)
    assert other.json()["items"] == []


def test_a_reversed_issuance_is_no_board(world: World) -> None:
    confirmed = invest_and_confirm(world, world.alice, 2_000)
    entry_id = confirmed["issuance"]["entry_id"]
    reversed_ = world.client.post(
        f"/v1/ledger/entries/{entry_id}/reverse",
        json={"reason": "mistaken payment"},
        headers=world.a.admin.headers,
    )
    assert reversed_.status_code in (200, 201), reversed_.text
    assert world.client.get("/v1/me/boards", headers=world.alice.headers).json()["items"] == []
    assert world.client.get(f"/v1/works/{world.a.work_id}").json()["boards"]["total"]["go"] == 0


def test_an_activity_names_only_its_host_farmers_work_of_its_season(world: World) -> None:
    body = {
        "title": "稲刈り",
        "activity_on": f"{SEASON}-09-20",
        "place": "野沢",
        "capacity": 5,
        "max_hours_per_person": "4",
    }
    # Town B's work is not town A's farmer's.
    wrong = world.client.post(
        "/v1/activities",
        json={**body, "work_id": str(world.b.work_id)},
        headers=world.a.farmer.headers,
    )
    assert_problem(wrong, 422, "activity_work_mismatch")
    # Another season's activity.
    later = world.client.post(
        "/v1/activities",
        json={**body, "activity_on": f"{SEASON + 1}-06-01", "work_id": str(world.a.work_id)},
        headers=world.a.farmer.headers,
    )
    assert later.status_code in (409, 422)
    # A town event (no host farmer) names no work.
    event = world.client.post(
        "/v1/activities",
        json={**body, "work_id": str(world.a.work_id)},
        headers=world.a.admin.headers,
    )
    assert_problem(event, 422, "activity_work_mismatch")
    missing = world.client.post(
        "/v1/activities",
        json={**body, "work_id": str(uuid.uuid4())},
        headers=world.a.farmer.headers,
    )
    assert_problem(missing, 404, "not_found")
    good = post_activity(world.client, world.a.farmer, work_id=str(world.a.work_id))
    assert good["work_id"] == str(world.a.work_id)


def test_boards_are_refused_after_the_towns_last_day(world: World) -> None:
    activity = post_activity(world.client, world.a.farmer, work_id=str(world.a.work_id))
    event = post_activity(world.client, world.a.farmer)
    set_boards_close_on(world, yesterday())

    invest = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 1_000},
        headers={
            **world.alice.headers,
            "Idempotency-Key": uuid.uuid4().hex,
            "Accept-Language": "en",
        },
    )
    assert_problem(invest, 409, "boards_closed")
    assert "closed on" in invest.json()["detail"]
    assert_problem(log_hours(world.client, world.alice, activity["id"], "1"), 409, "boards_closed")
    named = world.client.post(
        "/v1/activities",
        json={
            "title": "稲刈り",
            "activity_on": f"{SEASON}-09-20",
            "place": "野沢",
            "capacity": 5,
            "max_hours_per_person": "4",
            "work_id": str(world.a.work_id),
        },
        headers=world.a.farmer.headers,
    )
    assert_problem(named, 409, "boards_closed")
    # Hours on an activity naming no work are no board: still accepted.
    assert log_hours(world.client, world.alice, event["id"], "1").status_code == 201

    set_boards_close_on(world, None)
    assert log_hours(world.client, world.alice, activity["id"], "1").status_code == 201
