"""Anchoring the staff audit log's head on a real anvil, and verifying against the anchors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.anchoring import anchor_head, anchor_schedule, chain_anchors
from kokudaka.audit.staff_log import StaffLogRow, append_staff_action, heads, log_rows
from kokudaka.audit.verification import BreakKind, verify_log
from kokudaka.chain.client import ChainClient
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.processes import free_port
from kokudaka.core.settings import Settings
from kokudaka.models import AnchorState, ChainDeployment, StaffAction, StaffLogAnchor
from kokudaka.settlement.runtime import ChainRuntime
from tests.chain.conftest import ADMIN_KEY, ANCHOR_KEY, OUTSIDER_KEY, anvil, chain, deployed

__all__ = ["anvil", "chain", "deployed"]

TOWN = uuid.UUID("01930000-0000-7000-8000-000000000002")


def _append(db: sessionmaker[Session], count: int) -> StaffLogRow:
    """``count`` rows in one transaction, so an anchoring round sees all or none of them."""
    with db.begin() as session:
        rows = [
            append_staff_action(
                session,
                None,
                StaffAction.allowance_set,
                object_type="allowance",
                object_id=f"{TOWN}:2026",
                data={"cap_go": 1_000},
                municipality_id=TOWN,
            )
            for _ in range(count)
        ]
    return rows[-1]


def _anchors(db: sessionmaker[Session]) -> list[StaffLogAnchor]:
    with db() as session:
        return list(session.scalars(select(StaffLogAnchor).order_by(StaffLogAnchor.sequence)))


def test_the_head_is_anchored_when_it_moved(db: sessionmaker[Session], chain: ChainClient) -> None:
    assert anchor_head(db, chain, ANCHOR_KEY) is None  # nothing to anchor yet
    third = _append(db, 3)
    outcome = anchor_head(db, chain, ANCHOR_KEY)
    assert outcome is not None
    assert (outcome.sequence, outcome.hash, outcome.state) == (
        3,
        third.hash,
        AnchorState.confirmed,
    )
    assert chain.last_anchor() == (3, bytes.fromhex(third.hash))
    recorded = _anchors(db)
    assert [(a.sequence, a.state, a.tx_hash) for a in recorded] == [
        (3, AnchorState.confirmed, outcome.tx_hash)
    ]
    assert recorded[0].block_number == outcome.block_number
    assert anchor_head(db, chain, ANCHOR_KEY) is None  # the head has not moved

    fifth = _append(db, 2)
    again = anchor_head(db, chain, ANCHOR_KEY)
    assert again is not None
    assert again.sequence == 5
    on_chain = chain_anchors(chain)
    assert [(a.sequence, a.hash, a.tx_hash) for a in on_chain] == [
        (3, third.hash, outcome.tx_hash),
        (5, fifth.hash, again.tx_hash),
    ]
    with db() as session:
        report = verify_log(session, on_chain)
    assert report.intact
    assert report.anchors_checked == 2


def test_only_the_anchor_key_anchors(db: sessionmaker[Session], chain: ChainClient) -> None:
    _append(db, 1)
    refused = anchor_head(db, chain, OUTSIDER_KEY)
    assert refused is not None
    assert refused.state is AnchorState.failed
    assert "AccessControlUnauthorizedAccount" in (refused.error or "")
    assert chain.last_anchor()[0] == 0
    assert _anchors(db)[0].state is AnchorState.failed
    # The next round, with the right key, anchors the same head.
    assert anchor_head(db, chain, ANCHOR_KEY) is not None
    assert _anchors(db)[0].state is AnchorState.confirmed


def test_a_rewritten_log_is_caught_by_its_anchor_on_chain(
    db: sessionmaker[Session], chain: ChainClient, settings: Settings, anvil: AnvilNode
) -> None:
    _append(db, 4)
    assert anchor_head(db, chain, ANCHOR_KEY) is not None
    # Whoever holds the database forges the last row's data, hash and the head alike.
    with db.begin() as session:
        session.execute(
            update(log_rows)
            .where(log_rows.c.sequence == 4)
            .values(data='{"cap_go":999999}', hash="f" * 64)
        )
        session.execute(update(heads).values(hash="f" * 64))
    with db() as session:
        report = verify_log(session, chain_anchors(chain))
    assert report.first_break is not None
    assert (report.first_break.sequence, report.first_break.kind) == (4, BreakKind.changed)

    with db.begin() as session:
        session.add(
            ChainDeployment(
                chain_id=chain.chain_id(),
                token_address=chain.koku_address,
                admin_address=chain.account(ADMIN_KEY).address,
                anchor_address=chain.account(ANCHOR_KEY).address,
                deployed_block=0,
            )
        )
    result = subprocess.run(
        [sys.executable, "-m", "kokudaka.cli", "audit", "verify"],
        env={
            **os.environ,
            "KOKUDAKA_ENV": "test",
            "KOKUDAKA_DATABASE_URL": settings.sqlalchemy_url,
            "KOKUDAKA_CHAIN_ENABLED": "true",
            "KOKUDAKA_CHAIN_RPC_URL": anvil.rpc_url,
            "KOKUDAKA_DATA_DIR": str(Path(settings.data_dir)),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 anchors on chain" in result.stdout
    assert "BROKEN at row 4 (changed)" in result.stdout


def test_the_schedule_anchors_every_interval_until_stopped(
    db: sessionmaker[Session], chain: ChainClient, settings: Settings, anvil: AnvilNode
) -> None:
    schedule = anchor_schedule(
        settings.model_copy(update={"anchor_key": ANCHOR_KEY, "audit_anchor_seconds": 0.1}),
        db,
        anvil.rpc_url,
        chain.koku_address,
    )
    assert schedule.interval_seconds == 0.1
    stop = threading.Event()
    thread = threading.Thread(target=schedule.run, args=(stop,), daemon=True)
    thread.start()
    try:
        for expected in (2, 5):
            _append(db, 2 if expected == 2 else 3)
            deadline = time.monotonic() + 20
            while chain.last_anchor()[0] != expected:
                assert time.monotonic() < deadline, chain.last_anchor()
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [a.sequence for a in _anchors(db)] == [2, 5]


def test_the_chain_runtime_anchors_the_head(db: sessionmaker[Session], settings: Settings) -> None:
    """The service's runtime (a managed anvil, the deployment with its anchor key) anchors
    the head every KOKUDAKA_AUDIT_ANCHOR_SECONDS."""
    head = _append(db, 3)
    managed = settings.model_copy(
        update={
            "chain_enabled": True,
            "chain_rpc_url": "",
            "anvil_port": free_port(),
            "anvil_block_time": 0.2,
            "data_dir": Path(settings.data_dir) / f"anchoring-{uuid.uuid4().hex[:8]}",
            "audit_anchor_seconds": 0.2,
        }
    )
    with ChainRuntime(managed, db, supervise_interval=0.2) as runtime:
        assert runtime.deployment is not None
        client = ChainClient(runtime.rpc_url, koku_address=runtime.deployment.token_address)
        deadline = time.monotonic() + 30
        while client.last_anchor() != (3, bytes.fromhex(head.hash)):
            assert time.monotonic() < deadline, client.last_anchor()
            time.sleep(0.1)
        later = _append(db, 1)
        while client.last_anchor()[0] != 4:
            assert time.monotonic() < deadline, client.last_anchor()
            time.sleep(0.1)
        assert client.last_anchor()[1] == bytes.fromhex(later.hash)
    assert [a.sequence for a in _anchors(db)] == [3, 4]
