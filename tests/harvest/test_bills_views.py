"""What supporters and the public see of rice bills after the harvest: ``GET /v1/me/bills``
(and one bill), the balance with a rank that a conversion does not lower, and the work's
settlement in ``GET /v1/works/{id}/harvest``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key
from kokudaka.models import (
    Account,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainState,
    MunicipalityPolicy,
)
from tests.harvest.helpers import approved_hours, harvested, invest_and_confirm
from tests.world import SEASON, Person, World, assert_problem

AT_80 = "432000"  # 2,880,000 go of a 3,600,000 go plan
AT_130 = "702000"  # past the 120% ceiling
EXPIRE_ON = date(SEASON + 1, 3, 31)
_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+\"?(\w+)", re.IGNORECASE)
_LIMIT = re.compile(r"LIMIT \d+")


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """Every SELECT the service runs while the test reads."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _set_bills_expire_on(world: World, day: date) -> None:
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(bills_expire_on=day)
        )


def _redeem(world: World, work_id: uuid.UUID, holder: Person, go: int) -> None:
    """Move ``go`` of a bill back to the work's bill issuance account, as a redemption
    shipped will: what is left of the bill and the rice owed both drop."""
    with world.db.begin() as session:
        for key, change in (
            (bill_account_key(work_id, holder.id), -go),
            (bill_issuance_account_key(work_id), go),
        ):
            session.execute(
                update(Account)
                .where(Account.key == key)
                .values(balance_go=Account.balance_go + change)
            )


def _my_bills(world: World, person: Person, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/me/bills", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_a_supporter_reads_their_bill_with_its_work_harvest_and_mint(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    approved_hours(world, world.alice, "1", world.a.work_id)  # 500 go labour board
    approved_hours(world, world.bob, "2", world.a.work_id)  # 1,000 go
    _set_bills_expire_on(world, EXPIRE_ON)
    assert _my_bills(world, world.alice) == {"items": [], "next_cursor": None}
    harvested(world, world.a, AT_80)

    page = _my_bills(world, world.alice)
    assert page["next_cursor"] is None
    [bill] = page["items"]
    with world.db() as session:
        stored = session.scalar(select(Bill).where(Bill.holder_id == world.alice.id))
        assert stored is not None
        mint = session.scalar(select(ChainOperation).where(ChainOperation.bill_id == stored.id))
        assert mint is not None
    assert bill["id"] == str(stored.id)
    assert bill["work"] == {
        "id": str(world.a.work_id),
        "title": f"nishiaizu コシヒカリ {SEASON}",
        "season": SEASON,
        "variety": "コシヒカリ",
    }
    assert bill["farmer"]["name"] == "西会津町の農家"
    assert bill["farmer"]["farm_name"] == "nishiaizu farm"
    assert (bill["planned_yield"]["go"], bill["planned_yield_kg"]) == (3_600_000, "540000.000")
    assert (bill["actual_yield"]["go"], bill["actual_yield_kg"]) == (2_880_000, "432000.000")
    assert (bill["ratio_bp"], bill["capped_ratio_bp"]) == (8_000, 8_000)
    assert bill["board"] == {
        "investment": {"go": 500, "koku": "0.500"},
        "labour": {"go": 500, "koku": "0.500"},
        "total": {"go": 1_000, "koku": "1.000"},
    }
    assert (bill["amount"]["go"], bill["amount_kg"]) == (800, "120.000")
    assert (bill["remaining"]["go"], bill["remaining_kg"]) == (800, "120.000")
    assert bill["bills_expire_on"] == EXPIRE_ON.isoformat()
    assert bill["chain"] == {
        "state": "pending",
        "reference": mint.reference,
        "tx_hash": None,
        "block_number": None,
    }

    # The mint lands; part of the bill is redeemed: the view follows both.
    with world.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.id == mint.id)
            .values(state=ChainState.confirmed, tx_hash="0x" + "ab" * 32, block_number=42)
        )
    _redeem(world, world.a.work_id, world.alice, 300)
    one = world.client.get(f"/v1/me/bills/{bill['id']}", headers=world.alice.headers)
    assert one.status_code == 200, one.text
    assert one.json()["chain"] == {
        "state": "confirmed",
        "reference": mint.reference,
        "tx_hash": "0x" + "ab" * 32,
        "block_number": 42,
    }
    assert (one.json()["remaining"]["go"], one.json()["remaining_kg"]) == (500, "75.000")
    assert one.json()["amount"]["go"] == 800
    assert _my_bills(world, world.alice)["items"] == [one.json()]
    # Bob sees his own bill only.
    [bobs] = _my_bills(world, world.bob)["items"]
    assert (bobs["board"]["labour"]["go"], bobs["amount"]["go"]) == (1_000, 800)
    assert bobs["bills_expire_on"] == EXPIRE_ON.isoformat()


