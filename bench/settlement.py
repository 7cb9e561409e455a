"""Settlement throughput: pending issuances in SQL to confirmed on chain, batched vs one per tx.

    .venv/bin/python bench/settlement.py [--issuances 20000] [--single 1000] [--block-time 1]

One anvil (interval mining and block gas limit as the managed one, see settlement/runtime.py) and
one SQLite database, both throwaway. The real SettlementWorker settles everything twice: first
``--issuances`` pending issuances in batches of ``--batch-size`` (pipelined: up to
``--in-flight`` transactions sent before their receipts), then ``--single`` more with a batch
size of 1 (one transaction per mint, pipelined the same way), on the same chain.

Measured: wall time from the first claim until every operation is confirmed in SQL, so it
includes claiming, signing, recording, sending, mining and recording receipts.

Setup shortcut (bench only): the issuances, journal entries, postings and pending chain
operations are bulk-inserted straight into the tables, as ``ledger.service.issue`` would have
written them, instead of 20,000 calls through the service; the worker cannot tell the
difference. Recipients: ``--recipients`` supporters (2,000 by default), so most items credit an
address that already holds KOKU (~33k gas) and the first item for each a fresh one (~50k).

Measured (2 CPUs shared by Python and anvil 1.7.1, 1 s blocks, SQLite, defaults), three runs:
batched 20,000 in 3.65-4.14 s = 4,830-5,480 issuances/s at 35,175 gas each (64 transactions,
3-4 blocks); one per transaction 44-45/s at 68,750 gas; batched 109-122x. The run time is
quantised by the 1 s block tick: the last batch lands in the 3rd or the 4th block. What bounds
it is Python CPU in the worker, ~40 ms per 315-item batch: ~17 ms in ``build_mint_batch_tx``
(eth_abi encoding ~6 ms; pure-Python ECDSA ~6 ms, ~1 ms with ``coincurve``, which eth_keys uses
when installed), the rest SQL. The one-per-transaction path is bound the same way (~22 ms per
transaction) and does not go faster with more in flight.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from eth_utils.address import to_checksum_address
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import ensure_deployment
from kokudaka.chain.node import AnvilNode
from kokudaka.core.db import create_db_engine, create_sessionmaker
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Environment, Settings
from kokudaka.ledger.derived import recompute_balances
from kokudaka.ledger.service import chain_reference
from kokudaka.models import (
    Account as LedgerAccount,
)
from kokudaka.models import (
    AccountKind,
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
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT
from kokudaka.settlement.worker import SettlementWorker

ROOT = Path(__file__).resolve().parents[1]
SEASON = 2026


@dataclass
class Town:
    municipality_id: uuid.UUID
    issuance_account_id: uuid.UUID
    users: list[tuple[uuid.UUID, uuid.UUID]]
    """(user id, holder account id)"""


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def setup_town(db: sessionmaker[Session], recipients: int) -> Town:
    now = utcnow()
    with db.begin() as session:
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
                price_yen_per_go=10,
                volunteer_go_per_hour=500,
                yearly_cap_go=10**15,
            )
        )
        issuance_account = new_id()
        session.execute(
            insert(LedgerAccount).values(
                id=issuance_account,
                key=f"issuance:{town.id}",
                kind=AccountKind.issuance,
                municipality_id=town.id,
                created_at=now,
            )
        )
        users = [(new_id(), new_id()) for _ in range(recipients)]
        session.execute(
            insert(User),
            [
                {
                    "id": user_id,
                    "email": f"supporter{i}@example.jp",
                    "password_hash": "!",
                    "display_name": f"supporter {i}",
                    "role": Role.supporter,
                    # Random addresses: as good as derived ones here, and 100x cheaper to make.
                    "wallet_address": to_checksum_address("0x" + os.urandom(20).hex()),
                    "created_at": now,
                }
                for i, (user_id, _) in enumerate(users)
            ],
        )
        session.execute(
            insert(LedgerAccount),
            [
                {
                    "id": account_id,
                    "key": f"holder:{user_id}",
                    "kind": AccountKind.holder,
                    "user_id": user_id,
                    "created_at": now,
                }
                for user_id, account_id in users
            ],
        )
        return Town(town.id, issuance_account, users)


def insert_pending(db: sessionmaker[Session], town: Town, count: int, offset: int) -> int:
    """``count`` issuances with their entries, postings and pending mints; returns total go."""
    now = utcnow()
    entries, postings, issuances, operations = [], [], [], []
    total = 0
    for i in range(offset, offset + count):
        user_id, holder = town.users[i % len(town.users)]
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
            {"id": new_id(), "entry_id": entry_id, "account_id": holder, "amount_go": amount},
        ]  # fmt: skip
        issuances.append(
            {
                "id": issuance_id,
                "entry_id": entry_id,
                "kind": IssuanceKind.contribution,
                "municipality_id": town.municipality_id,
                "season": SEASON,
                "recipient_id": user_id,
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
                "user_id": user_id,
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


@dataclass
class Result:
    label: str
    issuances: int
    transactions: int
    seconds: float
    gas: int
    blocks: int

    def row(self) -> str:
        return (
            f"{self.label:<22}{self.issuances:>10,}{self.transactions:>8,}{self.seconds:>9.2f}"
            f"{self.issuances / self.seconds:>13,.0f}{self.gas / self.issuances:>13,.0f}"
            f"{self.blocks:>8,}"
        )


def settle(
    label: str,
    db: sessionmaker[Session],
    worker: SettlementWorker,
    chain: ChainClient,
    count: int,
) -> Result:
    with db() as session:
        known = set(session.scalars(select(ChainTransaction.id)))
    first_block = chain.block_number()
    started = time.perf_counter()
    worker.settle(timeout=600, pause=0.01)
    seconds = time.perf_counter() - started
    with db() as session:
        txs = [tx for tx in session.scalars(select(ChainTransaction)) if tx.id not in known]
        confirmed = session.scalar(
            select(func.count()).where(ChainOperation.state == ChainState.confirmed)
        )
    assert all(tx.gas_used for tx in txs), "a transaction without a receipt"
    blocks = len({tx.block_number for tx in txs})
    print(
        f"  {label}: {count:,} confirmed in {seconds:.2f}s over blocks {first_block + 1}.."
        f"{chain.block_number()} ({confirmed:,} confirmed in total)",
        file=sys.stderr,
    )
    return Result(label, count, len(txs), seconds, sum(tx.gas_used or 0 for tx in txs), blocks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuances", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=1_000, help="issuances one per transaction")
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=315)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--block-time", type=float, default=1.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        engine = create_db_engine(url)
        db = create_sessionmaker(engine)
        settings = Settings(
            env=Environment.test,
            database_url=url,
            data_dir=Path(tmp),
            settlement_batch_size=args.batch_size,
            settlement_poll_seconds=0.01,
        )
        started = time.perf_counter()
        town = setup_town(db, args.recipients)
        total_go = insert_pending(db, town, args.issuances, 0)
        print(
            f"setup: {args.issuances:,} pending issuances to {args.recipients:,} recipients "
            f"inserted in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        node = AnvilNode(Path(tmp) / "anvil", block_time=args.block_time, gas_limit=ANVIL_GAS_LIMIT)
        with node:
            chain = ChainClient(node.rpc_url, request_timeout=60)
            deployment = ensure_deployment(db, chain, settings)

            def worker(batch_size: int) -> SettlementWorker:
                return SettlementWorker(
                    db,
                    ChainClient(node.rpc_url, request_timeout=60),
                    settings,
                    deployment,
                    batch_size=batch_size,
                    max_in_flight=args.in_flight,
                )

            batched = settle("batched", db, worker(args.batch_size), chain, args.issuances)
            total_go += insert_pending(db, town, args.single, args.issuances)
            single = settle("one per transaction", db, worker(1), chain, args.single)

            minted = sum(1 for _ in chain.minted_events(deployment.deployed_block))
            assert minted == args.issuances + args.single, (minted, args.issuances + args.single)
            assert chain.total_supply() == total_go
        engine.dispose()

    print(
        f"\nanvil {args.block_time:g}s blocks, gas limit {ANVIL_GAS_LIMIT:,}; SQLite; "
        f"batch {args.batch_size}, up to {args.in_flight} transactions in flight"
    )
    print(
        f"{'mode':<22}{'issuances':>10}{'txs':>8}{'seconds':>9}{'issuances/s':>13}"
        f"{'gas/issuance':>13}{'blocks':>8}"
    )
    print(batched.row())
    print(single.row())
    speedup = (batched.issuances / batched.seconds) / (single.issuances / single.seconds)
    print(f"batched is {speedup:.0f}x the one-per-transaction rate")
    print(f"every issuance minted exactly once: {minted:,} Minted events, totalSupply matches SQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
