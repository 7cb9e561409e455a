"""The commands and the staff audit log on a fresh SQLite: the demo's staff actions and
``kokudaka admin create`` are logged, and ``kokudaka audit verify`` finds the log intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, select

from kokudaka.audit.staff_log import StaffLogRow, log_rows


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kokudaka.cli", *args],
        env={
            **os.environ,
            "KOKUDAKA_DATA_DIR": str(data_dir),
            "KOKUDAKA_DATABASE_URL": "",
            "KOKUDAKA_CHAIN_ENABLED": "false",
            "KOKUDAKA_ARGON2_MEMORY_KIB": "64",
            "KOKUDAKA_ARGON2_TIME_COST": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_and_admin_create_are_logged_and_verify(tmp_path: Path) -> None:
    assert _run(["demo"], tmp_path).returncode == 0
    created = _run(
        ["admin", "create", "--email", "root@example.jp"],
        tmp_path,
        KOKUDAKA_ADMIN_PASSWORD="a long enough password",
    )
    assert created.returncode == 0, created.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'kokudaka.db'}")
    try:
        with engine.connect() as conn:
            rows = [
                StaffLogRow(**row._mapping)
                for row in conn.execute(select(log_rows).order_by(log_rows.c.sequence))
            ]
    finally:
        engine.dispose()
    actions = [row.action for row in rows]
    assert "investment.confirm" in actions
    assert "contribution.approve" in actions
    last = rows[-1]
    assert (last.action, last.actor_id, last.actor_role) == ("staff.register", None, "operator")
    assert '"email":"root@example.jp"' in last.data
    assert "a long enough password" not in last.data

    verified = _run(["audit", "verify"], tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"intact: {len(rows)} rows, head at {len(rows)}" in verified.stdout
