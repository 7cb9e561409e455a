"""Rice bills to redeem, and acting out redemptions through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from kokudaka.models import Bill
from tests.harvest.helpers import harvested, invest_and_confirm
from tests.world import Person, World

#: Town A's work is planned at 3,600,000 合 = 540,000 kg: this harvest is exactly 100%,
#: so a bill equals its board (10 yen a 合).
FULL_HARVEST_KG = "540000"

ADDRESS: dict[str, str] = {
    "postal_code": "969-4495",
    "prefecture": "福島県",
    "city": "耶麻郡西会津町野沢",
    "street": "字下小屋乙1234",
    "building": "コーポ会津 201",
    "recipient_name": "会津 花子",
    "phone": "0241-45-2211",
}


def bills_for(world: World, *boards: tuple[Person, int]) -> dict[uuid.UUID, uuid.UUID]:
    """Each supporter invests ``yen`` in town A's work, which is then harvested at 100%:
    their bill ids by their user id (a bill of yen ÷ 10 合 each)."""
    for person, yen in boards:
        invest_and_confirm(world, person, yen)
    harvested(world, world.a, FULL_HARVEST_KG)
    with world.db() as session:
        return {b.holder_id: b.id for b in session.scalars(select(Bill))}


def redeem(
    client: httpx.Client,
    person: Person,
    bill_id: uuid.UUID,
    amount_go: int,
    *,
    pickup: bool = False,
    key: str | None = None,
    address: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"amount_go": amount_go, "method": "pickup" if pickup else "delivery"}
    if not pickup:
        body["address"] = address or ADDRESS
    return client.post(
        f"/v1/bills/{bill_id}/redemptions",
        json=body,
        headers={**person.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def redeemed(world: World, person: Person, bill_id: uuid.UUID, amount_go: int) -> dict[str, Any]:
    response = redeem(world.client, person, bill_id, amount_go)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


SHIPMENT = {"shipped_kg": "30.5", "carrier": "ヤマト運輸", "tracking_number": "1234-5678-9012"}


def ship(client: httpx.Client, person: Person, redemption_id: str) -> httpx.Response:
    return client.post(
        f"/v1/redemptions/{redemption_id}/ship", json=SHIPMENT, headers=person.headers
    )
