"""The kokudaka command: migrate, demo (idempotent) and admin create, on a fresh SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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


def test_demo_loads_once_and_admin_create(tmp_path: Path) -> None:
    first = _run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "supporter1@example.jp" in first.stdout
    assert (tmp_path / "kokudaka.db").exists()
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
