"""The staff audit log in the console: each reader sees their scope, in both languages;
every action code has its words."""

from __future__ import annotations

from kokudaka.console.messages import MESSAGES
from kokudaka.models import StaffAction
from tests.console.helpers import confirmed, invested, signed_in_client
from tests.world import World


def _act_in_both_towns(world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 30_000))
    disabled = world.client.post(
        f"/v1/admin/users/{world.bob.id}/disable", headers=world.platform_admin.headers
    )
    assert disabled.status_code == 200, disabled.text


def test_a_town_administrator_reads_their_towns_rows(world: World) -> None:
    _act_in_both_towns(world)
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as admin:
        page = admin.get("/console/audit-log")
        assert page.status_code == 200, page.text
        assert "職員操作の監査ログ" in page.text
        assert page.text.count("入金確認</td>") == 1  # town a's confirmation only
        assert "アカウントの無効化" not in page.text.split("<tbody>")[1]  # above any town
        assert 'admin <span class="muted">(自治体管理者)</span>' in page.text  # who acted
        # Another town is refused, as by the API.
        other = admin.get("/console/audit-log", params={"town": str(world.b.municipality_id)})
        assert other.status_code == 403


def test_an_auditor_reads_the_region_and_filters(world: World) -> None:
    _act_in_both_towns(world)
    with signed_in_client(str(world.client.base_url), "auditor@aizu.example.jp") as auditor:
        page = auditor.get("/console/audit-log")
        assert page.status_code == 200
        assert page.text.count("入金確認</td>") == 2
        assert "西会津町" in page.text
        assert "喜多方市" in page.text
        only_b = auditor.get("/console/audit-log", params={"town": str(world.b.municipality_id)})
        assert only_b.text.count("入金確認</td>") == 1
        none = auditor.get("/console/audit-log", params={"action": "policy.set"})
        assert "入金確認</td>" not in none.text
    with signed_in_client(str(world.client.base_url), "platform@example.jp", "en") as platform:
        page = platform.get("/console/audit-log")
        assert "Staff audit log" in page.text
        assert "Account disabled" in page.text
        assert page.text.count("Payment confirmed</td>") == 2


def test_farmers_and_supporters_have_no_audit_log_page(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as farmer:
        assert farmer.get("/console/audit-log").status_code == 403


def test_every_action_has_its_words() -> None:
    for action in StaffAction:
        assert f"staff_action_{action.value}" in MESSAGES
