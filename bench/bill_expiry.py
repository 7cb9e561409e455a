"""A season's rice bills expiring at once: 100,000 bills closed by the expiry job, what is left of
each gifted to its farmer, then the gifts' bill burns settled on chain by the town's worker.

    .venv/bin/python bench/bill_expiry.py [--works 10] [--bills 100000]
    .venv/bin/python bench/bill_expiry.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

One anvil (mined on demand, with the state history and block gas limit of the managed one) and
one throwaway database (a SQLite file, or with ``--database-url`` a database created on that
PostgreSQL server and dropped afterwards: ``tests/fixtures/databases.py``). One town, deployed as
the service does in development (KOKU and the rice bills, the town's minter, gas, caps and bill
allowance).

Set-up (bench only, not timed): ``--works`` works of one farmer, each with a countersigned yield
report, and ``--bills`` / ``--works`` supporters each holding a bill of every work. Bulk-inserted
as ``harvest.conversion`` writes a conversion, without the boards it converts (their KOKU, its
burns, investments and issuances play no part in expiry): per bill its conversion entry, its two
postings (the work's bill issuance account to the holder's bill account), the holder's bill
account with its balance, the bill, and its bill mint in the outbox, **confirmed** with its
recipient, hash and block. The mints are real: each work registered and its bills minted in
``mintBatch`` transactions signed with the town's minter key and mined before the rows are
inserted (printed for reference). One bill in seven had a third redeemed and shipped first: its
bill account holds the rest (the hold and the shipment folded into the conversion's postings) and
that third is burned on chain (untimed), so its gift is what is left.

Measured:

- **Expiry SQL**: ``expiry.gifts.expire_bills`` with a day past the town's ``bills_expire_on``,
  chunk by chunk as the worker's bill jobs run it (commits included): per bill a gift entry, its
  postings, the balances moved, a bill burn in the outbox, a notice, the bill closed.
- **Settlement**: wall time from starting the town's worker until every gift burn is confirmed
  in SQL: claims, ``burnBatch`` signing (each burn drawn on its bill's mint), recording, sending,
  mining, receipts.
- **Ceiling**, in the same run and on the same chain: as many bill burns in ``burnBatch`` on
  fresh bills of as many works (minted first, untimed), signed offline and sent by one thread
  with no database, at most 64 ahead of the chain as the worker sends them, timed until every
  transaction is mined. The machine is shared:
  read the worker's rate against it.

Checked at the end: every operation confirmed, each gift burned once on chain (none skipped), no
bill left outstanding on chain, and the gifted go equal to what the bill accounts held.

Measured 2026-11-27 on a quiet 2-CPU machine (load average about 1), anvil 1.7.1 mined on demand
every 1 s, defaults (100,000 bills of 10 works, 100,000 gift burns in 318 ``burnBatch`` of up to
315, 37,570 gas each):

- SQLite: expiry SQL 17.95 s (target 30 s: met); gift burns 6,605 operations/s (0.12 ms of
  worker CPU each), the chain's ceiling in the same run 9,027/s.
- PostgreSQL: expiry SQL 27.1 s (met, with the tables analysed after the set-up; 33-39 s
  without); gift burns 3,736 operations/s (0.15 ms CPU each; not met), ceiling 8,036/s.
- Later, on a busier machine, after a claim's rows and mints were read as Core rows with one
  array parameter (an ``IN`` list of 2,520 ids was a new statement for the driver to parse
  every claim; the lookup itself took under 10 ms on the analysed tables), its statements
  moved to a writer thread while the next batch is signed, and mined transactions were
  recorded beside the next claims: PostgreSQL gift burns 4,264-4,881/s (0.12-0.13 ms CPU
  each; the previous worker 3,128/s on the same machine), ceiling 7,511-7,827/s; expiry SQL
  27.3-34.1 s, varying with the server's checkpoints. Both CPUs are then busy: the worker's
  Python, the server's updates (10-20 ms per 315-row batch, a new version of each row in
  eight indexes) and anvil's execution.
- 2026-11-28, on a slower day (the same chain ceiling 5,828-7,425/s), PostgreSQL expiry SQL
  34.4 s with one session; then, with two sessions side by side (``SKIP LOCKED``), balances and
  closings as one ``UPDATE ... FROM unnest(...)`` per chunk and notices by ``COPY``:
  26.5-29.9 s in three runs (22.7 s in a fourth, Python 16 s of CPU, the server about 21 s).
  Gift burns 3,269-3,584/s that day (not met).
- 2026-12-08, with PostgreSQL claims committing on their writer thread while the next one reads
  its operations and each batch's transaction row inserted by its update's statement:
  PostgreSQL gift burns 5,090-6,373/s in a quiet hour (ceiling 8,128-8,871/s), 4,447-4,755/s
  in a slower one (the worker before the insert change 3,864-4,127/s beside them); expiry SQL
  17.0-25.5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test harness's temporary databases, bench/settlement.py

from bench.harvest_settlement import _mined, _timeline  # noqa: E402
from bench.settlement import Recipient, Result, Town, settle, setup_towns  # noqa: E402
from tests.fixtures.databases import migrate, temporary_database  # noqa: E402

from kokudaka.chain.bills import (  # noqa: E402
    BILL_MAX_BURN_BATCH_SIZE,
    bill_token_id,
)
from kokudaka.chain.client import ChainClient  # noqa: E402
from kokudaka.chain.deployment import ensure_deployment  # noqa: E402
from kokudaka.chain.node import AnvilNode  # noqa: E402
from kokudaka.core.ids import new_id  # noqa: E402
from kokudaka.core.settings import Environment, Settings  # noqa: E402
from kokudaka.expiry.gifts import expire_bills  # noqa: E402
from kokudaka.harvest.conversion import bill_account_key, bill_issuance_account_key  # noqa: E402
from kokudaka.ledger.service import chain_reference  # noqa: E402
from kokudaka.models import (  # noqa: E402
    Account,
    AccountKind,
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    EntryKind,
    Farmer,
    JournalEntry,
    MunicipalityPolicy,
    Posting,
    Role,
    User,
    Work,
    YieldReport,
    YieldReportState,
    utcnow,
)
from kokudaka.settlement.pool import SettlementPool  # noqa: E402
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT, ANVIL_STATE_HISTORY  # noqa: E402
from kokudaka.towns.minters import active_minters  # noqa: E402

SEASON = 2026
EXPIRES_ON = date(SEASON + 1, 3, 31)
#: The issue's targets, printed beside the figures.
TARGET_EXPIRY_SECONDS = 30.0
TARGET_RATE = 5_000
#: Transactions sent ahead of the chain (the worker's default ``max_in_flight``).
IN_FLIGHT = 64
#: A bill mint batch of one work: 80,000 + 32,000 + n x 56,000 gas under 2**24.
MINT_BATCH = 297


def mine_on_demand(url: str, block_time: float, stop: threading.Event) -> None:
    """What ``ChainRuntime._mine`` does for the service: a block every block time while
    transactions wait."""
    chain = ChainClient(url, request_timeout=60)
    while not stop.wait(block_time):
        if int(chain.rpc("txpool_status")["pending"], 16) > 0:
            chain.rpc("evm_mine")


def send(chain: ChainClient, raw: bytes, sent: list[str]) -> str:
    """Send ``raw`` once at most ``IN_FLIGHT`` of ``sent`` wait to be mined, as the worker does:
    anvil mining on demand dropped transactions from a pool of hundreds of full batches."""
    if len(sent) >= IN_FLIGHT:
        _mined(chain, [sent[-IN_FLIGHT]], timeout=900)
    return chain.send_raw(raw)


def setup_works(db: sessionmaker[Session], town: Town, works: int) -> list[uuid.UUID]:
    """``works`` works of one farmer, each with its countersigned yield report; their ids."""
    now = utcnow()
    with db.begin() as session:
        farmer = User(
            email="farmer@example.jp",
            password_hash="!",
            display_name="農家",
            role=Role.farmer,
            municipality_id=town.municipality_id,
        )
        session.add(farmer)
        session.flush()
        profile = Farmer(
            user_id=farmer.id, municipality_id=town.municipality_id, name="農家", farm_name="田"
        )
        session.add(profile)
        session.flush()
        made = []
        for number in range(works):
            work = Work(
                farmer_id=profile.id,
                municipality_id=town.municipality_id,
                season=SEASON,
                title=f"コシヒカリ {number}",
                variety="コシヒカリ",
                field_area_m2=10_000_000,
                planned_yield_go=10**9,
                offer_yen=10**12,
                bills_issued_at=now,
            )
            session.add(work)
            session.flush()
            session.add(
                YieldReport(
                    work_id=work.id,
                    municipality_id=town.municipality_id,
                    actual_yield_g=150 * 10**9,
                    actual_yield_go=10**9,
                    harvested_on=date(SEASON, 10, 1),
                    state=YieldReportState.countersigned,
                    filed_by_id=farmer.id,
                    reviewed_at=now,
                )
            )
            made.append(work.id)
    return made


def bill_go(i: int) -> int:
    return 100 + (i * 379) % 4900


def mint_on_chain(
    chain: ChainClient,
    key: bytes,
    minter: str,
    bills: list[tuple[uuid.UUID, str, int, str]],
) -> dict[str, tuple[str, int]]:
    """Register each work with its bill total and mint ``bills`` (work, holder, go, ref) in
    ``mintBatch`` transactions of one work each; ref -> (hash, block) of its mint."""
    fees = chain.fees()
    nonce = chain.pending_nonce(minter)
    by_work: dict[uuid.UUID, list[tuple[uuid.UUID, str, int, str]]] = {}
    for bill in bills:
        by_work.setdefault(bill[0], []).append(bill)
    hashes: list[str] = []
    carried: list[list[str]] = []
    for work_id, items in by_work.items():
        token = bill_token_id(work_id)
        signed = chain.bills.build_register_work_tx(
            key, token, SEASON, sum(go for _, _, go, _ in items), nonce, fees=fees
        )
        hashes.append(send(chain, signed.raw, hashes))
        carried.append([])
        nonce += 1
        for start in range(0, len(items), MINT_BATCH):
            batch = items[start : start + MINT_BATCH]
            signed = chain.bills.build_mint_batch_tx(
                key,
                [token] * len(batch),
                [holder for _, holder, _, _ in batch],
                [go for _, _, go, _ in batch],
                [bytes.fromhex(ref[2:]) for _, _, _, ref in batch],
                nonce,
                fees=fees,
            )
            hashes.append(send(chain, signed.raw, hashes))
            carried.append([ref for _, _, _, ref in batch])
            nonce += 1
    _mined(chain, hashes, timeout=900)
    landed: dict[str, tuple[str, int]] = {}
    for tx_hash, refs in zip(hashes, carried, strict=True):
        receipt = chain.rpc("eth_getTransactionReceipt", [tx_hash])
        assert int(receipt["status"], 16) == 1, f"set-up transaction {tx_hash} reverted"
        for ref in refs:
            landed[ref] = (tx_hash, int(receipt["blockNumber"], 16))
    return landed


def insert_bills(
    db: sessionmaker[Session],
    chain: ChainClient,
    settings: Settings,
    town: Town,
    works: list[uuid.UUID],
    people: list[Recipient],
) -> tuple[int, int]:
    """Every person a bill of every work, minted on chain, written as a conversion writes it
    with its mint confirmed; a part of one bill in seven already shipped. (bills, go left)."""
    now = utcnow()
    with db() as session:
        wallets: dict[uuid.UUID, str] = {
            user_id: address
            for user_id, address in session.execute(
                select(User.id, User.wallet_address).where(User.id.in_([p.user_id for p in people]))
            )
            if address is not None
        }
        reports = dict(session.execute(select(YieldReport.work_id, YieldReport.id)).all())
        (key,) = active_minters(session)
    planned = []
    i = 0
    for work_id in works:
        for person in people:
            planned.append((work_id, person, bill_go(i), new_id(), new_id()))
            i += 1
    landed = mint_on_chain(
        chain,
        key.private_key(settings),
        key.address,
        [
            (work_id, wallets[p.user_id], go, chain_reference(bill_id))
            for work_id, p, go, bill_id, _ in planned
        ],
    )
    entries: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    bills: list[dict[str, Any]] = []
    operations: list[dict[str, Any]] = []
    issuing = {work_id: new_id() for work_id in works}
    totals = dict.fromkeys(works, 0)
    left_go = 0
    for n, (work_id, person, go, bill_id, entry_id) in enumerate(planned):
        account_id = new_id()
        # One bill in seven had a third redeemed and shipped (burned) before it expired.
        left = go - go // 3 if n % 7 == 0 else go
        totals[work_id] += left
        left_go += left
        entries.append(
            {"id": entry_id, "kind": EntryKind.conversion, "municipality_id": town.municipality_id,
             "idempotency_key": f"conversion:{work_id}:{person.user_id}", "memo": "bench",
             "created_at": now}
        )  # fmt: skip
        postings += [
            {"id": new_id(), "entry_id": entry_id, "account_id": issuing[work_id],
             "amount_go": -left},
            {"id": new_id(), "entry_id": entry_id, "account_id": account_id, "amount_go": left},
        ]  # fmt: skip
        accounts.append(
            {"id": account_id, "key": bill_account_key(work_id, person.user_id),
             "kind": AccountKind.bill_holder, "municipality_id": town.municipality_id,
             "user_id": person.user_id, "work_id": work_id, "balance_go": left, "earned_go": 0,
             "created_at": now}
        )  # fmt: skip
        bills.append(
            {"id": bill_id, "entry_id": entry_id, "work_id": work_id,
             "municipality_id": town.municipality_id, "season": SEASON,
             "holder_id": person.user_id, "yield_report_id": reports[work_id], "board_go": go,
             "investment_go": go, "labour_go": 0, "amount_go": go, "gifted_go": 0,
             "created_at": now}
        )  # fmt: skip
        reference = chain_reference(bill_id)
        tx_hash, block = landed[reference]
        operations.append(
            {"id": new_id(), "asset": ChainAsset.bill, "kind": ChainOperationKind.mint,
             "entry_id": entry_id, "issuance_id": None, "bill_id": bill_id,
             "municipality_id": town.municipality_id, "user_id": person.user_id,
             "reference": reference, "amount_go": go, "state": ChainState.confirmed,
             "attempts": 1, "next_attempt_at": now,
             "recipient_address": wallets[person.user_id], "tx_hash": tx_hash,
             "block_number": block, "created_at": now, "updated_at": now}
        )  # fmt: skip
    accounts += [
        {"id": issuing[work_id], "key": bill_issuance_account_key(work_id),
         "kind": AccountKind.bill_issuance, "municipality_id": town.municipality_id,
         "user_id": None, "work_id": work_id, "balance_go": -totals[work_id], "earned_go": 0,
         "created_at": now}
        for work_id in works
    ]  # fmt: skip
    with db.begin() as session:
        for table, rows in (
            (JournalEntry, entries),
            (Account, accounts),
            (Posting, postings),
            (Bill, bills),
            (ChainOperation, operations),
        ):
            for start in range(0, len(rows), 20_000):
                session.execute(insert(table), rows[start : start + 20_000])
    # What was shipped is gone on chain too: burned, as its shipment's burn did.
    burn_shipped(chain, key.private_key(settings), key.address, planned, wallets)
    return len(planned), left_go


def burn_shipped(
    chain: ChainClient,
    key: bytes,
    minter: str,
    planned: list[tuple[uuid.UUID, Recipient, int, uuid.UUID, uuid.UUID]],
    wallets: dict[uuid.UUID, str],
) -> None:
    """The shipments' burns of the bills redeemed in part (sent directly: untimed set-up)."""
    items = [item for n, item in enumerate(planned) if n % 7 == 0]
    fees = chain.fees()
    nonce = chain.pending_nonce(minter)
    hashes: list[str] = []
    for start in range(0, len(items), BILL_MAX_BURN_BATCH_SIZE):
        batch = items[start : start + BILL_MAX_BURN_BATCH_SIZE]
        signed = chain.bills.build_burn_batch_tx(
            key,
            [wallets[p.user_id] for _, p, _, _, _ in batch],
            [bill_token_id(w) for w, _, _, _, _ in batch],
            [go // 3 for _, _, go, _, _ in batch],
            [uuid.uuid4().bytes * 2 for _ in batch],
            [bytes.fromhex(chain_reference(b)[2:]) for _, _, _, b, _ in batch],
            nonce,
            fees=fees,
        )
        hashes.append(send(chain, signed.raw, hashes))
        nonce += 1
    _mined(chain, hashes, timeout=900)


def expire(db: sessionmaker[Session], town: Town) -> tuple[float, Any]:
    """The town's bills expire on ``EXPIRES_ON``; the job runs the day after (timed)."""
    with db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == town.municipality_id)
            .values(bills_expire_on=EXPIRES_ON)
        )
    started = time.perf_counter()
    run = expire_bills(db, EXPIRES_ON + timedelta(days=1))
    return time.perf_counter() - started, run


