"""In a real browser: a regional auditor's drill-down into a town."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.console.helpers import confirmed, invested
from tests.world import World


def test_an_auditors_drill_down(page: Page, world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    confirmed(world, world.b, invested(world, world.b, world.bob, 30_000))
    sign_in(page, "auditor@aizu.example.jp")
    expect(page).to_have_url("/console/region")
    expect(page.get_by_role("heading", name="地域の概況 2026年シーズン")).to_be_visible()
    expect(page.locator("canvas#issued-canvas")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "region-overview")
    page.get_by_role("link", name="喜多方市").click()
    expect(page.get_by_role("heading", name="喜多方市 2026年シーズン")).to_be_visible()
    expect(page.get_by_role("cell", name="bob")).to_be_visible()
    expect(page.get_by_role("button", name="入金を確認")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "region-town")
    page.get_by_role("link", name="地域の概況へ戻る").click()
    expect(page).to_have_url("/console/region?season=2026")
