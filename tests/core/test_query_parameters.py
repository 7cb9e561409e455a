"""Every route refuses query parameters it does not declare, instead of ignoring them."""

from __future__ import annotations

from tests.world import World, assert_problem


def test_unknown_query_parameters_are_refused_everywhere(world: World) -> None:
    client = world.client
    for path, headers in (
        ("/v1/farmers", {}),
        ("/v1/municipalities", {}),
        (f"/v1/farmers/{world.a.farmer_id}/ledger", world.a.farmer.headers),
        ("/v1/me", world.alice.headers),
        ("/v1/audit/issuances", world.auditor.headers),
    ):
        response = client.get(path, params={"seasn": "2025", "zzz": "1"}, headers=headers)
        assert_problem(response, 422, "unknown_query_parameter")
        assert response.json()["detail"] == "Unknown query parameters: seasn, zzz."


def test_declared_parameters_and_their_aliases_pass(world: World) -> None:
    client = world.client
    assert client.get("/v1/farmers", params={"limit": "1", "q": "農家"}).status_code == 200
    response = client.get(
        "/v1/audit/issuances",
        params={"from": "2026-01-01T00:00:00+09:00", "reversed": "false", "limit": "5"},
        headers=world.auditor.headers,
    )
    assert response.status_code == 200, response.text


def test_the_message_is_japanese_by_default(world: World) -> None:
    response = world.client.get(
        "/v1/farmers", params={"season": "2025"}, headers={"Accept-Language": "ja"}
    )
    assert_problem(response, 422, "unknown_query_parameter")
    assert response.json()["detail"] == "使えないクエリパラメーターがあります: season。"