def chain_ceiling(
    chain: ChainClient, db: sessionmaker[Session], settings: Settings, count: int, works: int
) -> Result:
    """``count`` bill burns in ``burnBatch`` (each emptying a fresh bill, works mixed in every
    batch), signed and sent with no database; the bills minted first, untimed."""
    with db() as session:
        (key,) = active_minters(session)
    private_key = key.private_key(settings)
    work_ids = [uuid.uuid4() for _ in range(works)]
    holders = ["0x" + os.urandom(20).hex() for _ in range(count)]
    items = [
        (work_ids[i % works], holders[i], bill_go(i), chain_reference(uuid.uuid4()))
        for i in range(count)
    ]
    mint_on_chain(chain, private_key, key.address, items)
    fees = chain.fees()
    nonce = chain.pending_nonce(key.address)
    hashes: list[str] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, count, BILL_MAX_BURN_BATCH_SIZE):
        batch = items[start : start + BILL_MAX_BURN_BATCH_SIZE]
        signed = chain.bills.build_burn_batch_tx(
            private_key,
            [holder for _, holder, _, _ in batch],
            [bill_token_id(work) for work, _, _, _ in batch],
            [go for _, _, go, _ in batch],
            [uuid.uuid4().bytes * 2 for _ in batch],
            [bytes.fromhex(ref[2:]) for _, _, _, ref in batch],
            nonce,
            fees=fees,
        )
        hashes.append(send(chain, signed.raw, hashes))
        nonce += 1
    blocks = _mined(chain, hashes, timeout=900)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    receipts = [chain.rpc("eth_getTransactionReceipt", [h]) for h in hashes]
    assert all(int(r["status"], 16) == 1 for r in receipts), "a ceiling transaction reverted"
    return Result(
        "ceiling (no database)",
        count,
        len(hashes),
        1,
        seconds,
        cpu_seconds,
        sum(int(r["gasUsed"], 16) for r in receipts),
        len(blocks),
    )