def test_past_the_ceiling_the_bill_shows_the_capped_ratio(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)  # 1,000 go
    harvested(world, world.a, AT_130)
    [bill] = _my_bills(world, world.alice)["items"]
    assert (bill["ratio_bp"], bill["capped_ratio_bp"]) == (13_000, 12_000)
    assert (bill["amount"]["go"], bill["amount_kg"]) == (1_200, "180.000")
    assert bill["bills_expire_on"] is None  # the town set no date


def test_a_failed_year_gives_a_zero_bill_with_no_mint(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    harvested(world, world.a, "0")
    [bill] = _my_bills(world, world.alice)["items"]
    assert (bill["ratio_bp"], bill["capped_ratio_bp"]) == (0, 0)
    assert bill["board"]["total"]["go"] == 1_000
    assert (bill["amount"]["go"], bill["remaining"]["go"], bill["remaining_kg"]) == (
        0,
        0,
        "0.000",
    )
    assert bill["chain"] is None


def test_bills_page_newest_first_with_one_statement_a_page(
    world: World, queries: list[str]
) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    harvested(world, world.a, AT_80)
    invest_and_confirm(world, world.alice, 20_000, town=world.b)
    harvested(world, world.b, AT_80)

    queries.clear()
    first = _my_bills(world, world.alice, limit=1)
    [bills_read] = [q for q in queries if "bills" in _TABLE.findall(q)]
    assert len(queries) <= 2, queries  # the account check, then the page
    assert [b["work"]["id"] for b in first["items"]] == [str(world.b.work_id)]
    assert first["next_cursor"] is not None
    second = _my_bills(world, world.alice, limit=1, cursor=first["next_cursor"])
    assert [b["work"]["id"] for b in second["items"]] == [str(world.a.work_id)]
    assert second["next_cursor"] is None
    # Both on one page: no statement more than for one bill.
    queries.clear()
    both = _my_bills(world, world.alice)
    assert [b["amount"]["go"] for b in both["items"]] == [1_600, 800]
    # The same statement; only the page size written into it differs (literal_limit).
    assert [_LIMIT.sub("LIMIT ?", q) for q in queries if "bills" in _TABLE.findall(q)] == [
        _LIMIT.sub("LIMIT ?", bills_read)
    ]
    assert len(queries) <= 2, queries
    assert_problem(
        world.client.get("/v1/me/bills?cursor=nope", headers=world.alice.headers),
        422,
        "invalid_cursor",
    )


def test_nobody_else_reads_a_supporters_bill(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    harvested(world, world.a, AT_80)
    [bill] = _my_bills(world, world.alice)["items"]
    path = f"/v1/me/bills/{bill['id']}"
    assert world.client.get(path, headers=world.alice.headers).status_code == 200
    for other in (world.bob, world.a.farmer, world.b.admin, world.a.admin, world.platform_admin):
        assert_problem(world.client.get(path, headers=other.headers), 404, "not_found")
        assert _my_bills(world, other)["items"] == []
    assert_problem(
        world.client.get(f"/v1/me/bills/{uuid.uuid4()}", headers=world.alice.headers),
        404,
        "not_found",
    )
    assert world.client.get(path).status_code == 401
    assert world.client.get("/v1/me/bills").status_code == 401


def test_the_rank_follows_koku_earned_when_the_balance_drops(world: World) -> None:
    invest_and_confirm(world, world.alice, 150_000)  # 15,000 go: 名主
    approved_hours(world, world.alice, "1", None)  # 500 go of a town event: stays KOKU
    before = world.client.get("/v1/me/balance", headers=world.alice.headers).json()
    assert before["balance"]["go"] == before["earned"]["go"] == 15_500
    assert before["rank"]["name"] == "名主"

    harvested(world, world.a, AT_80)
    after = world.client.get("/v1/me/balance", headers=world.alice.headers).json()
    assert after["balance"] == {"go": 500, "koku": "0.500"}  # the board became a bill
    assert after["rice_grams"] == 500 * 150
    assert after["earned"] == {"go": 15_500, "koku": "15.500"}
    assert after["rank"] == before["rank"]
    assert after["rank"]["name"] == "名主"


def test_the_works_harvest_shows_its_settlement_once_bills_are_issued(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    invest_and_confirm(world, world.alice, 1_237)  # 123 go
    approved_hours(world, world.bob, "2", world.a.work_id)  # 1,000 go
    carol = world.new_supporter("carol")
    unpaid = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 30_000},
        headers={**carol.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert unpaid.status_code == 201, unpaid.text
    path = f"/v1/works/{world.a.work_id}/harvest"
    assert world.client.get(path).json()["settlement"] is None

    harvested(world, world.a, AT_80)
    harvest = world.client.get(path).json()  # public: no caller
    assert harvest["state"] == "bills_issued"
    assert harvest["settlement"] == {
        "boards_converted": 2,
        "boards": {"go": 1_623, "koku": "1.623"},
        "bills_issued": {"go": 498 + 800, "koku": "1.298"},
        "bills_issued_kg": "194.700",
        "rice_owed": {"go": 1_298, "koku": "1.298"},
        "rice_owed_kg": "194.700",
        "investments_cancelled": 1,
    }
    # What the holders redeem is no longer owed; what was issued stays.
    _redeem(world, world.a.work_id, world.bob, 200)
    settlement = world.client.get(path).json()["settlement"]
    assert settlement["bills_issued"]["go"] == 1_298
    assert (settlement["rice_owed"]["go"], settlement["rice_owed_kg"]) == (1_098, "164.700")
    # Town B's work is not harvested.
    assert world.client.get(f"/v1/works/{world.b.work_id}/harvest").json()["settlement"] is None


def test_a_work_harvested_without_boards_is_settled_with_nothing_owed(world: World) -> None:
    harvested(world, world.a, AT_80)
    settlement = world.client.get(f"/v1/works/{world.a.work_id}/harvest").json()["settlement"]
    assert settlement == {
        "boards_converted": 0,
        "boards": {"go": 0, "koku": "0.000"},
        "bills_issued": {"go": 0, "koku": "0.000"},
        "bills_issued_kg": "0.000",
        "rice_owed": {"go": 0, "koku": "0.000"},
        "rice_owed_kg": "0.000",
        "investments_cancelled": 0,
    }


def test_only_the_bill_mint_is_shown_not_the_boards_burns(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)
    invest_and_confirm(world, world.alice, 5_000)  # two burns, one mint
    harvested(world, world.a, AT_80)
    [bill] = _my_bills(world, world.alice)["items"]
    with world.db() as session:
        mints = session.scalars(
            select(ChainOperation.reference).where(ChainOperation.asset == ChainAsset.bill)
        ).all()
    assert [bill["chain"]["reference"]] == list(mints)
