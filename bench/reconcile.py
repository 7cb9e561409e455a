"""How fast is reconciliation? Target: 1,000,000 issuances within 60 s.

Sets up COUNT confirmed issuances (default 100,000) of TOWNS towns as the service would leave
them (journal entries, postings, issuances and confirmed chain operations, bulk-inserted) and
mints the same issuances on a throwaway anvil, each town with its own minter key and its
season's cap, in ``mintBatch`` transactions of 300 signed offline and sent back to back. That
setup is not measured. Then it times ``reconcile()`` over everything and prints the rate, and,
for a count below 1,000,000, the time extrapolated to it (every phase is linear in the number
of issuances, events or addresses; the default keeps 10 issuances per address).

    .venv/bin/python bench/reconcile.py                       # SQLite file, 100,000 issuances
    .venv/bin/python bench/reconcile.py --count 1000000       # the target, actually run
    .venv/bin/python bench/reconcile.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python bench/reconcile.py --count 1000000 --database-url sqlite \\
        --database-url "$(scripts/postgres.sh)"              # one chain, both databases

The chain is minted once and each database given is written and reconciled against it in
turn. The mints are mined on demand (automine is off meanwhile) with the managed node's
block gas limit, a block per 60 batches, and anvil keeps two blocks' states: nothing mints
while ``reconcile()`` runs, so the block it pins is the last one. Automine with 64 states
kept made a block, and a copy of the state, per transaction: a million mints took the node
past 14 GB, and automine stranded transactions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from eth_account import Account as EthAccount
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.errors import ChainError
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import town_id
from kokudaka.core.engines import create_db_engine
from kokudaka.core.ids import new_id
from kokudaka.ledger.derived import recompute_balances
from kokudaka.ledger.service import chain_reference
from kokudaka.models import (
    Account,
    AccountKind,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
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
)
from kokudaka.reconcile.service import reconcile
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT

# The harness shared with the tests (temporary databases, migrations), from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.databases import migrate, temporary_database

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = ANVIL_DEV_KEYS[0]
SEASON = 2026
#: The towns of Aizu: each mints its own issuances with its own key.
TOWNS = 13
INSERT_CHUNK = 10_000
TARGET = 1_000_000
SQLITE = "sqlite"
#: Mint batches sent per block: ~15M gas each, so 60 fill the managed anvil's 1,000,000,000.
BLOCK_BATCHES = 60
MINE_ATTEMPTS = 5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def database(postgres: str | None, tmp: Path) -> Iterator[str]:
    """A SQLite file under ``tmp``, or a new database on the PostgreSQL server ``postgres``."""
    with temporary_database(postgres, tmp, prefix="kokudaka_bench", file_name="bench.db") as url:
        yield url


class Plan:
    """Who gets what: COUNT issuances over TOWNS towns and USERS supporters."""

    def __init__(self, count: int, users: int, seed: int) -> None:
        rng = random.Random(seed)
        self.now = datetime.now(UTC)
        self.region_id = new_id()
        self.towns = [new_id() for _ in range(TOWNS)]
        self.users = [new_id() for _ in range(users)]
        self.addresses = ["0x" + rng.randbytes(20).hex() for _ in range(users)]
        self.issuances = [
            (new_id(), new_id(), rng.randrange(TOWNS), rng.randrange(users), rng.randint(1, 5_000))
            for _ in range(count)
        ]
        """(issuance id, entry id, town index, user index, amount in go)"""


def mint_everything(
    client: ChainClient, plan: Plan, keys: list[bytes], batch: int
) -> list[tuple[str, int]]:
    """Mint every issuance, each town's with its key in batches; returns, per issuance in
    plan order, the (tx hash, block number) that minted it.

    A block at a time, as the service's runtime mines its anvil: a block's worth of batches is
    sent (round-robin over the towns, as the per-town workers interleave), then mined. A batch
    the pool dropped is sent again, as the settlement worker does."""
    by_town: dict[int, list[int]] = {}
    for index, (_, _, town, _, _) in enumerate(plan.issuances):
        by_town.setdefault(town, []).append(index)
    nonces = {town: client.pending_nonce(client.account(keys[town]).address) for town in by_town}
    outcome: list[tuple[str, int]] = [("", 0)] * len(plan.issuances)
    started = time.perf_counter()
    batches = 0
    client.rpc("evm_setAutomine", [False])
    cursors = dict.fromkeys(by_town, 0)
    while cursors:
        fees = client.fees()  # full blocks raise the base fee 12.5% a block
        block: list[tuple[bytes, str, list[int]]] = []
        while cursors and len(block) < BLOCK_BATCHES:
            for town in list(cursors):
                start = cursors[town]
                indexes = by_town[town][start : start + batch]
                if not indexes:
                    del cursors[town]
                    continue
                cursors[town] = start + batch
                items = [plan.issuances[i] for i in indexes]
                signed = client.build_mint_batch_tx(
                    keys[town],
                    SEASON,
                    [plan.addresses[user] for _, _, _, user, _ in items],
                    [amount for *_, amount in items],
                    [bytes.fromhex(chain_reference(issuance_id)[2:]) for issuance_id, *_ in items],
                    nonces[town],
                    fees=fees,
                )
                nonces[town] += 1
                block.append((signed.raw, signed.tx_hash, indexes))
        for raw, _, _ in block:
            client.send_raw(raw)
        for _ in range(MINE_ATTEMPTS):
            client.rpc("evm_mine")
            waiting = []
            for raw, tx_hash, indexes in block:
                receipt = client.get_receipt(tx_hash)
                if receipt is None:
                    waiting.append((raw, tx_hash, indexes))
                    continue
                client.raise_for_receipt(receipt, context="mintBatch")
                for index in indexes:
                    outcome[index] = (tx_hash, int(receipt["blockNumber"]))
            block = waiting
            if not block:
                break
            for raw, _, _ in block:  # dropped by the pool, or after one that was
                with contextlib.suppress(ChainError):  # still in the pool: the next block
                    client.send_raw(raw)
        if block:
            raise RuntimeError(f"{len(block)} mint batches not mined in {MINE_ATTEMPTS} blocks")
        batches_before, batches = batches, batches + BLOCK_BATCHES
        if batches // 500 > batches_before // 500:
            done = sum(1 for tx_hash, _ in outcome if tx_hash)
            log(f"  {done:,} minted ({time.perf_counter() - started:.0f} s)")
    client.rpc("evm_setAutomine", [True])
    return outcome


def insert_ledger(
    url: str,
    plan: Plan,
    mined: list[tuple[str, int]],
    deployment: dict[str, object],
) -> None:
    engine = create_db_engine(url)
    now = plan.now
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Region).values(id=plan.region_id, code="bench", name="bench", created_at=now)
        )
        for index, town in enumerate(plan.towns):
            session.execute(
                insert(Municipality).values(
                    id=town,
                    region_id=plan.region_id,
                    code=f"town{index}",
                    name=f"Town {index}",
                    created_at=now,
                )
            )
            session.execute(
                insert(MunicipalityPolicy).values(
                    id=new_id(),
                    municipality_id=town,
                    season=SEASON,
                    price_yen_per_go=10,
                    volunteer_go_per_hour=500,
                    yearly_cap_go=10**12,
                    updated_at=now,
                )
            )
        session.execute(insert(ChainDeployment).values(id=new_id(), created_at=now, **deployment))
        session.execute(
            insert(User),
            [
                {
                    "id": user_id,
                    "created_at": now,
                    "email": f"s{i}@bench.example.jp",
                    "password_hash": "x",
                    "display_name": f"s{i}",
                    "role": Role.supporter,
                    "municipality_id": None,
                    "region_id": None,
                    "is_active": True,
                    "wallet_address": plan.addresses[i],
                    "wallet_key_ciphertext": None,
                }
                for i, user_id in enumerate(plan.users)
            ],
        )
        town_accounts = [new_id() for _ in plan.towns]
        holder_accounts = [new_id() for _ in plan.users]
        session.execute(
            insert(Account),
            [
                {
                    "id": account,
                    "created_at": now,
                    "key": f"issuance:{town}",
                    "kind": AccountKind.issuance,
                    "municipality_id": town,
                    "user_id": None,
                }
                for account, town in zip(town_accounts, plan.towns, strict=True)
            ]
            + [
                {
                    "id": account,
                    "created_at": now,
                    "key": f"holder:{user}",
                    "kind": AccountKind.holder,
                    "municipality_id": None,
                    "user_id": user,
                }
                for account, user in zip(holder_accounts, plan.users, strict=True)
            ],
        )
    for start in range(0, len(plan.issuances), INSERT_CHUNK):
        chunk = plan.issuances[start : start + INSERT_CHUNK]
        entries, postings, issuances, operations = [], [], [], []
        for offset, (issuance_id, entry_id, town, user, amount) in enumerate(chunk):
            tx_hash, block = mined[start + offset]
            entries.append(
                {
                    "id": entry_id,
                    "created_at": now,
                    "kind": EntryKind.issuance,
                    "municipality_id": plan.towns[town],
                    "idempotency_key": f"bench:{issuance_id}",
                    "reverses_entry_id": None,
                    "memo": "",
                    "created_by_id": None,
                }
            )
            postings += [
                {
                    "id": new_id(),
                    "entry_id": entry_id,
                    "account_id": town_accounts[town],
                    "amount_go": -amount,
                },
                {
                    "id": new_id(),
                    "entry_id": entry_id,
                    "account_id": holder_accounts[user],
                    "amount_go": amount,
                },
            ]
            issuances.append(
                {
                    "id": issuance_id,
                    "created_at": now,
                    "entry_id": entry_id,
                    "kind": IssuanceKind.contribution,
                    "municipality_id": plan.towns[town],
                    "season": SEASON,
                    "recipient_id": plan.users[user],
                    "amount_go": amount,
                    "farmer_id": None,
                    "work_id": None,
                    "investment_id": None,
                    "activity_id": None,
                    "contribution_id": None,
                    "price_yen_per_go": None,
                    "go_per_hour": 500,
                    "reversal_entry_id": None,
                }
            )
            operations.append(
                {
                    "id": new_id(),
                    "created_at": now,
                    "kind": ChainOperationKind.mint,
                    "entry_id": entry_id,
                    "issuance_id": issuance_id,
                    "municipality_id": plan.towns[town],
                    "user_id": plan.users[user],
                    "reference": chain_reference(issuance_id),
                    "amount_go": amount,
                    "state": ChainState.confirmed,
                    "attempts": 1,
                    "next_attempt_at": now,
                    "recipient_address": plan.addresses[user],
                    "transaction_id": None,
                    "tx_hash": tx_hash,
                    "block_number": block,
                    "last_error": None,
                    "updated_at": now,
                }
            )
        with Session(engine) as session, session.begin():
            for model, rows in (
                (JournalEntry, entries),
                (Posting, postings),
                (Issuance, issuances),
                (ChainOperation, operations),
            ):
                session.execute(insert(model), rows)
    with Session(engine) as session, session.begin():
        recompute_balances(session)  # once, over every chunk's postings
    engine.dispose()


class Minted:
    """The chain side, set up once: the plan and, per issuance, where it was minted."""

    def __init__(
        self, plan: Plan, mined: list[tuple[str, int]], deployment: dict[str, object]
    ) -> None:
        self.plan = plan
        self.mined = mined
        self.deployment = deployment


def mint_chain(client: ChainClient, count: int, users: int, batch: int, seed: int) -> Minted:
    """Deploy KOKU on the node of ``client`` and mint ``count`` issuances to ``users``
    addresses, each town's with its own minter key."""
    token = client.deploy_koku(ADMIN_KEY)
    deployed_block = client.block_number()
    plan = Plan(count, users, seed)
    keys = [bytes(EthAccount.create().key) for _ in plan.towns]
    for town, key in zip(plan.towns, keys, strict=True):
        minter = client.account(key).address
        client.rpc("anvil_setBalance", [minter, hex(10**22)])
        client.set_town_minter(ADMIN_KEY, town_id(town), minter)
        client.set_season_cap(ADMIN_KEY, town_id(town), SEASON, 10**12)

    log(f"minting {count:,} issuances to {users:,} addresses on anvil (batches of {batch})")
    started = time.perf_counter()
    mined = mint_everything(client, plan, keys, batch)
    log(f"minted in {time.perf_counter() - started:.1f} s (up to block {client.block_number()})")
    return Minted(
        plan,
        mined,
        {
            "chain_id": client.chain_id(),
            "token_address": token,
            "admin_address": client.account(ADMIN_KEY).address,
            "anchor_address": client.account(ADMIN_KEY).address,
            "deployed_block": deployed_block,
        },
    )


