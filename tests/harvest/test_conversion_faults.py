"""The conversion killed half-way: a process countersigning a work dies (SIGKILL) after
writing part of the conversion. Nothing of it stays; the report still awaits its
countersignature; countersigning again converts every board exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid

from sqlalchemy import func, select

from kokudaka.models import (
    Bill,
    ChainOperation,
    EntryKind,
    Issuance,
    JournalEntry,
    Work,
    YieldReport,
    YieldReportState,
)
from tests.harvest.helpers import file_report, many_boards
from tests.harvest.test_conversion import assert_ledger_sums
from tests.world import World

BOARDS = 300

# Runs the countersignature in a process of its own, which kills itself with SIGKILL
# once the conversion has written its entries, postings and balance moves, before it
# marks the issuances, writes the bills and the outbox, or commits.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys, uuid
    from sqlalchemy.orm import sessionmaker
    from kokudaka.auth.caller import Caller
    from kokudaka.core.db import create_db_engine
    from kokudaka.harvest import conversion, service
    from kokudaka.models import User

    url, admin_id, report_id = sys.argv[1:4]
    original = conversion._insert
    calls = []

    def dying_insert(*args):
        original(*args)
        calls.append(args[1])
        if len(calls) == 3:  # entries, bill accounts, postings written
            os.kill(os.getpid(), signal.SIGKILL)

    conversion._insert = dying_insert
    db = sessionmaker(create_db_engine(url))
    with db.begin() as session:
        admin = session.get(User, uuid.UUID(admin_id))
        service.countersign(session, Caller.of(admin), uuid.UUID(report_id))
    print("committed")
    """
)


def test_a_conversion_killed_half_way_leaves_nothing_and_runs_again_once(
    world: World,
) -> None:
    many_boards(world, BOARDS)
    report = file_report(world.client, world.a.farmer, world.a.work_id, kg="432000").json()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, world.settings.sqlalchemy_url, str(world.a.admin.id),
         report["id"]],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "committed" not in child.stdout

    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Bill)) == 0
        conversions = select(func.count()).where(JournalEntry.kind == EntryKind.conversion)
        assert session.scalar(conversions) == 0
        stored = session.get(YieldReport, uuid.UUID(report["id"]))
        assert stored is not None
        assert stored.state is YieldReportState.filed
        work = session.get(Work, world.a.work_id)
        assert work is not None
        assert work.bills_issued_at is None
        assert_ledger_sums(session)

    again = world.client.post(
        f"/v1/yield-reports/{report['id']}/countersign", headers=world.a.admin.headers
    )
    assert again.status_code == 200, again.text
    with world.db() as session:
        assert session.scalar(select(func.count()).select_from(Bill)) == BOARDS
        assert session.scalar(conversions) == BOARDS
        unconverted = select(func.count()).where(
            Issuance.work_id == world.a.work_id, Issuance.conversion_entry_id.is_(None)
        )
        assert session.scalar(unconverted) == 0
        # Each board issuance burned once, each bill minted once.
        assert session.scalar(
            select(func.count()).where(ChainOperation.entry_id.in_(
                select(JournalEntry.id).where(JournalEntry.kind == EntryKind.conversion)
            ))
        ) == 2 * BOARDS  # fmt: skip
        assert_ledger_sums(session)
