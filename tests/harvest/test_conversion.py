"""The harvest conversion: countersigning a work's yield turns every board on it into a
rice bill in one transaction, each asset summing to zero, and cancels unpaid investments."""

from __future__ import annotations

import uuid
from collections import defaultdict

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key
from kokudaka.ledger.service import holder_account_key
from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    EntryKind,
    Investment,
    Issuance,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    Work,
)
from tests.harvest.helpers import approved_hours, file_report, invest_and_confirm
from tests.investments.webhooks import paid_webhook
from tests.volunteering.helpers import logged, post_activity
from tests.world import SEASON, World, assert_problem

AT_80 = "432000"  # 2,880,000 go of a 3,600,000 go plan
AT_130 = "702000"  # 4,680,000 go: past the 120% ceiling


def _asset(account: Account) -> str:
    if account.kind in (AccountKind.issuance, AccountKind.holder):
        return "koku"
    return f"bill:{account.work_id}"


def assert_ledger_sums(session: Session) -> None:
    """Every entry sums to zero in each asset; every balance is its postings' sum."""
    accounts = {a.id: a for a in session.scalars(select(Account))}
    per_entry: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    per_account: dict[uuid.UUID, int] = defaultdict(int)
    for posting in session.scalars(select(Posting)):
        per_entry[(posting.entry_id, _asset(accounts[posting.account_id]))] += posting.amount_go
        per_account[posting.account_id] += posting.amount_go
    assert {key: go for key, go in per_entry.items() if go} == {}
    for account in accounts.values():
        assert account.balance_go == per_account[account.id], account.key


def balance(session: Session, key: str) -> int:
    return session.scalar(select(Account.balance_go).where(Account.key == key)) or 0


def countersign(world: World, kg: str) -> httpx.Response:
    report = file_report(world.client, world.a.farmer, world.a.work_id, kg=kg)
    assert report.status_code == 201, report.text
    return world.client.post(
        f"/v1/yield-reports/{report.json()['id']}/countersign", headers=world.a.admin.headers
    )


