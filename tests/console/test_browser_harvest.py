"""In a real browser: a farmer reports a work's yield, the town countersigns it, and both
see what the harvest settled: the boards converted, the rice bills issued and the rice the
farmer owes."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.harvest.helpers import approved_hours, harvest_day, invest_and_confirm
from tests.world import World


def test_a_farmer_reports_the_yield_and_the_town_countersigns(page: Page, world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # a 500 合 board
    approved_hours(world, world.bob, "2", world.a.work_id)  # a 1,000 合 labour board
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
    # The countersignature settled the work: the town sees it among the season's harvest.
    settled = page.locator(f'tr[data-work="{world.a.work_id}"]')
    expect(settled).to_contain_text("nishiaizu コシヒカリ 2026")
    expect(settled).to_contain_text("1,500 合")  # boards converted
    expect(settled).to_contain_text("1,200 合")  # bills issued and rice owed, 80%
    expect(settled).to_contain_text("180.000 kg")
    assert_accessible(page)
    screenshot(page, "town-harvest-settled")

    harvest = world.client.get(f"/v1/works/{world.a.work_id}/harvest").json()
    assert harvest["state"] == "bills_issued"
    assert harvest["countersigned_by"]["id"] == str(world.a.admin.id)

    # The farmer sees the rice they owe, in Japanese and in English.
    page.context.clear_cookies()
    sign_in(page, world.a.farmer.email)
    page.goto(f"/console/farmer/works/{world.a.work_id}/harvest")
    expect(page.locator("[data-state]")).to_have_text("米手形を発行済み")
    expect(page.get_by_role("heading", name="収穫の精算")).to_be_visible()
    settlement = page.locator("#settlement")
    expect(settlement).to_contain_text("1,200 合 (180.000 kg)")
    expect(settlement).to_contain_text("1,500 合 (1.500 KOKU)")
    expect(page.get_by_role("heading", name="収量を報告する")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "farmer-harvest-settled")
    page.get_by_role("button", name="Show in English").click()
    expect(page.get_by_role("heading", name="Harvest settlement")).to_be_visible()
    expect(page.locator("#settlement")).to_contain_text("Rice owed (bills outstanding)")
    expect(page.locator("#settlement")).to_contain_text("1,200 go (180.000 kg)")
