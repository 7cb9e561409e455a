"""``GET /v1/audit/log``: scoped like the other audit views, filtered, paged newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kokudaka.audit.log_listing import log_cursor
from kokudaka.audit.staff_log import canonical_json
from tests.audit.staff_log_helpers import confirm, invest, staff_body, staff_log
from tests.world import Person, World, assert_problem


def _log(world: World, person: Person, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/audit/log", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _sequences(page: dict[str, Any]) -> list[int]:
    return [item["sequence"] for item in page["items"]]


def _act_in_both_towns_and_above(world: World) -> None:
    """Rows 1-2 in town a, 3 in town b, 4 above any town (a regional auditor)."""
    for _ in range(2):
        assert confirm(world, world.a.admin, invest(world, world.alice)).status_code == 200
    b_investment = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.b.work_id), "amount_yen": 500},
        headers={**world.bob.headers, "Idempotency-Key": "b-1"},
    ).json()["id"]
    assert confirm(world, world.b.admin, b_investment).status_code == 200
    created = world.client.post(
        "/v1/admin/users",
        json=staff_body("regional_auditor", region_id=str(world.region_id)),
        headers=world.platform_admin.headers,
    )
    assert created.status_code == 201, created.text


def test_each_reader_sees_their_scope(world: World) -> None:
    _act_in_both_towns_and_above(world)
    assert _sequences(_log(world, world.platform_admin)) == [4, 3, 2, 1]
    assert _sequences(_log(world, world.auditor)) == [3, 2, 1]
    assert _sequences(_log(world, world.a.admin)) == [2, 1]
    assert _sequences(_log(world, world.b.admin)) == [3]
    assert _log(world, world.other_region_auditor)["items"] == []
    for outsider in (world.alice, world.a.farmer):
        assert_problem(
            world.client.get("/v1/audit/log", headers=outsider.headers), 403, "forbidden"
        )
    assert_problem(world.client.get("/v1/audit/log"), 401, "not_authenticated")
    # Another town is refused, not emptied.
    assert_problem(
        world.client.get(
            "/v1/audit/log",
            params={"municipality_id": str(world.b.municipality_id)},
            headers=world.a.admin.headers,
        ),
        403,
        "forbidden",
    )
    only_b = _log(world, world.auditor, municipality_id=str(world.b.municipality_id))
    assert _sequences(only_b) == [3]


def test_a_row_reads_as_stored_with_its_hashes(world: World) -> None:
    _act_in_both_towns_and_above(world)
    item = _log(world, world.a.admin, limit=1)["items"][0]
    row = staff_log(world)[1]
    assert item["sequence"] == row.sequence == 2
    assert item["hash"] == row.hash
    assert item["prev_hash"] == staff_log(world)[0].hash
    assert item["action"] == "investment.confirm"
    assert item["actor_id"] == str(world.a.admin.id)
    assert item["actor_role"] == "town_admin"
    assert item["data_json"] == row.data == canonical_json(item["data"])
    assert item["municipality_id"] == str(world.a.municipality_id)


def test_filters_and_paging(world: World) -> None:
    _act_in_both_towns_and_above(world)
    platform = world.platform_admin
    first = _log(world, platform, limit=3)
    assert _sequences(first) == [4, 3, 2]
    assert first["next_cursor"] == log_cursor(2)
    second = _log(world, platform, limit=3, cursor=first["next_cursor"])
    assert _sequences(second) == [1]
    assert second["next_cursor"] is None
    assert _sequences(_log(world, platform, action="staff.register")) == [4]
    assert _sequences(_log(world, platform, action="investment.confirm")) == [3, 2, 1]
    now = datetime.now(UTC)
    assert _log(world, platform, since=(now + timedelta(minutes=1)).isoformat())["items"] == []
    assert _sequences(_log(world, platform, until=(now + timedelta(minutes=1)).isoformat())) == [
        4,
        3,
        2,
        1,
    ]
    assert _log(world, platform, until=(now - timedelta(hours=1)).isoformat())["items"] == []
    for bad in ("abc", "2"):
        assert_problem(
            world.client.get("/v1/audit/log", params={"cursor": bad}, headers=platform.headers),
            422,
            "invalid_cursor",
        )
    # Every well-formed cursor is a bound, as the schema says: zero reads nothing, one past
    # every sequence reads from the top.
    assert _log(world, platform, cursor=log_cursor(0))["items"] == []
    assert _sequences(_log(world, platform, cursor=log_cursor(2**64))) == [4, 3, 2, 1]
    assert_problem(
        world.client.get("/v1/audit/log", params={"action": "nope"}, headers=platform.headers),
        422,
        "validation_error",
    )
    assert_problem(
        world.client.get(
            "/v1/audit/log", params={"since": "2026-01-01T00:00:00"}, headers=platform.headers
        ),
        422,
        "validation_error",
    )


def test_documented_with_the_problem_shapes(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/audit/log"]["get"]
    for status in ("401", "403", "422"):
        content = operation["responses"][status]["content"]
        assert "application/problem+json" in content
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert {"municipality_id", "action", "since", "until", "limit", "cursor"} <= parameters
