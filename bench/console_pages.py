"""How fast are the console's pages? Target: every page ≤ 100 ms server time at p95.

Sets up a region of 13 towns, 2,000 supporters and 100,000 issuances (80% investments,
20% volunteering, spread over 26 weeks; journal entries and pending mints beside them,
bulk-inserted, not measured), serves the real app in this process with uvicorn, signs
in to the console as a farmer, a town administrator and a regional auditor, and times
each of their pages ROUNDS times, one request at a time over loopback. The time printed
is what the server takes (its ``Server-Timing``-free wall time, measured by the client
on loopback: the network adds about 0.1 ms). Beside it, the median CPU time this process
spent per request (server and client; on SQLite that is all the work, on PostgreSQL all
but the database server's): on a machine shared with other work the wall time stretches,
this does not.

    .venv/bin/python bench/console_pages.py
    .venv/bin/python bench/console_pages.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kokudaka.auth.service import create_user
from kokudaka.core.engines import create_db_engine
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.ledger.daily import recompute_issuance_days
from kokudaka.ledger.derived import recompute_supporter_seasons
from kokudaka.ledger.regions import recompute_region_supporter_seasons
from kokudaka.ledger.service import chain_reference
from kokudaka.main import create_app
from kokudaka.models import (
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    Farmer,
    Issuance,
    IssuanceKind,
    JournalEntry,
    Municipality,
    MunicipalityPolicy,
    Region,
    Role,
    User,
    Work,
)

ROOT = Path(__file__).resolve().parents[1]
SEASON = 2026
TOWNS = 13
FARMERS_PER_TOWN = 5
SUPPORTERS = 2_000
ISSUANCES = 100_000
ROUNDS = 40
CHUNK = 10_000
PASSWORD = "bench password 123"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if not postgres:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"kokudaka_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, settings: Settings) -> dict[str, str]:
    """The data set; answers the email of one account per console role."""
    rng = random.Random(12)
    now = datetime.now(UTC)
    engine = create_db_engine(url)
    region_id = new_id()
    towns = [new_id() for _ in range(TOWNS)]
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Region).values(id=region_id, code="aizu", name="会津", created_at=now)
        )
        for index, town in enumerate(towns):
            session.execute(
                insert(Municipality).values(
                    id=town,
                    region_id=region_id,
                    code=f"town{index}",
                    name=f"町{index}",
                    created_at=now,
                )
            )
        farmers: list[tuple[uuid.UUID, uuid.UUID, int]] = []  # farmer, work, town index
        for index, town in enumerate(towns):
            for number in range(FARMERS_PER_TOWN):
                user = create_user(
                    session,
                    settings,
                    email=f"farmer{index}-{number}@bench.example.jp",
                    password=PASSWORD,
                    display_name=f"農家{index}-{number}",
                    role=Role.farmer,
                    municipality_id=town,
                )
                farmer = Farmer(
                    user_id=user.id,
                    municipality_id=town,
                    name=user.display_name,
                    farm_name="農園",
                    story="",
                    varieties=["コシヒカリ"],
                )
                session.add(farmer)
                session.flush()
                work = Work(
                    farmer_id=farmer.id,
                    municipality_id=town,
                    season=SEASON,
                    title="コシヒカリ",
                    variety="コシヒカリ",
                    description="",
                    field_area_m2=10_000,
                    planned_yield_go=3_600_000,
                    offer_yen=10**9,
                    is_open=True,
                )
                session.add(work)
                session.flush()
                farmers.append((farmer.id, work.id, index))
            create_user(
                session,
                settings,
                email=f"admin{index}@bench.example.jp",
                password=PASSWORD,
                display_name=f"admin{index}",
                role=Role.town_admin,
                municipality_id=town,
            )
        create_user(
            session,
            settings,
            email="auditor@bench.example.jp",
            password=PASSWORD,
            display_name="auditor",
            role=Role.regional_auditor,
            region_id=region_id,
        )
        supporters = [new_id() for _ in range(SUPPORTERS)]
        session.execute(
            insert(User),
            [
                {
                    "id": user_id,
                    "created_at": now,
                    "email": f"s{i}@bench.example.jp",
                    "password_hash": "x",
                    "display_name": f"応援者{i}",
                    "role": Role.supporter,
                    "municipality_id": None,
                    "region_id": None,
                    "is_active": True,
                    "token_version": 0,
                    "wallet_address": None,
                    "wallet_key_ciphertext": None,
                    "home_prefecture_code": rng.choice([None, "13", "14", "07", "27", "01"]),
                }
                for i, user_id in enumerate(supporters)
            ],
        )
    issued = [0] * TOWNS
    for start in range(0, ISSUANCES, CHUNK):
        entries, issuances, operations = [], [], []
        for _ in range(min(CHUNK, ISSUANCES - start)):
            farmer_id, work_id, town = rng.choice(farmers)
            supporter = rng.choice(supporters)
            amount = rng.randint(100, 5_000)
            issued[town] += amount
            entry_id, issuance_id = new_id(), new_id()
            is_investment = rng.random() < 0.8
            at = now - timedelta(days=rng.randrange(26 * 7), seconds=rng.randrange(86_400))
            entries.append(
                {
                    "id": entry_id,
                    "created_at": at,
                    "kind": EntryKind.issuance,
                    "municipality_id": towns[town],
                    "idempotency_key": f"bench:{issuance_id}",
                    "reverses_entry_id": None,
                    "memo": "",
                    "memo_code": None,
                    "memo_params": None,
                    "created_by_id": None,
                }
            )
            issuances.append(
                {
                    "id": issuance_id,
                    "created_at": at,
                    "entry_id": entry_id,
                    "kind": IssuanceKind.investment if is_investment else IssuanceKind.contribution,
                    "municipality_id": towns[town],
                    "season": SEASON,
                    "recipient_id": supporter,
                    "amount_go": amount,
                    "farmer_id": farmer_id,
                    "work_id": work_id if is_investment else None,
                    "investment_id": None,
                    "activity_id": None,
                    "contribution_id": None,
                    "price_yen_per_go": 10 if is_investment else None,
                    "go_per_hour": None if is_investment else 500,
                    "reversal_entry_id": None,
                }
            )
            operations.append(
                {
                    "id": new_id(),
                    "created_at": at,
                    "kind": ChainOperationKind.mint,
                    "entry_id": entry_id,
                    "issuance_id": issuance_id,
                    "municipality_id": towns[town],
                    "user_id": supporter,
                    "reference": chain_reference(issuance_id),
                    "amount_go": amount,
                    "state": ChainState.confirmed,
                    "attempts": 1,
                    "next_attempt_at": at,
                    "recipient_address": None,
                    "transaction_id": None,
                    "tx_hash": None,
                    "block_number": None,
                    "last_error": None,
                    "updated_at": at,
                }
            )
        with Session(engine) as session, session.begin():
            session.execute(insert(JournalEntry), entries)
            session.execute(insert(Issuance), issuances)
            session.execute(insert(ChainOperation), operations)
        log(f"  {start + len(issuances):,} issuances")
    with Session(engine) as session, session.begin():
        # The issuances were written directly, not through the ledger's issue().
        recompute_supporter_seasons(session)
        recompute_issuance_days(session)
        recompute_region_supporter_seasons(session)
        for town, amount in zip(towns, issued, strict=True):
            session.execute(
                insert(MunicipalityPolicy).values(
                    id=new_id(),
                    municipality_id=town,
                    season=SEASON,
                    price_yen_per_go=10,
                    volunteer_go_per_hour=500,
                    yearly_cap_go=10**12,
                    issued_go=amount,
                    reserved_go=0,
                    updated_at=now,
                )
            )
    engine.dispose()
    return {
        "farmer": "farmer0-0@bench.example.jp",
        "town_admin": "admin0@bench.example.jp",
        "regional_auditor": "auditor@bench.example.jp",
    }


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signed_in(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    form = client.get("/console/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]*)"', form)
    assert token
    answer = client.post(
        "/console/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return client


def pages(client: httpx.Client, role: str) -> list[str]:
    if role == "farmer":
        works = client.get("/console/farmer/works").text
        harvest = re.search(r'href="(/console/farmer/works/[^"?/]+/harvest)"', works)
        return [
            "/console/farmer",
            "/console/farmer/ledger",
            "/console/farmer/hours",
            "/console/farmer/works",
            *([harvest.group(1)] if harvest else []),
        ]
    if role == "town_admin":
        return [
            "/console/town",
            "/console/town/payments",
            "/console/town/issuances",
            "/console/town/farmers",
            "/console/town/policy",
            "/console/town/harvest",
            "/console/town/reconciliation",
            "/console/audit-log",
            "/console/accounts",
        ]
    region = client.get("/console/region").text
    town = re.search(r'href="(/console/region/towns/[^"?]+)', region)
    assert town
    return ["/console/region", town.group(1), "/console/audit-log"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is made on it)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with database(args.postgres) as url, tempfile.TemporaryDirectory() as data:
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("sqlalchemy.url", url)
        command.upgrade(config, "head")
        settings = Settings(
            env=Environment.test,
            database_url=url,
            data_dir=Path(data),
            chain_enabled=False,
            argon2_time_cost=1,
            argon2_memory_kib=64,
        )
        log(f"seeding {ISSUANCES:,} issuances, {SUPPORTERS:,} supporters, {TOWNS} towns")
        accounts = seed(url, settings)
        backend = make_url(url).get_backend_name()
        print(
            f"console pages on {backend}: p50 / p95 ms over {args.rounds} requests each;"
            f" load average {os.getloadavg()[0]:.1f} (other work on the machine skews the figures)"
        )
        worst = 0.0
        with serving(settings) as base_url:
            for role, email in accounts.items():
                client = signed_in(base_url, email)
                try:
                    for path in pages(client, role):
                        client.get(path).raise_for_status()  # warm
                        times, cpu = [], []
                        for _ in range(args.rounds):
                            started, cpu_started = time.perf_counter(), time.process_time()
                            response = client.get(path)
                            times.append((time.perf_counter() - started) * 1000)
                            cpu.append((time.process_time() - cpu_started) * 1000)
                            assert response.status_code == 200, (path, response.status_code)
                        p95 = statistics.quantiles(times, n=20)[-1]
                        worst = max(worst, p95)
                        print(
                            f"  {role:17} {path:45} {statistics.median(times):7.1f} {p95:7.1f}"
                            f"   cpu {statistics.median(cpu):5.1f}"
                        )
                finally:
                    client.close()
        print(f"worst p95: {worst:.1f} ms (target ≤ 100 ms); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
