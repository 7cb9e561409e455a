"""The bills' daily work: notices before expiry, gifts of what expired, redemptions received
14 days after shipping, and addresses erased after their town's retention period.

The chain runtime runs :class:`BillJobs` in a thread of the worker process every
``KOKUDAKA_BILL_JOBS_SECONDS`` (an hour by default), and ``kokudaka bills expire`` runs it
once by hand. Every step is idempotent and resumable, so running it often, twice, or in
two processes changes nothing more than running it once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.expiry.gifts import ExpiryRun, expire_bills
from kokudaka.expiry.notices import create_expiry_notices
from kokudaka.harvest.yields import japan_today
from kokudaka.models import utcnow
from kokudaka.redemptions.jobs import auto_receive, erase_expired_addresses

__all__ = ["BillJobs", "BillJobsRun", "run_bill_jobs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillJobsRun:
    notices: int
    expiry: ExpiryRun
    received: int = 0
    erased: int = 0


def run_bill_jobs(sessions: sessionmaker[Session], today: date | None = None) -> BillJobsRun:
    """Make the notices due and close the bills expired by ``today`` (Japan's today); then
    the redemptions' own upkeep as of now."""
    day = today or japan_today()
    with sessions.begin() as session:
        notices = create_expiry_notices(session, day)
    expiry = expire_bills(sessions, day)
    now = utcnow()
    with sessions.begin() as session:
        received = auto_receive(session, now)
        erased = erase_expired_addresses(session, now)
    return BillJobsRun(notices=notices, expiry=expiry, received=received, erased=erased)


class BillJobs:
    """:func:`run_bill_jobs` every ``interval_seconds`` until stopped."""

    def __init__(self, sessions: sessionmaker[Session], interval_seconds: float) -> None:
        self.sessions = sessions
        self.interval_seconds = interval_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                done = run_bill_jobs(self.sessions)
                if done.expiry.bills:
                    logger.info(
                        "bills expired: %s closed, %s gifts of %s go",
                        done.expiry.bills,
                        done.expiry.gifts,
                        done.expiry.gifted_go,
                    )
            except SQLAlchemyError as error:
                # The database is down or restarting: the next round picks up from here.
                logger.warning("bill jobs: %s", error)
            stop.wait(max(self.interval_seconds - (time.monotonic() - started), 0.0))
