"""Addresses are personal data: encrypted at rest, bound to their redemption, and erased
after the town's retention period; shipped redemptions are received after 14 days."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from kokudaka.models import IdempotencyRecord, Municipality, Redemption, StaffLogEntry
from kokudaka.redemptions.addresses import AddressError, open_address
from kokudaka.redemptions.jobs import auto_receive, erase_expired_addresses
from tests.redemptions.helpers import ADDRESS, bills_for, redeem, redeemed, ship
from tests.world import World, assert_problem

_PLAIN = [ADDRESS[name] for name in ("postal_code", "city", "street", "recipient_name", "phone")]


def _row(world: World, redemption_id: str) -> Redemption:
    with world.db() as session:
        redemption = session.get(Redemption, uuid.UUID(redemption_id))
        assert redemption is not None
        return redemption


def test_the_database_holds_no_address_in_the_clear(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    made = redeemed(world, world.alice, bills[world.alice.id], 100)
    assert ship(world.client, world.a.farmer, made["id"]).status_code == 200
    with world.db() as session:
        (sealed,) = session.execute(text("SELECT address_ciphertext FROM redemptions")).one()
        records = session.scalars(select(IdempotencyRecord)).all()
        log = [row.data for row in session.scalars(select(StaffLogEntry))]
    sealed = bytes(sealed)
    for value in _PLAIN:
        assert value.encode() not in sealed
        for record in records:
            assert value not in json.dumps(record.response_body, ensure_ascii=False)
            assert value not in record.request_hash
        assert all(value not in data for data in log)
    assert open_address(world.settings, uuid.UUID(made["id"]), sealed) == ADDRESS
    # Bound to its redemption: copied onto another row it does not open.
    with pytest.raises(AddressError):
        open_address(world.settings, uuid.uuid4(), sealed)


def test_addresses_are_erased_after_the_towns_retention_period(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    closed = redeemed(world, world.alice, bills[world.alice.id], 100)
    still_open = redeemed(world, world.alice, bills[world.alice.id], 100)
    assert (
        world.client.post(
            f"/v1/redemptions/{closed['id']}/cancel", headers=world.alice.headers
        ).status_code
        == 200
    )
    closed_at = _row(world, closed["id"]).closed_at
    assert closed_at is not None

    with world.db.begin() as session:
        assert erase_expired_addresses(session, closed_at + timedelta(days=89)) == 0
    with world.db.begin() as session:
        assert erase_expired_addresses(session, closed_at + timedelta(days=91)) == 1
    with world.db.begin() as session:  # run again: nothing left to erase
        assert erase_expired_addresses(session, closed_at + timedelta(days=92)) == 0
    erased = _row(world, closed["id"])
    assert erased.address_ciphertext is None
    assert erased.address_erased_at == closed_at + timedelta(days=91)
    assert _row(world, still_open["id"]).address_ciphertext is not None
    shown = world.client.get(f"/v1/redemptions/{closed['id']}", headers=world.a.farmer.headers)
    assert shown.json()["address"] is None
    assert shown.json()["address_erased_at"] is not None

    # A town that keeps addresses for a week.
    with world.db.begin() as session:
        session.execute(
            update(Municipality)
            .where(Municipality.id == world.a.municipality_id)
            .values(address_retention_days=7)
        )
    refused = world.client.post(
        f"/v1/redemptions/{still_open['id']}/refuse",
        json={"reason": "品切れ"},
        headers=world.a.farmer.headers,
    )
    assert refused.status_code == 200
    refused_at = _row(world, still_open["id"]).closed_at
    assert refused_at is not None
    with world.db.begin() as session:
        assert erase_expired_addresses(session, refused_at + timedelta(days=8)) == 1
    assert _row(world, still_open["id"]).address_ciphertext is None


def test_a_replay_after_erasure_shows_no_address(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    first = redeem(world.client, world.alice, bills[world.alice.id], 100, key="k1")
    world.client.post(f"/v1/redemptions/{first.json()['id']}/cancel", headers=world.alice.headers)
    closed_at = _row(world, first.json()["id"]).closed_at
    assert closed_at is not None
    with world.db.begin() as session:
        erase_expired_addresses(session, closed_at + timedelta(days=365))
    replay = redeem(world.client, world.alice, bills[world.alice.id], 100, key="k1")
    assert replay.status_code == 201
    assert replay.json()["address"] is None
    assert replay.json()["id"] == first.json()["id"]


def test_shipped_redemptions_are_received_after_14_days(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    made = redeemed(world, world.alice, bills[world.alice.id], 100)
    waiting = redeemed(world, world.alice, bills[world.alice.id], 100)
    assert ship(world.client, world.a.farmer, made["id"]).status_code == 200
    shipped_at = _row(world, made["id"]).shipped_at
    assert shipped_at is not None
    with world.db.begin() as session:
        assert auto_receive(session, shipped_at + timedelta(days=13, hours=23)) == 0
    with world.db.begin() as session:
        assert auto_receive(session, shipped_at + timedelta(days=14)) == 1
    with world.db.begin() as session:
        assert auto_receive(session, shipped_at + timedelta(days=30)) == 0
    shown = world.client.get(f"/v1/redemptions/{made['id']}", headers=world.alice.headers).json()
    assert (shown["state"], shown["received_automatically"]) == ("received", True)
    assert _row(world, waiting["id"]).state.value == "requested"
    assert_problem(
        world.client.post(f"/v1/redemptions/{made['id']}/receive", headers=world.alice.headers),
        409,
        "redemption_not_shipped",
    )
    # Its address is kept from receipt on for the retention period, then erased.
    received_at = _row(world, made["id"]).closed_at
    assert received_at == shipped_at + timedelta(days=14)
    with world.db.begin() as session:
        assert erase_expired_addresses(session, received_at + timedelta(days=91)) == 1


def test_no_address_reaches_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    bills = bills_for(world, (world.alice, 10_000))
    with caplog.at_level(logging.DEBUG):
        made = redeemed(world, world.alice, bills[world.alice.id], 100)
        redeem(world.client, world.alice, bills[world.alice.id], 10_000)  # refused: 409
        bad = {**ADDRESS, "phone": "0"}
        redeem(world.client, world.alice, bills[world.alice.id], 1, address=bad)  # 422
        ship(world.client, world.a.farmer, made["id"])
        world.client.get("/v1/farmer/redemptions", headers=world.a.farmer.headers)
        world.client.get(f"/v1/redemptions/{made['id']}", headers=world.b.farmer.headers)
    assert caplog.records  # the server's own logging was captured
    for value in _PLAIN:
        assert value not in caplog.text


def test_the_platform_sets_a_towns_retention_period(world: World) -> None:
    url = f"/v1/municipalities/{world.a.municipality_id}"
    assert world.client.get(url).json()["address_retention_days"] == 90
    body = {"address_retention_days": 30}
    assert_problem(
        world.client.patch(url, json=body, headers=world.a.admin.headers), 403, "forbidden"
    )
    changed = world.client.patch(url, json=body, headers=world.platform_admin.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["address_retention_days"] == 30
    for bad in (0, 3651, None, "30"):
        refused = world.client.patch(
            url, json={"address_retention_days": bad}, headers=world.platform_admin.headers
        )
        assert_problem(refused, 422, "validation_error")
    with world.db() as session:
        town = session.get(Municipality, world.a.municipality_id)
        assert town is not None
        assert town.address_retention_days == 30
