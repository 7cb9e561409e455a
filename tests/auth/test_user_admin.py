"""``/v1/admin/users``: listing accounts by scope, setting a new password and lifting a
sign-in lock."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.world import PASSWORD, Person, World, assert_problem

NEW_PASSWORD = "a brand new password"


def _list(world: World, person: Person, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/admin/users", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _emails(world: World, person: Person, **params: Any) -> set[str]:
    return {item["email"] for item in _list(world, person, **params)["items"]}


def _sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def test_each_role_lists_its_scope(world: World) -> None:
    everyone = _emails(world, world.platform_admin)
    assert {"alice@example.jp", "platform@example.jp", "farmer@kitakata.example.jp"} <= everyone
    assert _emails(world, world.a.admin) == {
        "admin@nishiaizu.example.jp",
        "farmer@nishiaizu.example.jp",
    }
    assert _emails(world, world.auditor) == {
        "admin@nishiaizu.example.jp",
        "farmer@nishiaizu.example.jp",
        "admin@kitakata.example.jp",
        "farmer@kitakata.example.jp",
        "auditor@aizu.example.jp",
    }
    assert _emails(world, world.other_region_auditor) == {"auditor@other.example.jp"}
    for outsider in (world.alice, world.a.farmer):
        assert_problem(
            world.client.get("/v1/admin/users", headers=outsider.headers), 403, "forbidden"
        )


def test_filters_and_paging(world: World) -> None:
    admin = world.platform_admin
    assert _emails(world, admin, role="supporter") == {"alice@example.jp", "bob@example.jp"}
    assert _emails(world, admin, q="KITAKATA") == {
        "admin@kitakata.example.jp",
        "farmer@kitakata.example.jp",
    }
    assert _emails(world, admin, q="alice") == {"alice@example.jp"}
    assert _emails(world, admin, role="farmer", municipality_id=str(world.b.municipality_id)) == {
        "farmer@kitakata.example.jp"
    }
    disabled = world.client.post(f"/v1/admin/users/{world.bob.id}/disable", headers=admin.headers)
    assert disabled.status_code == 200, disabled.text
    assert _emails(world, admin, active="false") == {"bob@example.jp"}
    assert "bob@example.jp" not in _emails(world, admin, active="true")
    # A town administrator asking for another town gets nothing of it.
    assert _emails(world, world.a.admin, municipality_id=str(world.b.municipality_id)) == set()
    for bad in ({"role": "king"}, {"active": "perhaps"}, {"email": "x"}):
        response = world.client.get("/v1/admin/users", params=bad, headers=admin.headers)
        assert response.status_code == 422, bad

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = _list(world, admin, **params)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    assert seen == sorted(seen, key=uuid.UUID, reverse=True)


def test_town_admin_sets_a_farmers_password_and_old_tokens_die(world: World) -> None:
    client, farmer = world.client, world.a.farmer
    response = client.post(
        f"/v1/admin/users/{farmer.id}/password",
        json={"new_password": NEW_PASSWORD},
        headers=world.a.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == farmer.email
    assert "password" not in response.text
    assert_problem(client.get("/v1/me", headers=farmer.headers), 401, "invalid_token")
    assert_problem(_sign_in(client, farmer.email, PASSWORD), 401, "invalid_credentials")
    assert _sign_in(client, farmer.email, NEW_PASSWORD).status_code == 200


def test_who_may_help_whom(world: World) -> None:
    client = world.client
    body = {"new_password": NEW_PASSWORD}

    def set_password(actor: Person, target: uuid.UUID) -> httpx.Response:
        return client.post(f"/v1/admin/users/{target}/password", json=body, headers=actor.headers)

    # Outside a town administrator's town, or a supporter: not theirs to see.
    assert_problem(set_password(world.a.admin, world.b.farmer.id), 404, "not_found")
    assert_problem(set_password(world.a.admin, world.alice.id), 404, "not_found")
    assert_problem(set_password(world.a.admin, uuid.uuid4()), 404, "not_found")
    # Seen but not theirs to help: the town's own administrators, anything for auditors.
    assert_problem(set_password(world.a.admin, world.a.admin.id), 403, "forbidden")
    assert_problem(set_password(world.auditor, world.a.farmer.id), 403, "forbidden")
    assert_problem(set_password(world.alice, world.bob.id), 403, "forbidden")
    assert_problem(set_password(world.a.farmer, world.a.farmer.id), 403, "forbidden")
    # Platform administrators help every account but another platform administrator's.
    other_platform = client.post(
        "/v1/admin/users",
        json={
            "email": "second@example.jp",
            "password": PASSWORD,
            "display_name": "second",
            "role": "platform_admin",
        },
        headers=world.platform_admin.headers,
    )
    assert other_platform.status_code == 201, other_platform.text
    other_id = uuid.UUID(other_platform.json()["id"])
    assert_problem(set_password(world.platform_admin, other_id), 403, "forbidden")
    assert set_password(world.platform_admin, world.alice.id).status_code == 200
    assert _sign_in(client, world.alice.email, NEW_PASSWORD).status_code == 200
    assert_problem(
        client.post(
            f"/v1/admin/users/{world.a.farmer.id}/password",
            json={"new_password": "x"},
            headers=world.platform_admin.headers,
        ),
        422,
        "validation_error",
    )


def test_unlock_lifts_the_sign_in_throttle(world: World) -> None:
    client, farmer = world.client, world.a.farmer
    for _ in range(world.settings.sign_in_max_failures):
        assert _sign_in(client, farmer.email, "wrong password!").status_code == 401
    assert_problem(_sign_in(client, farmer.email, PASSWORD), 429, "too_many_sign_in_attempts")
    listed = _list(world, world.a.admin, role="farmer")["items"]
    assert [item["sign_in_locked"] for item in listed] == [True]

    assert_problem(
        client.post(f"/v1/admin/users/{farmer.id}/unlock", headers=world.b.admin.headers),
        404,
        "not_found",
    )
    assert_problem(
        client.post(f"/v1/admin/users/{farmer.id}/unlock", headers=world.auditor.headers),
        403,
        "forbidden",
    )
    unlocked = client.post(f"/v1/admin/users/{farmer.id}/unlock", headers=world.a.admin.headers)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["sign_in_locked"] is False
    assert _sign_in(client, farmer.email, PASSWORD).status_code == 200
