"""``kokudaka audit verify`` catches rows changed, removed or reordered in the database,
naming the first; a row rewritten with its hash recomputed is caught by the next row,
the head, or the anchor on chain."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.staff_log import (
    StaffLogRow,
    append_staff_action,
    heads,
    log_rows,
    recomputed_hash,
)
from kokudaka.audit.verification import BreakKind, ChainAnchor, ChainBreak, verify_log
from kokudaka.core.settings import Settings
from kokudaka.models import StaffAction

ROWS = 6
TOWN = uuid.UUID("01930000-0000-7000-8000-000000000001")


def _read(db: sessionmaker[Session]) -> list[StaffLogRow]:
    with db() as session:
        rows = session.execute(log_rows.select().order_by(log_rows.c.sequence))
        return [StaffLogRow(**row._mapping) for row in rows]


@pytest.fixture
def log(db: sessionmaker[Session]) -> list[StaffLogRow]:
    """Six rows appended as the services append them, one transaction each."""
    for number in range(ROWS):
        with db.begin() as session:
            append_staff_action(
                session,
                None,
                StaffAction.policy_set,
                object_type="policy",
                object_id=f"{TOWN}:{2026 + number}",
                data={"yearly_cap_go": 1_000 * (number + 1), "season": 2026 + number},
                municipality_id=TOWN,
            )
    return _read(db)


def _verify(db: sessionmaker[Session], anchors: tuple[ChainAnchor, ...] = ()) -> ChainBreak | None:
    with db() as session:
        report = verify_log(session, anchors)
    return report.first_break


def _anchor(row: StaffLogRow) -> ChainAnchor:
    return ChainAnchor(row.sequence, row.hash, "0x" + "ab" * 32, 7)


def _rewrite(db: sessionmaker[Session], row: StaffLogRow, data: str) -> StaffLogRow:
    """Change a row's data and recompute its hash, as a forger who knows the scheme would."""
    forged = _replace(row, data=data)
    forged = _replace(forged, hash=recomputed_hash(forged))
    with db.begin() as session:
        session.execute(
            update(log_rows)
            .where(log_rows.c.sequence == row.sequence)
            .values(data=forged.data, hash=forged.hash)
        )
    return forged


def _fields(row: StaffLogRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in StaffLogRow.__slots__}


def _replace(row: StaffLogRow, **changes: object) -> StaffLogRow:
    return StaffLogRow(**{**_fields(row), **changes})  # type: ignore[arg-type]


