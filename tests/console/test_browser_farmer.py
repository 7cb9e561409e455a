"""In a real browser: a farmer's pages, and approving hours in place (htmx)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.console.helpers import confirmed, invested, pending_hours
from tests.world import World


def test_a_farmer_approves_hours(page: Page, world: World) -> None:
    confirmed(world, world.a, invested(world, world.a, world.alice, 12_000))
    pending_hours(world, world.a, world.bob)
    sign_in(page, world.a.farmer.email)
    expect(page.get_by_role("heading", name="2026年シーズンの概況")).to_be_visible()
    expect(page.locator("canvas#weekly-canvas")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "farmer-season")

    page.get_by_role("link", name="活動と作業時間").click()
    row = page.locator("tr", has_text="bob")
    expect(row).to_contain_text("2.5")
    assert_accessible(page)
    screenshot(page, "farmer-hours")
    row.get_by_role("button", name="承認").click()
    expect(row.get_by_role("status")).to_have_text("承認済み")

    page.get_by_role("link", name="応援台帳").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    assert_accessible(page)
    screenshot(page, "farmer-ledger")

    page.get_by_role("link", name="作品", exact=True).click()
    expect(page.get_by_role("cell", name="nishiaizu コシヒカリ 2026", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "farmer-works")


def test_the_farmer_pages_on_a_phone(page: Page, world: World) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world.a.farmer.email)
    expect(page.get_by_role("heading", name="2026年シーズンの概況")).to_be_visible()
    # Nothing wider than the screen but the tables, which scroll in their own box.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "farmer-season-phone")
