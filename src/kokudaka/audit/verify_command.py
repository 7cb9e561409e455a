"""``kokudaka audit verify``: recompute the staff audit log's chain and check its anchors.

Exit 0 when the log is intact, 1 naming the first row changed, removed or reordered.
The anchors on chain are checked when the chain can be reached (and the KOKU
deployment is recorded); otherwise the command says they were not, and checks the
chain in the database alone.
"""

from __future__ import annotations

from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.audit.anchoring import chain_anchors
from kokudaka.audit.verification import ChainAnchor, verify_log
from kokudaka.core.db import read_snapshot
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment

__all__ = ["run_verify"]


def _anchors(settings: Settings, session: Session) -> tuple[list[ChainAnchor] | None, str]:
    """The anchors on chain, or ``None`` and why they cannot be read."""
    from kokudaka.chain.client import ChainClient
    from kokudaka.chain.errors import ChainError

    if not settings.chain_enabled:
        return None, "the chain is disabled (KOKUDAKA_CHAIN_ENABLED)"
    rpc_url = settings.chain_rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    client = ChainClient(rpc_url, request_timeout=30.0)
    try:
        chain_id = client.chain_id()
        deployment = session.scalar(
            select(ChainDeployment).where(ChainDeployment.chain_id == chain_id)
        )
        if deployment is None:
            return None, f"no KOKU deployment recorded for chain {chain_id}"
        client.use_koku(deployment.token_address)
        anchors = chain_anchors(client, deployment.deployed_block)
    except ChainError as error:
        return None, f"chain unreachable at {rpc_url} ({error})"
    return anchors, f"{len(anchors):,} anchors on chain {chain_id} ({deployment.token_address})"


def run_verify(settings: Settings, out: TextIO) -> int:
    # Read-only: on SQLite a plain BEGIN that never holds the writers' lock.
    engine = create_db_engine(settings.sqlalchemy_url, read_only=True, pool_size=1)
    try:
        # The anchors are read before the log (see kokudaka.audit.verification).
        with Session(engine) as session, session.begin():
            anchors, where = _anchors(settings, session)
        with Session(engine) as session:
            # Head and rows from one snapshot, so a row past the head is one nobody appended.
            read_snapshot(session)
            report = verify_log(session, anchors or ())
    finally:
        engine.dispose()
    if anchors is None:
        print(f"anchors not checked: {where}", file=out)
    else:
        print(f"{where}; {report.anchors_checked:,} checked against the log", file=out)
    if report.first_break is None:
        print(
            f"intact: {report.rows:,} rows, head at {report.head_sequence:,}",
            file=out,
        )
        return 0
    broken = report.first_break
    print(f"BROKEN at row {broken.sequence} ({broken.kind}): {broken.detail}", file=out)
    return 1
