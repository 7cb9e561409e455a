"""Confirm-path latency while the service reconciles a large ledger. Target: p99 < 100 ms.

    .venv/bin/python bench/reconcile_beside_writes.py                 # SQLite, 100,000 issuances
    .venv/bin/python bench/reconcile_beside_writes.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

The data: ``bench/reconcile.py``'s COUNT confirmed issuances, minted on a throwaway anvil and
written to the ledger as the service leaves them, plus ``bench/api_confirm.py``'s town with an
open work and its supporters. The service: ``kokudaka.main:create_app`` in a uvicorn
subprocess as ``api_confirm`` runs it, with a chain runtime pointing at that anvil (no
settlement worker: what is measured is the reconciliation beside the writes).

Two phases, with ``api_confirm``'s load (``--concurrency`` closed-loop clients, each
iteration ``POST /v1/investments`` then its ``/confirm``):

1. baseline: the load alone for ``--baseline`` seconds;
2. beside: a reconciliation of everything is started with ``POST /v1/audit/reconciliations``
   and the same load runs until the job is done (its progress polled every half second).

Printed: p50/p99/max of each request type in both phases, the reconciliation's duration and
result, and the target (the confirm path's p99 beside the reconciliation < 100 ms). Exit 1 if
a request failed or the reconciliation did not end clean; with ``--strict`` also if the
target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from api_confirm import (  # noqa: E402
    PLACEMENT,
    Row,
    Samples,
    load_service_data,
    percentile_ms,
    run_async,
    serve,
    service_iteration,
)

from kokudaka.auth.caller import Caller  # noqa: E402
from kokudaka.auth.security import create_access_token  # noqa: E402
from kokudaka.chain.client import ChainClient  # noqa: E402
from kokudaka.chain.node import AnvilNode  # noqa: E402
from kokudaka.core.db import create_db_engine  # noqa: E402
from kokudaka.core.settings import Environment, Settings, get_settings  # noqa: E402
from kokudaka.main import create_app  # noqa: E402
from kokudaka.models import ChainDeployment, Role, User  # noqa: E402
from reconcile import database, prepare  # noqa: E402

TARGET_P99_MS = 100.0
RPC_URL_ENV = "KOKUDAKA_BENCH_RPC_URL"
JOBS = "/v1/audit/reconciliations"


@dataclass(frozen=True)
class ExternalChain:
    """The chain runtime the service's handlers see: a node it does not run, no worker."""

    client: ChainClient
    deployment: ChainDeployment

    def state_health(self) -> None:
        return None

    def node_usage(self) -> None:
        return None


def service_app() -> FastAPI:
    """The service, with its chain runtime on the bench's anvil (uvicorn ``--factory``)."""
    settings = get_settings()
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            deployment = session.scalars(select(ChainDeployment)).one()
    finally:
        engine.dispose()
    client = ChainClient(
        os.environ[RPC_URL_ENV], koku_address=deployment.token_address, request_timeout=120
    )
    app = create_app(settings)
    app.state.chain_runtime = ExternalChain(client, deployment)
    return app


def platform_admin_token(settings: Settings) -> str:
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            admin = User(
                email="platform@bench.example.jp",
                password_hash="never used",
                display_name="platform",
                role=Role.platform_admin,
                is_active=True,
            )
            session.add(admin)
    finally:
        engine.dispose()
    return create_access_token(settings, Caller.of(admin))


@dataclass
class Beside:
    samples: Samples
    seconds: float
    job: dict[str, Any]
    polls: int