def write_ledger(url: str, minted: Minted) -> None:
    """Write the minted issuances to the database at ``url`` (migrated here) as the service
    would have."""
    log(f"writing the ledger ({make_url(url).get_backend_name()})")
    started = time.perf_counter()
    migrate(url)
    insert_ledger(url, minted.plan, minted.mined, minted.deployment)
    log(f"ledger written in {time.perf_counter() - started:.1f} s")


def prepare(client: ChainClient, url: str, count: int, users: int, batch: int, seed: int) -> None:
    """Mint ``count`` issuances on the node of ``client`` and write them to ``url``."""
    write_ledger(url, mint_chain(client, count, users, batch, seed))


def measure(client: ChainClient, url: str, minted: Minted, profile: bool) -> bool:
    """Write the ledger to ``url``, reconcile it against the chain and print the figures;
    whether the report is clean."""
    write_ledger(url, minted)
    engine = create_db_engine(url)
    with Session(engine) as session:
        deployment = session.query(ChainDeployment).one()
        phases: list[tuple[str, int, float]] = []
        started = time.perf_counter()

        def progress(phase: str, done: int) -> None:
            phases.append((phase, done, time.perf_counter() - started))

        log("reconciling")
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        report = reconcile(session, client, deployment, progress=progress, progress_every=10_000)
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    engine.dispose()

    last: dict[str, tuple[int, float]] = {}
    for phase, done, at in phases:
        last[phase] = (done, at)
    for phase, (done, at) in last.items():
        log(f"  {phase}: {done:,} by {at:.2f} s")
    counts = report.counts
    print()
    print(f"database: {make_url(url).get_backend_name()}")
    print(f"status: {report.status} ({counts.discrepancies} discrepancies)")
    print(
        f"issuances: {counts.issuances:,}  operations: {counts.operations:,}  "
        f"minted events: {counts.minted_events:,}  addresses: {counts.addresses:,}  "
        f"people: {counts.users:,}"
    )
    print(f"reconcile(): {elapsed:.2f} s = {counts.issuances / elapsed:,.0f} issuances/s")
    if counts.issuances >= TARGET:
        print(
            f"{counts.issuances:,} issuances reconciled in {elapsed:.1f} s "
            f"({'within' if elapsed <= 60 else 'OVER'} the 60 s target)"
        )
    else:
        projected = elapsed * TARGET / counts.issuances
        print(
            f"extrapolated to {TARGET:,} issuances: {projected:.1f} s "
            f"({'within' if projected <= 60 else 'OVER'} the 60 s target; run --count "
            f"{TARGET} to measure it)"
        )
    print(flush=True)
    return report.status == "clean"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="issuances (default 100,000)")
    parser.add_argument("--users", type=int, help="supporters (default: count / 10)")
    parser.add_argument("--batch", type=int, default=300, help="mints per transaction (<= 315)")
    parser.add_argument(
        "--database-url",
        action="append",
        metavar="URL",
        help=f"'{SQLITE}' (a temporary file) or a PostgreSQL server (a temporary database is "
        "created and dropped); repeat to reconcile the same chain on several; default: "
        f"{SQLITE}",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of reconcile()")
    args = parser.parse_args()
    users = args.users or max(1, args.count // 10)

    clean = True
    with tempfile.TemporaryDirectory(prefix="kokudaka-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        with AnvilNode(tmp / "anvil", gas_limit=ANVIL_GAS_LIMIT, state_history=2) as node:
            client = ChainClient(node.rpc_url, request_timeout=120)
            minted = mint_chain(client, args.count, users, args.batch, args.seed)
            for target in args.database_url or [SQLITE]:
                with database(None if target == SQLITE else target, tmp) as url:
                    clean = measure(client, url, minted, args.profile) and clean
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
