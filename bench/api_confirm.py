"""Throughput and latency of the investment create+confirm path, against a bare-insert ceiling.

    .venv/bin/python bench/api_confirm.py [--concurrency 4] [--iterations 2000] [--duration 20]
    .venv/bin/python bench/api_confirm.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

What runs (each server is a real uvicorn subprocess with one worker process, loopback only,
log level warning, the loop and HTTP parser uvicorn picks by default, as ``kokudaka serve``):

1. The service. A fresh database (a SQLite file in a temporary directory, or with
   ``--database-url`` a temporary PostgreSQL database created and dropped here) is migrated
   with ``kokudaka.cli.migrate`` and loaded through the ORM: a region, a town with that
   season's policy (a huge cap), a town administrator, a farmer with an open work (a huge
   offer) and ``--supporters`` supporters. Tokens come from ``create_access_token``; sign-in
   (argon2) is not on the measured path. The server is ``kokudaka.main:create_app``.
   One iteration is ``POST /v1/investments`` (a supporter, a new Idempotency-Key) then
   ``POST /v1/investments/{id}/confirm`` (the town administrator).
2. The ceiling. A bare FastAPI app defined below, with one endpoint that makes one INSERT
   in a fresh database of the same kind and commits: the engine from ``create_db_engine``
   (the same WAL/busy-timeout/BEGIN IMMEDIATE settings and pool) and the admission of the
   service's ``UnitOfWorkRoute`` (``create_db_limiter``), then one thread-pool hop.

Both are driven by the same load generator in this process: ``--concurrency`` tasks, each
with its own keep-alive ``httpx.AsyncClient`` (one connection), on uvloop. The servers run
on every CPU but the last and the load generator on the last one, so that the scheduler
cannot place them differently from run to run. Both servers run for the whole benchmark
and are measured in ``--rounds`` alternating rounds (service, then ceiling), so that drift
in the machine's speed weighs on both sides of the ratio alike; each gets a warm-up first,
then shares out a budget of ``--iterations`` iterations (the ceiling: twice as many
requests) or ``--duration`` seconds, whichever ends first. The servers' resident memory
(with any children) is polled every 50 ms from their start; the CPU time of server and
load generator is reported.

Targets: confirm-path requests/s >= 40% of the ceiling's, p99 of each request type < 50 ms,
service peak RSS < 250 MB. They are judged at 4 clients by default: on the 2-core machine
4 closed-loop clients keep the one server process busy (about 90% of a core). More clients
add only queueing: by Little's law the mean latency is clients / throughput (16 clients at
about 320 requests/s wait 50 ms on average), and the endpoint's worker thread then
contends for the GIL with the event loop on every statement.

Exit status: 1 if any request failed, or with ``--strict`` if a target was missed; 0
otherwise. ``--py-spy FILE`` also records the service during the first measured round
(``pip install py-spy`` into the environment first; ``--py-spy-gil`` keeps only the
samples of the thread holding the GIL, i.e. where the Python CPU time goes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Uuid,
)
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from kokudaka.auth.caller import Caller
from kokudaka.auth.security import create_access_token, hash_password
from kokudaka.cli import migrate
from kokudaka.core.db import create_db_limiter, create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Environment, Settings
from kokudaka.core.units import MAX_GO, MAX_YEN
from kokudaka.models import Farmer, Municipality, MunicipalityPolicy, Region, Role, User, Work

# The harness shared with the tests (temporary databases, free ports), from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.databases import temporary_database
from tests.fixtures.servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SEASON = 2026
PRICE_YEN_PER_GO = 10
AMOUNT_YEN = 30_000
PASSWORD = "bench password, never used to sign in"
CEILING_URL_ENV = "KOKUDAKA_BENCH_CEILING_URL"
RSS_POLL_SECONDS = 0.05
CHILDREN_EVERY_POLLS = 20
MIB = 1024 * 1024

TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 250.0


# --- the ceiling: one INSERT per request, served like the service --------------------------

ceiling_metadata = MetaData()
ceiling_rows = Table(
    "bench_rows",
    ceiling_metadata,
    Column("id", Uuid, primary_key=True),
    Column("label", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class CeilingBody(BaseModel):
    label: str = Field(min_length=1, max_length=200)
    amount: int = Field(gt=0)


def ceiling_app() -> FastAPI:
    """uvicorn factory (``--factory api_confirm:ceiling_app``); the URL comes from the env.

    Same engine (``create_db_engine``) and the same admission as the service's
    ``UnitOfWorkRoute`` (``create_db_limiter``, awaited on the event loop), then one
    thread-pool hop for the INSERT and its commit.
    """
    engine = create_db_engine(os.environ[CEILING_URL_ENV])
    limiter = create_db_limiter(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(lifespan=lifespan)

    def insert(body: CeilingBody) -> uuid.UUID:
        row_id = uuid.uuid4()
        with engine.begin() as conn:
            conn.execute(
                ceiling_rows.insert().values(
                    id=row_id, label=body.label, amount=body.amount, created_at=datetime.now(UTC)
                )
            )
        return row_id

    @app.post("/rows", status_code=201)
    async def insert_row(body: CeilingBody) -> dict[str, str]:
        async with limiter:
            row_id = await run_in_threadpool(insert, body)
        return {"id": str(row_id)}

    return app


# --- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def temporary_databases(server_url: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(service URL, ceiling URL): SQLite files under ``tmp``, or two new PostgreSQL databases."""
    with (
        temporary_database(server_url, tmp / "service", prefix="kokudaka_bench") as service,
        temporary_database(
            server_url, tmp / "ceiling", prefix="kokudaka_bench_ceiling", file_name="ceiling.db"
        ) as ceiling,
    ):
        yield service, ceiling


