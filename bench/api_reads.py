"""The supporter app's reads against a bare one-SELECT ceiling, alone and beside a write load.

    .venv/bin/python bench/api_reads.py [--concurrency 8] [--seconds 3] [--rounds 2]
    .venv/bin/python bench/api_reads.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python bench/api_reads.py --database-url sqlite \\
        --database-url "$(scripts/postgres.sh)"

The last form measures both databases in one run and prints their tables together.

The harness is ``bench/api_confirm.py``'s (imported, not copied): the same temporary
databases, data, uvicorn subprocesses, CPU placement (servers on every CPU but the last,
the load generator on the last), keep-alive clients and alternating rounds.

1. The service, with api_confirm's town, work and supporters, and one supporter whose
   holder account carries ``--postings`` postings (bulk-loaded entries, the running
   balance set to their sum) plus a few real issuances: the balance and the ledger are
   read as that supporter, so the balance's cost shows whether it grows with postings.
2. The ceiling: a bare FastAPI app on the same database file with one GET that runs one
   ``SELECT`` (an account's balance by its key) and nothing else, through the reader
   engine and the read admission the service's read-only routes use, one thread hop.

Each path is measured against the ceiling in ``--rounds`` alternating rounds of
``--seconds`` each, at ``--concurrency`` connections; then again while 4 more clients
run api_confirm's create+confirm iterations on the service (its write load).

Targets: each path >= 50% of the ceiling's requests/s, p99 < 50 ms alone and beside the
writes. Exit status 1 if a request failed, or with ``--strict`` if a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_confirm import (
    BENCH_DIR,
    CEILING_URL_ENV,
    PLACEMENT,
    SEASON,
    Cast,
    Iteration,
    Phase,
    Samples,
    Server,
    drive,
    load_service_data,
    percentile_ms,
    run_async,
    serve,
    service_iteration,
    temporary_databases,
)

from kokudaka.core.db import create_db_limiter, create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import (
    IssuanceCause,
    accounts,
    entries,
    holder_account_key,
    issue,
    postings,
)
from kokudaka.models import EntryKind, Farmer, IssuanceKind, User, Work, utcnow

TARGET_RATIO = 0.50
TARGET_P99_MS = 50.0
WRITE_CLIENTS = 4
CHUNK = 5_000


# --- the ceiling: one SELECT per request, through the service's read path -------------------


def ceiling_app() -> FastAPI:
    """uvicorn factory (``--factory api_reads:ceiling_app``); the URL comes from the env."""
    engine = create_db_engine(os.environ[CEILING_URL_ENV], read_only=True)
    limiter = create_db_limiter(engine, read_only=True)
    statement = select(accounts.c.balance_go).where(accounts.c.key == os.environ["BENCH_KEY"])

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(lifespan=lifespan)

    def read() -> int:
        with engine.begin() as conn:
            return int(conn.execute(statement).scalar_one())

    @app.get("/row")
    async def row() -> dict[str, int]:
        async with limiter:
            value = await run_in_threadpool(read)
        return {"balance_go": value}

    return app


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadCast:
    cast: Cast
    reader_token: str
    reader_key: str
    farmer_id: uuid.UUID


def load_read_data(settings: Settings, supporters: int, extra_postings: int) -> ReadCast:
    cast = load_service_data(settings, supporters)
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        factory = create_sessionmaker(engine)
        with factory.begin() as session:
            work = session.get_one(Work, cast.work_id)
            farmer = session.get_one(Farmer, work.farmer_id)
            town_id, farmer_id = work.municipality_id, farmer.id
            # The reader: the first supporter (token 0). Real issuances first, so the
            # account exists and the newest ledger lines have issuances and mints.
            reader_id = session.scalars(
                select(User.id).where(User.email == "supporter0@example.jp")
            ).one()
            for number in range(30):
                issue(
                    session,
                    municipality_id=town_id,
                    season=SEASON,
                    recipient_id=reader_id,
                    amount_go=100 + number,
                    cause=IssuanceCause(
                        kind=IssuanceKind.contribution,
                        idempotency_key=f"bench:{number}",
                        memo=Memo(
                            "contribution",
                            {
                                "hours": "1",
                                "go_per_hour": 100,
                                "activity_on": "2026-05-10",
                                "title": "田植え",
                            },
                        ),
                    ),
                    actor_id=None,
                )
        key = holder_account_key(reader_id)
        with engine.begin() as conn:
            account_id = conn.execute(
                select(accounts.c.id).where(accounts.c.key == key)
            ).scalar_one()
            # Old history, bulk-loaded: entries with one posting on the reader's
            # account each (the other leg omitted: only this account is read).
            now = utcnow()
            for start in range(0, extra_postings, CHUNK):
                batch = range(start, min(start + CHUNK, extra_postings))
                ids = [new_id() for _ in batch]
                conn.execute(
                    insert(entries),
                    [
                        {"id": entry_id, "kind": EntryKind.issuance, "municipality_id": town_id,
                         "idempotency_key": f"bench:old:{n}", "reverses_entry_id": None,
                         "memo": "old", "memo_code": None, "memo_params": None,
                         "created_by_id": None, "created_at": now}
                        for entry_id, n in zip(ids, batch, strict=True)
                    ],
                )  # fmt: skip
                conn.execute(
                    insert(postings),
                    [{"id": new_id(), "entry_id": entry_id, "account_id": account_id,
                      "amount_go": 1} for entry_id in ids],
                )  # fmt: skip
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(balance_go=accounts.c.balance_go + extra_postings)
            )
    finally:
        engine.dispose()
    return ReadCast(cast, cast.supporter_tokens[0], key, farmer_id)


# --- load -------------------------------------------------------------------------------------


def get(path: str, headers: dict[str, str] | None = None) -> Iteration:
    async def iteration(client: httpx.AsyncClient, _number: int, samples: Samples) -> None:
        t0 = time.perf_counter()
        try:
            response = await client.get(path, headers=headers)
        except httpx.HTTPError as error:
            samples.failure(path, error)
            return
        samples.add("read", time.perf_counter() - t0)
        samples.check(response, path)

    return iteration


async def beside_writes(
    server: Server, reads: Iteration, cast: Cast, *, concurrency: int, seconds: float
) -> tuple[Phase, Samples]:
    """Measure ``reads`` while WRITE_CLIENTS clients run create+confirm on the service."""
    writes = service_iteration(cast)
    write_samples = Samples()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def write_loop(client: httpx.AsyncClient) -> None:
        number = 0
        while not stop.is_set():
            await writes(client, number, write_samples)
            number += 1

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60.0)
            )
            for _ in range(WRITE_CLIENTS)
        ]
        tasks = [asyncio.create_task(write_loop(client)) for client in clients]
        await asyncio.sleep(0.5)
        phase = await drive(
            server, reads, concurrency=concurrency, warmup=0, iterations=10**9, seconds=seconds
        )
        stop.set()
        await asyncio.gather(*tasks)
    return phase, write_samples


@dataclass
class Result:
    path: str
    service: Phase
    ceiling: Phase
    loaded: Phase
    writes: Samples

    def line(self) -> str:
        s, c, w = self.service, self.ceiling, self.loaded
        lat = s.samples.latencies.get("read", [])
        wlat = w.samples.latencies.get("read", [])
        ratio = s.requests_per_second / c.requests_per_second if c.requests_per_second else 0
        write_rps = self.writes.requests / w.seconds if w.seconds else 0
        return (
            f"  {self.path:<26}{s.requests_per_second:>8.0f}{percentile_ms(lat, 0.5):>7.1f}"
            f"{percentile_ms(lat, 0.99):>7.1f}{c.requests_per_second:>9.0f}"
            f"{percentile_ms(c.samples.latencies.get('read', []), 0.99):>7.1f}"
            f"{100 * ratio:>7.0f}%{w.requests_per_second:>9.0f}"
            f"{percentile_ms(wlat, 0.99):>8.1f}{write_rps:>8.0f}"
        )


SQLITE = "sqlite"


def measure(database_url: str | None, args: argparse.Namespace) -> tuple[str, list[Result]]:
    """Every read path on one database (a temporary SQLite file when ``database_url`` is
    None): alone against the ceiling in alternating rounds, then beside the writes."""
    with (
        tempfile.TemporaryDirectory(prefix="kokudaka-bench-") as tmp_name,
        temporary_databases(database_url, Path(tmp_name)) as (service_url, _ceiling_url),
    ):
        tmp = Path(tmp_name)
        backend = make_url(service_url).get_backend_name()
        data_dir = tmp / "service"
        settings = Settings(
            env=Environment.development,
            data_dir=data_dir,
            database_url=service_url,
            chain_enabled=False,
        )
        t0 = time.perf_counter()
        data = load_read_data(settings, args.supporters, args.postings)
        print(
            f"loaded {backend} ({args.postings} postings on the reader's account) in "
            f"{time.perf_counter() - t0:.1f}s; {args.concurrency} read connections, "
            f"{args.rounds} rounds of {args.seconds:g}s; load average "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )
        reader = {"Authorization": f"Bearer {data.reader_token}"}
        paths: list[tuple[str, dict[str, str] | None]] = [
            ("/v1/me/balance", reader),
            ("/v1/me/ledger?limit=20", reader),
            ("/v1/works?limit=20", None),
            (f"/v1/farmers/{data.farmer_id}", None),
        ]
        service_env = {
            "KOKUDAKA_ENV": Environment.development.value,
            "KOKUDAKA_DATA_DIR": str(data_dir),
            "KOKUDAKA_DATABASE_URL": service_url,
            "KOKUDAKA_CHAIN_ENABLED": "false",
        }
        results: list[Result] = []
        with contextlib.ExitStack() as servers:
            server = servers.enter_context(
                serve("kokudaka.main:create_app", service_env, tmp / "service.log")
            )
            ceiling = servers.enter_context(
                serve(
                    "api_reads:ceiling_app",
                    {CEILING_URL_ENV: service_url, "BENCH_KEY": data.reader_key},
                    tmp / "ceiling.log",
                    app_dir=BENCH_DIR,
                )
            )
            for path, headers in paths:
                service_rounds: list[Phase] = []
                ceiling_rounds: list[Phase] = []
                for number in range(max(1, args.rounds)):
                    for target, rounds, read in (
                        (server, service_rounds, get(path, headers)),
                        (ceiling, ceiling_rounds, get("/row")),
                    ):
                        rounds.append(
                            run_async(
                                drive(
                                    target,
                                    read,
                                    concurrency=args.concurrency,
                                    warmup=200 if number == 0 else 0,
                                    iterations=10**9,
                                    seconds=args.seconds,
                                )
                            )
                        )
                loaded: list[tuple[Phase, Samples]] = []

                async def measure_loaded(
                    path: str = path,
                    headers: dict[str, str] | None = headers,
                    loaded: list[tuple[Phase, Samples]] = loaded,
                ) -> Phase:
                    phase, writes = await beside_writes(
                        server,
                        get(path, headers),
                        data.cast,
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                    )
                    loaded.append((phase, writes))
                    return phase

                run_async(measure_loaded())
                results.append(
                    Result(
                        path,
                        Phase.merged(service_rounds),
                        Phase.merged(ceiling_rounds),
                        loaded[0][0],
                        loaded[0][1],
                    )
                )
    return backend, results


def report(backend: str, results: Sequence[Result], concurrency: int) -> tuple[bool, int]:
    """Print one database's table; (every target met, requests failed)."""
    print(f"\n{backend}, one uvicorn process each, {concurrency} keep-alive connections")
    print(
        f"  {'path':<26}{'req/s':>8}{'p50':>7}{'p99':>7}{'ceiling':>9}{'p99':>7}{'ratio':>8}"
        f"{'+writes':>9}{'p99':>8}{'writes/s':>8}"
    )
    failed = 0
    ok = True
    for result in results:
        print(result.line())
        lat = result.service.samples.latencies.get("read", [])
        loaded = result.loaded.samples.latencies.get("read", [])
        ratio = result.service.requests_per_second / max(result.ceiling.requests_per_second, 1)
        ok &= ratio >= TARGET_RATIO
        ok &= percentile_ms(lat, 0.99) < TARGET_P99_MS
        ok &= percentile_ms(loaded, 0.99) < TARGET_P99_MS
        for phase in (result.service, result.ceiling, result.loaded):
            failed += phase.samples.errors
            for error in phase.samples.error_reports[:3]:
                print(f"    failed: {error}")
        failed += result.writes.errors
        for error in result.writes.error_reports[:3]:
            print(f"    write failed: {error}")
    return ok, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent read connections")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per path")
    parser.add_argument("--supporters", type=int, default=50, help="supporter accounts")
    parser.add_argument(
        "--postings", type=int, default=100_000, help="postings on the reader's account"
    )
    parser.add_argument(
        "--database-url",
        action="append",
        help=f"a PostgreSQL server URL, or {SQLITE!r} for a SQLite file (the default); "
        "give it twice to measure both databases in one run",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if PLACEMENT is not None:
        os.sched_setaffinity(0, PLACEMENT[1])

    measured = [
        measure(None if url == SQLITE else url, args) for url in args.database_url or [SQLITE]
    ]
    ok, failed = True, 0
    for backend, results in measured:
        met, errors = report(backend, results, args.concurrency)
        ok &= met
        failed += errors
    print(
        f"\ntargets: ratio >= {TARGET_RATIO:.0%}, p99 < {TARGET_P99_MS:g} ms alone and beside "
        f"writes: {'PASS' if ok else 'FAIL'}"
    )
    if failed:
        print(f"FAIL: {failed} requests failed")
        return 1
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