def test_an_untouched_log_verifies_with_its_anchors(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    with db() as session:
        report = verify_log(session, (_anchor(log[2]), _anchor(log[5])))
    assert report.intact
    assert (report.rows, report.head_sequence, report.anchors_checked) == (ROWS, ROWS, 2)
    assert [row.sequence for row in log] == list(range(1, ROWS + 1))


def test_an_empty_log_verifies(db: sessionmaker[Session]) -> None:
    with db() as session:
        report = verify_log(session)
    assert report.intact
    assert report.rows == 0


def test_an_edited_row_is_named(db: sessionmaker[Session], log: list[StaffLogRow]) -> None:
    with db.begin() as session:
        session.execute(
            update(log_rows).where(log_rows.c.sequence == 3).values(data='{"yearly_cap_go":1}')
        )
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (3, BreakKind.changed)


def test_an_edited_actor_or_time_is_named(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    with db.begin() as session:
        session.execute(
            update(log_rows).where(log_rows.c.sequence == 2).values(actor_role="town_admin")
        )
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (2, BreakKind.changed)


def test_a_row_rewritten_with_its_hash_is_caught_by_the_next_row(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    _rewrite(db, log[2], '{"yearly_cap_go":999999999}')
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (3, BreakKind.changed)
    assert "row 4 does not chain to row 3" in found.detail


def test_the_last_row_rewritten_is_caught_by_the_head_then_by_the_anchor(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    forged = _rewrite(db, log[-1], '{"yearly_cap_go":1}')
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (ROWS, BreakKind.changed)
    assert "head" in found.detail
    # The forger moves the head too: only the anchor on chain still knows.
    with db.begin() as session:
        session.execute(update(heads).values(hash=forged.hash))
    assert _verify(db) is None
    found = _verify(db, (_anchor(log[-1]),))
    assert found is not None
    assert (found.sequence, found.kind) == (ROWS, BreakKind.changed)
    assert "anchor" in found.detail


def test_a_whole_chain_rewritten_from_a_row_is_caught_by_a_later_anchor(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    # Rewrite row 2 and re-chain every row after it, head included.
    prev = log[0].hash
    for row in log[1:]:
        data = '{"forged":true}' if row.sequence == 2 else row.data
        forged = _replace(row, data=data, prev_hash=prev)
        forged = _replace(forged, hash=recomputed_hash(forged))
        with db.begin() as session:
            session.execute(
                update(log_rows)
                .where(log_rows.c.sequence == row.sequence)
                .values(data=forged.data, prev_hash=forged.prev_hash, hash=forged.hash)
            )
        prev = forged.hash
    with db.begin() as session:
        session.execute(update(heads).values(hash=prev))
    assert _verify(db) is None
    assert _verify(db, (_anchor(log[0]),)) is None  # anchored before the change
    found = _verify(db, (_anchor(log[0]), _anchor(log[3])))
    assert found is not None
    assert (found.sequence, found.kind) == (4, BreakKind.changed)


def test_a_deleted_row_is_named(db: sessionmaker[Session], log: list[StaffLogRow]) -> None:
    with db.begin() as session:
        session.execute(delete(log_rows).where(log_rows.c.sequence == 3))
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (3, BreakKind.removed)


def test_deleted_last_rows_are_caught_by_the_head_then_by_the_anchor(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    with db.begin() as session:
        session.execute(delete(log_rows).where(log_rows.c.sequence >= 5))
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (5, BreakKind.removed)
    with db.begin() as session:
        session.execute(update(heads).values(sequence=4, hash=log[3].hash))
    assert _verify(db) is None
    found = _verify(db, (_anchor(log[5]),))
    assert found is not None
    assert (found.sequence, found.kind) == (5, BreakKind.removed)


def test_swapped_rows_are_named_as_reordered(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    with db.begin() as session:
        for old, new in ((2, -2), (4, 2), (-2, 4)):
            session.execute(update(log_rows).where(log_rows.c.sequence == old).values(sequence=new))
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (2, BreakKind.reordered)
    assert "row 2 holds what was appended as row 4" in found.detail


def test_a_row_written_past_the_head_is_caught(
    db: sessionmaker[Session], log: list[StaffLogRow]
) -> None:
    forged = _replace(log[-1], sequence=ROWS + 1, prev_hash=log[-1].hash, data="{}")
    forged = _replace(forged, hash=recomputed_hash(forged))
    with db.begin() as session:
        session.execute(log_rows.insert().values(_fields(forged)))
    found = _verify(db)
    assert found is not None
    assert (found.sequence, found.kind) == (ROWS + 1, BreakKind.added)


def test_swapped_contents_are_caught(db: sessionmaker[Session], log: list[StaffLogRow]) -> None:
    # Exchange two rows' fields but keep the sequence numbers in place.
    with db.begin() as session:
        for target, source in ((3, log[4]), (5, log[2])):
            values = {k: v for k, v in _fields(source).items() if k != "sequence"}
            session.execute(update(log_rows).where(log_rows.c.sequence == target).values(values))
    found = _verify(db)
    assert found is not None
    assert found.sequence == 3


def _cli(settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KOKUDAKA_ENV": "test",
        "KOKUDAKA_DATABASE_URL": settings.sqlalchemy_url,
        "KOKUDAKA_CHAIN_ENABLED": "false",
        "KOKUDAKA_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "kokudaka.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_exits_non_zero_naming_the_first_broken_row(
    db: sessionmaker[Session], log: list[StaffLogRow], settings: Settings, tmp_path: Path
) -> None:
    intact = _cli(settings, tmp_path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"intact: {ROWS} rows, head at {ROWS}" in intact.stdout
    assert "anchors not checked" in intact.stdout

    with db.begin() as session:
        session.execute(delete(log_rows).where(log_rows.c.sequence == 4))
    broken = _cli(settings, tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN at row 4 (removed)" in broken.stdout
