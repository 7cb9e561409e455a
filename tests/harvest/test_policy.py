"""A town's harvest rules per season: the ratio's ceiling, bills' expiry, last day for boards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kokudaka.models import StaffLogEntry
from tests.world import SEASON, VOLUNTEER_GO_PER_HOUR, World, assert_problem


def policy(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "season": SEASON,
        "price_yen_per_go": 10,
        "volunteer_go_per_hour": VOLUNTEER_GO_PER_HOUR,
        "yearly_cap_go": 10_000_000,
    }
    body.update(changes)
    return body


def test_the_harvest_rules_default_and_are_set_per_season(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    read = world.client.get(path, params={"season": SEASON}).json()
    assert read["harvest_ceiling_bp"] == 12_000
    assert read["bills_expire_on"] is None
    assert read["boards_close_on"] is None

    body = policy(
        harvest_ceiling_bp=11_000, bills_expire_on="2027-10-31", boards_close_on="2026-08-31"
    )
    put = world.client.put(path, json=body, headers=world.a.admin.headers)
    assert put.status_code == 200, put.text
    assert put.json()["harvest_ceiling_bp"] == 11_000
    assert put.json()["bills_expire_on"] == "2027-10-31"
    assert put.json()["boards_close_on"] == "2026-08-31"
    with world.db() as session:
        data = session.scalars(
            select(StaffLogEntry.data).where(StaffLogEntry.action == "policy.set")
        ).all()
    assert any('"harvest_ceiling_bp":11000' in d for d in data)
    # The ceiling is the harvest's: the public harvest shows the season's.
    harvest = world.client.get(f"/v1/works/{world.a.work_id}/harvest").json()
    assert harvest["ceiling_bp"] == 11_000
    # Left out, they go back to their defaults (a PUT replaces the season's policy).
    again = world.client.put(path, json=policy(), headers=world.a.admin.headers).json()
    assert again["harvest_ceiling_bp"] == 12_000
    assert again["boards_close_on"] is None


def test_invalid_harvest_rules_are_refused(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    for changes in (
        {"harvest_ceiling_bp": 9_999},
        {"harvest_ceiling_bp": 100_001},
        {"harvest_ceiling_bp": "12000"},
        {"boards_close_on": "31/08/2026"},
    ):
        response = world.client.put(path, json=policy(**changes), headers=world.a.admin.headers)
        assert_problem(response, 422, "validation_error")


def test_bills_expire_after_boards_close(world: World) -> None:
    path = f"/v1/municipalities/{world.a.municipality_id}/policy"
    body = policy(bills_expire_on="2026-08-31", boards_close_on="2026-08-31")
    response = world.client.put(path, json=body, headers=world.a.admin.headers)
    assert_problem(response, 409, "bills_expire_before_boards_close")
