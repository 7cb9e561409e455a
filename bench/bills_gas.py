"""Gas of the rice bills contract's hot paths, against the limits the client signs with.

Runs against a throwaway anvil (started here, on a free port, in a temporary directory), so the
numbers are those of the committed artifact on anvil's default hardfork.

    .venv/bin/python bench/bills_gas.py

Measured: ``registerWork`` (a new work, a cap changed); ``mintBatch`` as the first on a fresh
contract, of one work to fresh holders and to existing holders, of a different work's first mint
in every item (one run each), resent whole (every item skipped); ``burnWithReference`` (partial,
the rest, the first on a fresh contract); ``burnBatch``. Every ref is fresh unless resent.

For each shape it prints the gas used (the receipt) and the gas *needed* (``eth_estimateGas`` on
the same state). The constants in ``kokudaka.chain.bills`` must cover the worst case needed; the
script ends with that check and exits non-zero if one does not.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address

from kokudaka.chain.bills import (
    BILL_BURN_BATCH_BASE_GAS,
    BILL_BURN_BATCH_ITEM_GAS,
    BILL_BURN_GAS_LIMIT,
    BILL_MAX_BATCH_SIZE,
    BILL_MAX_BURN_BATCH_SIZE,
    BILL_MINT_BATCH_BASE_GAS,
    BILL_MINT_BATCH_ITEM_GAS,
    BILL_MINT_BATCH_RUN_GAS,
    REGISTER_WORK_GAS_LIMIT,
    BillsClient,
    bill_burn_batch_gas_limit,
    bill_mint_batch_gas_limit,
    bill_token_id,
    encode_bill_burn_batch,
    encode_bill_mint_batch,
)
from kokudaka.chain.bills_interface import BURN_WITH_REFERENCE_SELECTOR, REGISTER_WORK_SELECTOR
from kokudaka.chain.client import TX_GAS_CAP, ChainClient, Fees, PrivateKey, SignedTx
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref, town_id

ADMIN_KEY = ANVIL_DEV_KEYS[0]
MINTER_KEY = ANVIL_DEV_KEYS[1]
TOWN = town_id(uuid.uuid4())
SEASON = 2026
AMOUNT = 1_500  # go: a typical bill
LARGEST = 2**96 - 1  # the largest one issuance or work cap may be


def largest_of(items: int) -> int:
    """The largest amount each of ``items`` bills of one work may be (all fit its cap)."""
    return LARGEST // items


UNCAPPED_GAS = 30_000_000


class Measured(NamedTuple):
    """One transaction: gas used (receipt) and gas needed (estimate on the state it ran on)."""

    used: int
    needed: int


Items = tuple[list[int], list[str], list[int], list[bytes]]


def _address() -> str:
    return to_checksum_address(os.urandom(20))


def _ref() -> bytes:
    return issuance_ref(uuid.uuid4())


def _work() -> int:
    return bill_token_id(uuid.uuid4())


class Bench:
    """Sends calldata from the town's key, each measured as :class:`Measured`."""

    def __init__(self, bills: BillsClient) -> None:
        self.bills = bills
        self.chain = bills.connection

    def send(self, data: bytes, gas: int = TX_GAS_CAP, key: PrivateKey = MINTER_KEY) -> Measured:
        chain = self.chain
        sender = chain.account(key).address
        call = {"from": sender, "to": self.bills.address, "data": "0x" + data.hex()}
        needed = int(chain.web3.eth.estimate_gas(call))  # type: ignore[arg-type]
        fees = chain.fees()
        signed = Account.from_key(key).sign_transaction(
            {
                "type": 2,
                "chainId": chain.chain_id(),
                "nonce": chain.pending_nonce(sender),
                "to": self.bills.address,
                "gas": gas,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
                "value": 0,
                "data": data,
            }
        )
        receipt = chain.wait_receipt(chain.send_raw(bytes(signed.raw_transaction)), timeout=120)
        chain.raise_for_receipt(receipt)
        return Measured(int(receipt["gasUsed"]), needed)

    def register(self, work: int, cap: int = LARGEST) -> Measured:
        data = REGISTER_WORK_SELECTOR + encode(
            ["uint256", "uint16", "uint256"], [work, SEASON, cap]
        )
        return self.send(data)

    def mint(self, items: Items, gas: int = TX_GAS_CAP) -> Measured:
        return self.send(encode_bill_mint_batch(*items), gas)

    def burn(self, holder: str, work: int, amount: int, issuance: bytes) -> Measured:
        data = BURN_WITH_REFERENCE_SELECTOR + encode(
            ["address", "uint256", "uint256", "bytes32", "bytes32"],
            [holder, work, amount, _ref(), issuance],
        )
        return self.send(data)

    def fresh_contract(self) -> None:
        """Deploy the bills contract and make the town's minter with a vast allowance."""
        bills = self.bills
        bills.deploy(ADMIN_KEY)
        bills.set_town_minter(ADMIN_KEY, TOWN, self.chain.account(MINTER_KEY).address)
        bills.set_season_cap(ADMIN_KEY, TOWN, SEASON, 2**127)

    def one_work(self, size: int, amount: int = AMOUNT) -> Items:
        """``size`` items of one new, registered work, to fresh holders."""
        work = _work()
        self.register(work)
        return (
            [work] * size,
            [_address() for _ in range(size)],
            [amount] * size,
            [_ref() for _ in range(size)],
        )

    def many_works(self, size: int, amount: int = AMOUNT) -> Items:
        """``size`` items, each of its own new, registered work (one run each)."""
        works = [_work() for _ in range(size)]
        for work in works:
            self.register(work)
        return (
            works,
            [_address() for _ in range(size)],
            [amount] * size,
            [_ref() for _ in range(size)],
        )


