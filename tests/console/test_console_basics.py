"""The console's message catalogue, its cookies in production, and reconciliation
when the chain cannot be reached."""

from __future__ import annotations

import string
import uuid

import httpx

from kokudaka.console.messages import MESSAGES
from kokudaka.core.settings import Environment, Settings
from tests.conftest import serving
from tests.console.helpers import csrf_of, signed_in_client
from tests.world import World


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_console_text_is_in_both_languages_with_the_same_placeholders() -> None:
    for key, (english, japanese) in MESSAGES.items():
        assert english.strip(), key
        assert japanese.strip(), key
        assert _placeholders(english) == _placeholders(japanese), key


def test_cookies_are_secure_outside_development(settings: Settings) -> None:
    production = settings.model_copy(
        update={
            "env": Environment.production,
            "jwt_secret": "p" * 40,
            "payment_webhook_secret": "w" * 40,
            "wallet_encryption_key": "k" * 40,
        }
    )
    with serving(production) as url, httpx.Client(base_url=url) as client:
        page = client.get("/console/sign-in")
        assert page.status_code == 200
        assert "Secure" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]


def test_reconciliation_says_when_the_chain_cannot_be_reached(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        page = client.get("/console/town/reconciliation")
        assert page.status_code == 200
        assert "照合はまだ実行されていません" in page.text
        run = client.post("/console/town/reconciliation", data={"csrf_token": csrf_of(page.text)})
        assert run.status_code == 503
        assert "チェーンに接続できないため、照合できませんでした" in run.text


def test_reconciliation_runs_as_a_job_the_page_follows(world: World) -> None:
    """The form only queues the API's reconciliation job; the page follows it to its report.

    Without a chain the job cannot start: the page says so (503), as before. With one (the
    settlement and reconciliation suites), ``tests/console/test_browser_town.py`` follows it.
    """
    with signed_in_client(str(world.client.base_url), world.a.admin.email) as client:
        # A job id the town does not have reads as none: no report, no refresh.
        page = client.get(f"/console/town/reconciliation?job={uuid.uuid4()}")
        assert page.status_code == 200
        assert 'http-equiv="refresh"' not in page.text
        assert "照合はまだ実行されていません" in page.text
