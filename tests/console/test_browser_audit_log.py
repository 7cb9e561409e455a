"""In a real browser: a town administrator reads the staff audit log, in Japanese and in
English, and filters it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.console.helpers import confirmed, invested, pending_hours
from tests.world import World


def test_a_town_administrator_reads_the_staff_audit_log(page: Page, world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 30_000))
    contribution = pending_hours(world, world.a, world.bob)
    rejected = world.client.post(
        f"/v1/contributions/{contribution}/reject",
        json={"reason": "当日は不参加"},
        headers=world.a.admin.headers,
    )
    assert rejected.status_code == 200, rejected.text

    sign_in(page, world.a.admin.email)
    page.get_by_role("link", name="職員操作の監査ログ").click()
    expect(page).to_have_url("/console/audit-log")
    expect(page.get_by_role("heading", name="職員操作の監査ログ")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)  # town a's two actions; town b's is not theirs
    expect(rows.nth(0)).to_contain_text("作業時間の却下")
    expect(rows.nth(0)).to_contain_text("当日は不参加")
    expect(rows.nth(1)).to_contain_text("入金確認")
    assert_accessible(page)
    screenshot(page, "audit-log")

    page.get_by_label("操作").select_option("investment.confirm")
    page.get_by_role("button", name="表示").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("furikomi-0001")

    page.get_by_role("button", name="Show in English").click()
    expect(page.get_by_role("heading", name="Staff audit log")).to_be_visible()
    expect(rows.nth(0)).to_contain_text("Hours rejected")
    expect(rows.nth(1)).to_contain_text("Payment confirmed")
    assert_accessible(page)
    screenshot(page, "audit-log-en")


def test_an_auditor_reads_every_town_of_the_region(page: Page, world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 30_000))
    sign_in(page, "auditor@aizu.example.jp")
    page.goto("/console/audit-log")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("自治体").select_option(label="喜多方市")
    page.get_by_role("button", name="表示").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("喜多方市")
    assert_accessible(page)
    screenshot(page, "audit-log-region")
