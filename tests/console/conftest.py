"""A real browser on the console: Debian's chromium driven by Playwright.

One browser for the whole run and a fresh context (cookies, storage) and page per
test. Every request the page makes is recorded, and a test fails if any went to
another host than the test server, or if the browser reported an error (a script that
failed, a style or script refused by the Content-Security-Policy). ``screenshot``
saves what a page looks like to ``test-artifacts/screenshots/``; ``assert_accessible``
runs axe-core (from npm) in the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.databases import ROOT
from tests.world import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("chromium is missing in CI: scripts/browser-deps.sh installs it")
    pytest.skip(
        "the console's browser tests need Debian's chromium: run scripts/browser-deps.sh",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright  # noqa: E402


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Never Playwright's own browser download: the machine's chromium, by its path.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@dataclass
class Recorded:
    """What the page asked the network for, and what the browser complained about."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def page(browser: Browser, base_url: str, recorded: Recorded) -> Iterator[Page]:
    """A page in a fresh context (no cookies), in Japan, on a PC-sized screen."""
    context = browser.new_context(
        base_url=base_url,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_request(request: Request) -> None:
        recorded.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            recorded.errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: recorded.errors.append(str(error)))
    yield page
    context.close()
    own = urlsplit(base_url).netloc
    elsewhere = [url for url in recorded.requests if urlsplit(url).netloc not in (own, "")]
    assert not elsewhere, f"requests to another host: {elsewhere}"
    # Pages that answer 4xx on purpose log the status as a console error; nothing else may.
    unexpected = [e for e in recorded.errors if "Failed to load resource" not in e]
    assert not unexpected, f"browser errors: {unexpected}"


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation of WCAG 2 A/AA on the page.

    Evaluated through the DevTools protocol, which the page's Content-Security-Policy
    (no inline scripts) does not apply to, so the policy stays on while it runs.
    """
    page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            });
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    assert not violations, f"accessibility violations on {page.url}: {violations}"


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does."""
    page.goto("/console/sign-in")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_load_state()