@dataclass(frozen=True)
class Cast:
    work_id: uuid.UUID
    admin_token: str
    supporter_tokens: list[str]


def load_service_data(settings: Settings, supporters: int) -> Cast:
    """Migrate, then load one town with an open work and its people through the ORM."""
    migrate(settings)
    # One production-cost hash shared by every account: sign-in is not measured.
    password_hash = hash_password(settings, PASSWORD)
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with create_sessionmaker(engine).begin() as session:
            region = Region(code="aizu", name="会津")
            session.add(region)
            session.flush()
            town = Municipality(region_id=region.id, code="nishiaizu", name="西会津町")
            session.add(town)
            session.flush()
            session.add(
                MunicipalityPolicy(
                    municipality_id=town.id,
                    season=SEASON,
                    price_yen_per_go=PRICE_YEN_PER_GO,
                    volunteer_go_per_hour=500,
                    yearly_cap_go=MAX_GO,
                )
            )

            def user(email: str, role: Role, municipality_id: uuid.UUID | None = None) -> User:
                return User(
                    email=email,
                    password_hash=password_hash,
                    display_name=email.split("@")[0],
                    role=role,
                    municipality_id=municipality_id,
                    is_active=True,
                )

            admin = user("admin@nishiaizu.example.jp", Role.town_admin, town.id)
            farmer_user = user("farmer@nishiaizu.example.jp", Role.farmer, town.id)
            people = [user(f"supporter{i}@example.jp", Role.supporter) for i in range(supporters)]
            session.add_all([admin, farmer_user, *people])
            session.flush()
            farmer = Farmer(
                user_id=farmer_user.id,
                municipality_id=town.id,
                name="西会津の農家",
                farm_name="nishiaizu farm",
                story="",
                varieties=["コシヒカリ"],
            )
            session.add(farmer)
            session.flush()
            work = Work(
                farmer_id=farmer.id,
                municipality_id=town.id,
                season=SEASON,
                title=f"西会津 コシヒカリ {SEASON}",
                variety="コシヒカリ",
                description="",
                field_area_m2=10_000,
                planned_yield_go=3_600_000,
                offer_yen=MAX_YEN,
                is_open=True,
            )
            session.add(work)
            session.flush()
            return Cast(
                work_id=work.id,
                admin_token=create_access_token(settings, Caller.of(admin)),
                supporter_tokens=[create_access_token(settings, Caller.of(p)) for p in people],
            )
    finally:
        engine.dispose()


def create_ceiling_table(url: str) -> None:
    engine = create_db_engine(url)
    try:
        ceiling_metadata.create_all(engine)
    finally:
        engine.dispose()


