"""In a real browser: a farmer reports a work's yield and the town countersigns it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.harvest.helpers import harvest_day
from tests.world import World


def test_a_farmer_reports_the_yield_and_the_town_countersigns(page: Page, world: World) -> None:
    sign_in(page, world.a.farmer.email)
    page.get_by_role("link", name="作品", exact=True).click()
    page.locator("tr", has_text="nishiaizu コシヒカリ 2026").get_by_role(
        "link", name="収穫"
    ).click()
    expect(page.get_by_role("heading", name="nishiaizu コシヒカリ 2026 の収穫")).to_be_visible()
    expect(page.locator("[data-state]")).to_have_text("収量の報告なし")
    page.get_by_label("収穫した精米の量(kg)").fill("432000")
    page.get_by_label("収穫日").fill(harvest_day())
    page.get_by_label("JA検査・出荷伝票の番号").fill("JA-AIZU-0042")
    page.get_by_label("写真のURL(https、空白区切り)").fill("https://photos.example.jp/1.jpg")
    assert_accessible(page)
    screenshot(page, "farmer-harvest")
    page.get_by_role("button", name="収量を報告する").click()
    expect(page.get_by_role("status")).to_contain_text("収量を報告しました")
    expect(page.locator("[data-state]")).to_have_text("自治体の確認待ち")

    page.context.clear_cookies()
    sign_in(page, world.a.admin.email)
    page.get_by_role("link", name="収量報告の確認").click()
    row = page.locator("tr", has_text="nishiaizu コシヒカリ 2026")
    expect(row).to_contain_text("432000.000 kg")
    expect(row).to_contain_text("80.00%")
    expect(row).to_contain_text("JA-AIZU-0042")
    assert_accessible(page)
    screenshot(page, "town-harvest")
    row.get_by_role("button", name="確認する").click()
    expect(page.get_by_role("status")).to_have_text("収量報告を確認しました。")
    expect(page.get_by_text("確認待ちの収量報告はありません。")).to_be_visible()

    harvest = world.client.get(f"/v1/works/{world.a.work_id}/harvest").json()
    assert harvest["state"] == "countersigned"
    assert harvest["countersigned_by"]["id"] == str(world.a.admin.id)
