"""A town's issuances newest first are read one page from an index, not sorted whole.

The console's and the audit's lists ask for a town's latest issuances, with or without
a season; with 100,000 issuances, sorting a town's every one of them took most of the
page's time on SQLite. SQLite's plan is fixed by the indexes when no statistics have
been gathered (a town hall's file never runs ANALYZE), so it can be checked here;
PostgreSQL chooses by its statistics and is measured by bench/console_pages.py.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import ColumnElement, Engine, select

from kokudaka.models import Issuance


@pytest.mark.parametrize("with_season", [False, True], ids=["all seasons", "one season"])
def test_a_towns_latest_issuances_need_no_sort(engine: Engine, with_season: bool) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics")
    conditions: list[ColumnElement[bool]] = [Issuance.municipality_id == uuid.uuid4()]
    if with_season:
        conditions.append(Issuance.season == 2026)
    statement = select(Issuance.id).where(*conditions).order_by(Issuance.id.desc()).limit(51)
    compiled = statement.compile(engine)
    with engine.connect() as conn:
        # The plan does not depend on the values, only on their places.
        values = tuple(str(compiled.params[name]) for name in compiled.positiontup or [])
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)]
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert any("ix_issuances_municipality_id" in step for step in plan), plan
