"""Settlement throughput with towns as issuers: pending issuances in SQL to confirmed on chain,
13 towns each signing with its own minter key, batched vs one per transaction, in one run.

    .venv/bin/python bench/settlement.py [--towns 13] [--issuances 20000] [--single 1000]
    .venv/bin/python bench/settlement.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

One anvil (interval mining and block gas limit as the managed one, see settlement/runtime.py) and
one throwaway database: a SQLite file, or with ``--database-url`` a database created on that
PostgreSQL server and dropped afterwards (``tests/fixtures/databases.py``). ``--towns`` towns
each get a minter key, gas and a cap for the season on chain, as the service does in development
(``ensure_deployment``). The real settlement workers (``SettlementPool``: one per town minter,
each in its own thread, as ``kokudaka serve`` runs them) then settle everything twice: first
``--issuances`` pending issuances spread evenly across the towns, in ``mintBatch`` transactions
of up to ``--batch-size`` (pipelined: up to ``--in-flight`` transactions per minter sent before
their receipts), then ``--single`` more with a batch size of 1 (one transaction per mint, every
town in parallel and pipelined the same way), on the same chain.

Measured: wall time from starting the workers until every operation is confirmed in SQL, so it
includes making the workers (a key decrypted per town), claiming, signing, recording, sending,
mining and recording receipts.

Setup shortcut (bench only): the issuances, journal entries, postings and pending chain
operations are bulk-inserted straight into the tables, as ``ledger.service.issue`` would have
written them, instead of 20,000 calls through the service; the workers cannot tell the
difference. Recipients: ``--recipients`` supporters (2,000 by default) shared by the towns, so
most items credit an address that already holds KOKU and the first item for each a fresh one.

Checked at the end: as many ``Minted`` events as issuances, each town's carrying its town id and
sent by its own minter, and ``totalSupply`` equal to the go issued in SQL.

The ceiling, in the same run and on the same chain: as many mints as the batched phase, in
batches of the same size from the same towns' keys, signed offline and sent back to back by
one thread with no database at all, timed until every one is mined. The machine is shared,
so the workers' rate is best read against it (and against its CPU per issuance).

Measured 2026-11-27 on a quiet 2-CPU machine (load average under 1), anvil 1.7.1, 1 s blocks,
defaults, ``--single 100``:

- SQLite: batched 20,000 at 3,793-6,131 issuances/s, above 5,000 in 4 of 5 runs (0.15-0.26 ms
  of worker CPU each; thirteen workers take turns at one write lock); one per transaction
  40-54/s; 71-99x. PostgreSQL: 5,084-5,252/s in 4 of 4 runs (0.14-0.15 ms); 50-51/s;
  96-105x. Chain ceiling 12,600-14,650/s when no transaction of the burst was dropped.
- Before, 3,392/s (SQLite) and 3,670/s (PostgreSQL) under load 2: a profile of the workers'
  threads showed ~1 ms per JSON-RPC request in ``requests`` reading the proxy settings from
  the environment and looking for ``~/.netrc``. ``chain.connection.rpc_session`` reads them
  once; claims take eight batches a transaction; the index on (municipality, state, next
  attempt) serves the claim's order.
- The wait for the phase to end is one index probe every 20 ms: it counted every confirmed
  operation before, which on PostgreSQL kept one of the two cores busy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test harness's temporary databases

from tests.fixtures.databases import migrate, temporary_database  # noqa: E402

from kokudaka.chain.client import ChainClient  # noqa: E402
from kokudaka.chain.deployment import ensure_deployment  # noqa: E402
from kokudaka.chain.errors import ChainError  # noqa: E402
from kokudaka.chain.node import AnvilNode  # noqa: E402
from kokudaka.chain.refs import town_id  # noqa: E402
from kokudaka.core.db import create_sessionmaker  # noqa: E402
from kokudaka.core.engines import create_db_engine  # noqa: E402
from kokudaka.core.ids import new_id  # noqa: E402
from kokudaka.core.settings import Environment, Settings  # noqa: E402
from kokudaka.ledger.derived import recompute_balances  # noqa: E402
from kokudaka.ledger.service import chain_reference  # noqa: E402
from kokudaka.models import Account as LedgerAccount  # noqa: E402
from kokudaka.models import (  # noqa: E402
    AccountKind,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    EntryKind,
    Issuance,
    IssuanceKind,
    JournalEntry,
    Municipality,
    MunicipalityPolicy,
    Posting,
    Region,
    Role,
    User,
    utcnow,
)
from kokudaka.settlement.pool import SettlementPool  # noqa: E402
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT  # noqa: E402
from kokudaka.towns.minters import active_minters  # noqa: E402

SEASON = 2026
#: The issue's targets, printed beside the figures.
TARGET_RATE = 5_000
TARGET_RATIO = 50


@dataclass(frozen=True)
class Town:
    municipality_id: uuid.UUID
    issuance_account_id: uuid.UUID


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    holder_account_id: uuid.UUID


def setup_towns(
    db: sessionmaker[Session], towns: int, recipients: int
) -> tuple[list[Town], list[Recipient]]:
    now = utcnow()
    with db.begin() as session:
        region = Region(code="aizu", name="会津")
        session.add(region)
        session.flush()
        made: list[Town] = []
        for number in range(towns):
            town = Municipality(region_id=region.id, code=f"town{number:02d}", name=f"町{number}")
            session.add(town)
            session.flush()
            session.add(
                MunicipalityPolicy(
                    municipality_id=town.id,
                    season=SEASON,
                    price_yen_per_go=10,
                    volunteer_go_per_hour=500,
                    yearly_cap_go=10**15,
                )
            )
            account_id = new_id()
            session.execute(
                insert(LedgerAccount).values(
                    id=account_id,
                    key=f"issuance:{town.id}",
                    kind=AccountKind.issuance,
                    municipality_id=town.id,
                    created_at=now,
                )
            )
            made.append(Town(town.id, account_id))
        people = [Recipient(new_id(), new_id()) for _ in range(recipients)]
        session.execute(
            insert(User),
            [
                {
                    "id": person.user_id,
                    "email": f"supporter{i}@example.jp",
                    "password_hash": "!",
                    "display_name": f"supporter {i}",
                    "role": Role.supporter,
                    # Random addresses: as good as derived ones here, and 100x cheaper to make.
                    "wallet_address": to_checksum_address("0x" + os.urandom(20).hex()),
                    "created_at": now,
                }
                for i, person in enumerate(people)
            ],
        )
        session.execute(
            insert(LedgerAccount),
            [
                {
                    "id": person.holder_account_id,
                    "key": f"holder:{person.user_id}",
                    "kind": AccountKind.holder,
                    "user_id": person.user_id,
                    "created_at": now,
                }
                for person in people
            ],
        )
    return made, people


def insert_pending(
    db: sessionmaker[Session],
    towns: list[Town],
    people: list[Recipient],
    count: int,
    offset: int,
) -> int:
    """``count`` issuances spread evenly across ``towns``, with their entries, postings and
    pending mints; returns the total go."""
    now = utcnow()
    entries, postings, issuances, operations = [], [], [], []
    total = 0
    for i in range(offset, offset + count):
        town = towns[i % len(towns)]
        person = people[i % len(people)]
        amount = 100 + (i * 379) % 4900
        total += amount
        entry_id, issuance_id = new_id(), new_id()
        entries.append(
            {
                "id": entry_id,
                "kind": EntryKind.issuance,
                "municipality_id": town.municipality_id,
                "idempotency_key": f"bench:{i}",
                "memo": "bench",
                "created_at": now,
            }
        )
        postings += [
            {"id": new_id(), "entry_id": entry_id, "account_id": town.issuance_account_id,
             "amount_go": -amount},
            {"id": new_id(), "entry_id": entry_id, "account_id": person.holder_account_id,
             "amount_go": amount},
        ]  # fmt: skip
        issuances.append(
            {
                "id": issuance_id,
                "entry_id": entry_id,
                "kind": IssuanceKind.contribution,
                "municipality_id": town.municipality_id,
                "season": SEASON,
                "recipient_id": person.user_id,
                "amount_go": amount,
                "go_per_hour": 500,
                "created_at": now,
            }
        )
        operations.append(
            {
                "id": new_id(),
                "kind": ChainOperationKind.mint,
                "entry_id": entry_id,
                "issuance_id": issuance_id,
                "municipality_id": town.municipality_id,
                "user_id": person.user_id,
                "reference": chain_reference(issuance_id),
                "amount_go": amount,
                "state": ChainState.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    with db.begin() as session:
        session.execute(insert(JournalEntry), entries)
        session.execute(insert(Posting), postings)
        session.execute(insert(Issuance), issuances)
        session.execute(insert(ChainOperation), operations)
        recompute_balances(session)
    return total


@dataclass(frozen=True)
class Result:
    label: str
    issuances: int
    transactions: int
    senders: int
    seconds: float
    cpu_seconds: float
    """CPU time of this process (the workers; anvil is another process)."""
    gas: int
    blocks: int

    @property
    def rate(self) -> float:
        return self.issuances / self.seconds

    def row(self) -> str:
        return (
            f"{self.label:<22}{self.issuances:>10,}{self.transactions:>8,}{self.senders:>8,}"
            f"{self.seconds:>9.2f}{self.rate:>13,.0f}{self.gas / self.issuances:>13,.0f}"
            f"{self.blocks:>8,}{1000 * self.cpu_seconds / self.issuances:>14.2f}"
        )


def confirmed(db: sessionmaker[Session]) -> int:
    with db() as session:
        return int(
            session.scalar(select(func.count()).where(ChainOperation.state == ChainState.confirmed))
            or 0
        )


def unsettled(db: sessionmaker[Session]) -> bool:
    """Whether any operation is still pending or in flight: one index probe.

    The wait polls every 20 ms. Counting the confirmed operations instead cost PostgreSQL
    40-50 ms a time over 100,000 rows, so the benchmark's own polling kept one of the
    machine's two cores busy beside the worker it was timing.
    """
    with db() as session:
        return (
            session.scalar(
                select(ChainOperation.id)
                .where(ChainOperation.state.in_([ChainState.pending, ChainState.submitted]))
                .limit(1)
            )
            is not None
        )


def settle(
    label: str,
    db: sessionmaker[Session],
    pool: SettlementPool,
    chain: ChainClient,
    count: int,
    timeout: float = 900.0,
) -> Result:
    """Run the towns' workers in their threads until nothing is pending or in flight, which
    must be ``count`` more operations confirmed."""
    with db() as session:
        known = set(session.scalars(select(ChainTransaction.id)))
    goal = confirmed(db) + count
    first_block = chain.block_number()
    stop = threading.Event()
    runner = threading.Thread(target=pool.run_forever, args=(stop,), daemon=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    runner.start()
    try:
        while unsettled(db):
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{label}: not settled within {timeout:.0f}s")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    finally:
        stop.set()
        runner.join(timeout=60)
    assert confirmed(db) == goal, f"{label}: {goal - confirmed(db):,} operations not confirmed"
    with db() as session:
        txs = [tx for tx in session.scalars(select(ChainTransaction)) if tx.id not in known]
    assert all(tx.gas_used for tx in txs), "a transaction without a receipt"
    print(
        f"  {label}: {count:,} confirmed in {seconds:.2f}s over blocks {first_block + 1}.."
        f"{chain.block_number()}",
        file=sys.stderr,
    )
    return Result(
        label,
        count,
        len(txs),
        len({tx.sender for tx in txs}),
        seconds,
        cpu_seconds,
        sum(tx.gas_used or 0 for tx in txs),
        len({tx.block_number for tx in txs}),
    )


def check(
    db: sessionmaker[Session], chain: ChainClient, deployment: ChainDeployment, total_go: int
) -> int:
    """Every issuance minted once, in its town's namespace, by its town's minter."""
    with db() as session:
        minters = {key.town: key.address for key in active_minters(session)}
        per_town = Counter(
            town_id(municipality_id)
            for municipality_id in session.scalars(select(ChainOperation.municipality_id))
        )
        senders = dict(
            session.execute(select(ChainTransaction.tx_hash, ChainTransaction.sender)).all()
        )
    events = list(chain.minted_events(deployment.deployed_block))
    assert Counter(event.town for event in events) == per_town, "Minted events per town"
    assert len({event.ref for event in events}) == len(events), "a ref minted twice"
    for event in events:
        assert senders[event.tx_hash] == minters[event.town], "minted by another town's key"
    assert chain.total_supply() == total_go, "totalSupply differs from SQL"
    return len(events)


def chain_ceiling(
    chain: ChainClient,
    db: sessionmaker[Session],
    settings: Settings,
    count: int,
    batch_size: int,
) -> Result:
    """``count`` mints across the towns, signed and sent with no database (see the notes)."""
    with db() as session:
        keys = active_minters(session)
    signers = [(key, key.private_key(settings)) for key in keys]
    per_town = count // len(signers)
    fees = chain.fees()
    hashes: list[str] = []
    raws: dict[str, bytes] = {}
    resent = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for key, private_key in signers:
        nonce = chain.pending_nonce(key.address)
        for start in range(0, per_town, batch_size):
            size = min(batch_size, per_town - start)
            signed = chain.build_mint_batch_tx(
                private_key,
                SEASON,
                ["0x" + os.urandom(20).hex() for _ in range(size)],
                [100 + (i * 379) % 4900 for i in range(size)],
                [b"\0" * 16 + uuid.uuid4().bytes for _ in range(size)],
                nonce,
                fees=fees,
            )
            chain.send_raw(signed.raw)
            hashes.append(signed.tx_hash)
            raws[signed.tx_hash] = signed.raw
            nonce += 1
    blocks = set()
    deadline = time.perf_counter() + 120
    for tx_hash in hashes:
        unseen_since = None
        # None too while anvil moves a transaction from its pool into a block.
        while (tx := chain.rpc("eth_getTransactionByHash", [tx_hash])) is None or tx[
            "blockNumber"
        ] is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"ceiling: {tx_hash} not mined")
            if tx is not None:
                unseen_since = None
            elif unseen_since is None:
                unseen_since = time.perf_counter()
            elif time.perf_counter() - unseen_since > 0.3:
                # Now and then anvil's pool drops one of a burst of large transactions (its
                # nonce not taken, the pool empty): the same signed bytes are sent again, as
                # the settlement worker does, and the time it costs counts.
                with contextlib.suppress(ChainError):
                    chain.send_raw(raws[tx_hash])
                resent += 1
                unseen_since = None
            time.sleep(0.02)
        blocks.add(int(tx["blockNumber"], 16))
    if resent:
        print(f"  ceiling: {resent} transaction(s) lost by the node's pool and sent again")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    receipts = [chain.rpc("eth_getTransactionReceipt", [h]) for h in hashes]
    assert all(int(r["status"], 16) == 1 for r in receipts), "a ceiling batch reverted"
    return Result(
        "ceiling (no database)",
        per_town * len(signers),
        len(hashes),
        len(signers),
        seconds,
        cpu_seconds,
        sum(int(r["gasUsed"], 16) for r in receipts),
        len(blocks),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--towns", type=int, default=13)
    parser.add_argument("--issuances", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=1_000, help="issuances one per transaction")
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=315)
    parser.add_argument("--in-flight", type=int, default=64, help="per minter")
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        temporary_database(args.database_url, Path(tmp), prefix="kokudaka_bench") as url,
    ):
        migrate(url)
        engine = create_db_engine(url)
        db = create_sessionmaker(engine)
        settings = Settings(
            env=Environment.test,
            database_url=url,
            data_dir=Path(tmp),
            settlement_batch_size=args.batch_size,
            # The default: the pool wakes the towns' workers at each block.
            settlement_poll_seconds=0.5,
        )
        started = time.perf_counter()
        towns, people = setup_towns(db, args.towns, args.recipients)
        total_go = insert_pending(db, towns, people, args.issuances, 0)
        print(
            f"setup: {args.issuances:,} pending issuances of {args.towns} towns to "
            f"{args.recipients:,} recipients inserted in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        node = AnvilNode(Path(tmp) / "anvil", block_time=args.block_time, gas_limit=ANVIL_GAS_LIMIT)
        with node:
            chain = ChainClient(node.rpc_url, request_timeout=60)
            # Development: deploys, makes and funds the towns' minter keys, sets their caps.
            deployment = ensure_deployment(db, chain, settings)

            def pool(batch_size: int) -> SettlementPool:
                return SettlementPool(
                    db,
                    lambda: ChainClient(
                        node.rpc_url, koku_address=deployment.token_address, request_timeout=60
                    ),
                    settings,
                    deployment,
                    batch_size=batch_size,
                    max_in_flight=args.in_flight,
                )

            batched = settle("batched", db, pool(args.batch_size), chain, args.issuances)
            total_go += insert_pending(db, towns, people, args.single, args.issuances)
            single = settle("one per transaction", db, pool(1), chain, args.single)
            minted = check(db, chain, deployment, total_go)
            assert minted == args.issuances + args.single, (minted, args.issuances + args.single)
            ceiling = chain_ceiling(chain, db, settings, args.issuances, args.batch_size)
        engine.dispose()

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{args.towns} towns, each its own minter; anvil {args.block_time:g}s blocks, gas limit "
        f"{ANVIL_GAS_LIMIT:,}; {database}; batch {args.batch_size}, up to {args.in_flight} "
        "transactions in flight per minter"
    )
    print(
        f"{'mode':<22}{'issuances':>10}{'txs':>8}{'minters':>8}{'seconds':>9}{'issuances/s':>13}"
        f"{'gas/issuance':>13}{'blocks':>8}{'CPU ms/issue':>14}"
    )
    print(batched.row())
    print(single.row())
    print(ceiling.row())
    ratio = batched.rate / single.rate
    print(
        f"batched: {batched.rate:,.0f} issuances/s confirmed (target >= {TARGET_RATE:,}): "
        f"{'met' if batched.rate >= TARGET_RATE else 'NOT met'}; "
        f"{batched.rate / ceiling.rate:.0%} of the chain's ceiling in this run"
    )
    print(
        f"batched is {ratio:.0f}x the one-per-transaction rate (target >= {TARGET_RATIO}x): "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}"
    )
    print(
        f"every issuance minted exactly once by its town's minter: {minted:,} Minted events, "
        "totalSupply matches SQL"
    )
    print(f"load average after the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