def test_boards_become_bills_at_80_percent_and_unpaid_investments_are_cancelled(
    world: World,
) -> None:
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    invest_and_confirm(world, world.alice, 1_237)  # 123 go: two board issuances
    approved_hours(world, world.bob, "2", world.a.work_id)  # 1,000 go labour board
    approved_hours(world, world.alice, "1", None)  # 500 go of a town event: stays KOKU
    carol = world.new_supporter("carol")
    unpaid = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 30_000},
        headers={**carol.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    with world.db() as session:
        work = session.get(Work, world.a.work_id)
        assert work is not None
        subscribed_before = work.subscribed_yen
        reserved_before = session.scalar(
            select(MunicipalityPolicy.reserved_go).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id
            )
        )

    signed = countersign(world, AT_80)
    assert signed.status_code == 200, signed.text

    with world.db() as session:
        bills = {b.holder_id: b for b in session.scalars(select(Bill))}
        assert set(bills) == {world.alice.id, world.bob.id}
        alice, bob = bills[world.alice.id], bills[world.bob.id]
        assert (alice.board_go, alice.investment_go, alice.labour_go) == (623, 623, 0)
        assert alice.amount_go == 623 * 8 // 10  # ⌊623 × 0.8⌋ = 498
        assert (bob.board_go, bob.labour_go, bob.amount_go) == (1_000, 1_000, 800)
        # KOKU: the boards burned, the town event's KOKU stays; the bills held.
        assert balance(session, holder_account_key(world.alice.id)) == 500
        assert balance(session, holder_account_key(world.bob.id)) == 0
        assert balance(session, bill_account_key(world.a.work_id, world.alice.id)) == 498
        assert balance(session, bill_account_key(world.a.work_id, world.bob.id)) == 800
        assert balance(session, bill_issuance_account_key(world.a.work_id)) == -1_298
        # The rank's 石高 is not lowered by converting.
        earned = session.scalar(
            select(Account.earned_go).where(Account.key == holder_account_key(world.alice.id))
        )
        assert earned == 1_123
        assert_ledger_sums(session)
        # One conversion entry per board; every board issuance marked converted.
        conversions = session.scalars(
            select(JournalEntry).where(JournalEntry.kind == EntryKind.conversion)
        ).all()
        assert sorted(e.idempotency_key for e in conversions) == sorted(
            f"conversion:{world.a.work_id}:{who}" for who in (world.alice.id, world.bob.id)
        )
        boards = session.scalars(select(Issuance).where(Issuance.work_id == world.a.work_id)).all()
        assert len(boards) == 3
        assert all(i.conversion_entry_id is not None for i in boards)
        # The outbox: one KOKU burn per board issuance, one bill mint per bill.
        operations = session.scalars(
            select(ChainOperation).where(ChainOperation.entry_id.in_([e.id for e in conversions]))
        ).all()
        burns = [o for o in operations if o.asset is ChainAsset.koku]
        mints = [o for o in operations if o.asset is ChainAsset.bill]
        assert all(o.kind is ChainOperationKind.burn for o in burns)
        assert sorted((o.issuance_id, o.amount_go) for o in burns) == sorted(
            (i.id, i.amount_go) for i in boards
        )
        assert sorted((o.bill_id, o.amount_go) for o in mints) == sorted(
            (b.id, b.amount_go) for b in bills.values()
        )
        # The unpaid investment is cancelled, its yen and cap room given back.
        cancelled = session.get(Investment, uuid.UUID(unpaid["id"]))
        assert cancelled is not None
        assert (cancelled.status.value, cancelled.cancellation_reason) == (
            "cancelled",
            "work_harvested",
        )
        work = session.get(Work, world.a.work_id)
        assert work is not None
        assert work.subscribed_yen == subscribed_before - 30_000
        assert work.bills_issued_at is not None
        reserved = session.scalar(
            select(MunicipalityPolicy.reserved_go).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id,
                MunicipalityPolicy.season == SEASON,
            )
        )
        assert reserved == (reserved_before or 0) - 3_000

    # A late payment, a new investment and a reversal of a board are refused clearly.
    assert_problem(paid_webhook(world, unpaid["id"], 30_000), 409, "work_harvested")
    assert_problem(
        world.client.post(
            f"/v1/investments/{unpaid['id']}/confirm",
            json={"payment_reference": "late"},
            headers=world.a.admin.headers,
        ),
        409,
        "work_harvested",
    )
    assert_problem(
        world.client.post(
            "/v1/investments",
            json={"work_id": str(world.a.work_id), "amount_yen": 1_000},
            headers={**carol.headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
        409,
        "work_harvested",
    )
    assert_problem(
        world.client.post(
            f"/v1/ledger/entries/{boards[0].entry_id}/reverse",
            json={"reason": "mistake"},
            headers=world.a.admin.headers,
        ),
        409,
        "issuance_converted",
    )
    # The supporter's ledger shows the conversion once, in their language.
    lines = world.client.get(
        "/v1/me/ledger", headers={**world.alice.headers, "Accept-Language": "ja"}
    ).json()["items"]
    conversion_lines = [line for line in lines if line["amount"]["go"] == -623]
    assert len(conversion_lines) == 1
    assert "米手形498合" in conversion_lines[0]["memo"]


def test_past_the_ceiling_the_farmer_keeps_the_surplus(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)  # 1,000 go
    assert countersign(world, AT_130).status_code == 200
    with world.db() as session:
        bill = session.scalar(select(Bill))
        assert bill is not None
        assert bill.amount_go == 1_200  # capped at 120%
        assert_ledger_sums(session)


def test_a_failed_year_burns_the_boards_and_mints_nothing(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)
    assert countersign(world, "0").status_code == 200
    with world.db() as session:
        bill = session.scalar(select(Bill))
        assert bill is not None
        assert (bill.board_go, bill.amount_go) == (1_000, 0)
        assert balance(session, holder_account_key(world.alice.id)) == 0
        mints = session.scalar(select(func.count()).where(ChainOperation.asset == ChainAsset.bill))
        assert mints == 0
        assert_ledger_sums(session)


def test_a_work_without_boards_is_settled_with_no_bills(world: World) -> None:
    assert countersign(world, AT_80).status_code == 200
    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Bill)) == 0
        work = session.get(Work, world.a.work_id)
        assert work is not None
        assert work.bills_issued_at is not None


def test_hours_approved_after_the_harvest_earn_koku_but_are_no_board(world: World) -> None:
    activity = post_activity(world.client, world.a.farmer, work_id=str(world.a.work_id))
    contribution = logged(world.client, world.bob, activity["id"], "1")
    assert countersign(world, AT_80).status_code == 200
    approved = world.client.post(
        f"/v1/contributions/{contribution['id']}/approve", headers=world.a.farmer.headers
    )
    assert approved.status_code == 200, approved.text
    with world.db() as session:
        issuance = session.scalar(select(Issuance).where(Issuance.recipient_id == world.bob.id))
        assert issuance is not None
        assert issuance.work_id is None  # the work's bills were already sized
        assert balance(session, holder_account_key(world.bob.id)) == 500
