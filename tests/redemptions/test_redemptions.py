"""Redeeming a rice bill: the hold, shipping (a burn in the outbox), receipt, cancelling and
refusing (the hold released), each entry summing to zero in the bill asset."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key
from kokudaka.harvest.yields import japan_today
from kokudaka.ledger.service import chain_reference
from kokudaka.models import (
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    EntryKind,
    JournalEntry,
    MunicipalityPolicy,
    Redemption,
    StaffLogEntry,
)
from kokudaka.redemptions.postings import bill_held_account_key
from tests.harvest.test_conversion import assert_ledger_sums, balance
from tests.redemptions.helpers import ADDRESS, bills_for, redeem, redeemed, ship
from tests.world import SEASON, World, assert_problem, count


def _balances(world: World, holder_id: uuid.UUID) -> tuple[int, int, int]:
    """(left on the bill, held, the work's bill issuance account)."""
    work = world.a.work_id
    with world.db() as session:
        return (
            balance(session, bill_account_key(work, holder_id)),
            balance(session, bill_held_account_key(work, holder_id)),
            balance(session, bill_issuance_account_key(work)),
        )


def test_redeem_ship_receive(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))  # a bill of 1,000 合
    made = redeemed(world, world.alice, bills[world.alice.id], 200)
    assert made["state"] == "requested"
    assert (made["amount"]["go"], made["amount_kg"]) == (200, "30.000")
    assert made["address"] == ADDRESS
    assert _balances(world, world.alice.id) == (800, 200, -1_000)
    # What is left of the bill is what its view shows.
    bill = world.client.get(
        f"/v1/me/bills/{bills[world.alice.id]}", headers=world.alice.headers
    ).json()
    assert bill["remaining"]["go"] == 800

    shipped = ship(world.client, world.a.farmer, made["id"])
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert (body["state"], body["shipped_kg"], body["carrier"]) == (
        "shipped",
        "30.500",
        "ヤマト運輸",
    )
    assert body["burn"]["state"] == "pending"
    assert body["burn"]["reference"] == chain_reference(uuid.UUID(made["id"]))
    assert _balances(world, world.alice.id) == (800, 0, -800)
    with world.db() as session:
        (burn,) = session.scalars(
            select(ChainOperation).where(
                ChainOperation.kind == ChainOperationKind.burn,
                ChainOperation.asset == ChainAsset.bill,
            )
        ).all()
        redemption = session.get(Redemption, uuid.UUID(made["id"]))
        assert redemption is not None
        assert (burn.asset, burn.bill_id, burn.user_id, burn.amount_go) == (
            ChainAsset.bill,
            bills[world.alice.id],
            world.alice.id,
            200,
        )
        assert burn.entry_id == redemption.shipment_entry_id
        kinds = sorted(e.kind for e in session.scalars(select(JournalEntry)))
        assert kinds.count(EntryKind.hold) == kinds.count(EntryKind.shipment) == 1
        (log,) = session.scalars(
            select(StaffLogEntry).where(StaffLogEntry.action == "redemption.ship")
        ).all()
        assert log.actor_id == world.a.farmer.id
        assert ADDRESS["street"] not in log.data
        assert ADDRESS["phone"] not in log.data
        assert_ledger_sums(session)

    # Shipping twice is refused; only the supporter confirms receipt.
    assert_problem(ship(world.client, world.a.farmer, made["id"]), 409, "redemption_not_requested")
    assert_problem(
        world.client.post(f"/v1/redemptions/{made['id']}/receive", headers=world.a.farmer.headers),
        403,
        "forbidden",
    )
    received = world.client.post(
        f"/v1/redemptions/{made['id']}/receive", headers=world.alice.headers
    )
    assert received.status_code == 200, received.text
    assert received.json()["state"] == "received"
    assert received.json()["received_automatically"] is False
    assert_problem(
        world.client.post(f"/v1/redemptions/{made['id']}/receive", headers=world.alice.headers),
        409,
        "redemption_not_shipped",
    )


