"""The kokudaka command: migrate, demo (idempotent) and admin create, on a fresh SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
from tests.fixtures.servers import free_port


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


def test_demo_commits_before_it_prints(tmp_path: Path) -> None:
    """Whoever stops reading the output (a closed pipe) still gets the accounts listed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kokudaka.cli", "demo"],
        env={
            **os.environ,
            "KOKUDAKA_DATA_DIR": str(tmp_path),
            "KOKUDAKA_DATABASE_URL": "",
            "KOKUDAKA_ARGON2_MEMORY_KIB": "64",
            "KOKUDAKA_ARGON2_TIME_COST": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away before anything is printed
    process.wait(timeout=120)
    _assert_demo_ledger_is_whole(tmp_path / "kokudaka.db")
    again = _run(["demo"], tmp_path)
    assert "already loaded" in again.stdout


def test_help_is_plain_text(tmp_path: Path) -> None:
    for command in (
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["admin", "create"],
        ["demo"],
        ["audit", "reconcile"],
    ):
        shown = _run([*command, "--help"], tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "usage: kokudaka" in shown.stdout
        for markup in ("``", ":func:", ":class:", "`"):
            assert markup not in shown.stdout, (command, markup)


def test_commands_print_no_migration_chatter(tmp_path: Path) -> None:
    first = _run(["migrate"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "migrated from empty to" in first.stdout
    assert "alembic" not in first.stderr
    again = _run(["migrate"], tmp_path)
    assert "already at" in again.stdout
    assert again.stderr == ""


def test_reconcile_of_an_unknown_municipality_fails(tmp_path: Path) -> None:
    _run(["migrate"], tmp_path)
    result = _run(["audit", "reconcile", "--municipality", "nowhere"], tmp_path)
    assert result.returncode == 2
    assert "unknown municipality: nowhere" in result.stderr


def test_serve_says_where_it_runs_and_what_to_do_next(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kokudaka.cli", "serve", "--port", str(port)],
        env={
            **os.environ,
            "KOKUDAKA_DATA_DIR": str(tmp_path),
            "KOKUDAKA_DATABASE_URL": "",
            "KOKUDAKA_CHAIN_ENABLED": "false",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        shown = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            shown.append(line)
            if line.startswith("Stop with Ctrl-C"):
                break
        text = "".join(shown)
        assert f"Kokudaka is running at http://127.0.0.1:{port}" in text
        assert f"http://127.0.0.1:{port}/docs" in text
        assert f"http://127.0.0.1:{port}/console" in text
        assert "admin create --email" in text
        assert " demo" in text
    finally:
        process.send_signal(signal.SIGINT)
        # Stopped by Ctrl-C: the shell's 128 + SIGINT, and no traceback.
        assert process.wait(timeout=30) == 130
        process.stdout.close()
        errors = process.stderr.read()
        process.stderr.close()
        assert "Traceback" not in errors, errors
