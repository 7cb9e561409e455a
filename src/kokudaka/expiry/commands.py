"""``kokudaka bills jobs``: the bills' daily work once, by hand or from cron.

The worker runs it every ``KOKUDAKA_BILL_JOBS_SECONDS`` already; this is for an operator who
wants it now, or for a given day (``--today``). No run is ever missed: each one closes
everything expired by its day.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date

from kokudaka.core.db import create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings

__all__ = ["add_bill_commands"]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.expiry.schedule import run_bill_jobs

    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        done = run_bill_jobs(create_sessionmaker(engine), args.today)
    finally:
        engine.dispose()
    print(
        f"notices offered: {done.notices}; bills closed: {done.expiry.bills}, "
        f"gifts: {done.expiry.gifts} ({done.expiry.gifted_go} go); redemptions received "
        f"automatically: {done.received}; addresses erased: {done.erased}",
        file=sys.stdout,
    )
    return 0


def add_bill_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    migrate: Callable[[Settings], object],
) -> None:
    """Register ``kokudaka bills jobs``; ``migrate`` brings the schema to head first."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        migrate(settings)
        return _run(args, settings)

    bills = sub.add_parser("bills", help="rice bills (米手形)")
    bills_sub = bills.add_subparsers(dest="bills_command", required=True)
    jobs = bills_sub.add_parser(
        "jobs",
        help="make the notices due (30 and 7 days before expiry), gift what is left of "
        "expired bills to their farmers, mark redemptions shipped 14 days ago received, erase "
        "addresses past their town's retention; idempotent",
    )
    jobs.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day in Japan to run for (default: today there)",
    )
    jobs.set_defaults(handler=run)
