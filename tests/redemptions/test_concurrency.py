"""Redemptions under concurrency, through the real server: requests racing for the last of
a bill hold exactly what is left; "shipped" sent twice at once ships and burns once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from kokudaka.harvest.conversion import bill_account_key
from kokudaka.models import (
    ChainAsset,
    ChainOperation,
    EntryKind,
    JournalEntry,
    Redemption,
    StaffLogEntry,
)
from kokudaka.redemptions.postings import bill_held_account_key
from tests.harvest.test_conversion import assert_ledger_sums, balance
from tests.redemptions.helpers import ADDRESS, SHIPMENT, bills_for, redeemed
from tests.world import World


def test_twenty_requests_racing_for_room_for_five_hold_five(world: World, base_url: str) -> None:
    bills = bills_for(world, (world.alice, 10_000))  # 1,000 合: room for five of 200
    bill_id = bills[world.alice.id]

    def request(_: int) -> httpx.Response:
        return httpx.post(
            f"{base_url}/v1/bills/{bill_id}/redemptions",
            json={"amount_go": 200, "method": "delivery", "address": ADDRESS},
            headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(request, range(20)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 15, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"bill_insufficient"}
    with world.db() as session:
        held = session.scalar(select(func.count()).select_from(Redemption))
        holds = session.scalar(select(func.count()).where(JournalEntry.kind == EntryKind.hold))
        left = balance(session, bill_account_key(world.a.work_id, world.alice.id))
        in_hold = balance(session, bill_held_account_key(world.a.work_id, world.alice.id))
        assert_ledger_sums(session)
    assert (held, holds, left, in_hold) == (5, 5, 0, 1_000)


def test_two_shipped_requests_at_once_ship_once_and_burn_once(world: World, base_url: str) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    made = redeemed(world, world.alice, bills[world.alice.id], 300)
    shippers = [world.a.farmer, world.a.admin] * 3

    def ship(i: int) -> int:
        return httpx.post(
            f"{base_url}/v1/redemptions/{made['id']}/ship",
            json=SHIPMENT,
            headers=shippers[i].headers,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=len(shippers)) as pool:
        statuses = list(pool.map(ship, range(len(shippers))))
    assert sorted(statuses) == [200] + [409] * (len(shippers) - 1), statuses
    with world.db() as session:
        burns = session.scalars(
            select(ChainOperation).where(ChainOperation.asset == ChainAsset.bill)
        ).all()
        burns = [op for op in burns if op.kind.value == "burn"]
        shipments = session.scalar(
            select(func.count()).where(JournalEntry.kind == EntryKind.shipment)
        )
        logged = session.scalar(
            select(func.count()).where(StaffLogEntry.action == "redemption.ship")
        )
        assert_ledger_sums(session)
    assert (len(burns), shipments, logged) == (1, 1, 1)
    assert burns[0].amount_go == 300


def test_cancel_racing_ship_ends_one_way(world: World, base_url: str) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    made = [redeemed(world, world.alice, bills[world.alice.id], 100)["id"] for _ in range(4)]

    def act(i: int) -> int:
        redemption_id = made[i // 2]
        if i % 2:
            return httpx.post(
                f"{base_url}/v1/redemptions/{redemption_id}/cancel",
                headers=world.alice.headers,
                timeout=60,
            ).status_code
        return httpx.post(
            f"{base_url}/v1/redemptions/{redemption_id}/ship",
            json=SHIPMENT,
            headers=world.a.farmer.headers,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(act, range(8)))
    # For each redemption, exactly one of the two wins.
    assert all(sorted(statuses[i : i + 2]) == [200, 409] for i in range(0, 8, 2)), statuses
    with world.db() as session:
        rows = session.scalars(select(Redemption)).all()
        for row in rows:
            assert (row.release_entry_id is None) != (row.shipment_entry_id is None)
        shipped = sum(row.state.value == "shipped" for row in rows)
        burns = session.scalar(
            select(func.count()).where(
                ChainOperation.asset == ChainAsset.bill, ChainOperation.kind == "burn"
            )
        )
        left = balance(session, bill_account_key(world.a.work_id, world.alice.id))
        assert_ledger_sums(session)
    assert burns == shipped
    assert left == 600 + 100 * (4 - shipped)


def test_one_key_sent_at_once_holds_once(world: World, base_url: str) -> None:
    bills = bills_for(world, (world.alice, 10_000))

    def request(_: int) -> httpx.Response:
        return httpx.post(
            f"{base_url}/v1/bills/{bills[world.alice.id]}/redemptions",
            json={"amount_go": 100, "method": "pickup"},
            headers={**world.alice.headers, "Idempotency-Key": "once"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(request, range(6)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Redemption)) == 1
        assert balance(session, bill_account_key(world.a.work_id, world.alice.id)) == 900
