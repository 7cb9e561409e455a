"""The farmer's delivery ledger: per work and supporter, what is owed and where it stands,
as JSON and as a CSV file for Excel."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from kokudaka.harvest.conversion import bill_issuance_account_key
from kokudaka.models import Redemption
from kokudaka.municipalities.service import JST
from tests.harvest.test_conversion import balance
from tests.redemptions.helpers import bills_for, redeemed, ship
from tests.world import World


def _act(world: World) -> None:
    bills = bills_for(world, (world.alice, 10_000), (world.bob, 5_000))  # 1,000 and 500 合
    alice, bob = bills[world.alice.id], bills[world.bob.id]
    received = redeemed(world, world.alice, alice, 200)
    shipped = redeemed(world, world.alice, alice, 100)
    redeemed(world, world.alice, alice, 150)  # still requested
    refused = redeemed(world, world.alice, alice, 50)
    cancelled = redeemed(world, world.bob, bob, 100)
    for made in (received, shipped):
        assert ship(world.client, world.a.farmer, made["id"]).status_code == 200
    world.client.post(f"/v1/redemptions/{received['id']}/receive", headers=world.alice.headers)
    world.client.post(
        f"/v1/redemptions/{refused['id']}/refuse",
        json={"reason": "品切れ"},
        headers=world.a.farmer.headers,
    )
    world.client.post(f"/v1/redemptions/{cancelled['id']}/cancel", headers=world.bob.headers)


def _go(amounts: dict[str, object]) -> dict[str, object]:
    names = ("bills", "outstanding", "left", "requested", "shipped", "received", "refused")
    return {
        **{name: amounts[name]["go"] for name in names},  # type: ignore[index]
        "shipped_weight_kg": amounts["shipped_weight_kg"],
    }


def test_the_ledger_per_work_and_supporter(world: World) -> None:
    _act(world)
    response = world.client.get("/v1/farmer/deliveries?season=2026", headers=world.a.farmer.headers)
    assert response.status_code == 200, response.text
    (work,) = response.json()["works"]
    assert work["work"]["id"] == str(world.a.work_id)
    lines = {line["supporter"]["id"]: line for line in work["supporters"]}
    assert _go(lines[str(world.alice.id)]) == {
        "bills": 1_000,
        "outstanding": 700,
        "left": 550,
        "requested": 150,
        "shipped": 300,
        "received": 200,
        "refused": 50,
        "shipped_weight_kg": "61.000",
    }
    assert _go(lines[str(world.bob.id)]) == {
        "bills": 500,
        "outstanding": 500,
        "left": 500,
        "requested": 0,
        "shipped": 0,
        "received": 0,
        "refused": 0,
        "shipped_weight_kg": "0.000",
    }
    assert _go(work)["outstanding"] == 1_200
    assert work["outstanding_kg"] == "180.000"
    assert work["shipped_kg"] == "45.000"
    # Outstanding is what the work's bill issuance account says is still in circulation.
    with world.db() as session:
        assert -balance(session, bill_issuance_account_key(world.a.work_id)) == 1_200
    # The town sees the same; another season has nothing.
    town = world.client.get("/v1/farmer/deliveries?season=2026", headers=world.a.admin.headers)
    assert town.json()["works"] == response.json()["works"]
    empty = world.client.get("/v1/farmer/deliveries?season=2025", headers=world.a.farmer.headers)
    assert empty.json()["works"] == []


def test_the_csv_opens_in_excel(world: World) -> None:
    _act(world)
    response = world.client.get(
        "/v1/farmer/deliveries.csv?season=2026",
        headers={**world.a.farmer.headers, "Accept-Language": "ja"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    assert b"\r\n" in response.content
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["作品", "年度", "農家", "支援者", "米手形(合)"]
    by_name = {row[3]: row for row in rows[1:]}
    alice = by_name["alice"]
    assert alice[4:10] == ["1000", "700", "105.000", "550", "150", "300"]
    with world.db() as session:
        last = session.scalar(select(func.max(Redemption.shipped_at)))
    assert last is not None
    assert alice[-1] == last.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")  # Japan time
    assert by_name["bob"][-1] == ""
    english = world.client.get(
        "/v1/farmer/deliveries.csv?season=2026",
        headers={**world.a.farmer.headers, "Accept-Language": "en"},
    )
    assert english.text.lstrip("\ufeff").startswith("Work,Season,Farmer,Supporter")
