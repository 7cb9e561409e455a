"""The harvest's operations are in the OpenAPI document with the problems they give."""

from __future__ import annotations

from tests.world import World


def test_the_harvest_operations_and_their_problems_are_documented(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    expected = {
        ("get", "/v1/me/boards"): {"401"},
        ("get", "/v1/me/bills"): {"401", "422"},
        ("get", "/v1/me/bills/{bill_id}"): {"401", "404"},
        ("get", "/v1/works/{work_id}/harvest"): {"404"},
        ("post", "/v1/works/{work_id}/yield-reports"): {"401", "403", "404", "409", "422"},
        ("get", "/v1/works/{work_id}/yield-reports"): {"401", "403", "404"},
        ("post", "/v1/yield-reports/{report_id}/countersign"): {"401", "403", "404", "409"},
        ("post", "/v1/yield-reports/{report_id}/reject"): {"401", "403", "404", "409", "422"},
    }
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == ["harvest"]
        assert statuses <= set(operation["responses"]), (method, path)
    assert "boards_closed" in paths["/v1/investments"]["post"]["responses"]["409"]["description"]
    contributions = paths["/v1/activities/{activity_id}/contributions"]["post"]
    assert "boards_closed" in contributions["responses"]["409"]["description"]
    assert "harvest_date_invalid" in str(paths["/v1/works/{work_id}/yield-reports"]["post"])
    harvest = world.client.get("/openapi.json").json()["components"]["schemas"]["HarvestRead"]
    assert "settlement" in harvest["properties"]
    balance = paths["/v1/me/balance"]["get"]
    assert "rank follows KOKU earned" in balance["description"]
