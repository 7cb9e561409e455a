"""The /v1/me views: balance with rank, ledger, investments and contributions."""

from __future__ import annotations

import uuid

from tests.world import World


def test_me_views_show_only_the_callers_data(world: World) -> None:
    client = world.client
    created = client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 150_000},
        headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    client.post(
        f"/v1/investments/{created['id']}/confirm",
        json={"payment_reference": "p"},
        headers=world.a.admin.headers,
    )
    balance = client.get("/v1/me/balance", headers=world.alice.headers).json()
    assert balance["balance"] == {"go": 15_000, "koku": "15.000"}
    assert balance["rank"]["name"] == "名主"
    assert balance["rice_grams"] == 15_000 * 150

    mine = client.get("/v1/me/investments", headers=world.alice.headers).json()
    assert [item["id"] for item in mine["items"]] == [created["id"]]
    assert client.get("/v1/me/investments", headers=world.bob.headers).json()["items"] == []
    assert client.get("/v1/me/ledger", headers=world.bob.headers).json()["items"] == []
    assert client.get("/v1/me/contributions", headers=world.bob.headers).json()["items"] == []
    bob = client.get("/v1/me/balance", headers=world.bob.headers).json()
    assert bob["balance"]["go"] == 0
    assert bob["rank"]["name"] == "百姓"
    for path in (
        "/v1/me",
        "/v1/me/balance",
        "/v1/me/ledger",
        "/v1/me/investments",
        "/v1/me/contributions",
    ):
        assert client.get(path).status_code == 401


def test_me_lists_page_with_cursors(world: World) -> None:
    client = world.client
    ids = set()
    for _ in range(7):
        response = client.post(
            "/v1/investments",
            json={"work_id": str(world.a.work_id), "amount_yen": 100},
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        ids.add(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/me/investments", params=params, headers=world.alice.headers).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    assert set(seen) == ids
    assert seen == sorted(seen, reverse=True)
    bad = client.get("/v1/me/investments", params={"cursor": "%%%"}, headers=world.alice.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