def row(shape: str, m: Measured, items: int = 1) -> None:
    per_item = f"{m.used // items:,}" if items > 1 else ""
    print(f"{shape:<52}{m.used:>12,}{m.needed:>12,}{per_item:>12}")


def run(bills: BillsClient) -> bool:
    """Measure and print; whether every client limit covers its measured worst case."""
    bench = Bench(bills)
    print(f"anvil default hardfork, tx gas cap {TX_GAS_CAP:,}")
    print(f"{'shape':<52}{'gas used':>12}{'needed':>12}{'per item':>12}")

    bench.fresh_contract()
    work = _work()
    register_new = bench.register(work, 10**9)
    row("registerWork, new work", register_new)
    register_change = bench.register(work, 2 * 10**9)
    row("registerWork, cap raised", register_change)
    first_ever = bench.mint(bench.one_work(1, LARGEST))
    row("mintBatch x1, fresh contract, first, 2**96-1", first_ever)

    one: dict[int, Measured] = {}
    for size in (1, 100):
        one[size] = bench.mint(bench.one_work(size, largest_of(size)))
        row(f"mintBatch x{size}, one new work, fresh holders, largest", one[size], size)
    typical = bench.mint(bench.one_work(100))
    row("mintBatch x100, one new work, fresh holders", typical, 100)
    many = bench.mint(bench.many_works(100, LARGEST))
    row("mintBatch x100, 100 new works (a run each), 2**96-1", many, 100)

    holders = bench.one_work(100)
    bench.mint(holders)
    again = (holders[0], holders[1], holders[2], [_ref() for _ in range(100)])
    existing = bench.mint(again)
    row("mintBatch x100, one work, existing holders", existing, 100)
    resent = bench.mint(holders)
    row("mintBatch x100 resent (all skipped)", resent, 100)

    per_item = (one[100].used - one[1].used) / 99
    per_run = (many.used - one[100].used) / 100
    fixed_first = first_ever.used - per_item - per_run

    holder, issuance = holders[1][0], holders[3][0]
    burn_partial = bench.burn(holder, holders[0][0], 1_000, issuance)
    row("burnWithReference, partial", burn_partial)
    bench.burn(holder, holders[0][0], AMOUNT - 1_000, issuance)
    burn_rest = bench.burn(holder, holders[0][0], AMOUNT, again[3][0])
    row("burnWithReference, the rest (balance to zero)", burn_rest)
    burn_items = (
        holders[1][1:],
        holders[0][1:],
        [AMOUNT // 2] * 99,
        [_ref() for _ in range(99)],
        holders[3][1:],
    )
    burn_batch = bench.send(encode_bill_burn_batch(*burn_items), bill_burn_batch_gas_limit(99))
    row("burnBatch x99, partial (half of each)", burn_batch, 99)
    burn_batch_resent = bench.send(encode_bill_burn_batch(*burn_items))
    row("burnBatch x99 resent (all skipped)", burn_batch_resent, 99)

    spread = bench.many_works(99)
    bench.mint(spread)
    spread_burn = (spread[1], spread[0], spread[2], [_ref() for _ in range(99)], spread[3])
    burn_spread = bench.send(encode_bill_burn_batch(*spread_burn), bill_burn_batch_gas_limit(99))
    row("burnBatch x99, 99 works, each balance to zero", burn_spread, 99)

    # Worst cases on fresh contracts: the first of their kind.
    bench.fresh_contract()
    items = bench.one_work(1, LARGEST)
    bench.mint(items)
    burn_first = bench.burn(items[1][0], items[0][0], LARGEST, items[3][0])
    row("burnWithReference, fresh contract, all of it", burn_first)
    bench.fresh_contract()
    largest = bench.mint(
        bench.many_works(BILL_MAX_BATCH_SIZE, LARGEST),
        bill_mint_batch_gas_limit(BILL_MAX_BATCH_SIZE, BILL_MAX_BATCH_SIZE),
    )
    row(
        f"mintBatch x{BILL_MAX_BATCH_SIZE}, fresh, a run each, 2**96-1",
        largest,
        BILL_MAX_BATCH_SIZE,
    )
    one_run = bench.mint(
        bench.one_work(BILL_MAX_BATCH_SIZE, largest_of(BILL_MAX_BATCH_SIZE)),
        bill_mint_batch_gas_limit(BILL_MAX_BATCH_SIZE, 1),
    )
    row(
        f"mintBatch x{BILL_MAX_BATCH_SIZE}, one work, (2**96-1)/{BILL_MAX_BATCH_SIZE}",
        one_run,
        BILL_MAX_BATCH_SIZE,
    )

    burn_worst = max(burn_batch, burn_spread, key=lambda m: m.needed)
    per_burn = (burn_worst.needed - burn_partial.needed) / 98
    print()
    print(
        f"mintBatch per item: {per_item:,.0f} (typical amount "
        f"{(typical.used - one[1].used) / 99:,.0f}), existing holder "
        f"{(existing.used - one[1].used) / 99:,.0f}, "
        f"skipped {(resent.used - one[1].used) / 99:,.0f}"
    )
    print(f"mintBatch per run of one work: {per_run:,.0f}; fixed, first ever: {fixed_first:,.0f}")
    print(f"burnBatch per item, worst: {per_burn:,.0f}")

    checks = [
        ("BILL_MINT_BATCH_ITEM_GAS", BILL_MINT_BATCH_ITEM_GAS, per_item),
        ("BILL_MINT_BATCH_RUN_GAS", BILL_MINT_BATCH_RUN_GAS, per_run),
        ("BILL_MINT_BATCH_BASE_GAS", BILL_MINT_BATCH_BASE_GAS, fixed_first),
        (
            f"limit({BILL_MAX_BATCH_SIZE}, {BILL_MAX_BATCH_SIZE} runs)",
            bill_mint_batch_gas_limit(BILL_MAX_BATCH_SIZE, BILL_MAX_BATCH_SIZE),
            largest.needed,
        ),
        (
            f"limit({BILL_MAX_BATCH_SIZE}, 1 run)",
            bill_mint_batch_gas_limit(BILL_MAX_BATCH_SIZE, 1),
            one_run.needed,
        ),
        (
            "REGISTER_WORK_GAS_LIMIT",
            REGISTER_WORK_GAS_LIMIT,
            max(register_new.needed, register_change.needed),
        ),
        (
            "BILL_BURN_GAS_LIMIT",
            BILL_BURN_GAS_LIMIT,
            max(burn_partial.needed, burn_rest.needed, burn_first.needed),
        ),
        ("BILL_BURN_BATCH_ITEM_GAS", BILL_BURN_BATCH_ITEM_GAS, per_burn),
        ("BILL_BURN_BATCH_BASE_GAS", BILL_BURN_BATCH_BASE_GAS, burn_worst.needed - 99 * per_burn),
        ("bill_burn_batch_gas_limit(99)", bill_burn_batch_gas_limit(99), burn_worst.needed),
    ]
    print()
    print(f"{'client limit':<36}{'limit':>12}{'worst needed':>14}{'margin':>9}")
    ok = True
    for name, limit, worst in checks:
        ok = ok and limit >= worst
        short = "" if limit >= worst else "  SHORT"
        print(f"{name:<36}{limit:>12,}{worst:>14,.0f}{limit / worst - 1:>8.0%}{short}")
    print(f"BILL_MAX_BATCH_SIZE={BILL_MAX_BATCH_SIZE}, the tx cap {TX_GAS_CAP:,}")
    return ok


def throughput(bills: BillsClient, bills_count: int = 10_000) -> None:
    """One work's ``bills_count`` bills minted, then burned in full, by the town's key: batches
    as large as one run allows, signed offline with consecutive nonces, all sent, then awaited
    (a settlement worker's pattern, without its database), on the automining node: each
    batch is a block of its own."""
    chain = bills.connection
    bench = Bench(bills)
    bench.fresh_contract()
    items = bench.one_work(bills_count)
    per_mint = (TX_GAS_CAP - BILL_MINT_BATCH_BASE_GAS - BILL_MINT_BATCH_RUN_GAS) // (
        BILL_MINT_BATCH_ITEM_GAS
    )
    sender = chain.account(MINTER_KEY).address
    # Full blocks raise the base fee 12.5% each: a fee cap for the whole run, not for one block.
    suggested = chain.fees()
    fees = Fees(50 * suggested.max_fee_per_gas, suggested.max_priority_fee_per_gas)

    def settle(label: str, signed_txs: list[SignedTx], started: float) -> None:
        signed_at = time.perf_counter()
        hashes = [chain.send_raw(tx.raw) for tx in signed_txs]
        for tx_hash in hashes:
            chain.raise_for_receipt(chain.wait_receipt(tx_hash, timeout=300))
        seconds = time.perf_counter() - started
        print(
            f"{label}: {bills_count:,} in {len(signed_txs)} txs, {seconds:.2f} s "
            f"({signed_at - started:.2f} s encoding and signing), "
            f"{bills_count / seconds:,.0f} per second"
        )

    started = time.perf_counter()
    nonce = chain.pending_nonce(sender)
    mints = []
    for start in range(0, bills_count, per_mint):
        end = start + per_mint
        mints.append(
            bills.build_mint_batch_tx(
                MINTER_KEY,
                items[0][start:end],
                items[1][start:end],
                items[2][start:end],
                items[3][start:end],
                nonce=nonce,
                fees=fees,
            )
        )
        nonce += 1
    settle(f"mintBatch x{per_mint}", mints, started)
    assert bills.total_supply(items[0][0]) == bills_count * AMOUNT

    started = time.perf_counter()
    burns = []
    for start in range(0, bills_count, BILL_MAX_BURN_BATCH_SIZE):
        end = start + BILL_MAX_BURN_BATCH_SIZE
        burns.append(
            bills.build_burn_batch_tx(
                MINTER_KEY,
                items[1][start:end],
                items[0][start:end],
                items[2][start:end],
                [_ref() for _ in items[0][start:end]],
                items[3][start:end],
                nonce=nonce,
                fees=fees,
            )
        )
        nonce += 1
    settle(f"burnBatch x{BILL_MAX_BURN_BATCH_SIZE}", burns, started)
    assert bills.total_supply(items[0][0]) == 0


def main() -> int:
    """Start a throwaway anvil, measure, stop it."""
    with tempfile.TemporaryDirectory() as tmp, AnvilNode(Path(tmp)) as node:
        bills = BillsClient(ChainClient(node.rpc_url, request_timeout=60.0))
        ok = run(bills)
        print()
        throughput(bills)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