# --- servers ----------------------------------------------------------------------------------


class RssMonitor:
    """Peak resident memory of a process and its children, polled from a thread.

    The RSS of the known processes is read every 50 ms; the list of children (a scan of
    /proc, a few ms) is refreshed once a second, to keep the load generator's share small.
    """

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._children: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self.peak = 0
        self.last = 0

    def _refresh_children(self) -> None:
        with contextlib.suppress(psutil.Error):
            self._children = list(self._process.children(recursive=True))

    def _sample(self) -> None:
        try:
            total = int(self._process.memory_info().rss)
        except psutil.Error:
            return
        for child in self._children:
            with contextlib.suppress(psutil.Error):
                total += int(child.memory_info().rss)
        self.last = total
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        polls = 0
        while True:
            if polls % CHILDREN_EVERY_POLLS == 0:
                self._refresh_children()
            self._sample()
            polls += 1
            if self._stop.wait(RSS_POLL_SECONDS):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._refresh_children()
        self._sample()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    rss: RssMonitor

    def cpu_seconds(self) -> float:
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)


def _server_and_client_cpus() -> tuple[set[int], set[int]] | None:
    """Servers on all CPUs but the last, the load generator on the last one.

    Left to the scheduler, the load generator and a server's two busy threads (its
    event loop and the worker thread running the endpoint) share two cores differently
    from run to run, and the service's figures moved by a fifth between identical runs.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


PLACEMENT = _server_and_client_cpus()


def _on_server_cpus() -> None:
    if PLACEMENT is not None:
        os.sched_setaffinity(0, PLACEMENT[0])


@contextlib.contextmanager
def serve(
    factory: str, env: dict[str, str], log: Path, app_dir: Path | None = None
) -> Iterator[Server]:
    """Run ``uvicorn --factory <factory>`` in a subprocess, one process, until it answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_on_server_cpus,
        )
    rss = RssMonitor(process.pid)
    rss.start()
    server = Server(process, f"http://{HOST}:{port}", log, rss)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{factory} exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                httpx.get(f"{server.base_url}/bench-ready", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield server
    finally:
        rss.stop()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None, *, gil_only: bool = False) -> Iterator[None]:
    """Record ``pid`` with py-spy (if asked) while the block runs."""
    if output is None:
        yield
        return
    executable = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    fmt = "flamegraph" if output.suffix == ".svg" else "raw"
    recorder = subprocess.Popen(
        [executable, "record", "--pid", str(pid), "--rate", "250", "--format", fmt,
         "--output", str(output), "--nonblocking", *(["--gil"] if gil_only else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output, then exits
        _, stderr = recorder.communicate(timeout=60)
        if recorder.returncode not in (0, -signal.SIGINT):
            print(f"py-spy failed ({recorder.returncode}): {stderr.decode()}", file=sys.stderr)


# --- load generator ---------------------------------------------------------------------------


@dataclass
class Samples:
    """Latencies in seconds by kind ("create", "confirm", "iteration", "insert")."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    error_reports: list[str] = field(default_factory=list)

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def check(self, response: httpx.Response, what: str) -> bool:
        self.requests += 1
        if response.is_success:
            return True
        self.errors += 1
        if len(self.error_reports) < 10:
            self.error_reports.append(f"{what}: {response.status_code} {response.text[:500]}")
        return False

    def failure(self, what: str, error: BaseException) -> None:
        self.requests += 1
        self.errors += 1
        if len(self.error_reports) < 10:
            self.error_reports.append(f"{what}: {type(error).__name__}: {error}")


Iteration = Callable[[httpx.AsyncClient, int, Samples], Awaitable[None]]


@dataclass
class Phase:
    samples: Samples
    iterations: int
    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.samples.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def merged(cls, phases: Sequence[Phase]) -> Phase:
        samples = Samples()
        for phase in phases:
            for kind, values in phase.samples.latencies.items():
                samples.latencies.setdefault(kind, []).extend(values)
            samples.requests += phase.samples.requests
            samples.errors += phase.samples.errors
            samples.error_reports.extend(
                phase.samples.error_reports[: 10 - len(samples.error_reports)]
            )
        return cls(
            samples=samples,
            iterations=sum(p.iterations for p in phases),
            seconds=sum(p.seconds for p in phases),
            client_cpu_seconds=sum(p.client_cpu_seconds for p in phases),
            server_cpu_seconds=sum(p.server_cpu_seconds for p in phases),
        )


async def run_phase(
    clients: Sequence[httpx.AsyncClient],
    iteration: Iteration,
    *,
    iterations: int,
    seconds: float,
    server: Server,
) -> Phase:
    """One task per client; the tasks share a budget of ``iterations`` and a deadline."""
    samples = Samples()
    started = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal started
        while started < iterations and time.perf_counter() < deadline:
            number = started
            started += 1
            await iteration(client, number, samples)

    cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    elapsed = time.perf_counter() - t0
    return Phase(
        samples=samples,
        iterations=started,
        seconds=elapsed,
        client_cpu_seconds=time.process_time() - cpu0,
        server_cpu_seconds=server.cpu_seconds() - server_cpu0,
    )


async def drive(
    server: Server,
    iteration: Iteration,
    *,
    concurrency: int,
    warmup: int,
    iterations: int,
    seconds: float,
    profile: Path | None = None,
    profile_gil_only: bool = False,
) -> Phase:
    """Warm up, then measure. Each task has its own client with one keep-alive connection:
    a shared pool costs httpcore a scan of every connection per request, which on two
    cores is CPU taken from the server."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60.0)
            )
            for _ in range(concurrency)
        ]
        warm = await run_phase(
            clients, iteration, iterations=warmup, seconds=seconds, server=server
        )
        if warm.samples.errors:
            print("warm-up requests failed; not measuring (figures below are the warm-up's)")
            return warm
        with py_spy(server.process.pid, profile, gil_only=profile_gil_only):
            return await run_phase(
                clients, iteration, iterations=iterations, seconds=seconds, server=server
            )


def service_iteration(cast: Cast) -> Iteration:
    admin = {"Authorization": f"Bearer {cast.admin_token}"}
    body = {"work_id": str(cast.work_id), "amount_yen": AMOUNT_YEN}

    async def iteration(client: httpx.AsyncClient, number: int, samples: Samples) -> None:
        token = cast.supporter_tokens[number % len(cast.supporter_tokens)]
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        t0 = time.perf_counter()
        try:
            created = await client.post("/v1/investments", json=body, headers=headers)
        except httpx.HTTPError as error:
            samples.failure("create", error)
            return
        t1 = time.perf_counter()
        samples.add("create", t1 - t0)
        if not samples.check(created, "create"):
            return
        investment_id = created.json()["id"]
        try:
            confirmed = await client.post(
                f"/v1/investments/{investment_id}/confirm",
                json={"payment_reference": f"furikomi-{number}"},
                headers=admin,
            )
        except httpx.HTTPError as error:
            samples.failure("confirm", error)
            return
        t2 = time.perf_counter()
        samples.add("confirm", t2 - t1)
        samples.add("iteration", t2 - t0)
        samples.check(confirmed, "confirm")

    return iteration


async def ceiling_iteration(client: httpx.AsyncClient, number: int, samples: Samples) -> None:
    t0 = time.perf_counter()
    try:
        response = await client.post("/rows", json={"label": f"row-{number}", "amount": AMOUNT_YEN})
    except httpx.HTTPError as error:
        samples.failure("insert", error)
        return
    samples.add("insert", time.perf_counter() - t0)
    samples.check(response, "insert")


def without_sniffio_lookups() -> None:
    """httpcore asks ``sniffio`` which event loop runs on every request; when sniffio is
    not installed (anyio 4.10+ no longer needs it) that is a failed import, a search of
    sys.path, per request. Give the load generator the answer it would get instead."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        shim = types.ModuleType("sniffio")
        shim.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = shim


def run_async(coroutine: Awaitable[Phase]) -> Phase:
    async def main() -> Phase:
        return await coroutine

    without_sniffio_lookups()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(main())
    # The load generator shares two cores with the server: keep its own overhead low.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


# --- report -----------------------------------------------------------------------------------


def percentile_ms(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1] * 1000


@dataclass
class Row:
    name: str
    count: int
    per_second: float
    latencies: Sequence[float]

    def render(self) -> str:
        p50, p99 = percentile_ms(self.latencies, 0.50), percentile_ms(self.latencies, 0.99)
        worst = max(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"  {self.name:<28}{self.count:>8}{self.per_second:>10.1f}"
            f"{p50:>9.2f}{p99:>9.2f}{worst:>9.2f}"
        )


def report_errors(label: str, phase: Phase) -> None:
    if phase.samples.errors:
        print(f"\n{label}: {phase.samples.errors} failed requests; first ones:")
        for line in phase.samples.error_reports:
            print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent client tasks")
    parser.add_argument("--iterations", type=int, default=2000, help="measured iterations")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds at most")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up iterations")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternate service and ceiling this many times (the budgets are shared out)",
    )
    parser.add_argument("--supporters", type=int, default=200, help="supporter accounts")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1/postgres: "
        "temporary databases are created on it and dropped (default: SQLite files)",
    )
    parser.add_argument("--skip-ceiling", action="store_true", help="measure the service only")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="record the service with py-spy during the measured phase (.svg: flamegraph, "
        "otherwise collapsed stacks)",
    )
    parser.add_argument(
        "--py-spy-gil",
        action="store_true",
        help="with --py-spy: only samples of the thread holding the GIL (Python CPU time)",
    )
    args = parser.parse_args(argv)
    iterations, warmup = max(1, args.iterations), max(0, args.warmup)
    rounds = max(1, min(args.rounds, iterations))
    if PLACEMENT is not None:
        os.sched_setaffinity(0, PLACEMENT[1])  # servers are started on the others

    with (
        tempfile.TemporaryDirectory(prefix="kokudaka-bench-") as tmp_name,
        temporary_databases(args.database_url, Path(tmp_name)) as (service_url, ceiling_url),
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
        cast = load_service_data(settings, max(1, args.supporters))
        print(
            f"loaded {args.supporters} supporters into {backend} in "
            f"{time.perf_counter() - t0:.1f}s; {os.cpu_count()} CPUs, "
            f"{args.concurrency} concurrent clients, warm-up {warmup} iterations, measuring "
            f"{iterations} iterations or {args.duration:g}s; load average "
            f"{os.getloadavg()[0]:.2f} (other work on the machine skews the figures)",
            flush=True,
        )
        service_env = {
            "KOKUDAKA_ENV": Environment.development.value,
            "KOKUDAKA_DATA_DIR": str(data_dir),
            "KOKUDAKA_DATABASE_URL": service_url,
            "KOKUDAKA_CHAIN_ENABLED": "false",
        }
        ceiling_server: Server | None = None
        with contextlib.ExitStack() as servers:
            server = servers.enter_context(
                serve("kokudaka.main:create_app", service_env, tmp / "service.log")
            )
            rss_start = server.rss.last
            if not args.skip_ceiling:
                create_ceiling_table(ceiling_url)
                ceiling_server = servers.enter_context(
                    serve(
                        "api_confirm:ceiling_app",
                        {CEILING_URL_ENV: ceiling_url},
                        tmp / "ceiling.log",
                        app_dir=BENCH_DIR,
                    )
                )
            # Alternate rounds, so that a change in the machine's speed during the run
            # (other tenants, frequency scaling) weighs on both sides of the ratio alike.
            service_rounds: list[Phase] = []
            ceiling_rounds: list[Phase] = []
            for number in range(rounds):
                service_rounds.append(
                    run_async(
                        drive(
                            server,
                            service_iteration(cast),
                            concurrency=args.concurrency,
                            warmup=warmup if number == 0 else 0,
                            iterations=iterations // rounds,
                            seconds=args.duration / rounds,
                            profile=args.py_spy if number == 0 else None,
                            profile_gil_only=args.py_spy_gil,
                        )
                    )
                )
                if ceiling_server is not None:
                    ceiling_rounds.append(
                        run_async(
                            drive(
                                ceiling_server,
                                ceiling_iteration,
                                concurrency=args.concurrency,
                                warmup=2 * warmup if number == 0 else 0,
                                iterations=2 * (iterations // rounds),
                                seconds=args.duration / rounds,
                            )
                        )
                    )
        rss_peak = server.rss.peak
        service = Phase.merged(service_rounds)
        ceiling = Phase.merged(ceiling_rounds) if ceiling_rounds else None

    s = service.samples
    service_rps = s.requests / service.seconds
    rows = [
        Row("service: create", len(s.latencies.get("create", [])), service_rps / 2,
            s.latencies.get("create", [])),
        Row("service: confirm", len(s.latencies.get("confirm", [])), service_rps / 2,
            s.latencies.get("confirm", [])),
        Row("service: both requests", s.requests, service_rps,
            s.latencies.get("create", []) + s.latencies.get("confirm", [])),
        Row("service: iteration (c+c)", len(s.latencies.get("iteration", [])),
            service.iterations / service.seconds, s.latencies.get("iteration", [])),
    ]  # fmt: skip
    ceiling_rps = 0.0
    if ceiling is not None:
        ceiling_rps = ceiling.samples.requests / ceiling.seconds
        rows.append(
            Row("ceiling: insert", ceiling.samples.requests, ceiling_rps,
                ceiling.samples.latencies.get("insert", []))
        )  # fmt: skip

    print(f"\n{backend}, one uvicorn process, {args.concurrency} concurrent keep-alive clients")
    print(f"  {'':<28}{'requests':>8}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for row in rows:
        print(row.render())
    print(
        f"\n  service: {service.iterations} iterations in {service.seconds:.2f}s; server CPU "
        f"{100 * service.server_cpu_seconds / service.seconds:.0f}% of a core "
        f"({1000 * service.server_cpu_seconds / max(s.requests, 1):.2f} ms per request), "
        f"load generator {100 * service.client_cpu_seconds / service.seconds:.0f}%"
    )
    if ceiling is not None:
        print(
            f"  ceiling: {ceiling.iterations} requests in {ceiling.seconds:.2f}s; server CPU "
            f"{100 * ceiling.server_cpu_seconds / ceiling.seconds:.0f}% of a core "
            f"({1000 * ceiling.server_cpu_seconds / max(ceiling.samples.requests, 1):.2f} ms "
            f"per request), load generator "
            f"{100 * ceiling.client_cpu_seconds / ceiling.seconds:.0f}%"
        )
    print(f"  service RSS: {rss_start / MIB:.1f} MB when ready, peak {rss_peak / MIB:.1f} MB")

    p99_create = percentile_ms(s.latencies.get("create", []), 0.99)
    p99_confirm = percentile_ms(s.latencies.get("confirm", []), 0.99)
    p99_worst = max(p99_create, p99_confirm)
    checks: list[tuple[str, str, bool]] = []
    if ceiling is not None:
        ratio = service_rps / ceiling_rps
        print(f"\n  confirm-path requests/s / ceiling requests/s = {100 * ratio:.1f}%")
        by_round = [
            f"{100 * a.requests_per_second / b.requests_per_second:.0f}%"
            for a, b in zip(service_rounds, ceiling_rounds, strict=True)
            if b.requests_per_second
        ]
        print(f"  by round: {', '.join(by_round)}")
        checks.append((f"ratio >= {TARGET_RATIO:.0%}", f"{ratio:.1%}", ratio >= TARGET_RATIO))
    checks.append(
        (f"p99 per request < {TARGET_P99_MS:g} ms", f"create {p99_create:.1f} ms, confirm "
         f"{p99_confirm:.1f} ms", p99_worst < TARGET_P99_MS)
    )  # fmt: skip
    checks.append(
        (f"service peak RSS < {TARGET_RSS_MB:g} MB", f"{rss_peak / MIB:.1f} MB",
         rss_peak / MIB < TARGET_RSS_MB)
    )  # fmt: skip
    print("\ntargets")
    for name, measured, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<26} {measured}")
    if args.py_spy is not None:
        print(f"\npy-spy profile of the measured phase: {args.py_spy}")

    report_errors("service", service)
    if ceiling is not None:
        report_errors("ceiling", ceiling)
    errors = service.samples.errors + (ceiling.samples.errors if ceiling else 0)
    if errors:
        print(f"\nFAIL: {errors} requests failed")
        return 1
    if args.strict and not all(ok for _, _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
