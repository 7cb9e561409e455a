"""Every staff action appends exactly one chained row in its own transaction; a refused
action appends none."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kokudaka.audit.staff_log import append_staff_action, recomputed_hash
from kokudaka.auth.caller import Caller
from kokudaka.investments import service as investments
from kokudaka.models import GENESIS_HASH, Investment, InvestmentStatus, Role, StaffAction
from tests.audit.staff_log_helpers import (
    confirm,
    confirmed_issuance,
    invest,
    staff_body,
    staff_log,
)
from tests.farmers.test_farmers import farmer_body
from tests.volunteering.helpers import logged, post_activity
from tests.world import PRICE_YEN_PER_GO, SEASON, VOLUNTEER_GO_PER_HOUR, World, assert_problem


def _one_new_row(world: World, act: Callable[[], httpx.Response], status: int = 200) -> Any:
    """Run ``act``; it succeeds with ``status`` and appends exactly one row, chained."""
    before = staff_log(world)
    response = act()
    assert response.status_code == status, response.text
    after = staff_log(world)
    assert len(after) == len(before) + 1
    row = after[-1]
    assert row.sequence == len(after)
    assert row.prev_hash == (before[-1].hash if before else GENESIS_HASH)
    assert recomputed_hash(row) == row.hash
    return row


def _no_new_row(world: World, act: Callable[[], httpx.Response], status: int, code: str) -> None:
    before = staff_log(world)
    assert_problem(act(), status, code)
    assert staff_log(world) == before


def test_confirming_a_payment_is_logged_with_its_reference(world: World) -> None:
    investment_id = invest(world, world.alice)
    row = _one_new_row(world, lambda: confirm(world, world.a.admin, investment_id))
    assert row.action == StaffAction.investment_confirm
    assert (row.object_type, row.object_id) == ("investment", investment_id)
    assert row.actor_id == world.a.admin.id
    assert row.actor_role == "town_admin"
    assert row.municipality_id == world.a.municipality_id
    assert json.loads(row.data) == {"payment_reference": f"furikomi-{investment_id[:8]}"}
    # Canonical JSON: sorted keys, no whitespace.
    assert row.data == '{"payment_reference":"furikomi-' + investment_id[:8] + '"}'

    _no_new_row(
        world,
        lambda: confirm(world, world.a.admin, investment_id),
        409,
        "investment_not_pending",
    )
    other = invest(world, world.alice)
    _no_new_row(world, lambda: confirm(world, world.b.admin, other), 404, "not_found")


def test_approving_and_rejecting_hours_are_logged(world: World) -> None:
    client = world.client
    activity = post_activity(client, world.a.farmer)
    first = logged(client, world.alice, activity["id"], "2")
    second = logged(client, world.bob, activity["id"], "1")

    def approve(person: Any, contribution_id: str) -> httpx.Response:
        return client.post(
            f"/v1/contributions/{contribution_id}/approve",
            json={"reason": "ありがとう"},
            headers=person.headers,
        )

    _no_new_row(world, lambda: approve(world.b.admin, first["id"]), 404, "not_found")
    row = _one_new_row(world, lambda: approve(world.a.farmer, first["id"]))
    assert row.action == StaffAction.contribution_approve
    assert (row.object_type, row.object_id, row.actor_role) == (
        "contribution",
        first["id"],
        "farmer",
    )
    assert json.loads(row.data) == {"note": "ありがとう", "minutes": 120, "amount_go": 1000}
    assert "ありがとう" in row.data  # stored as UTF-8 text, not escaped

    rejected = _one_new_row(
        world,
        lambda: client.post(
            f"/v1/contributions/{second['id']}/reject",
            json={"reason": "来ていなかった"},
            headers=world.a.admin.headers,
        ),
    )
    assert rejected.action == StaffAction.contribution_reject
    assert json.loads(rejected.data) == {"reason": "来ていなかった"}
    assert rejected.municipality_id == world.a.municipality_id
    _no_new_row(
        world, lambda: approve(world.a.admin, second["id"]), 409, "contribution_not_pending"
    )


def test_reversing_an_issuance_is_logged(world: World) -> None:
    issuance = confirmed_issuance(world, world.alice)

    def reverse(person: Any) -> httpx.Response:
        return world.client.post(
            f"/v1/ledger/entries/{issuance['entry_id']}/reverse",
            json={"reason": "charged back"},
            headers=person.headers,
        )

    _no_new_row(world, lambda: reverse(world.b.admin), 404, "not_found")
    row = _one_new_row(world, lambda: reverse(world.a.admin), 201)
    assert row.action == StaffAction.issuance_reverse
    assert (row.object_type, row.object_id) == ("journal_entry", issuance["entry_id"])
    data = json.loads(row.data)
    assert data["reason"] == "charged back"
    assert data["issuance_id"] == issuance["id"]
    _no_new_row(world, lambda: reverse(world.a.admin), 409, "entry_already_reversed")


def test_setting_a_policy_is_logged(world: World) -> None:
    def put(person: Any, cap_go: int) -> httpx.Response:
        return world.client.put(
            f"/v1/municipalities/{world.a.municipality_id}/policy",
            json={
                "season": SEASON,
                "price_yen_per_go": PRICE_YEN_PER_GO,
                "volunteer_go_per_hour": VOLUNTEER_GO_PER_HOUR,
                "yearly_cap_go": cap_go,
            },
            headers=person.headers,
        )

    row = _one_new_row(world, lambda: put(world.a.admin, 20_000_000))
    assert row.action == StaffAction.policy_set
    assert row.object_id == f"{world.a.municipality_id}:{SEASON}"
    assert json.loads(row.data) == {
        "created": False,
        "price_yen_per_go": PRICE_YEN_PER_GO,
        "season": SEASON,
        "volunteer_go_per_hour": VOLUNTEER_GO_PER_HOUR,
        "yearly_cap_go": 20_000_000,
        # The season's harvest rules are part of the policy set (here their defaults).
        "harvest_ceiling_bp": 12_000,
        "bills_expire_on": None,
        "boards_close_on": None,
    }
    _no_new_row(world, lambda: put(world.b.admin, 1), 403, "forbidden")
    confirmed_issuance(world, world.alice)  # 100 go issued
    _no_new_row(world, lambda: put(world.a.admin, 1), 409, "cap_below_committed")


def test_registering_farmers_and_staff_is_logged_without_the_password(world: World) -> None:
    body = farmer_body()
    row = _one_new_row(
        world,
        lambda: world.client.post("/v1/farmers", json=body, headers=world.a.admin.headers),
        201,
    )
    assert row.action == StaffAction.farmer_register
    assert row.municipality_id == world.a.municipality_id
    data = json.loads(row.data)
    assert data["email"] == body["email"]
    assert data["name"] == body["name"]
    assert "password" not in data
    assert body["password"] not in row.data
    _no_new_row(
        world,
        lambda: world.client.post("/v1/farmers", json=body, headers=world.a.admin.headers),
        409,
        "email_taken",
    )

    town_admin = staff_body("town_admin", municipality_id=str(world.b.municipality_id))
    staff = _one_new_row(
        world,
        lambda: world.client.post(
            "/v1/admin/users", json=town_admin, headers=world.platform_admin.headers
        ),
        201,
    )
    assert staff.action == StaffAction.staff_register
    assert staff.actor_role == "platform_admin"
    assert staff.municipality_id == world.b.municipality_id
    assert json.loads(staff.data)["role"] == "town_admin"
    assert town_admin["password"] not in staff.data
    auditor = _one_new_row(
        world,
        lambda: world.client.post(
            "/v1/admin/users",
            json=staff_body("regional_auditor", region_id=str(world.region_id)),
            headers=world.platform_admin.headers,
        ),
        201,
    )
    assert auditor.municipality_id is None
    _no_new_row(
        world,
        lambda: world.client.post(
            "/v1/admin/users",
            json=staff_body("town_admin", municipality_id=str(uuid.uuid4())),
            headers=world.platform_admin.headers,
        ),
        404,
        "not_found",
    )


def test_disabling_enabling_resetting_and_unlocking_accounts_are_logged(world: World) -> None:
    client, platform = world.client, world.platform_admin

    def post(person: Any, path: str, body: dict[str, str] | None = None) -> httpx.Response:
        return client.post(f"/v1/admin/users/{path}", json=body, headers=person.headers)

    disabled = _one_new_row(world, lambda: post(platform, f"{world.bob.id}/disable"))
    enabled = _one_new_row(world, lambda: post(platform, f"{world.bob.id}/enable"))
    assert (disabled.action, enabled.action) == (
        StaffAction.account_disable,
        StaffAction.account_enable,
    )
    assert disabled.object_id == str(world.bob.id)
    assert disabled.municipality_id is None
    _no_new_row(
        world, lambda: post(platform, f"{platform.id}/disable"), 409, "cannot_disable_own_account"
    )

    password = "a brand new password"
    reset = _one_new_row(
        world,
        lambda: post(world.a.admin, f"{world.a.farmer.id}/password", {"new_password": password}),
    )
    assert reset.action == StaffAction.account_password_reset
    assert reset.municipality_id == world.a.municipality_id
    assert reset.data == "{}"
    assert password not in reset.data
    _no_new_row(
        world,
        lambda: post(world.a.admin, f"{world.b.farmer.id}/password", {"new_password": password}),
        404,
        "not_found",
    )
    unlocked = _one_new_row(world, lambda: post(world.a.admin, f"{world.a.farmer.id}/unlock"))
    assert unlocked.action == StaffAction.account_unlock
    _no_new_row(world, lambda: post(world.auditor, f"{world.a.farmer.id}/unlock"), 403, "forbidden")


def test_a_supporters_own_actions_are_not_staff_actions(world: World) -> None:
    investment_id = invest(world, world.alice)
    cancelled = world.client.post(
        f"/v1/investments/{investment_id}/cancel", headers=world.alice.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert staff_log(world) == []
    by_staff = invest(world, world.alice)
    row = _one_new_row(
        world,
        lambda: world.client.post(
            f"/v1/investments/{by_staff}/cancel", headers=world.a.admin.headers
        ),
    )
    assert row.action == StaffAction.investment_cancel


def test_the_row_is_written_in_the_actions_transaction(world: World) -> None:
    investment_id = uuid.UUID(invest(world, world.alice))
    with world.db() as session:
        admin = Caller(world.a.admin.id, Role.town_admin, world.a.municipality_id, None)
        investments.confirm_by_admin(session, admin, investment_id, "rolled back")
        session.rollback()
    assert staff_log(world) == []
    with world.db() as session:
        investment = session.get(Investment, investment_id)
        assert investment is not None
        assert investment.status is InvestmentStatus.pending_payment


def test_secrets_are_refused_by_the_log(world: World) -> None:
    with world.db() as session:
        for data in (
            {"new_password": "x"},
            {"nested": {"private_key": "0x01"}},
            {"items": [{"api_token": "t"}]},
        ):
            with pytest.raises(ValueError, match="secrets"):
                append_staff_action(
                    session,
                    None,
                    StaffAction.allowance_set,
                    object_type="policy",
                    object_id=None,
                    data=data,
                    municipality_id=None,
                )
        session.rollback()
    assert staff_log(world) == []


def test_an_operators_command_is_logged_without_an_account(world: World) -> None:
    with world.db.begin() as session:
        row = append_staff_action(
            session,
            None,
            StaffAction.allowance_set,
            object_type="allowance",
            object_id=f"{world.a.municipality_id}:{SEASON}",
            data={"cap_go": 10_000_000, "season": SEASON},
            municipality_id=world.a.municipality_id,
        )
    assert staff_log(world) == [row]
    assert (row.actor_id, row.actor_role) == (None, "operator")
