"""Sign-up, sign-in, tokens, throttling and disabled accounts."""

from __future__ import annotations

import time

import httpx

from kokudaka.auth.caller import Caller
from kokudaka.auth.security import create_access_token, decode_access_token
from kokudaka.models import Investment, Role
from tests.world import PASSWORD, World, assert_problem, count


def test_register_then_sign_in_and_read_me(client: httpx.Client) -> None:
    response = client.post(
        "/v1/auth/register",
        json={"email": "Hanako@Example.jp", "password": PASSWORD, "display_name": "山田花子"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "supporter"
    assert response.json()["email"] == "hanako@example.jp"

    token = client.post(
        "/v1/auth/token", data={"username": "HANAKO@example.jp", "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "bearer"


def test_register_refuses_role_and_duplicate_email(client: httpx.Client) -> None:
    body = {"email": "x@example.jp", "password": PASSWORD, "display_name": "x"}
    sneaky = client.post("/v1/auth/register", json={**body, "role": "platform_admin"})
    assert sneaky.status_code == 422
    assert sneaky.headers["content-type"] == "application/problem+json"
    assert sneaky.json()["code"] == "validation_error"
    assert client.post("/v1/auth/register", json=body).status_code == 201
    again = client.post("/v1/auth/register", json=body)
    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"


def test_wrong_password_is_401_and_repeated_failures_are_throttled(
    client: httpx.Client, world: World
) -> None:
    for _ in range(world.settings.sign_in_max_failures):
        bad = client.post(
            "/v1/auth/token", data={"username": world.alice.email, "password": "wrong-password"}
        )
        assert bad.status_code == 401
        assert bad.json()["code"] == "invalid_credentials"
    throttled = client.post(
        "/v1/auth/token", data={"username": world.alice.email, "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_sign_in_attempts"
    assert int(throttled.headers["Retry-After"]) > 0


def test_disabled_account_cannot_sign_in_and_its_token_stops_working(
    client: httpx.Client, world: World
) -> None:
    assert client.get("/v1/me", headers=world.alice.headers).status_code == 200
    disabled = client.post(
        f"/v1/admin/users/{world.alice.id}/disable", headers=world.platform_admin.headers
    )
    assert disabled.status_code == 200, disabled.text
    refused = client.post(
        "/v1/auth/token", data={"username": world.alice.email, "password": PASSWORD}
    )
    assert_problem(refused, 401, "invalid_credentials")
    assert client.get("/v1/me", headers=world.alice.headers).status_code == 401


def test_a_disabled_account_writes_nothing_with_its_token(
    client: httpx.Client, world: World
) -> None:
    """The account check runs inside the write's own transaction, before its work."""
    body = {"work_id": str(world.a.work_id), "amount_yen": 10_000}
    first = client.post(
        "/v1/investments", json=body, headers={**world.alice.headers, "Idempotency-Key": "k1"}
    )
    assert first.status_code == 201, first.text
    disabled = client.post(
        f"/v1/admin/users/{world.alice.id}/disable", headers=world.platform_admin.headers
    )
    assert disabled.status_code == 200, disabled.text
    investments = count(world, Investment)
    refused = client.post(
        "/v1/investments", json=body, headers={**world.alice.headers, "Idempotency-Key": "k2"}
    )
    assert_problem(refused, 401, "invalid_token")
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    confirm = client.post(
        f"/v1/investments/{first.json()['id']}/confirm",
        json={"payment_reference": "furikomi-1"},
        headers=world.a.admin.headers,
    )
    assert confirm.status_code == 200, confirm.text  # the town's staff are unaffected
    assert count(world, Investment) == investments


def test_a_token_whose_scope_is_not_the_accounts_is_refused(
    client: httpx.Client, world: World
) -> None:
    """A validly signed token naming a role, town or region the account does not have
    (an account changed after the token was issued) acts as nobody."""
    settings = world.settings
    claims_admin = Caller(world.alice.id, Role.town_admin, world.a.municipality_id, None)
    token = create_access_token(settings, claims_admin)
    work = client.patch(
        f"/v1/works/{world.a.work_id}",
        json={"is_open": False},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(work, 401, "invalid_token")
    other_town = Caller(world.a.admin.id, Role.town_admin, world.b.municipality_id, None)
    token = create_access_token(settings, other_town)
    audit = client.get(
        "/v1/audit/issuances",
        params={"municipality_id": str(world.b.municipality_id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(audit, 401, "invalid_token")
    assert client.get(f"/v1/works/{world.a.work_id}").json()["is_open"] is True


def test_forged_expired_and_missing_tokens_are_401(client: httpx.Client, world: World) -> None:
    import jwt

    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    none_alg = jwt.encode({"sub": str(world.alice.id)}, key="", algorithm="none")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401
    forged = jwt.encode(
        {
            "sub": str(world.alice.id),
            "iss": "kokudaka",
            "aud": "kokudaka-api",
            "exp": 9999999999,
            "iat": 0,
        },
        "another-secret-another-secret-another-secret",
        algorithm="HS256",
    )
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode(
        {
            "sub": str(world.alice.id),
            "iss": world.settings.jwt_issuer,
            "aud": world.settings.jwt_audience,
            "exp": int(time.time()) - 1,
            "iat": int(time.time()) - 901,
        },
        world.settings.jwt_secret,
        algorithm="HS256",
    )
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_a_verified_token_still_expires(world: World) -> None:
    """Verified tokens are cached; the cache must not outlive a token's expiry."""
    settings = world.settings
    alice = Caller(world.alice.id, Role.supporter, None, None)
    token = create_access_token(settings, alice)
    assert decode_access_token(settings, token) == alice  # verified and cached
    expires = time.time() + settings.access_token_ttl_seconds
    assert decode_access_token(settings, token, now=expires - 5) == alice
    assert decode_access_token(settings, token, now=expires + 5) is None
    other = settings.model_copy(update={"jwt_secret": "a-different-secret-" * 3})
    assert decode_access_token(other, token) is None


def test_errors_speak_japanese_by_default_and_english_on_request(client: httpx.Client) -> None:
    ja = client.get("/v1/me", headers={"Accept-Language": "ja-JP,ja;q=0.9"})
    en = client.get("/v1/me", headers={"Accept-Language": "en-US"})
    assert ja.json()["code"] == en.json()["code"] == "not_authenticated"
    assert ja.json()["title"] == "サインインが必要です。"
    assert en.json()["title"] == "Sign-in required."
