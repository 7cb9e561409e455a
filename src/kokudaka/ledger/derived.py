"""The ledger's running totals derived again from their sources.

The service keeps running totals beside the rows they sum (``Account.balance_go`` beside
the postings, :class:`~kokudaka.models.SupporterSeason` beside the issuances), moved in the
same transaction. These rebuild them in one statement each, for bulk loads that write
postings and issuances directly (the benchmarks' set-up), and give the query the property
tests check the running totals against.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kokudaka.ledger.service import accounts, issuances, postings, supporter_seasons
from kokudaka.models import IssuanceKind

__all__ = ["recompute_balances", "recompute_supporter_seasons", "supporter_season_totals"]


def recompute_balances(session: Session) -> None:
    """Set every account's running balance from its postings.

    For bulk loads that write postings directly instead of through :func:`issue` (the
    benchmarks' set-up); the migration that added the running balance does the same.
    """
    session.execute(
        update(accounts).values(
            balance_go=select(func.coalesce(func.sum(postings.c.amount_go), 0))
            .where(postings.c.account_id == accounts.c.id)
            .scalar_subquery()
        )
    )


def recompute_supporter_seasons(session: Session) -> None:
    """Set every :class:`SupporterSeason` from the standing issuances, for bulk loads that
    write issuances directly (the benchmarks' set-up); migration 0008 does the same."""
    session.execute(supporter_seasons.delete())
    session.execute(
        supporter_seasons.insert().from_select(
            ["municipality_id", "season", "user_id", "investments", "contributions"],
            supporter_season_totals(),
        )
    )


def supporter_season_totals() -> Any:
    """Each supporter's standing issuances per town and season, by kind, from the
    issuances themselves: what :class:`SupporterSeason` must hold."""
    invested = issuances.c.kind == IssuanceKind.investment
    return (
        select(
            issuances.c.municipality_id,
            issuances.c.season,
            issuances.c.recipient_id,
            func.count().filter(invested),
            func.count().filter(~invested),
        )
        .where(issuances.c.reversal_entry_id.is_(None))
        .group_by(issuances.c.municipality_id, issuances.c.season, issuances.c.recipient_id)
    )
