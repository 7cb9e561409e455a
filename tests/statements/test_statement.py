"""A supporter's year: paid, volunteered, earned, bills, rice and gifts, as JSON and as a
printable page in Japanese; only their own; a year outside the service's is refused."""

from __future__ import annotations

from datetime import timedelta

from kokudaka.expiry.schedule import run_bill_jobs
from kokudaka.harvest.yields import japan_today
from tests.expiry.test_expiry import EXPIRES_ON, harvested
from tests.harvest.helpers import approved_hours, invest_and_confirm
from tests.world import World, assert_problem


def test_a_supporters_year(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)  # 1,000 go, a bill of 800 at 80%
    approved_hours(world, world.alice, "2", None)  # 1,000 go of KOKU
    harvested(world)
    run_bill_jobs(world.db, EXPIRES_ON + timedelta(days=1))  # all 800 gifted
    year = japan_today().year
    answer = world.client.get(f"/v1/me/statement?year={year}", headers=world.alice.headers)
    assert answer.status_code == 200, answer.text
    statement = answer.json()
    assert statement["yen_paid"] == 10_000
    assert statement["investments"] == 1
    assert statement["visits"] == 1
    assert statement["koku_earned"]["go"] == 2_000
    assert statement["bills"] == 1
    assert statement["bills_received"] == {"go": 800, "kg": "120.000"}
    assert statement["rice_redeemed"]["go"] == 0
    assert statement["gifts"]["go"] == 800
    # Someone else's year is their own: bob has nothing.
    bobs = world.client.get(f"/v1/me/statement?year={year}", headers=world.bob.headers).json()
    assert (bobs["yen_paid"], bobs["bills"]) == (0, 0)
    # Last year had nothing.
    earlier = world.client.get(f"/v1/me/statement?year={year - 1}", headers=world.alice.headers)
    assert earlier.json()["yen_paid"] == 0

    page = world.client.get(f"/v1/me/statement.html?year={year}", headers=world.alice.headers)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"{year}年 年間明細" in page.text
    assert "10,000円" in page.text
    assert "120.000 kg" in page.text

    assert_problem(
        world.client.get("/v1/me/statement?year=1999", headers=world.alice.headers),
        422,
        "validation_error",
    )
    assert world.client.get(f"/v1/me/statement?year={year}").status_code == 401
