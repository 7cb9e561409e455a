"""A farmer's support ledger and its totals read the farmer's own issuances by index.

With 100,000 issuances, the ledger's page sorted the farmer's every issuance, and the
totals walked the unique index of ``reversal_entry_id`` (given ``IS NULL``) through
every town's standing issuances. SQLite's plan is fixed by the indexes when no
statistics have been gathered (a town hall's file never runs ANALYZE), so it is
checked here on the statements the service runs; PostgreSQL chooses by its statistics
and is measured by bench/console_pages.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from kokudaka.core.pagination import PageParams
from kokudaka.farmers.service import support_ledger, support_ledger_totals
from kokudaka.models import Farmer


def _first_plan(engine: Engine, read: Callable[[Session], Any]) -> list[str]:
    """The plan of the first statement ``read`` runs."""
    ran: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        ran.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            read(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in ran if s.lstrip().upper().startswith("SELECT"))
    with engine.connect() as conn:
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]


@pytest.mark.parametrize("season", [None, 2026], ids=["all seasons", "one season"])
def test_a_farmers_ledger_page_needs_no_sort(engine: Engine, season: int | None) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics")
    farmer = Farmer(id=uuid.uuid4())
    plan = _first_plan(
        engine,
        lambda session: support_ledger(
            session, farmer, PageParams(limit=100, cursor=None), work_id=None, season=season
        ),
    )
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert any("ix_issuances_farmer_id" in step for step in plan), plan


def test_a_farmers_totals_read_the_farmers_issuances(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics")
    farmer = Farmer(id=uuid.uuid4())
    plan = _first_plan(
        engine, lambda session: support_ledger_totals(session, farmer, work_id=None, season=None)
    )
    issuances = [step for step in plan if "issuances" in step]
    assert issuances, plan
    assert "ix_issuances_farmer_id" in issuances[0], plan
