"""Logging hours on activities, and approving or rejecting them."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from kokudaka.core.pagination import PageParams, decode_cursor
from kokudaka.models import (
    ChainOperation,
    Contribution,
    ContributionStatus,
    Issuance,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    User,
)
from kokudaka.volunteering.service import list_my_contributions
from tests.volunteering.helpers import log_hours, logged, post_activity, row_counts
from tests.world import SEASON, VOLUNTEER_GO_PER_HOUR, World, assert_problem

UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


def approve(client: httpx.Client, person: Any, contribution_id: str, **body: Any) -> httpx.Response:
    return client.post(
        f"/v1/contributions/{contribution_id}/approve", json=body or None, headers=person.headers
    )


def reject(client: httpx.Client, person: Any, contribution_id: str, reason: Any) -> httpx.Response:
    return client.post(
        f"/v1/contributions/{contribution_id}/reject",
        json={"reason": reason},
        headers=person.headers,
    )


def test_full_flow_farmer_posts_supporter_logs_farmer_approves(
    client: httpx.Client, world: World
) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"], 2.5)
    assert contribution["status"] == "pending"
    assert contribution["hours"] == "2.5"
    assert contribution["amount"] == {"go": 1250, "koku": "1.250"}
    assert contribution["supporter_id"] == str(world.alice.id)
    assert contribution["activity"]["id"] == activity["id"]
    assert contribution["issuance"] is None
    assert client.get(f"/v1/activities/{activity['id']}").json()["participants"] == 1

    approved = approve(client, world.a.farmer, contribution["id"], reason="Thank you!")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["reviewed_by_id"] == str(world.a.farmer.id)
    assert body["reviewed_at"] is not None
    issuance = body["issuance"]
    assert issuance["kind"] == "contribution"
    assert issuance["amount"] == {"go": 1250, "koku": "1.250"}
    assert issuance["go_per_hour"] == VOLUNTEER_GO_PER_HOUR
    assert issuance["recipient_id"] == str(world.alice.id)
    assert issuance["farmer_id"] == str(world.a.farmer_id)
    assert issuance["activity_id"] == activity["id"]
    assert issuance["contribution_id"] == contribution["id"]
    assert issuance["season"] == SEASON
    assert issuance["chain"]["state"] == "pending"

    # The supporter sees the same, and the town's audit lists it with its rate.
    assert (
        client.get(f"/v1/contributions/{contribution['id']}", headers=world.alice.headers).json()
        == body
    )
    audit = client.get("/v1/audit/issuances", headers=world.a.admin.headers).json()
    assert [(i["id"], i["go_per_hour"], i["amount"]["go"]) for i in audit["items"]] == [
        (issuance["id"], VOLUNTEER_GO_PER_HOUR, 1250)
    ]

    with world.db() as session:
        entry = session.get(JournalEntry, uuid.UUID(issuance["entry_id"]))
        assert entry is not None
        assert entry.idempotency_key == f"contribution:{contribution['id']}"
        assert "Thank you!" in entry.memo
        amounts = session.scalars(
            select(Posting.amount_go).where(Posting.entry_id == entry.id)
        ).all()
        assert sorted(amounts) == [-1250, 1250]
        assert sum(amounts) == 0
        mint = session.scalars(select(ChainOperation)).one()
        assert (mint.amount_go, mint.user_id) == (1250, world.alice.id)


def test_town_admin_approves_and_rounds_down_to_whole_go(
    client: httpx.Client, world: World
) -> None:
    activity = post_activity(client, world.a.admin, go_per_hour=333)
    contribution = logged(client, world.alice, activity["id"], "0.25")
    approved = approve(client, world.a.admin, contribution["id"])
    assert approved.status_code == 200, approved.text
    # 333 go/h x 15 min = 83.25 go: whole go only.
    assert approved.json()["issuance"]["amount"]["go"] == 83


def test_zero_rate_is_approved_without_issuance(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer, go_per_hour=0)
    contribution = logged(client, world.alice, activity["id"], "3")
    approved = approve(client, world.a.farmer, contribution["id"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["issuance"] is None
    counts = row_counts(world)
    assert (counts["issuances"], counts["journal_entries"], counts["chain_operations"]) == (0, 0, 0)


def test_reject_with_reason_writes_no_issuance_and_frees_the_place(
    client: httpx.Client, world: World
) -> None:
    activity = post_activity(client, world.a.farmer, capacity=1)
    contribution = logged(client, world.alice, activity["id"])
    assert_problem(log_hours(client, world.bob, activity["id"], "1"), 409, "activity_full")

    for bad in (None, "", "   ", "x" * 1001):
        assert_problem(
            reject(client, world.a.farmer, contribution["id"], bad), 422, "validation_error"
        )
    no_body = client.post(
        f"/v1/contributions/{contribution['id']}/reject", headers=world.a.farmer.headers
    )
    assert_problem(no_body, 422, "validation_error")

    rejected = reject(client, world.a.farmer, contribution["id"], "Was not there that day")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "Was not there that day"
    assert rejected.json()["issuance"] is None
    counts = row_counts(world)
    assert (counts["issuances"], counts["journal_entries"], counts["postings"]) == (0, 0, 0)

    # A rejected contribution gives its place back, but the supporter cannot rejoin.
    assert client.get(f"/v1/activities/{activity['id']}").json()["remaining_capacity"] == 1
    assert_problem(log_hours(client, world.alice, activity["id"], "1"), 409, "already_joined")
    assert logged(client, world.bob, activity["id"], "1")["status"] == "pending"


def test_only_pending_contributions_are_reviewed(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"])
    assert approve(client, world.a.farmer, contribution["id"]).status_code == 200
    before = row_counts(world)
    again = approve(client, world.a.admin, contribution["id"])
    assert_problem(again, 409, "contribution_not_pending")
    assert "approved" in again.json()["detail"]
    assert_problem(
        reject(client, world.a.admin, contribution["id"], "no"), 409, "contribution_not_pending"
    )
    assert row_counts(world) == before

    other = logged(client, world.bob, activity["id"])
    assert reject(client, world.a.farmer, other["id"], "no").status_code == 200
    assert_problem(approve(client, world.a.farmer, other["id"]), 409, "contribution_not_pending")
    assert row_counts(world)["issuances"] == 1


def test_nobody_approves_their_own_hours(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    # The host farmer's own hours, written directly: the API only lets supporters log.
    with world.db.begin() as session:
        own = Contribution(
            activity_id=uuid.UUID(activity["id"]), supporter_id=world.a.farmer.id, minutes=120
        )
        session.add(own)
    before = row_counts(world)
    assert_problem(approve(client, world.a.farmer, str(own.id)), 403, "self_approval")
    assert row_counts(world) == before
    with world.db() as session:
        stored = session.get(Contribution, own.id)
        assert stored is not None
        assert stored.status is ContributionStatus.pending
    # Someone else may approve them.
    assert approve(client, world.a.admin, str(own.id)).status_code == 200


def test_capacity_and_duplicate_join(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer, capacity=2)
    logged(client, world.alice, activity["id"])
    assert_problem(log_hours(client, world.alice, activity["id"], "1"), 409, "already_joined")
    logged(client, world.bob, activity["id"])
    carol = world.new_supporter("carol")
    assert_problem(log_hours(client, carol, activity["id"], "1"), 409, "activity_full")
    listed = client.get(f"/v1/activities/{activity['id']}").json()
    assert (listed["participants"], listed["remaining_capacity"]) == (2, 0)
    assert row_counts(world)["contributions"] == 2


def test_capacity_holds_under_concurrent_joins(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer, capacity=3)
    supporters = [world.new_supporter(f"s{n}") for n in range(8)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(supporters))

    def join(person: Any) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=60) as own_client:
            barrier.wait()
            statuses.append(log_hours(own_client, person, activity["id"], "1").status_code)

    threads = [threading.Thread(target=join, args=(p,)) for p in supporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 3 + [409] * 5
    assert row_counts(world)["contributions"] == 3


def test_concurrent_approvals_issue_once(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"])
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def review(person: Any) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=60) as own_client:
            barrier.wait()
            statuses.append(approve(own_client, person, contribution["id"]).status_code)

    threads = [threading.Thread(target=review, args=(p,)) for p in (world.a.farmer, world.a.admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]
    assert row_counts(world)["issuances"] == 1


@pytest.mark.parametrize("hours", [0, -1, "-0.25", 0.1, "1.333", "abc", None, True, "Infinity"])
def test_invalid_hours_are_refused_and_nothing_is_written(
    client: httpx.Client, world: World, hours: object
) -> None:
    activity = post_activity(client, world.a.farmer, max_hours_per_person="3")
    assert_problem(log_hours(client, world.alice, activity["id"], hours), 422, "validation_error")
    assert row_counts(world)["contributions"] == 0


def test_hours_above_the_activity_limit_are_refused(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer, max_hours_per_person="3")
    # Within a day the document allows them; this activity does not.
    for hours in ("3.25", 24):
        response = log_hours(client, world.alice, activity["id"], hours)
        assert_problem(response, 409, "hours_exceed_limit")
        assert "3 hours" in response.json()["detail"]
    # Past a day no activity allows them, and the document says so.
    for hours in ("24.25", 25, "1000"):
        response = log_hours(client, world.alice, activity["id"], hours)
        assert_problem(response, 422, "validation_error")
    sneaky = client.post(
        f"/v1/activities/{activity['id']}/contributions",
        json={"hours": "1", "status": "approved"},
        headers=world.alice.headers,
    )
    assert_problem(sneaky, 422, "validation_error")
    assert row_counts(world)["contributions"] == 0
    assert logged(client, world.alice, activity["id"], "3")["hours"] == "3"


def test_unknown_ids_are_404(client: httpx.Client, world: World) -> None:
    assert_problem(log_hours(client, world.alice, UNKNOWN_ID, "1"), 404, "not_found")
    assert_problem(approve(client, world.a.admin, UNKNOWN_ID), 404, "not_found")
    assert_problem(reject(client, world.a.admin, UNKNOWN_ID, "no"), 404, "not_found")
    assert_problem(
        client.get(f"/v1/contributions/{UNKNOWN_ID}", headers=world.a.admin.headers),
        404,
        "not_found",
    )
    assert_problem(
        client.get("/v1/contributions/nope", headers=world.a.admin.headers), 422, "validation_error"
    )
    assert sum(row_counts(world).values()) == 0


def test_every_endpoint_needs_a_token(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"])
    requests = [
        client.post("/v1/activities", json={}),
        client.post(f"/v1/activities/{activity['id']}/contributions", json={"hours": "1"}),
        client.get(f"/v1/contributions/{contribution['id']}"),
        client.post(f"/v1/contributions/{contribution['id']}/approve"),
        client.post(f"/v1/contributions/{contribution['id']}/reject", json={"reason": "x"}),
        client.get(
            f"/v1/contributions/{contribution['id']}", headers={"Authorization": "Bearer x"}
        ),
    ]
    for response in requests[:-1]:
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(requests[-1], 401, "invalid_token")
    assert row_counts(world)["issuances"] == 0


def test_cap_exceeded_writes_nothing(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"], "2.5")
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(yearly_cap_go=1000)
        )
    before = row_counts(world)
    response = approve(client, world.a.farmer, contribution["id"])
    assert_problem(response, 409, "issuance_cap_exceeded")
    assert "1000" in response.json()["detail"]
    assert row_counts(world) == before
    shown = client.get(f"/v1/contributions/{contribution['id']}", headers=world.alice.headers)
    assert shown.json()["status"] == "pending"

    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(yearly_cap_go=1250)
        )
    assert approve(client, world.a.farmer, contribution["id"]).status_code == 200
    with world.db() as session:
        assert session.scalars(select(Issuance.amount_go)).all() == [1250]


def test_policy_removed_after_posting_refuses_approval(client: httpx.Client, world: World) -> None:
    activity = post_activity(client, world.a.farmer)
    contribution = logged(client, world.alice, activity["id"])
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(season=SEASON + 10)
        )
    before = row_counts(world)
    assert_problem(approve(client, world.a.farmer, contribution["id"]), 409, "policy_missing")
    assert row_counts(world) == before


def test_list_my_contributions_pages_the_callers_own(client: httpx.Client, world: World) -> None:
    activities = [post_activity(client, world.a.farmer, title=f"day {n}") for n in range(3)]
    mine = [logged(client, world.alice, a["id"], "1")["id"] for a in activities]
    logged(client, world.bob, activities[0]["id"], "1")
    approved = approve(client, world.a.farmer, mine[0])
    assert approved.status_code == 200

    with world.db() as session:
        alice = session.get(User, world.alice.id)
        assert alice is not None
        first = list_my_contributions(session, alice, PageParams(limit=2, cursor=None))
        assert first.next_cursor is not None
        rest = list_my_contributions(
            session, alice, PageParams(limit=2, cursor=decode_cursor(first.next_cursor))
        )
    assert rest.next_cursor is None
    items = first.items + rest.items
    assert [str(item.id) for item in items] == list(reversed(mine))
    assert items[-1].issuance is not None
    assert items[-1].issuance.amount.go == 500
    assert items[0].activity.title == "day 2"
    assert {item.supporter_id for item in items} == {world.alice.id}
