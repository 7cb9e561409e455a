"""Disabling and enabling accounts: what a sign-in reveals, what tokens survive, and
which accounts a platform administrator may disable."""

from __future__ import annotations

import uuid

import httpx

from kokudaka.models import User
from tests.world import PASSWORD, World, assert_problem


def _sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def _disable(client: httpx.Client, world: World, user_id: uuid.UUID) -> httpx.Response:
    return client.post(f"/v1/admin/users/{user_id}/disable", headers=world.platform_admin.headers)


def _is_active(world: World, user_id: uuid.UUID) -> bool:
    with world.db() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.is_active


def test_a_disabled_account_is_answered_exactly_as_a_wrong_password(
    client: httpx.Client, world: World
) -> None:
    wrong_for_active = _sign_in(client, world.bob.email, "wrong-password")
    assert _disable(client, world, world.alice.id).status_code == 200
    right_for_disabled = _sign_in(client, world.alice.email, PASSWORD)
    wrong_for_disabled = _sign_in(client, world.alice.email, "wrong-password")

    for response in (wrong_for_active, right_for_disabled, wrong_for_disabled):
        assert_problem(response, 401, "invalid_credentials")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert right_for_disabled.json() == wrong_for_disabled.json() == wrong_for_active.json()

    # It counts as a failure too, so the throttle cannot tell them apart either.
    for _ in range(world.settings.sign_in_max_failures - 2):
        assert _sign_in(client, world.alice.email, PASSWORD).status_code == 401
    assert_problem(_sign_in(client, world.alice.email, PASSWORD), 429, "too_many_sign_in_attempts")


def test_tokens_issued_before_a_disable_stay_revoked_after_the_account_is_enabled(
    client: httpx.Client, world: World
) -> None:
    old_headers = world.alice.headers
    assert client.get("/v1/me", headers=old_headers).status_code == 200
    assert _disable(client, world, world.alice.id).status_code == 200
    enabled = client.post(
        f"/v1/admin/users/{world.alice.id}/enable", headers=world.platform_admin.headers
    )
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["is_active"] is True

    assert_problem(client.get("/v1/me", headers=old_headers), 401, "invalid_token")
    # Signing in again gives a token that works.
    token = _sign_in(client, world.alice.email, PASSWORD)
    assert token.status_code == 200, token.text
    fresh = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/v1/me", headers=fresh).status_code == 200
    assert_problem(client.get("/v1/me", headers=old_headers), 401, "invalid_token")


def test_enabling_does_not_revoke_and_only_platform_admins_enable(
    client: httpx.Client, world: World
) -> None:
    url = f"/v1/admin/users/{world.a.admin.id}/enable"
    assert client.post(url, headers=world.platform_admin.headers).status_code == 200
    assert client.get("/v1/me", headers=world.a.admin.headers).status_code == 200
    assert_problem(client.post(url, headers=world.a.admin.headers), 403, "forbidden")


def test_a_platform_admin_cannot_disable_itself(client: httpx.Client, world: World) -> None:
    refused = _disable(client, world, world.platform_admin.id)
    assert_problem(refused, 409, "cannot_disable_own_account")
    assert _is_active(world, world.platform_admin.id)
    assert client.get("/v1/me", headers=world.platform_admin.headers).status_code == 200


def test_a_platform_admin_cannot_disable_another_platform_admin(
    client: httpx.Client, world: World
) -> None:
    created = client.post(
        "/v1/admin/users",
        json={
            "email": "second-platform@example.jp",
            "password": PASSWORD,
            "display_name": "second",
            "role": "platform_admin",
        },
        headers=world.platform_admin.headers,
    )
    assert created.status_code == 201, created.text
    other_id = uuid.UUID(created.json()["id"])
    assert_problem(_disable(client, world, other_id), 403, "cannot_disable_platform_admin")
    assert _is_active(world, other_id)
    # Staff of other roles can still be disabled.
    assert _disable(client, world, world.a.admin.id).status_code == 200
    assert not _is_active(world, world.a.admin.id)
