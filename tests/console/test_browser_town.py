"""In a real browser: a town administrator confirms a payment and exports the CSV."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.console.helpers import confirmed, invested, pending_hours
from tests.world import World


def test_a_town_administrator_confirms_a_payment_and_exports_the_csv(
    page: Page, world: World
) -> None:
    confirmed(world, world.a, invested(world, world.a, world.bob, 30_000))
    invested(world, world.a, world.alice, 12_000)
    pending_hours(world, world.a, world.bob)
    sign_in(page, world.a.admin.email)
    expect(page).to_have_url("/console/town")
    expect(page.get_by_role("heading", name="西会津町 2026年シーズン")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "town-dashboard")

    page.get_by_role("link", name="入金確認").click()
    row = page.locator("tr", has_text="alice")
    row.get_by_label("alice さんの投資の入金照会番号").fill("furikomi-2026-0042")
    assert_accessible(page)
    screenshot(page, "town-payments")
    row.get_by_role("button", name="入金を確認").click()
    expect(row.get_by_role("status")).to_have_text("確定済み")

    page.get_by_role("link", name="発行履歴").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    assert_accessible(page)
    screenshot(page, "town-issuances")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSVをダウンロード").click()
    download = download_info.value
    assert download.suggested_filename == "issuances.csv"
    text = download.path().read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    assert "alice" in text
    assert "bob" in text

    for name, shot in (
        ("農家", "town-farmers"),
        ("シーズンの方針", "town-policy"),
        ("応援者・職員", "town-accounts"),
        ("照合", "town-reconciliation"),
    ):
        page.get_by_role("navigation").get_by_role("link", name=name).click()
        assert_accessible(page)
        screenshot(page, shot)


def test_another_towns_pages_are_refused(page: Page, world: World) -> None:
    theirs = invested(world, world.b, world.bob, 5_000)
    sign_in(page, world.a.admin.email)
    response = page.goto(f"/console/town/farmers/{world.b.farmer_id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("農家が見つかりません")
    screenshot(page, "not-found")
    page.goto("/console/town/payments")
    status = page.evaluate(
        """async ([id, token]) => (await fetch(`/console/town/payments/${id}/confirm`, {
            method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
            body: `csrf_token=${token}&payment_reference=x`})).status""",
        [theirs, page.locator("input[name=csrf_token]").first.input_value()],
    )
    assert status == 404