async def load(
    base_url: str, iteration: Any, concurrency: int, until: asyncio.Event, samples: Samples
) -> int:
    """Closed-loop clients, one keep-alive connection each, until ``until`` is set."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    started = 0
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0)
            )
            for _ in range(concurrency)
        ]

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal started
            while not until.is_set():
                number = started
                started += 1
                await iteration(client, number, samples)

        await asyncio.gather(*(worker(c) for c in clients))
    return started


async def baseline(base_url: str, iteration: Any, concurrency: int, seconds: float) -> Samples:
    samples = Samples()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await load(base_url, iteration, concurrency, stop, samples)
    return samples


async def beside(base_url: str, iteration: Any, concurrency: int, token: str) -> Beside:
    samples = Samples()
    done = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    polls = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, headers=headers) as admin:
        started = await admin.post(JOBS)
        if started.status_code != 202:
            raise RuntimeError(f"the reconciliation did not start: {started.text}")
        job: dict[str, Any] = started.json()
        t0 = time.perf_counter()

        async def poll() -> None:
            nonlocal job, polls
            while job["state"] not in ("done", "failed"):
                await asyncio.sleep(0.5)
                job = (await admin.get(f"{JOBS}/{job['id']}")).json()
                polls += 1
                progress = job["progress"]
                print(
                    f"  {job['state']}: {progress['operations_compared']:,} of "
                    f"{progress['operations_total']:,} operations, "
                    f"{progress['minted_events']:,} events, {progress['balances']:,} balances; "
                    f"{samples.requests:,} requests so far",
                    flush=True,
                )
            done.set()

        await asyncio.gather(poll(), load(base_url, iteration, concurrency, done, samples))
    return Beside(samples, time.perf_counter() - t0, job, polls)


def rows(label: str, samples: Samples, seconds: float) -> list[Row]:
    s = samples.latencies
    return [
        Row(f"{label}: create", len(s.get("create", [])), len(s.get("create", [])) / seconds,
            s.get("create", [])),
        Row(f"{label}: confirm", len(s.get("confirm", [])), len(s.get("confirm", [])) / seconds,
            s.get("confirm", [])),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="issuances reconciled")
    parser.add_argument("--batch", type=int, default=300, help="mints per transaction")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent client tasks")
    parser.add_argument("--supporters", type=int, default=200, help="supporter accounts")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of load alone")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if PLACEMENT is not None:
        os.sched_setaffinity(0, PLACEMENT[1])  # the service runs on the other CPUs

    with tempfile.TemporaryDirectory(prefix="kokudaka-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with AnvilNode(tmp / "anvil") as node, database(args.database_url, tmp) as url:
            client = ChainClient(node.rpc_url, request_timeout=120)
            prepare(client, url, args.count, max(1, args.count // 10), args.batch, seed=1)
            data_dir = tmp / "service"
            settings = Settings(
                env=Environment.development,
                data_dir=data_dir,
                database_url=url,
                chain_enabled=False,
            )
            cast = load_service_data(settings, max(1, args.supporters))
            token = platform_admin_token(settings)
            env = {
                "KOKUDAKA_ENV": Environment.development.value,
                "KOKUDAKA_DATA_DIR": str(data_dir),
                "KOKUDAKA_DATABASE_URL": url,
                "KOKUDAKA_CHAIN_ENABLED": "false",
                RPC_URL_ENV: node.rpc_url,
            }
            backend = make_url(url).get_backend_name()
            print(
                f"{backend}: {args.count:,} issuances minted and written; {os.cpu_count()} CPUs, "
                f"{args.concurrency} clients; load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            with serve(
                "reconcile_beside_writes:service_app", env, tmp / "service.log", app_dir=BENCH_DIR
            ) as server:
                iteration = service_iteration(cast)
                run_async(baseline(server.base_url, iteration, args.concurrency, 2.0))  # warm-up
                alone = run_async(
                    baseline(server.base_url, iteration, args.concurrency, args.baseline)
                )
                print("reconciling beside the load", flush=True)
                during = run_async(beside(server.base_url, iteration, args.concurrency, token))

    job = during.job
    report = job.get("report") or {}
    print(f"\n{backend}, one uvicorn process, {args.concurrency} concurrent keep-alive clients")
    print(f"  {'':<28}{'requests':>8}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for row in rows("alone", alone, args.baseline) + rows("beside", during.samples, during.seconds):
        print(row.render())
    counts = report.get("counts", {})
    print(
        f"\n  reconciliation: {job['state']}, {report.get('status')}, "
        f"{counts.get('issuances', 0):,} issuances, {counts.get('operations', 0):,} operations "
        f"in {report.get('duration_seconds', float('nan')):.2f} s "
        f"(the load ran {during.seconds:.2f} s beside it)"
    )
    p99 = percentile_ms(during.samples.latencies.get("confirm", []), 0.99)
    ok = p99 < TARGET_P99_MS
    print("\ntargets")
    print(
        f"  {'PASS' if ok else 'FAIL'}  confirm p99 beside a reconciliation < "
        f"{TARGET_P99_MS:g} ms: {p99:.1f} ms"
    )
    errors = alone.errors + during.samples.errors
    for line in alone.error_reports + during.samples.error_reports:
        print(f"  failed: {line}")
    if errors or job["state"] != "done" or report.get("status") != "clean":
        print(f"\nFAIL: {errors} failed requests, reconciliation {job['state']}")
        return 1
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
