"""GET /v1/chain and GET /v1/audit/reconciliation over HTTP: scope, refusals, outages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from kokudaka.chain.client import ChainClient
from kokudaka.chain.processes import free_port
from kokudaka.models import ChainDeployment
from tests.reconcile.helpers import Settler
from tests.world import Person, World

PATH = "/v1/audit/reconciliation"


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "code", "detail", "instance"} <= body.keys()
    assert body["code"] == code


def _report(client: httpx.Client, person: Person, **params: str) -> dict[str, object]:
    response = client.get(PATH, headers=person.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_without_a_chain_runtime_both_answer_503(world: World, client: httpx.Client) -> None:
    _problem(client.get("/v1/chain"), 503, "chain_unavailable")
    _problem(client.get(PATH, headers=world.platform_admin.headers), 503, "chain_unavailable")
    # Authorisation still comes first.
    _problem(client.get(PATH, headers=world.alice.headers), 403, "forbidden")


def test_chain_facts_are_public(runtime_client: httpx.Client, chain: ChainClient) -> None:
    response = runtime_client.get("/v1/chain")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["chain_id"] == 31337
    assert body["token_address"] == chain.koku_address
    assert (body["symbol"], body["decimals"], body["name"]) == ("KOKU", 3, "Kokudaka")
    assert body["block_number"] == chain.block_number()


@pytest.fixture
def unreachable(chain_app: tuple[FastAPI, str], deployment: ChainDeployment) -> Iterator[None]:
    app, _ = chain_app
    dead = ChainClient(
        f"http://127.0.0.1:{free_port()}",
        koku_address=deployment.token_address,
        read_retries=0,
        request_timeout=2,
    )
    app.state.chain_runtime = SimpleNamespace(client=dead, deployment=deployment)
    yield
    app.state.chain_runtime = None


def test_an_unreachable_chain_is_503(
    world: World, chain_app: tuple[FastAPI, str], unreachable: None
) -> None:
    with httpx.Client(base_url=chain_app[1], timeout=30) as client:
        _problem(client.get("/v1/chain"), 503, "chain_unavailable")
        _problem(client.get(PATH, headers=world.a.admin.headers), 503, "chain_unavailable")


def test_each_auditor_reconciles_their_own_scope(
    world: World, runtime_client: httpx.Client, settler: Settler
) -> None:
    in_a, in_b = world.new_supporter("a"), world.new_supporter("b")
    settler.issue(world.a.municipality_id, in_a, 100)
    settler.issue(world.b.municipality_id, in_b, 200)
    settler.issue(world.b.municipality_id, in_b, 300)
    settler.settle()
    a, b = str(world.a.municipality_id), str(world.b.municipality_id)

    town = _report(runtime_client, world.a.admin)
    assert town["status"] == "clean"
    assert town["municipality_ids"] == [a]
    assert town["supply_checked"] is False
    assert town["counts"]["operations"] == 1  # type: ignore[index]
    assert town["municipalities"] == [
        {
            "municipality_id": a,
            "municipality_name": "西会津町",
            "ledger": {"go": 100, "koku": "0.100"},
            "on_chain": {"go": 100, "koku": "0.100"},
            "unsettled": {"go": 0, "koku": "0.000"},
            "agrees": True,
        }
    ]

    region = _report(runtime_client, world.auditor)
    assert set(region["municipality_ids"]) == {a, b}  # type: ignore[arg-type]
    assert region["counts"]["operations"] == 3  # type: ignore[index]
    assert region["totals"]["ledger"] == {"go": 600, "koku": "0.600"}  # type: ignore[index]
    assert region["totals"]["on_chain"] == {"go": 600, "koku": "0.600"}  # type: ignore[index]
    assert [t["municipality_name"] for t in region["municipalities"]] == [  # type: ignore[attr-defined]
        "喜多方市",
        "西会津町",
    ]
    narrowed = _report(runtime_client, world.auditor, municipality_id=b)
    assert narrowed["counts"]["operations"] == 2  # type: ignore[index]

    platform = _report(runtime_client, world.platform_admin)
    assert platform["scope"] == "all"
    assert platform["supply_checked"] is True
    assert platform["status"] == "clean"
    assert platform["discrepancies"] == []

    elsewhere = _report(runtime_client, world.other_region_auditor)
    assert elsewhere["municipality_ids"] == []
    assert elsewhere["counts"]["operations"] == 0  # type: ignore[index]

    for person in (world.alice, world.a.farmer):
        _problem(runtime_client.get(PATH, headers=person.headers), 403, "forbidden")
    _problem(
        runtime_client.get(PATH, headers=world.a.admin.headers, params={"municipality_id": b}),
        403,
        "forbidden",
    )
    _problem(
        runtime_client.get(
            PATH, headers=world.auditor.headers, params={"municipality_id": str(uuid.uuid4())}
        ),
        403,
        "forbidden",
    )
    _problem(runtime_client.get(PATH), 401, "not_authenticated")


def test_discrepancies_reach_the_towns_they_concern(
    world: World, runtime_client: httpx.Client, settler: Settler
) -> None:
    in_a, in_b = world.new_supporter("a"), world.new_supporter("b")
    settler.issue(world.a.municipality_id, in_a, 100)
    settler.issue(world.b.municipality_id, in_b, 200)
    settler.settle()
    settler.mint_outside_the_ledger(world.b.municipality_id, settler.wallet(in_b), 9)

    assert _report(runtime_client, world.a.admin)["status"] == "clean"
    town_b = _report(runtime_client, world.b.admin)
    assert town_b["status"] == "discrepancies"
    assert town_b["counts"]["by_kind"] == {  # type: ignore[index]
        "balance_mismatch": 1,
        "season_minted_mismatch": 1,
        "unknown_mint": 1,
    }
    unknown = next(d for d in town_b["discrepancies"] if d["kind"] == "unknown_mint")  # type: ignore[attr-defined]
    assert unknown["address"] == settler.wallet(in_b)
    assert unknown["actual"] == 9
    assert unknown["user_id"] == str(in_b.id)
    assert unknown["user_name"] == "b"  # named, not only a UUID
    platform = _report(runtime_client, world.platform_admin, limit="1")
    assert platform["counts"]["discrepancies"] == 4  # type: ignore[index]
    assert len(platform["discrepancies"]) == 1  # type: ignore[arg-type]
    assert platform["truncated"] is True