def test_cancel_and_refuse_release_the_hold(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    first = redeemed(world, world.alice, bills[world.alice.id], 300)
    second = redeemed(world, world.alice, bills[world.alice.id], 400)
    assert _balances(world, world.alice.id) == (300, 700, -1_000)

    cancelled = world.client.post(
        f"/v1/redemptions/{first['id']}/cancel", headers=world.alice.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert _balances(world, world.alice.id) == (600, 400, -1_000)

    # Only the farmer or the town refuses; a reason is required.
    refuse_url = f"/v1/redemptions/{second['id']}/refuse"
    assert_problem(
        world.client.post(refuse_url, json={"reason": "no"}, headers=world.alice.headers),
        403,
        "forbidden",
    )
    assert_problem(
        world.client.post(refuse_url, json={}, headers=world.a.admin.headers),
        422,
        "validation_error",
    )
    refused = world.client.post(
        refuse_url, json={"reason": "在庫がなくなりました。"}, headers=world.a.admin.headers
    )
    assert refused.status_code == 200, refused.text
    assert (refused.json()["state"], refused.json()["refusal_reason"]) == (
        "refused",
        "在庫がなくなりました。",
    )
    assert _balances(world, world.alice.id) == (1_000, 0, -1_000)
    # Closed: no more cancelling, refusing or shipping.
    for path, person in (("cancel", world.alice), ("refuse", world.a.farmer)):
        assert_problem(
            world.client.post(
                f"/v1/redemptions/{second['id']}/{path}",
                json={"reason": "again"},
                headers=person.headers,
            ),
            409,
            "redemption_not_requested",
        )
    assert_problem(ship(world.client, world.a.farmer, first["id"]), 409, "redemption_not_requested")
    with world.db() as session:
        releases = session.scalar(
            select(func.count()).where(JournalEntry.kind == EntryKind.release)
        )
        burns = session.scalar(
            select(func.count()).where(
                ChainOperation.kind == ChainOperationKind.burn,
                ChainOperation.asset == ChainAsset.bill,
            )
        )
        (log,) = session.scalars(
            select(StaffLogEntry).where(StaffLogEntry.action == "redemption.refuse")
        ).all()
        assert log.actor_id == world.a.admin.id
        assert ADDRESS["recipient_name"] not in log.data
        assert_ledger_sums(session)
    assert (releases, burns) == (2, 0)


def test_a_bill_is_never_redeemed_past_what_is_left(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    redeemed(world, world.alice, bills[world.alice.id], 900)
    refused = redeem(world.client, world.alice, bills[world.alice.id], 101)
    assert_problem(refused, 409, "bill_insufficient")
    assert "100" in refused.json()["detail"]
    assert count(world, Redemption) == 1
    redeemed(world, world.alice, bills[world.alice.id], 100)
    assert_problem(
        redeem(world.client, world.alice, bills[world.alice.id], 1), 409, "bill_insufficient"
    )


def test_a_retry_with_the_same_key_holds_once_and_answers_the_same(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    first = redeem(world.client, world.alice, bills[world.alice.id], 100, key="redeem-1")
    again = redeem(world.client, world.alice, bills[world.alice.id], 100, key="redeem-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["address"] == ADDRESS
    assert count(world, Redemption) == 1
    assert _balances(world, world.alice.id)[:2] == (900, 100)
    other_body = redeem(world.client, world.alice, bills[world.alice.id], 101, key="redeem-1")
    assert_problem(other_body, 422, "idempotency_key_reused")


def test_expired_bills_are_refused(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    with world.db.begin() as session:
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id,
                MunicipalityPolicy.season == SEASON,
            )
        )
        assert policy is not None
        policy.bills_expire_on = japan_today() - timedelta(days=1)
    refused = redeem(world.client, world.alice, bills[world.alice.id], 100)
    assert_problem(refused, 409, "bills_expired")
    assert count(world, Redemption) == 0
    with world.db.begin() as session:
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        )
        assert policy is not None
        policy.bills_expire_on = japan_today()  # valid through the day itself
    assert redeem(world.client, world.alice, bills[world.alice.id], 100).status_code == 201


def test_the_body_is_checked(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    url = f"/v1/bills/{bills[world.alice.id]}/redemptions"
    headers = {**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex}
    bad_bodies: list[dict[str, Any]] = [
        {"amount_go": 0, "method": "pickup"},
        {"amount_go": 10, "method": "delivery"},  # no address
        {"amount_go": 10, "method": "pickup", "address": ADDRESS},
        {"amount_go": 10, "method": "delivery", "address": {**ADDRESS, "postal_code": "96944"}},
        {"amount_go": 10, "method": "delivery", "address": {**ADDRESS, "prefecture": "Tokyo"}},
        {"amount_go": 10, "method": "delivery", "address": {**ADDRESS, "phone": "12345"}},
        {"amount_go": 10, "method": "delivery", "address": {**ADDRESS, "city": "x" * 101}},
        {"amount_go": 10, "method": "delivery", "address": {**ADDRESS, "recipient_name": ""}},
        {"amount_go": "10", "method": "pickup"},
    ]
    for body in bad_bodies:
        response = world.client.post(url, json=body, headers=headers)
        assert_problem(response, 422, "validation_error")
        # A refused address is never echoed back in the problem.
        address = body.get("address") or {}
        for name in ("postal_code", "city", "street", "recipient_name", "phone"):
            if address.get(name):
                assert address[name] not in response.text
    pickup = redeem(world.client, world.alice, bills[world.alice.id], 10, pickup=True)
    assert pickup.status_code == 201, pickup.text
    assert (pickup.json()["method"], pickup.json()["address"]) == ("pickup", None)
    # A shipment weighs something.
    for kg in ("0", "0.000", "-1", "1.0001", "1e3"):
        shipped = world.client.post(
            f"/v1/redemptions/{pickup.json()['id']}/ship",
            json={"shipped_kg": kg},
            headers=world.a.farmer.headers,
        )
        assert_problem(shipped, 422, "validation_error")


def test_the_farmer_lists_oldest_first_by_page_with_filters(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    made = [redeemed(world, world.alice, bills[world.alice.id], 10)["id"] for _ in range(3)]
    assert ship(world.client, world.a.farmer, made[1]).status_code == 200

    def page(**params: str) -> dict[str, Any]:
        response = world.client.get(
            "/v1/farmer/redemptions", params=params, headers=world.a.farmer.headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    first = page(limit="2")
    assert [item["id"] for item in first["items"]] == made[:2]
    rest = page(limit="2", cursor=first["next_cursor"])
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == ([made[2]], None)
    to_ship = page(state="requested", work_id=str(world.a.work_id))
    assert [item["id"] for item in to_ship["items"]] == [made[0], made[2]]
    assert page(work_id=str(world.b.work_id))["items"] == []
    mine = world.client.get("/v1/me/redemptions", headers=world.alice.headers).json()
    assert [item["id"] for item in mine["items"]] == made[::-1]  # newest first
