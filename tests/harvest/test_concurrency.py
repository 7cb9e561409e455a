"""Yield reports under concurrency: two administrators countersigning at the same moment,
and filings racing a countersignature, leave one report in effect and one log row each."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from kokudaka.models import (
    Bill,
    EntryKind,
    Issuance,
    JournalEntry,
    StaffLogEntry,
    Work,
    YieldReport,
    YieldReportState,
)
from tests.harvest.helpers import file_report, many_boards, report_body, second_admin
from tests.harvest.test_conversion import assert_ledger_sums
from tests.world import World


def test_two_administrators_countersigning_at_once_countersign_once(
    world: World, base_url: str
) -> None:
    admins = [world.a.admin, second_admin(world), second_admin(world)]
    many_boards(world, 200)
    report = file_report(world.client, world.a.farmer, world.a.work_id).json()

    def countersign(i: int) -> int:
        return httpx.post(
            f"{base_url}/v1/yield-reports/{report['id']}/countersign",
            headers=admins[i % 3].headers,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=9) as pool:
        statuses = list(pool.map(countersign, range(9)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 409}, statuses
    with world.db() as session:
        signed = session.scalar(
            select(func.count()).where(YieldReport.state == YieldReportState.countersigned)
        )
        rows = session.scalar(
            select(func.count()).where(StaffLogEntry.action == "yield.countersign")
        )
        # One conversion per board, each asset summing to zero.
        bills = session.scalar(select(func.count()).select_from(Bill))
        conversions = session.scalar(
            select(func.count()).where(JournalEntry.kind == EntryKind.conversion)
        )
        assert_ledger_sums(session)
    assert (signed, rows, bills, conversions) == (1, 1, 200, 200)


def test_filings_racing_countersignatures_leave_one_report_in_effect(
    world: World, base_url: str
) -> None:
    admin = second_admin(world)
    first = file_report(world.client, world.a.farmer, world.a.work_id).json()

    def act(i: int) -> int:
        if i % 2:
            return httpx.post(
                f"{base_url}/v1/works/{world.a.work_id}/yield-reports",
                json=report_body(kg=str(400_000 + i)),
                headers=world.a.farmer.headers,
                timeout=60,
            ).status_code
        return httpx.post(
            f"{base_url}/v1/yield-reports/{first['id']}/countersign",
            headers=admin.headers,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(act, range(10)))
    assert set(statuses) <= {200, 201, 409}, statuses
    filings, countersignatures = statuses[1::2], statuses[0::2]
    # A countersignature issues the bills: filings after it are refused, before it they
    # supersede the first report, which then cannot be countersigned.
    assert countersignatures.count(200) <= 1, statuses
    with world.db() as session:
        states = list(session.scalars(select(YieldReport.state)))
        work = session.get(Work, world.a.work_id)
        assert work is not None
        harvested = work.bills_issued_at is not None
    assert states.count(YieldReportState.countersigned) == int(harvested)
    assert harvested == (200 in countersignatures)
    if harvested:
        assert states.count(YieldReportState.filed) == 0
    else:
        assert states.count(YieldReportState.filed) == 1
        assert filings.count(201) == 5, statuses


def test_reversals_racing_the_conversion_either_reverse_or_are_converted(
    world: World, base_url: str
) -> None:
    many_boards(world, 60)
    report = file_report(world.client, world.a.farmer, world.a.work_id).json()
    admin = second_admin(world)
    with world.db() as session:
        entries = list(
            session.scalars(
                select(Issuance.entry_id).where(Issuance.work_id == world.a.work_id).limit(8)
            )
        )

    def act(i: int) -> int:
        if i == 0:
            return httpx.post(
                f"{base_url}/v1/yield-reports/{report['id']}/countersign",
                headers=world.a.admin.headers,
                timeout=60,
            ).status_code
        return httpx.post(
            f"{base_url}/v1/ledger/entries/{entries[i - 1]}/reverse",
            json={"reason": "mistake"},
            headers=admin.headers,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=9) as pool:
        statuses = list(pool.map(act, range(9)))
    assert statuses[0] == 200, statuses
    assert set(statuses[1:]) <= {201, 409}, statuses
    with world.db() as session:
        for issuance in session.scalars(select(Issuance).where(Issuance.entry_id.in_(entries))):
            # Never both: a reversed board is not converted, a converted one not reversed.
            assert (issuance.reversal_entry_id is None) != (issuance.conversion_entry_id is None)
        assert session.scalar(select(func.count()).select_from(Bill)) == 60 - statuses.count(201)
        assert_ledger_sums(session)
