"""The harvest of one large work, from countersignature to the chain: 10,000 boards become rice
bills in one transaction, then the town's worker burns their KOKU and mints their bills.

    .venv/bin/python bench/harvest_settlement.py [--boards 10000]
    .venv/bin/python bench/harvest_settlement.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

One anvil (interval mining and block gas limit as the managed one) and one throwaway database (a
SQLite file, or with ``--database-url`` a database created on that PostgreSQL server and dropped
afterwards: ``tests/fixtures/databases.py``). One town, deployed as the service does in
development (KOKU and the rice bills, the town's minter, gas, caps and bill allowance).

Set-up (bench only, not timed): ``--boards`` supporters, each with a confirmed investment in the
work and its issuance (the board), bulk-inserted as ``investments.service`` and
``ledger.service.issue`` write them; their KOKU mints settled by the town's worker first (timed
and printed, for reference). The farmer files the yield (``harvest.service.file_report``).

Measured:

- **Conversion SQL**: the countersignature's database transaction
  (``harvest.service.countersign``, commit included): every board's journal entry, postings,
  bill, bill account, KOKU burn and bill mint in the outbox.
- **Settlement**: wall time from starting the worker until every burn and bill mint is confirmed
  in SQL: claims, ``registerWork``, ``burnBatch`` and bill ``mintBatch`` signing, recording,
  sending, mining, receipts.
- **Ceiling**, in the same run and on the same chain: the same shape (as many KOKU burns in
  ``burnBatch`` drawn on fresh issuances, a work registered and as many bills minted in its
  ``mintBatch``), signed offline and sent back to back by one thread with no database, timed until
  every transaction is mined. The machine is shared: read the worker's rate against it.

Checked at the end: every operation confirmed, each burn ref burned once and each bill ref minted
once, the work's bills on chain equal to SQL, and no KOKU left of the boards.

Measured 2026-11-27 on a quiet 2-CPU machine (load average about 1), anvil 1.7.1, 1 s blocks,
defaults (10,000 boards: 10,000 burns in 32 ``burnBatch`` and 10,000 bills in ``mintBatch`` after
one ``registerWork``, 72-82 transactions):

- SQLite: conversion SQL 2.1-2.4 s; burns and bill mints 5,843-7,651 operations/s (0.11 ms of
  worker CPU each); the chain's ceiling in the same runs 14,500-16,300/s.
- PostgreSQL: conversion SQL 2.95-3.3 s; 4,174-5,318 operations/s (0.10-0.11 ms CPU each;
  signed and recorded by +2.9-3.3 s, then the wait for the block holding the last batch);
  ceiling 15,600-16,000/s.
- Later the same day, on a busier machine, with the claims' statements on a writer thread and
  mined transactions recorded beside the next claims: PostgreSQL 4,231-4,977 operations/s
  (0.11-0.12 ms CPU each; the previous worker 3,515-4,159/s run for run), conversion 3.7-3.9 s;
  SQLite 4,799-6,194/s.

- 2026-12-08, with PostgreSQL claims committing on their writer thread while the next one reads
  its operations, each batch's transaction row inserted by its update's statement and a
  cycle's mined transactions recorded in three statements: PostgreSQL 5,155-5,367 operations/s
  against 4,893-5,271/s for the previous worker in alternate runs (last batch signed and
  recorded by +2.21-2.44 s instead of +2.64-2.76 s), 3,744-5,787/s over fifteen runs of the
  day (above 5,000 in eight; the slow ones in an hour when conversions took 4.2-4.9 s);
  ceiling 13,100-17,000/s. SQLite 6,119-6,240/s, conversion 1.95-2.27 s.

Earlier, under a load average of 4 and before the JSON-RPC session and claim changes (see
``bench/settlement.py``): 1,750-1,970/s on SQLite, 1,070-1,290/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test harness's temporary databases, bench/settlement.py

from bench.settlement import Recipient, Result, Town, settle, setup_towns  # noqa: E402
from tests.fixtures.databases import migrate, temporary_database  # noqa: E402

from kokudaka.auth.caller import Caller  # noqa: E402
from kokudaka.chain.bills import bill_token_id  # noqa: E402
from kokudaka.chain.client import MAX_BURN_BATCH_SIZE, ChainClient  # noqa: E402
from kokudaka.chain.deployment import ensure_deployment  # noqa: E402
from kokudaka.chain.node import AnvilNode  # noqa: E402
from kokudaka.core.ids import new_id  # noqa: E402
from kokudaka.core.settings import Environment, Settings  # noqa: E402
from kokudaka.harvest import service as harvest  # noqa: E402
from kokudaka.harvest.schemas import YieldReportCreate  # noqa: E402
from kokudaka.harvest.yields import japan_today  # noqa: E402
from kokudaka.ledger.derived import recompute_balances  # noqa: E402
from kokudaka.ledger.service import chain_reference  # noqa: E402
from kokudaka.models import (  # noqa: E402
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    EntryKind,
    Farmer,
    Investment,
    InvestmentStatus,
    Issuance,
    IssuanceKind,
    JournalEntry,
    Posting,
    Role,
    User,
    Work,
    utcnow,
)
from kokudaka.settlement.pool import SettlementPool  # noqa: E402
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT  # noqa: E402
from kokudaka.towns.minters import active_minters  # noqa: E402

SEASON = 2026
PRICE_YEN_PER_GO = 10
#: The issue's target, printed beside the figures.
TARGET_RATE = 5_000


def setup_work(db: sessionmaker[Session], town: Town) -> tuple[uuid.UUID, User, User]:
    """The work, its farmer and a town administrator; returns (work id, farmer, admin)."""
    with db.begin() as session:
        farmer = User(
            email="farmer@example.jp",
            password_hash="!",
            display_name="農家",
            role=Role.farmer,
            municipality_id=town.municipality_id,
        )
        admin = User(
            email="admin@example.jp",
            password_hash="!",
            display_name="町役場",
            role=Role.town_admin,
            municipality_id=town.municipality_id,
        )
        session.add_all([farmer, admin])
        session.flush()
        profile = Farmer(
            user_id=farmer.id, municipality_id=town.municipality_id, name="農家", farm_name="田"
        )
        session.add(profile)
        session.flush()
        work = Work(
            farmer_id=profile.id,
            municipality_id=town.municipality_id,
            season=SEASON,
            title="コシヒカリ",
            variety="コシヒカリ",
            field_area_m2=10_000_000,
            planned_yield_go=1,  # set once the boards are known
            offer_yen=10**12,
        )
        session.add(work)
        session.flush()
        session.expunge_all()
        return work.id, farmer, admin


def insert_boards(
    db: sessionmaker[Session],
    town: Town,
    work_id: uuid.UUID,
    people: list[Recipient],
    admin_id: uuid.UUID,
) -> int:
    """One confirmed investment per supporter in the work, with its issuance (the board),
    entry, postings and pending mint; returns the boards' go."""
    now = utcnow()
    entries, postings, investments, issuances, operations = [], [], [], [], []
    total = 0
    for i, person in enumerate(people):
        go = 100 + (i * 379) % 4900
        total += go
        entry_id, issuance_id, investment_id = new_id(), new_id(), new_id()
        investments.append(
            {
                "id": investment_id,
                "supporter_id": person.user_id,
                "work_id": work_id,
                "municipality_id": town.municipality_id,
                "amount_yen": go * PRICE_YEN_PER_GO,
                "price_yen_per_go": PRICE_YEN_PER_GO,
                "go_amount": go,
                "remainder_yen": 0,
                "status": InvestmentStatus.confirmed,
                "payment_reference": f"card-{i}",
                "confirmed_at": now,
                "confirmed_by_id": admin_id,
                "created_at": now,
            }
        )
        entries.append(
            {
                "id": entry_id,
                "kind": EntryKind.issuance,
                "municipality_id": town.municipality_id,
                "idempotency_key": f"bench-board:{i}",
                "memo": "bench",
                "created_at": now,
            }
        )
        postings += [
            {"id": new_id(), "entry_id": entry_id, "account_id": town.issuance_account_id,
             "amount_go": -go},
            {"id": new_id(), "entry_id": entry_id, "account_id": person.holder_account_id,
             "amount_go": go},
        ]  # fmt: skip
        issuances.append(
            {
                "id": issuance_id,
                "entry_id": entry_id,
                "kind": IssuanceKind.investment,
                "municipality_id": town.municipality_id,
                "season": SEASON,
                "recipient_id": person.user_id,
                "amount_go": go,
                "work_id": work_id,
                "investment_id": investment_id,
                "price_yen_per_go": PRICE_YEN_PER_GO,
                "created_at": now,
            }
        )
        operations.append(
            {
                "id": new_id(),
                "kind": ChainOperationKind.mint,
                "asset": ChainAsset.koku,
                "entry_id": entry_id,
                "issuance_id": issuance_id,
                "municipality_id": town.municipality_id,
                "user_id": person.user_id,
                "reference": chain_reference(issuance_id),
                "amount_go": go,
                "state": ChainState.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    with db.begin() as session:
        session.execute(insert(Investment), investments)
        session.execute(insert(JournalEntry), entries)
        session.execute(insert(Posting), postings)
        session.execute(insert(Issuance), issuances)
        session.execute(insert(ChainOperation), operations)
        recompute_balances(session)
        work = session.get(Work, work_id)
        assert work is not None
        work.planned_yield_go = total
        work.subscribed_yen = total * PRICE_YEN_PER_GO
    return total


def harvest_day() -> date:
    return min(japan_today(), date(SEASON, 12, 31)).replace(day=1)


def countersign(
    db: sessionmaker[Session], work_id: uuid.UUID, farmer: User, admin: User, kg: str
) -> float:
    """File the yield as the farmer, then countersign it as the town's administrator; returns
    the countersignature's transaction time (the conversion's SQL, commit included)."""
    body = YieldReportCreate(
        actual_yield_kg=kg,  # type: ignore[arg-type]
        harvested_on=harvest_day(),
        photo_urls=["https://photos.example.jp/harvest/1.jpg"],
        slip_number="JA-AIZU-2026-000123",
        note="bench",
    )
    with db.begin() as session:
        report_id = harvest.file_report(session, Caller.of(farmer), work_id, body).id
    started = time.perf_counter()
    with db.begin() as session:
        harvest.countersign(session, Caller.of(admin), report_id)
    return time.perf_counter() - started


def chain_ceiling(
    chain: ChainClient, db: sessionmaker[Session], settings: Settings, count: int, batch: int
) -> Result:
    """The conversion's shape signed and sent with no database (see the notes): ``count``
    burns in ``burnBatch`` on fresh issuances (minted first, untimed), a work registered and
    ``count`` bills minted in its ``mintBatch``."""
    with db() as session:
        (key,) = active_minters(session)
    private_key = key.private_key(settings)
    holders = ["0x" + os.urandom(20).hex() for _ in range(count)]
    amounts = [100 + (i * 379) % 4900 for i in range(count)]
    issued = [b"\0" * 16 + uuid.uuid4().bytes for _ in range(count)]
    fees = chain.fees()
    nonce = chain.pending_nonce(key.address)
    minted: list[str] = []
    for start in range(0, count, batch):
        end = start + batch
        signed = chain.build_mint_batch_tx(
            private_key, SEASON, holders[start:end], amounts[start:end], issued[start:end],
            nonce, fees=fees,
        )  # fmt: skip
        minted.append(chain.send_raw(signed.raw))
        nonce += 1
    _mined(chain, minted)
    work = bill_token_id(uuid.uuid4())
    hashes: list[str] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    burn_size = min(batch, MAX_BURN_BATCH_SIZE)
    for start in range(0, count, burn_size):
        end = start + burn_size
        signed = chain.build_burn_batch_tx(
            private_key, holders[start:end], amounts[start:end],
            [b"\0" * 16 + uuid.uuid4().bytes for _ in holders[start:end]], issued[start:end],
            nonce, fees=fees,
        )  # fmt: skip
        hashes.append(chain.send_raw(signed.raw))
        nonce += 1
    bills = chain.bills
    signed = bills.build_register_work_tx(private_key, work, SEASON, sum(amounts), nonce, fees=fees)
    hashes.append(chain.send_raw(signed.raw))
    nonce += 1
    bill_size = min(batch, 297)  # one work: 80,000 + 32,000 + n x 56,000 gas under 2**24
    for start in range(0, count, bill_size):
        end = start + bill_size
        size = len(holders[start:end])
        signed = bills.build_mint_batch_tx(
            private_key, [work] * size, holders[start:end], amounts[start:end],
            [b"\0" * 16 + uuid.uuid4().bytes for _ in range(size)], nonce, fees=fees,
        )  # fmt: skip
        hashes.append(chain.send_raw(signed.raw))
        nonce += 1
    blocks = _mined(chain, hashes)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    receipts = [chain.rpc("eth_getTransactionReceipt", [h]) for h in hashes]
    assert all(int(r["status"], 16) == 1 for r in receipts), "a ceiling transaction reverted"
    return Result(
        "ceiling (no database)",
        2 * count,
        len(hashes),
        1,
        seconds,
        cpu_seconds,
        sum(int(r["gasUsed"], 16) for r in receipts),
        len(blocks),
    )


def _mined(chain: ChainClient, hashes: list[str], timeout: float = 300.0) -> set[int]:
    blocks = set()
    deadline = time.perf_counter() + timeout
    for tx_hash in hashes:
        # None too while anvil moves a transaction from its pool into a block.
        while (tx := chain.rpc("eth_getTransactionByHash", [tx_hash])) is None or tx[
            "blockNumber"
        ] is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{tx_hash} not mined")
            time.sleep(0.02)
        blocks.add(int(tx["blockNumber"], 16))
    return blocks


def _timeline(db: sessionmaker[Session], since: datetime) -> tuple[float, float, float]:
    """Seconds after ``since`` when the first and the last transaction was recorded (signed),
    and when the last outcome was recorded: where the settlement's time went."""
    with db() as session:
        first, last, done = session.execute(
            select(
                func.min(ChainTransaction.created_at),
                func.max(ChainTransaction.created_at),
                func.max(ChainTransaction.updated_at),
            ).where(ChainTransaction.created_at >= since)
        ).one()
    return tuple((moment - since).total_seconds() for moment in (first, last, done))  # type: ignore[return-value]


def check(
    db: sessionmaker[Session], chain: ChainClient, deployment: ChainDeployment, work_id: uuid.UUID
) -> None:
    """Every operation confirmed; each burn and bill ref once on chain; bills as in SQL."""
    with db() as session:
        states = dict(
            session.execute(
                select(ChainOperation.state, func.count()).group_by(ChainOperation.state)
            ).all()
        )
        burns = session.scalar(
            select(func.count()).where(ChainOperation.kind == ChainOperationKind.burn)
        )
        bill_go = session.scalar(select(func.sum(Bill.amount_go)).where(Bill.work_id == work_id))
        mints = session.scalar(select(func.count()).where(ChainOperation.asset == ChainAsset.bill))
    assert set(states) == {ChainState.confirmed}, states
    burned = [e.ref for e in chain.burned_events(deployment.deployed_block)]
    assert len(burned) == len(set(burned)) == burns, "a burn ref burned twice or never"
    minted = [e.ref for e in chain.bills.minted_events(deployment.deployed_block)]
    assert len(minted) == len(set(minted)) == mints, "a bill ref minted twice or never"
    assert chain.bills.total_supply(bill_token_id(work_id)) == bill_go, "bills differ from SQL"
    assert chain.total_supply() == 0, "KOKU left of the boards"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", type=int, default=10_000)
    parser.add_argument("--kg", default=None, help="actual yield (default: 80%% of the plan)")
    parser.add_argument("--batch-size", type=int, default=315)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        temporary_database(args.database_url, Path(tmp), prefix="kokudaka_bench") as url,
    ):
        migrate(url)
        from kokudaka.core.db import create_db_engine, create_sessionmaker

        engine = create_db_engine(url)
        db = create_sessionmaker(engine)
        settings = Settings(
            env=Environment.test,
            database_url=url,
            data_dir=Path(tmp),
            settlement_batch_size=args.batch_size,
            settlement_poll_seconds=0.5,
        )
        started = time.perf_counter()
        (town,), people = setup_towns(db, 1, args.boards)
        work_id, farmer, admin = setup_work(db, town)
        board_go = insert_boards(db, town, work_id, people, admin.id)
        # 80% of the plan by default, in kg of polished rice (1 go = 150 g).
        kg = args.kg or str(board_go * 8 // 10 * 150 // 1000)
        print(
            f"setup: {args.boards:,} boards ({board_go:,} go) inserted in "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        node = AnvilNode(Path(tmp) / "anvil", block_time=args.block_time, gas_limit=ANVIL_GAS_LIMIT)
        with node:
            chain = ChainClient(node.rpc_url, request_timeout=60)
            deployment = ensure_deployment(db, chain, settings)

            def pool() -> SettlementPool:
                return SettlementPool(
                    db,
                    lambda: ChainClient(
                        node.rpc_url, koku_address=deployment.token_address, request_timeout=60
                    ),
                    settings,
                    deployment,
                    batch_size=args.batch_size,
                    max_in_flight=args.in_flight,
                )

            mints = settle("board mints", db, pool(), chain, args.boards)
            conversion_seconds = countersign(db, work_id, farmer, admin, kg)
            with db() as session:
                operations = int(
                    session.scalar(
                        select(func.count()).where(ChainOperation.state == ChainState.pending)
                    )
                    or 0
                )
            settling_from = utcnow()
            harvested = settle("burns and bill mints", db, pool(), chain, operations)
            timeline = _timeline(db, settling_from)
            check(db, chain, deployment, work_id)
            ceiling = chain_ceiling(chain, db, settings, args.boards, args.batch_size)
        engine.dispose()

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\none work, {args.boards:,} boards; {database}; anvil {args.block_time:g}s blocks, gas "
        f"limit {ANVIL_GAS_LIMIT:,}; batch {args.batch_size}, up to {args.in_flight} "
        "transactions in flight"
    )
    print(
        f"conversion SQL (the countersignature's transaction): {conversion_seconds:.2f}s for "
        f"{args.boards:,} boards ({operations:,} chain operations written)"
    )
    print(
        f"{'mode':<22}{'operations':>10}{'txs':>8}{'minters':>8}{'seconds':>9}"
        f"{'operations/s':>13}{'gas/operation':>13}{'blocks':>8}{'CPU ms/op':>14}"
    )
    print(mints.row())
    print(harvested.row())
    print(ceiling.row())
    print(
        "the worker's timeline: transactions signed and recorded from "
        f"+{timeline[0]:.2f}s to +{timeline[1]:.2f}s, their outcomes recorded by "
        f"+{timeline[2]:.2f}s"
    )
    print(
        f"burns and bill mints: {harvested.rate:,.0f} operations/s confirmed (target >= "
        f"{TARGET_RATE:,}): {'met' if harvested.rate >= TARGET_RATE else 'NOT met'}; "
        f"{harvested.rate / ceiling.rate:.0%} of the chain's ceiling in this run"
    )
    print("every burn and bill minted exactly once; bills on chain equal SQL; no KOKU left")
    print(f"load average after the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
