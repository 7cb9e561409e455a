"""Scheduled work on redemptions: receipt after 14 days, and erasing old addresses.

Both are one conditional UPDATE per kind of row, safe to run at any time, twice, or in
two processes at once: a row that no longer matches (received meanwhile, already
erased) is simply not touched again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kokudaka.models import Municipality, Redemption, RedemptionState

__all__ = ["AUTO_RECEIVE_AFTER", "auto_receive", "erase_expired_addresses"]

AUTO_RECEIVE_AFTER = timedelta(days=14)
"""A shipped redemption the supporter has not confirmed counts as received this long
after shipping."""


def auto_receive(session: Session, now: datetime) -> int:
    """Mark received every redemption shipped at least 14 days before ``now`` and still
    unconfirmed (``received_by_id`` stays null: received automatically). The count."""
    result = session.connection().execute(
        update(Redemption)
        .where(
            Redemption.state == RedemptionState.shipped,
            Redemption.shipped_at <= now - AUTO_RECEIVE_AFTER,
        )
        .values(state=RedemptionState.received, received_at=now, closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def erase_expired_addresses(session: Session, now: datetime) -> int:
    """Erase the address of every redemption closed (received, cancelled, refused) for
    longer than its town's ``address_retention_days``. The count.

    One UPDATE per retention period in use (most towns keep the default), not per town
    or per row.
    """
    erased = 0
    periods = session.scalars(select(Municipality.address_retention_days).distinct()).all()
    for days in periods:
        towns = select(Municipality.id).where(Municipality.address_retention_days == days)
        result = session.connection().execute(
            update(Redemption)
            .where(
                Redemption.address_ciphertext.is_not(None),
                Redemption.closed_at <= now - timedelta(days=days),
                Redemption.municipality_id.in_(towns),
            )
            .values(address_ciphertext=None, address_erased_at=now, updated_at=now)
        )
        erased += int(result.rowcount or 0)
    return erased