def check(
    db: sessionmaker[Session],
    chain: ChainClient,
    deployment: ChainDeployment,
    works: list[uuid.UUID],
    left_go: int,
) -> None:
    """Every operation confirmed; each gift burned once; nothing outstanding on chain."""
    with db() as session:
        states = dict(
            session.execute(
                select(ChainOperation.state, func.count()).group_by(ChainOperation.state)
            ).all()
        )
        gifts = dict(
            session.execute(
                select(ChainOperation.reference, ChainOperation.amount_go).where(
                    ChainOperation.kind == ChainOperationKind.burn
                )
            ).all()
        )
        gifted = session.scalar(select(func.sum(Bill.gifted_go)))
    assert set(states) == {ChainState.confirmed}, states
    assert sum(gifts.values()) == gifted == left_go, "gifts differ from the bills' balances"
    burned = {
        "0x" + e.ref.hex(): e.amount
        for e in chain.bills.burned_events(deployment.deployed_block)
        if "0x" + e.ref.hex() in gifts
    }
    assert burned == gifts, "a gift burned never, twice or of another amount"
    assert not list(chain.bills.burned_events(deployment.deployed_block, skipped=True))
    assert all(chain.bills.total_supply(bill_token_id(w)) == 0 for w in works), "bills left"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--works", type=int, default=10)
    parser.add_argument("--bills", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=315)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    holders = args.bills // args.works

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
        # As the service runs it: blocks mined on demand, a few blocks' states kept. Interval
        # mining keeps 1,500 copies of the state: with 200,000 bills that passed 11 GB.
        node = AnvilNode(
            Path(tmp) / "anvil",
            gas_limit=ANVIL_GAS_LIMIT,
            state_history=ANVIL_STATE_HISTORY,
            mine_on_demand=True,
        )
        stop = threading.Event()
        with node:
            miner = threading.Thread(
                target=mine_on_demand, args=(node.rpc_url, args.block_time, stop), daemon=True
            )
            miner.start()
            started = time.perf_counter()
            (town,), people = setup_towns(db, 1, holders)
            works = setup_works(db, town, args.works)
            chain = ChainClient(node.rpc_url, request_timeout=60)
            deployment = ensure_deployment(db, chain, settings)
            with db() as session:
                (minter,) = active_minters(session)
            # The set-up and the ceiling sign hundreds of 16M-gas batches ahead of the chain:
            # more gas money than development gives a town's key (a dev chain: set, not sent).
            chain.rpc("anvil_setBalance", [minter.address, hex(10**24)])
            bills, left_go = insert_bills(db, chain, settings, town, works, people)
            # The bills were written a moment ago, not a season ago: give the tables the
            # statistics autovacuum would have gathered by the expiry date (PostgreSQL planned
            # the expiry's chunk query on a table it still believed empty).
            if args.database_url:
                with engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            print(
                f"setup: {bills:,} bills of {args.works} works ({left_go:,} go left) minted and "
                f"inserted in {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            expiry_seconds, run = expire(db, town)
            assert (run.bills, run.gifted_go) == (bills, left_go), run
            print(f"  expiry: {run.gifts:,} gifts in {expiry_seconds:.2f}s", file=sys.stderr)
            pool = SettlementPool(
                db,
                lambda: ChainClient(
                    node.rpc_url, koku_address=deployment.token_address, request_timeout=60
                ),
                settings,
                deployment,
                batch_size=args.batch_size,
                max_in_flight=args.in_flight,
            )
            settling_from = utcnow()
            burns = settle("gift burns", db, pool, chain, run.gifts)
            timeline = _timeline(db, settling_from)
            check(db, chain, deployment, works, left_go)
            ceiling = chain_ceiling(chain, db, settings, run.gifts, args.works)
            stop.set()
            miner.join()
        engine.dispose()

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{bills:,} bills of {args.works} works ({holders:,} holders each); {database}; anvil "
        f"mined on demand every {args.block_time:g}s, gas limit {ANVIL_GAS_LIMIT:,}; batch "
        f"{args.batch_size}, up to {args.in_flight} transactions in flight"
    )
    print(
        f"expiry SQL (expire_bills, chunks committed): {expiry_seconds:.2f}s for {run.bills:,} "
        f"bills, {run.gifts:,} gifts of {run.gifted_go:,} go (target <= "
        f"{TARGET_EXPIRY_SECONDS:.0f}s): "
        f"{'met' if expiry_seconds <= TARGET_EXPIRY_SECONDS else 'NOT met'}"
    )
    print(
        f"{'mode':<22}{'operations':>10}{'txs':>8}{'minters':>8}{'seconds':>9}"
        f"{'operations/s':>13}{'gas/operation':>13}{'blocks':>8}{'CPU ms/op':>14}"
    )
    print(burns.row())
    print(ceiling.row())
    print(
        "the worker's timeline: transactions signed and recorded from "
        f"+{timeline[0]:.2f}s to +{timeline[1]:.2f}s, their outcomes recorded by "
        f"+{timeline[2]:.2f}s"
    )
    print(
        f"gift burns: {burns.rate:,.0f} operations/s confirmed (target >= {TARGET_RATE:,}): "
        f"{'met' if burns.rate >= TARGET_RATE else 'NOT met'}; "
        f"{burns.rate / ceiling.rate:.0%} of the chain's ceiling in this run"
    )
    print("every gift burned exactly once, none skipped; no bill left on chain")
    print(f"load average after the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
