"""Expiry with a soft landing: notices 30 and 7 days before a bill's town date, made once;
from the next day what is left of each bill is gifted to the farmer, once, in one entry
per bill with a burn, whether the job runs twice, in two processes, or dies half-way."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from datetime import date, timedelta

from sqlalchemy import func, select, update

from kokudaka.expiry.gifts import expire_bills
from kokudaka.expiry.schedule import run_bill_jobs
from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key
from kokudaka.harvest.yields import japan_today
from kokudaka.models import (
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    EntryKind,
    JournalEntry,
    MunicipalityPolicy,
    Notice,
    NoticeKind,
)
from kokudaka.redemptions.postings import bill_held_account_key
from tests.harvest.helpers import file_report, invest_and_confirm, many_boards
from tests.harvest.test_conversion import assert_ledger_sums, balance
from tests.redemptions.helpers import bills_for, redeemed, ship
from tests.world import SEASON, World, assert_problem

EXPIRES_ON = date(SEASON + 1, 3, 31)


def harvested(world: World) -> None:
    """Town A's work harvested at 80%, its bills expiring on ``EXPIRES_ON``."""
    report = file_report(world.client, world.a.farmer, world.a.work_id, kg="432000").json()
    signed = world.client.post(
        f"/v1/yield-reports/{report['id']}/countersign", headers=world.a.admin.headers
    )
    assert signed.status_code == 200, signed.text
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(bills_expire_on=EXPIRES_ON)
        )


def gifts(world: World) -> int:
    with world.db() as session:
        return session.scalar(select(func.count()).where(JournalEntry.kind == EntryKind.gift)) or 0


