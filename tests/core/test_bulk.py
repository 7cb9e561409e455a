"""Bulk writes convert every value as the ORM does: what goes in reads back the same."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kokudaka.core.bulk import bulk_insert
from kokudaka.core.ids import new_id, new_ids
from kokudaka.models import EntryKind, JournalEntry, table_of, utcnow
from tests.world import World


def test_bulk_rows_read_back_as_written(world: World) -> None:
    now = utcnow()
    ids = new_ids(3)
    assert ids == sorted(ids)
    assert new_id() > ids[-1]
    rows = [
        (i, EntryKind.gift, world.a.municipality_id, f"bulk:{i}", "m", "gift",
         {"title": "t", "gift_go": n}, None, now)
        for n, i in enumerate(ids)
    ]  # fmt: skip
    columns = (
        "id", "kind", "municipality_id", "idempotency_key", "memo", "memo_code", "memo_params",
        "created_by_id", "created_at",
    )  # fmt: skip
    with world.db.begin() as session:
        bulk_insert(session.connection(), table_of(JournalEntry), columns, rows)
    with world.db() as session:
        stored = session.scalars(select(JournalEntry).where(JournalEntry.id.in_(ids))).all()
    assert sorted(
        (e.id, e.kind, e.municipality_id, e.memo_params["gift_go"], e.created_at) for e in stored
    ) == [(i, EntryKind.gift, world.a.municipality_id, n, now) for n, i in enumerate(ids)]


def test_a_column_with_a_python_default_must_be_given(world: World) -> None:
    with world.db.begin() as session, pytest.raises(ValueError, match="memo"):
        bulk_insert(
            session.connection(),
            table_of(JournalEntry),
            ("id", "kind", "municipality_id", "idempotency_key", "created_at"),
            [(new_id(), EntryKind.gift, world.a.municipality_id, "bulk:x", utcnow())],
        )


def test_a_row_of_another_width_is_refused_before_anything_is_written(world: World) -> None:
    now = utcnow()
    columns = ("id", "kind", "municipality_id", "idempotency_key", "memo", "memo_code",
               "memo_params", "created_by_id", "created_at")  # fmt: skip
    whole = (
        new_id(),
        EntryKind.gift,
        world.a.municipality_id,
        "bulk:w",
        "m",
        "gift",
        {},
        None,
        now,
    )
    with world.db.begin() as session, pytest.raises(ValueError, match="9 values"):
        bulk_insert(session.connection(), table_of(JournalEntry), columns, [whole, whole[:-1]])
