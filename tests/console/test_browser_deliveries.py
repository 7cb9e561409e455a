"""In a real browser: a farmer finds a supporter's redemption in the shipping list, with
the address to send it to, marks it shipped through the row's form, and sees it in the
season's delivery ledger."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.redemptions.helpers import ADDRESS, bills_for, redeemed
from tests.world import SEASON, World


def test_a_farmer_ships_a_redemption_and_sees_it_in_the_ledger(page: Page, world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))  # a 1,000 合 bill
    redemption = redeemed(world, world.alice, bills[world.alice.id], 200)  # 30 kg
    sign_in(page, world.a.farmer.email)
    page.get_by_role("link", name="発送", exact=True).click()
    expect(page.get_by_role("heading", name="発送", exact=True)).to_be_visible()
    row = page.locator(f'tr[data-redemption="{redemption["id"]}"]')
    expect(row).to_contain_text("200 合")
    expect(row).to_contain_text("30.000 kg")
    expect(row).to_contain_text(ADDRESS["recipient_name"])
    expect(row.locator("[data-state]")).to_have_text("発送待ち")
    assert_accessible(page)
    screenshot(page, "farmer-shipping")

    expect(row.get_by_label("発送した重量(kg)")).to_have_value("30.000")
    row.get_by_label("発送した重量(kg)").fill("30.5")
    row.get_by_label("配送業者").fill("ヤマト運輸")
    row.get_by_label("伝票番号").fill("1234-5678-9012")
    row.get_by_role("button", name="発送済みにする").click()
    # htmx swaps the row in place.
    expect(row.locator("[data-state]")).to_have_text("発送済み")
    expect(row).to_contain_text("ヤマト運輸 1234-5678-9012")
    expect(row.get_by_role("button", name="発送済みにする")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "farmer-shipped")

    shown = world.client.get(
        f"/v1/redemptions/{redemption['id']}", headers=world.alice.headers
    ).json()
    assert shown["state"] == "shipped"
    assert shown["shipped_kg"] == "30.500"

    page.get_by_role("link", name="受け渡し台帳").click()
    page.get_by_label("シーズン").select_option(str(SEASON))
    page.get_by_role("button", name="表示").click()
    ledger = page.locator(f'table[data-work="{world.a.work_id}"]')
    line = ledger.locator(f'tr[data-supporter="{world.alice.id}"]')
    expect(line.locator('[data-column="shipped"]')).to_contain_text("200 合")
    expect(line.locator('[data-column="outstanding"]')).to_contain_text("800 合")
    expect(line).to_contain_text("30.500 kg")
    assert_accessible(page)
    screenshot(page, "farmer-deliveries")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSVをダウンロード").click()
    assert download.value.suggested_filename == f"deliveries-{SEASON}.csv"
