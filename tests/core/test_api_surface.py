"""The API's surface: the OpenAPI document, and no input ever producing a 500.

Every write endpoint is sent malformed and hostile bodies, as several roles; every
answer must be a 4xx in the problem shape.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.world import World, assert_problem

ISSUE_PATHS = {
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/token"),
    ("get", "/v1/me"),
    ("get", "/v1/me/balance"),
    ("get", "/v1/me/ledger"),
    ("get", "/v1/me/investments"),
    ("get", "/v1/me/contributions"),
    ("get", "/v1/municipalities"),
    ("post", "/v1/municipalities"),
    ("get", "/v1/municipalities/{municipality_id}/policy"),
    ("put", "/v1/municipalities/{municipality_id}/policy"),
    ("get", "/v1/farmers"),
    ("post", "/v1/farmers"),
    ("get", "/v1/farmers/{farmer_id}"),
    ("patch", "/v1/farmers/{farmer_id}"),
    ("get", "/v1/farmers/{farmer_id}/ledger"),
    ("get", "/v1/works"),
    ("post", "/v1/works"),
    ("get", "/v1/works/{work_id}"),
    ("patch", "/v1/works/{work_id}"),
    ("post", "/v1/investments"),
    ("get", "/v1/investments/{investment_id}"),
    ("post", "/v1/investments/{investment_id}/confirm"),
    ("post", "/v1/investments/{investment_id}/cancel"),
    ("post", "/v1/payments/webhook"),
    ("get", "/v1/activities"),
    ("post", "/v1/activities"),
    ("post", "/v1/activities/{activity_id}/contributions"),
    ("post", "/v1/contributions/{contribution_id}/approve"),
    ("post", "/v1/contributions/{contribution_id}/reject"),
    ("get", "/v1/audit/issuances"),
    ("post", "/v1/ledger/entries/{entry_id}/reverse"),
}

HOSTILE_BODIES: list[object] = [
    None,
    [],
    "text",
    12,
    {},
    {"unknown": 1},
    {"amount_yen": -1, "work_id": "x"},
    {"amount_yen": 10**40, "hours": 10**40, "price_yen_per_go": 10**40, "season": 10**40},
    {"name": "x" * 100_000, "title": "x" * 100_000, "reason": "x" * 100_000},
    {"email": "a@b.c", "password": None, "display_name": ["x"]},
    {"hours": "NaN", "yearly_cap_go": "Infinity", "season": 1.5},
    {"activity_on": "2026-02-30", "offer_yen": True, "varieties": [[], {}]},
    {"role": "platform_admin", "municipality_id": str(uuid.uuid4()), "is_active": False},
    {"nested": {"deeper": {"deepest": [[[[[[[[[[1]]]]]]]]]]}}},
]


def test_openapi_lists_every_endpoint_of_the_issue(world: World) -> None:
    document = world.client.get("/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    present = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, methods in paths.items()
        for method in methods
    }
    missing = {
        (method, path)
        for method, path in ISSUE_PATHS
        if (method, re.sub(r"\{[^}]+\}", "{}", path)) not in present
    }
    assert missing == set()


@pytest.mark.parametrize("role", ["anonymous", "supporter", "farmer", "town_admin", "platform"])
def test_no_body_on_any_write_endpoint_causes_a_500(world: World, role: str) -> None:
    headers = {
        "anonymous": {},
        "supporter": world.alice.headers,
        "farmer": world.a.farmer.headers,
        "town_admin": world.a.admin.headers,
        "platform": world.platform_admin.headers,
    }[role]
    paths = world.client.get("/openapi.json").json()["paths"]
    real_ids = {
        "municipality_id": str(world.a.municipality_id),
        "farmer_id": str(world.a.farmer_id),
        "work_id": str(world.a.work_id),
        "user_id": str(world.alice.id),
    }
    for template, methods in paths.items():
        for method in methods:
            if method not in {"post", "put", "patch"}:
                continue
            concrete = set()
            for id_choice in ("real", "random", "garbage"):
                concrete.add(
                    re.sub(
                        r"\{([^}]+)\}",
                        lambda m, choice=id_choice: {
                            "real": real_ids.get(m.group(1), str(uuid.uuid4())),
                            "random": str(uuid.uuid4()),
                            "garbage": "not-an-id",
                        }[choice],
                        template,
                    )
                )
            for path in sorted(concrete):
                for body in HOSTILE_BODIES:
                    response = world.client.request(
                        method,
                        path,
                        json=body,
                        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                    )
                    # 503 only where the chain is needed: this app runs without one.
                    unavailable = response.status_code == 503 and (
                        response.json().get("code") == "chain_unavailable"
                    )
                    assert response.status_code < 500 or unavailable, (
                        method,
                        path,
                        body,
                        response.text,
                    )
                    if response.status_code >= 400:
                        assert response.headers["content-type"] == "application/problem+json"
                        assert "code" in response.json()


def test_unknown_paths_and_methods_are_problems(world: World) -> None:
    assert_problem(world.client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(world.client.get(f"/v1/investments/{uuid.uuid4()}/nothing"), 404, "not_found")
    wrong_method = world.client.delete("/v1/investments", headers=world.alice.headers)
    assert_problem(wrong_method, 405, "method_not_allowed")
    # Every method of the path, not only those of the first route that matched it.
    assert wrong_method.headers["allow"] == "GET, POST"
    # Each route still runs its own dependencies (here: the token is required).
    assert world.client.get("/v1/me").status_code == 401
