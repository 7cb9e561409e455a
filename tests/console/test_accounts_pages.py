"""Supporters and staff in the console: search, reset a password, disable; by the
API's rules of who may help whom."""

from __future__ import annotations

from tests.console.helpers import console_client, csrf_of, sign_in, signed_in_client
from tests.world import World


def test_a_town_administrator_resets_a_farmers_password(world: World) -> None:
    base = str(world.client.base_url)
    with signed_in_client(base, world.a.farmer.email) as farmer:
        assert farmer.get("/console").status_code == 303
        with signed_in_client(base, world.a.admin.email) as admin:
            page = admin.get("/console/accounts", params={"q": "farmer"})
            assert world.a.farmer.email in page.text
            assert world.b.farmer.email not in page.text  # another town's
            assert "無効にする" not in page.text  # only platform administrators disable
            token = csrf_of(page.text)
            done = admin.post(
                f"/console/accounts/{world.a.farmer.id}/password",
                data={"csrf_token": token, "new_password": "a brand new password"},
            )
            assert done.status_code == 303
            other = admin.post(
                f"/console/accounts/{world.b.farmer.id}/password",
                data={"csrf_token": token, "new_password": "a brand new password"},
            )
            assert other.status_code == 404
        # The farmer's open session ended with the new password.
        assert farmer.get("/console").headers["location"].startswith("/console/sign-in")
    with console_client(base) as again:
        assert sign_in(again, world.a.farmer.email, "a brand new password").status_code == 303


def test_a_platform_administrator_disables_a_supporter(world: World) -> None:
    with signed_in_client(str(world.client.base_url), "platform@example.jp") as client:
        page = client.get("/console/accounts", params={"role": "supporter"})
        assert world.alice.email in page.text
        assert world.a.admin.email not in page.text
        disabled = client.post(
            f"/console/accounts/{world.alice.id}/active",
            data={"csrf_token": csrf_of(page.text), "active": "0"},
        )
        assert disabled.status_code == 303
    refused = world.client.get("/v1/me", headers=world.alice.headers)
    assert refused.status_code == 401


def test_a_farmer_has_no_accounts_page(world: World) -> None:
    with signed_in_client(str(world.client.base_url), world.a.farmer.email) as client:
        assert client.get("/console/accounts").status_code == 403
