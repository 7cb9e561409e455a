"""Signing in and out of the console: the API's accounts and rules, a session cookie,
CSRF tokens on every form, the idle timeout and the language switch."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from kokudaka.models import ConsoleSession, utcnow
from tests.console.helpers import console_client, csrf_of, sign_in, signed_in_client
from tests.world import World


def test_sign_in_page_is_japanese_first_and_english_on_request(world: World) -> None:
    base = str(world.client.base_url)
    with console_client(base, "ja") as ja, console_client(base, "en") as en:
        assert "管理画面にサインイン" in ja.get("/console/sign-in").text
        page = en.get("/console/sign-in")
        assert 'lang="en"' in page.text
        assert "Sign in to the console" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_a_farmer_signs_in_and_out(world: World) -> None:
    with console_client(str(world.client.base_url)) as client:
        response = sign_in(client, world.a.farmer.email)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "kokudaka_console=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/console" in cookie
        home = client.get("/console")
        assert home.status_code == 303
        assert home.headers["location"] == "/console/farmer"

        secret = client.cookies["kokudaka_console"]
        out = client.post("/console/sign-out", data={"csrf_token": _session_csrf(world, secret)})
        assert out.status_code == 303
        assert out.headers["location"] == "/console/sign-in?signed_out=1"
    # The old cookie is dead even if a browser kept it.
    with console_client(str(world.client.base_url)) as replay:
        replay.cookies.set("kokudaka_console", secret, path="/console")
        assert replay.get("/console").headers["location"].startswith("/console/sign-in")


def _session_csrf(world: World, secret: str) -> str:
    from kokudaka.console.sessions import hash_secret

    with world.db() as session:
        row = session.get(ConsoleSession, hash_secret(secret))
        assert row is not None
        return row.csrf_token


def test_wrong_password_is_refused_and_counts_towards_the_api_throttle(world: World) -> None:
    with console_client(str(world.client.base_url)) as client:
        for _ in range(world.settings.sign_in_max_failures):
            refused = sign_in(client, world.a.admin.email, "wrong password!")
            assert refused.status_code == 401
            assert "メールアドレスまたはパスワードが違います" in refused.text
        throttled = sign_in(client, world.a.admin.email)
        assert throttled.status_code == 429
    # The same throttle, shared with the API's sign-in.
    api = world.client.post(
        "/v1/auth/token", data={"username": world.a.admin.email, "password": "x" * 12}
    )
    assert api.status_code == 429


def test_a_supporter_is_refused_at_the_console(world: World) -> None:
    with console_client(str(world.client.base_url)) as client:
        refused = sign_in(client, world.alice.email)
        assert refused.status_code == 403
        assert "応援者の方はアプリをご利用ください" in refused.text
        assert "kokudaka_console" not in client.cookies
        assert client.get("/console").headers["location"].startswith("/console/sign-in")


def test_a_form_post_without_the_csrf_token_is_refused(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        refused = client.post("/console/sign-out", data={})
        assert refused.status_code == 403
        assert "フォームの有効期限が切れたか" in refused.text
        forged = client.post("/console/sign-out", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        # Still signed in: nothing happened.
        assert client.get("/console").headers["location"] == "/console/farmer"
    with console_client(str(world.client.base_url)) as client:
        client.get("/console/sign-in")
        no_token = client.post(
            "/console/sign-in",
            data={"email": world.a.farmer.email, "password": "correct horse battery"},
        )
        assert no_token.status_code == 403


def test_an_idle_session_ends(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        assert client.get("/console").headers["location"] == "/console/farmer"
        idle = timedelta(seconds=world.settings.console_idle_timeout_seconds + 1)
        with world.db.begin() as session:
            session.execute(update(ConsoleSession).values(last_seen_at=utcnow() - idle))
        response = client.get("/console")
        assert response.headers["location"].startswith("/console/sign-in")


def test_disabling_the_account_ends_its_console_session(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        disabled = world.client.post(
            f"/v1/admin/users/{world.a.farmer.id}/disable", headers=world.platform_admin.headers
        )
        assert disabled.status_code == 200, disabled.text
        assert client.get("/console").headers["location"].startswith("/console/sign-in")
        enabled = world.client.post(
            f"/v1/admin/users/{world.a.farmer.id}/enable", headers=world.platform_admin.headers
        )
        assert enabled.status_code == 200
        # Enabling does not bring the old session back, as with the API's tokens.
        assert client.get("/console").headers["location"].startswith("/console/sign-in")


def test_the_language_switch_holds_across_pages(world: World) -> None:
    with console_client(str(world.client.base_url)) as client:
        token = csrf_of(client.get("/console/sign-in").text)
        switched = client.post(
            "/console/language",
            data={"lang": "en", "csrf_token": token, "next": "/console/sign-in"},
        )
        assert switched.status_code == 303
        assert "Sign in to the console" in client.get("/console/sign-in").text
        # A redirect never leaves the console.
        away = client.post(
            "/console/language",
            data={"lang": "ja", "csrf_token": token, "next": "https://example.com/"},
        )
        assert away.headers["location"] == "/console"


def test_console_pages_are_not_in_the_api_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]
