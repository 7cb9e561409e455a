"""The kokudaka command: migrate, demo (idempotent) and admin create, on a fresh SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from kokudaka.models import (
    Investment,
    InvestmentStatus,
    Issuance,
    IssuanceKind,
    MunicipalityPolicy,
    Posting,
    Work,
)


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kokudaka.cli", *args],
        env={
            **os.environ,
            "KOKUDAKA_DATA_DIR": str(data_dir),
            "KOKUDAKA_DATABASE_URL": "",
            "KOKUDAKA_ARGON2_MEMORY_KIB": "64",
            "KOKUDAKA_ARGON2_TIME_COST": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_demo_ledger_is_whole(database: Path) -> None:
    """The demo goes through the services, so its running totals and ledger hold."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            subscribed = conn.execute(
                select(
                    Work.id, Work.subscribed_yen, func.coalesce(func.sum(Investment.amount_yen), 0)
                )
                .outerjoin(
                    Investment,
                    (Investment.work_id == Work.id)
                    & (Investment.status != InvestmentStatus.cancelled),
                )
                .group_by(Work.id, Work.subscribed_yen)
            ).all()
            assert [total for _, total, _ in subscribed if total] == [40_000]
            assert all(total == summed for _, total, summed in subscribed)
            kinds = conn.execute(select(Issuance.kind)).scalars().all()
            assert sorted(kinds) == [IssuanceKind.contribution, IssuanceKind.investment]
            issued = conn.execute(select(func.sum(MunicipalityPolicy.issued_go))).scalar()
            assert issued == conn.execute(select(func.sum(Issuance.amount_go))).scalar()
            unbalanced = conn.execute(
                select(Posting.entry_id)
                .group_by(Posting.entry_id)
                .having(func.sum(Posting.amount_go) != 0)
            ).all()
            assert unbalanced == []
    finally:
        engine.dispose()


def test_demo_loads_once_and_admin_create(tmp_path: Path) -> None:
    first = _run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "supporter1@example.jp" in first.stdout
    assert (tmp_path / "kokudaka.db").exists()
    _assert_demo_ledger_is_whole(tmp_path / "kokudaka.db")
    again = _run(["demo"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already loaded" in again.stdout

    created = _run(
        ["admin", "create", "--email", "root@example.jp"],
        tmp_path,
        KOKUDAKA_ADMIN_PASSWORD="a long enough password",
    )
    assert created.returncode == 0, created.stderr
    duplicate = _run(
        ["admin", "create", "--email", "root@example.jp"],
        tmp_path,
        KOKUDAKA_ADMIN_PASSWORD="a long enough password",
    )
    assert duplicate.returncode == 1
    assert "email_taken" in duplicate.stderr
