"""Who sees and acts on a redemption: its supporter, the work's farmer and their town's
administrators. Everyone else is told it does not exist, and never sees an address."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from kokudaka.models import Bill
from tests.harvest.helpers import harvested, invest_and_confirm
from tests.redemptions.helpers import ADDRESS, FULL_HARVEST_KG, SHIPMENT, redeemed
from tests.world import Person, World, assert_problem


@pytest.fixture
def two_towns(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice redeems from her bill on town A's work, Bob from his on town B's."""
    invest_and_confirm(world, world.alice, 10_000)
    invest_and_confirm(world, world.bob, 10_000, town=world.b)
    harvested(world, world.a, FULL_HARVEST_KG)
    harvested(world, world.b, FULL_HARVEST_KG)
    with world.db() as session:
        bills = {b.holder_id: b.id for b in session.scalars(select(Bill))}
    return (
        redeemed(world, world.alice, bills[world.alice.id], 100),
        redeemed(world, world.bob, bills[world.bob.id], 100),
    )


def _outsiders(world: World) -> list[Person]:
    """Everyone who may not see Alice's redemption on town A's work."""
    return [
        world.bob,
        world.b.farmer,
        world.b.admin,
        world.auditor,
        world.other_region_auditor,
        world.platform_admin,
    ]


def test_a_redemption_is_read_by_its_supporter_farmer_and_town_only(
    world: World, two_towns: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, _ = two_towns
    url = f"/v1/redemptions/{alices['id']}"
    for person in (world.alice, world.a.farmer, world.a.admin):
        response = world.client.get(url, headers=person.headers)
        assert response.status_code == 200, response.text
        assert response.json()["address"] == ADDRESS
    for person in _outsiders(world):
        response = world.client.get(url, headers=person.headers)
        assert_problem(response, 404, "not_found")
        assert ADDRESS["street"] not in response.text
    assert_problem(
        world.client.get(f"/v1/redemptions/{uuid.uuid4()}", headers=world.alice.headers),
        404,
        "not_found",
    )


@pytest.mark.parametrize("action", ["cancel", "refuse", "ship", "receive"])
def test_outsiders_cannot_act_on_a_redemption(
    world: World, two_towns: tuple[dict[str, Any], dict[str, Any]], action: str
) -> None:
    alices, _ = two_towns
    url = f"/v1/redemptions/{alices['id']}/{action}"
    body = {"reason": "no"} if action == "refuse" else SHIPMENT if action == "ship" else None
    for person in _outsiders(world):
        response = world.client.post(url, json=body, headers=person.headers)
        assert_problem(response, 404, "not_found")
    # Those who see it but may not do this are refused.
    wrong_side = [world.alice] if action in ("refuse", "ship") else [world.a.farmer, world.a.admin]
    for person in wrong_side:
        assert_problem(world.client.post(url, json=body, headers=person.headers), 403, "forbidden")
    still = world.client.get(f"/v1/redemptions/{alices['id']}", headers=world.alice.headers)
    assert still.json()["state"] == "requested"


def test_only_the_holder_redeems_a_bill(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    harvested(world, world.a, FULL_HARVEST_KG)
    with world.db() as session:
        bill_id = session.scalar(select(Bill.id))
    url = f"/v1/bills/{bill_id}/redemptions"
    body = {"amount_go": 1, "method": "pickup"}
    headers = {**world.bob.headers, "Idempotency-Key": "k"}
    assert_problem(world.client.post(url, json=body, headers=headers), 404, "not_found")
    for staff in (world.a.farmer, world.a.admin):
        response = world.client.post(
            url, json=body, headers={**staff.headers, "Idempotency-Key": "k"}
        )
        assert_problem(response, 403, "forbidden")
    missing = f"/v1/bills/{uuid.uuid4()}/redemptions"
    response = world.client.post(
        missing, json=body, headers={**world.alice.headers, "Idempotency-Key": "k2"}
    )
    assert_problem(response, 404, "not_found")


def test_lists_show_only_ones_own(
    world: World, two_towns: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    alices, bobs = two_towns

    def ids(path: str, person: Person) -> list[str]:
        response = world.client.get(path, headers=person.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("/v1/me/redemptions", world.alice) == [alices["id"]]
    assert ids("/v1/me/redemptions", world.bob) == [bobs["id"]]
    assert ids("/v1/farmer/redemptions", world.a.farmer) == [alices["id"]]
    assert ids("/v1/farmer/redemptions", world.a.admin) == [alices["id"]]
    assert ids("/v1/farmer/redemptions", world.b.farmer) == [bobs["id"]]
    assert ids("/v1/farmer/redemptions", world.b.admin) == [bobs["id"]]
    b_list = world.client.get("/v1/farmer/redemptions", headers=world.b.farmer.headers)
    assert ADDRESS["street"] in b_list.text  # Bob's own delivery address, to ship to
    assert str(alices["id"]) not in b_list.text
    for person in (world.alice, world.auditor, world.platform_admin):
        assert_problem(
            world.client.get("/v1/farmer/redemptions", headers=person.headers), 403, "forbidden"
        )
        assert_problem(
            world.client.get("/v1/farmer/deliveries?season=2026", headers=person.headers),
            403,
            "forbidden",
        )
    ledger = world.client.get("/v1/farmer/deliveries?season=2026", headers=world.b.farmer.headers)
    assert [w["work"]["id"] for w in ledger.json()["works"]] == [str(world.b.work_id)]
    csv = world.client.get("/v1/farmer/deliveries.csv?season=2026", headers=world.b.admin.headers)
    assert csv.status_code == 200
    assert "nishiaizu" not in csv.text
    assert "kitakata" in csv.text
