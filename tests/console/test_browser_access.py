"""In a real browser: signing in and out, the language switch, and what is refused
(a form posted without its CSRF token, a supporter, another town's pages)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.world import World


def test_sign_in_and_sign_out(page: Page, world: World) -> None:
    page.goto("/console/sign-in")
    expect(page.get_by_role("heading", name="管理画面にサインイン")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "sign-in")
    sign_in(page, world.a.farmer.email)
    expect(page).to_have_url("/console/farmer")
    page.get_by_role("button", name="サインアウト").click()
    expect(page.get_by_text("サインアウトしました。")).to_be_visible()
    page.goto("/console/farmer")
    expect(page).to_have_url("/console/sign-in?next=/console/farmer")


def test_the_language_switch(page: Page, world: World) -> None:
    sign_in(page, world.a.farmer.email)
    page.get_by_role("button", name="Show in English").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("button", name="表示を日本語にする").click()
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, world: World) -> None:
    sign_in(page, world.a.farmer.email)
    # The session cookie goes along (same origin), the hidden token does not.
    status = page.evaluate(
        """async () => (await fetch("/console/sign-out", {method: "POST",
            headers: {"Content-Type": "application/x-www-form-urlencoded"},
            body: "csrf_token="})).status"""
    )
    assert status == 403
    page.goto("/console/farmer")
    expect(page).to_have_url("/console/farmer")  # still signed in: nothing happened


def test_a_supporter_is_refused(page: Page, world: World) -> None:
    sign_in(page, world.alice.email)
    expect(page.get_by_role("alert")).to_contain_text("応援者の方はアプリをご利用ください")
    screenshot(page, "supporter-refused")
    page.goto("/console")
    expect(page).to_have_url("/console/sign-in?next=/console")
