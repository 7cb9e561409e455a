"""``kokudaka audit reconcile``: a reconciliation from the command line, with a summary."""

from __future__ import annotations

import uuid
from typing import TextIO

from sqlalchemy import (
    select,
)
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError, ChainUnavailable
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings
from kokudaka.models import (
    ChainDeployment,
    Municipality,
)
from kokudaka.reconcile.report import ReconciliationReport
from kokudaka.reconcile.service import reconcile

__all__ = ["run_audit"]

# ---------------------------------------------------------------- ``kokudaka audit reconcile``


def run_audit(settings: Settings, municipality_code: str | None, out: TextIO) -> int:
    """The command: progress and a summary on ``out``; exit 0 clean, 1 discrepancies,
    2 when the chain or the recorded deployment cannot be reached."""
    rpc_url = settings.chain_rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    client = ChainClient(rpc_url, request_timeout=60.0)
    try:
        chain_id = client.chain_id()
    except ChainUnavailable:
        print(f"chain unreachable at {rpc_url}", file=out)
        return 2
    engine = _audit_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            deployment = session.scalar(
                select(ChainDeployment).where(ChainDeployment.chain_id == chain_id)
            )
            if deployment is None:
                print(f"no KOKU deployment recorded for chain {chain_id}", file=out)
                return 2
            scope: list[uuid.UUID] | None = None
            if municipality_code is not None:
                town = session.scalar(
                    select(Municipality.id).where(Municipality.code == municipality_code)
                )
                if town is None:
                    print(f"unknown municipality: {municipality_code}", file=out)
                    return 2
                scope = [town]
            client.use_koku(deployment.token_address)
            print(
                f"reconciling {municipality_code or 'every municipality'} against "
                f"{deployment.token_address} on chain {chain_id} ({rpc_url})",
                file=out,
                flush=True,
            )

            def progress(phase: str, done: int) -> None:
                print(f"  {phase}: {done:,}", file=out, flush=True)

            try:
                report = reconcile(session, client, deployment, scope, progress, limit=50)
            except ChainError as error:
                print(f"chain error: {error}", file=out)
                return 2
    finally:
        engine.dispose()
    _print_summary(report, out)
    return 0 if report.status == "clean" else 1


def _audit_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        # Plain reads, without the service's BEGIN IMMEDIATE: an audit of a large ledger
        # must not hold SQLite's write lock (and stall every writer) while it reads the chain.
        return create_engine(url, connect_args={"timeout": 30})
    return create_db_engine(url, pool_size=2)


def _print_summary(report: ReconciliationReport, out: TextIO) -> None:
    c = report.counts
    print(
        f"block {report.block_number}: {c.operations:,} operations ({c.confirmed:,} confirmed, "
        f"{c.in_flight:,} in flight, {c.not_yet_on_chain:,} not yet on chain, {c.failed:,} "
        f"failed), {c.issuances:,} issuances, {c.minted_events:,} minted and "
        f"{c.burned_events:,} burned events, {c.addresses:,} addresses, {c.users:,} people; "
        f"{report.duration_seconds:.2f} s",
        file=out,
    )
    for work in report.bills:
        print(
            f"bills of {work.work_title} ({work.municipality_name}, {work.season}): "
            f"{work.bills:,} bills, {work.issued.go:,} go issued, {work.outstanding.go:,} "
            f"outstanding; on chain {work.on_chain_minted.go:,} minted of a cap of "
            f"{work.chain_cap.go:,}, {work.on_chain_outstanding.go:,} outstanding; "
            f"{work.unsettled.go:,} unsettled; {work.mismatches:,} mismatches",
            file=out,
        )
    if report.status == "clean":
        print("clean: the ledger and the chain agree", file=out)
        return
    print(f"{c.discrepancies:,} discrepancies:", file=out)
    for kind, count in c.by_kind.items():
        print(f"  {kind}: {count:,}", file=out)
    for item in report.discrepancies[:20]:
        fields = item.model_dump(exclude_none=True, mode="json")
        kind = fields.pop("kind")
        print(f"- {kind} " + " ".join(f"{k}={v}" for k, v in fields.items()), file=out)
    if c.discrepancies > 20:
        print(f"  ... and {c.discrepancies - 20:,} more", file=out)