def test_notices_then_a_gift_to_the_farmer_each_once(world: World) -> None:
    invest_and_confirm(world, world.alice, 10_000)  # a bill of 800 go
    harvested(world)
    assert run_bill_jobs(world.db, EXPIRES_ON - timedelta(days=31)).notices == 0
    run_bill_jobs(world.db, EXPIRES_ON - timedelta(days=30))
    run_bill_jobs(world.db, EXPIRES_ON - timedelta(days=29))
    run_bill_jobs(world.db, EXPIRES_ON - timedelta(days=7))
    run_bill_jobs(world.db, EXPIRES_ON)  # the last valid day: still the supporter's
    assert gifts(world) == 0
    with world.db() as session:
        kinds = sorted(n.kind for n in session.scalars(select(Notice)))
    assert kinds == [NoticeKind.bill_expires_in_30_days, NoticeKind.bill_expires_in_7_days]

    done = run_bill_jobs(world.db, EXPIRES_ON + timedelta(days=1))
    assert (done.expiry.bills, done.expiry.gifts, done.expiry.gifted_go) == (1, 1, 800)
    again = run_bill_jobs(world.db, EXPIRES_ON + timedelta(days=2))
    assert (again.expiry.bills, again.expiry.gifts) == (0, 0)
    with world.db() as session:
        bill = session.scalar(select(Bill))
        assert bill is not None
        assert bill.expired_at is not None
        assert bill.gifted_go == 800
        assert balance(session, bill_account_key(world.a.work_id, world.alice.id)) == 0
        assert balance(session, bill_issuance_account_key(world.a.work_id)) == 0
        burn = session.scalar(
            select(ChainOperation).where(ChainOperation.entry_id == bill.gift_entry_id)
        )
        assert burn is not None
        assert (burn.asset, burn.kind, burn.amount_go, burn.bill_id) == (
            ChainAsset.bill,
            ChainOperationKind.burn,
            800,
            bill.id,
        )
        assert_ledger_sums(session)

    # The bill shows it expired and what was gifted.
    bills = world.client.get("/v1/me/bills", headers=world.alice.headers).json()["items"]
    assert bills[0]["expired_at"] is not None
    assert (bills[0]["gifted"]["go"], bills[0]["gifted_kg"]) == (800, "120.000")
    assert bills[0]["remaining"]["go"] == 0
    # The app reads them in the supporter's language and marks one read.
    listed = world.client.get(
        "/v1/me/notices", headers={**world.alice.headers, "Accept-Language": "ja"}
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [n["kind"] for n in items] == [
        "bill_gifted",
        "bill_expires_in_7_days",
        "bill_expires_in_30_days",
    ]
    assert "農家への贈り物" in items[0]["text"]
    read = world.client.post(f"/v1/me/notices/{items[0]['id']}/read", headers=world.alice.headers)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    unread = world.client.get("/v1/me/notices?unread=true", headers=world.alice.headers).json()
    assert len(unread["items"]) == 2
    # Nobody else reads or marks them.
    assert_problem(
        world.client.post(f"/v1/me/notices/{items[0]['id']}/read", headers=world.bob.headers),
        404,
        "not_found",
    )
    assert world.client.get("/v1/me/notices", headers=world.bob.headers).json()["items"] == []


def test_two_runs_at_once_gift_each_bill_once(world: World) -> None:
    many_boards(world, 300)
    harvested(world)
    after = EXPIRES_ON + timedelta(days=1)
    runs = [threading.Thread(target=expire_bills, args=(world.db, after), kwargs={"chunk": 40})
            for _ in range(2)]  # fmt: skip
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert gifts(world) == 300
    with world.db() as session:
        assert session.scalar(select(func.count()).where(Bill.expired_at.is_(None))) == 0
        assert_ledger_sums(session)


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date
    from sqlalchemy.orm import sessionmaker
    from kokudaka.core.db import create_db_engine
    from kokudaka.expiry import gifts

    original = gifts.expire_chunk
    calls = []

    def dying_chunk(session, today, limit):
        run = original(session, today, limit)
        calls.append(run)
        if len(calls) == 3:  # two chunks committed, the third written but not committed
            os.kill(os.getpid(), signal.SIGKILL)
        return run

    gifts.expire_chunk = dying_chunk
    db = sessionmaker(create_db_engine(sys.argv[1]))
    gifts.expire_bills(db, date.fromisoformat(sys.argv[2]), chunk=50)
    """
)


def test_killed_half_way_the_job_resumes_and_gifts_each_bill_once(world: World) -> None:
    many_boards(world, 300)
    harvested(world)
    after = EXPIRES_ON + timedelta(days=1)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, world.settings.sqlalchemy_url, after.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # Whole chunks only (on PostgreSQL two sessions run side by side, so one or two were
    # committed when the third was written), nothing of the unfinished one.
    committed = gifts(world)
    postgres = world.db.kw["bind"].dialect.name == "postgresql"
    assert committed in ({50, 100} if postgres else {100}), committed
    run_bill_jobs(world.db, after)
    assert gifts(world) == 300
    with world.db() as session:
        assert_ledger_sums(session)


def test_what_is_held_for_a_redemption_stays_and_what_shipped_is_in_the_year(
    world: World,
) -> None:
    bill_id = bills_for(world, (world.alice, 10_000))[world.alice.id]  # 1,000 go at 100%
    shipped = redeemed(world, world.alice, bill_id, 200)
    assert ship(world.client, world.a.farmer, shipped["id"]).status_code == 200
    redeemed(world, world.alice, bill_id, 300)  # requested in time: stays held
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(bills_expire_on=EXPIRES_ON)
        )
    done = run_bill_jobs(world.db, EXPIRES_ON + timedelta(days=1))
    assert (done.expiry.gifts, done.expiry.gifted_go) == (1, 500)
    with world.db() as session:
        assert balance(session, bill_account_key(world.a.work_id, world.alice.id)) == 0
        assert balance(session, bill_held_account_key(world.a.work_id, world.alice.id)) == 300
        assert_ledger_sums(session)
    year = world.client.get(
        f"/v1/me/statement?year={japan_today().year}", headers=world.alice.headers
    ).json()
    assert (year["rice_redeemed"]["go"], year["gifts"]["go"]) == (200, 500)
