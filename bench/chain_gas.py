"""Gas of KOKU v3's hot paths, against the limits the client signs with.

Runs against a throwaway anvil (started here, on a free port, in a temporary directory), so the
numbers are those of the committed artifact on anvil's default hardfork.

    .venv/bin/python bench/chain_gas.py

Measured: ``mintBatch`` as the first batch of a town's season on a fresh contract (totalSupply and
the season's minted total written from zero), as the first batch of a second town's season, and
as later batches, to fresh recipients (a balance slot written from zero) and to existing holders;
a batch resent whole (every item skipped); single ``mint``; ``burnWithReference`` (partial, and
in full, which empties the balance); ``anchorAuditLog`` (first and later). Every ref is fresh.

For each shape it prints the gas used (the receipt) and the gas *needed* (``eth_estimateGas`` on
the same state: the limit below which the transaction fails, higher than the gas used when a
write is refunded, as a burn emptying a balance is). The constants in
``kokudaka.chain.transactions`` must cover the worst case needed, with margin; the script ends
with that check and exits non-zero if one does not.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from eth_abi.abi import encode
from eth_account import Account

from kokudaka.chain.client import (
    ANCHOR_GAS_LIMIT,
    BURN_BATCH_BASE_GAS,
    BURN_BATCH_ITEM_GAS,
    BURN_GAS_LIMIT,
    MAX_BATCH_SIZE,
    MAX_BURN_BATCH_SIZE,
    MINT_BATCH_BASE_GAS,
    MINT_BATCH_ITEM_GAS,
    MINT_GAS_LIMIT,
    TX_GAS_CAP,
    ChainClient,
    PrivateKey,
    burn_batch_gas_limit,
    encode_burn_batch,
    encode_mint_batch,
    mint_batch_gas_limit,
)
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.interface import (
    ANCHOR_AUDIT_LOG_SELECTOR,
    BURN_WITH_REFERENCE_SELECTOR,
    MINT_SELECTOR,
)
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref, town_id

ADMIN_KEY = ANVIL_DEV_KEYS[0]
MINTER_KEY = ANVIL_DEV_KEYS[1]
OTHER_MINTER_KEY = ANVIL_DEV_KEYS[2]
ANCHOR_KEY = ANVIL_DEV_KEYS[3]
TOWN = town_id(uuid.uuid4())
OTHER_TOWN = town_id(uuid.uuid4())
SEASON = 2026
AMOUNT = 1_500  # go: 1.5 KOKU, a typical small issuance
LARGEST_AMOUNT = 2**96 - 1  # the largest one issuance may be: every calldata byte non-zero
#: Gas limit for measuring shapes the client would refuse (a batch past MAX_BATCH_SIZE).
UNCAPPED_GAS = 30_000_000


class Measured(NamedTuple):
    """One transaction: gas used (receipt) and gas needed (estimate on the state it ran on)."""

    used: int
    needed: int


def fresh_batch(
    size: int, amount: int = AMOUNT, recipients: Sequence[str] | None = None
) -> tuple[list[str], list[int], list[bytes]]:
    """``size`` items with fresh refs, to new addresses unless ``recipients`` are given."""
    to = list(recipients) if recipients is not None else [_new_address() for _ in range(size)]
    return to, [amount] * size, [issuance_ref(uuid.uuid4()) for _ in range(size)]


def _new_address() -> str:
    return "0x" + os.urandom(20).hex()


class Bench:
    """Sends calldata from dev keys, each measured as :class:`Measured`."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client

    def send(self, key: PrivateKey, data: bytes, gas: int = TX_GAS_CAP) -> Measured:
        client = self.client
        sender = client.account(key).address
        call = {"from": sender, "to": client.koku_address, "data": "0x" + data.hex()}
        needed = int(client.web3.eth.estimate_gas(call))  # type: ignore[arg-type]
        fees = client.fees()
        signed = Account.from_key(key).sign_transaction(
            {
                "type": 2,
                "chainId": client.chain_id(),
                "nonce": client.pending_nonce(sender),
                "to": client.koku_address,
                "gas": gas,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
                "value": 0,
                "data": data,
            }
        )
        receipt = client.wait_receipt(client.send_raw(bytes(signed.raw_transaction)), timeout=120)
        client.raise_for_receipt(receipt)
        return Measured(int(receipt["gasUsed"]), needed)

    def batch(
        self,
        key: PrivateKey,
        items: tuple[list[str], list[int], list[bytes]],
        gas: int = TX_GAS_CAP,
    ) -> Measured:
        return self.send(key, encode_mint_batch(SEASON, *items), gas)

    def mint(self, key: PrivateKey, to: str, amount: int, ref: bytes) -> Measured:
        data = MINT_SELECTOR + encode(
            ["uint16", "address", "uint256", "bytes32"], [SEASON, to, amount, ref]
        )
        return self.send(key, data)

    def burn(self, key: PrivateKey, holder: str, amount: int, issuance: bytes) -> Measured:
        data = BURN_WITH_REFERENCE_SELECTOR + encode(
            ["address", "uint256", "bytes32", "bytes32"],
            [holder, amount, issuance_ref(uuid.uuid4()), issuance],
        )
        return self.send(key, data)

    def burn_batch(
        self,
        key: PrivateKey,
        holders: Sequence[str],
        amounts: Sequence[int],
        issued: Sequence[bytes],
    ) -> Measured:
        refs = [issuance_ref(uuid.uuid4()) for _ in holders]
        return self.send(key, encode_burn_batch(holders, amounts, refs, issued))

    def issued_to(self, size: int, amount: int) -> tuple[list[str], list[int], list[bytes]]:
        """``size`` issuances of ``amount`` go minted to new addresses, to burn from."""
        items = fresh_batch(size, amount)
        for start in range(0, size, MAX_BATCH_SIZE):
            self.batch(MINTER_KEY, tuple(c[start : start + MAX_BATCH_SIZE] for c in items))  # type: ignore[arg-type]
        return items

    def anchor(self, sequence: int) -> Measured:
        data = ANCHOR_AUDIT_LOG_SELECTOR + encode(["uint64", "bytes32"], [sequence, os.urandom(32)])
        return self.send(ANCHOR_KEY, data)

    def fresh_contract(self) -> None:
        """Deploy KOKU, make the two towns' minters, cap both for SEASON, grant the anchor role."""
        client = self.client
        client.deploy_koku(ADMIN_KEY)
        client.set_town_minter(ADMIN_KEY, TOWN, client.account(MINTER_KEY).address)
        client.set_town_minter(ADMIN_KEY, OTHER_TOWN, client.account(OTHER_MINTER_KEY).address)
        for town in (TOWN, OTHER_TOWN):
            client.set_season_cap(ADMIN_KEY, town, SEASON, 2**127)
        client.grant_anchor_role(ADMIN_KEY, client.account(ANCHOR_KEY).address)


def row(shape: str, m: Measured, items: int = 1) -> None:
    per_item = f"{m.used // items:,}" if items > 1 else ""
    print(f"{shape:<50}{m.used:>12,}{m.needed:>12,}{per_item:>12}")


def run(client: ChainClient) -> bool:
    """Measure and print; whether every client limit covers its measured worst case."""
    bench = Bench(client)
    print(f"anvil default hardfork, tx gas cap {TX_GAS_CAP:,}")
    print(f"{'shape':<50}{'gas used':>12}{'needed':>12}{'per item':>12}")

    # The first batch of a town's season on a fresh contract: the worst fixed part.
    bench.fresh_contract()
    first_ever = bench.batch(MINTER_KEY, fresh_batch(1, LARGEST_AMOUNT))
    row("mintBatch x1, fresh contract, town's first", first_ever)
    first_other = bench.batch(OTHER_MINTER_KEY, fresh_batch(1, LARGEST_AMOUNT))
    row("mintBatch x1, second town's first of season", first_other)

    later: dict[int, Measured] = {}
    for size in (1, 10, 100, 500):
        gas = mint_batch_gas_limit(size) if size <= MAX_BATCH_SIZE else UNCAPPED_GAS
        later[size] = bench.batch(MINTER_KEY, fresh_batch(size), gas)
        flag = "" if size <= MAX_BATCH_SIZE else " (over MAX)"
        row(f"mintBatch x{size}, later, fresh recipients{flag}", later[size], size)
    large1 = bench.batch(MINTER_KEY, fresh_batch(1, LARGEST_AMOUNT))
    row("mintBatch x1, later, fresh, amount 2**96-1", large1)
    large = bench.batch(MINTER_KEY, fresh_batch(100, LARGEST_AMOUNT))
    row("mintBatch x100, later, fresh, amounts 2**96-1", large, 100)

    holders = fresh_batch(100)
    bench.batch(MINTER_KEY, holders)
    existing = bench.batch(MINTER_KEY, fresh_batch(100, recipients=holders[0]))
    row("mintBatch x100, later, existing holders", existing, 100)
    resent = bench.batch(MINTER_KEY, holders)
    row("mintBatch x100 resent (all skipped)", resent, 100)

    per_item = (later[500].used - later[1].used) / 499
    fixed_later = later[1].used - per_item
    per_item_large = (large.used - large1.used) / 99
    fixed_first = first_ever.used - per_item_large
    per_existing = (existing.used - later[1].used) / 99
    per_skipped = (resent.used - later[1].used) / 99

    single_later = bench.mint(MINTER_KEY, _new_address(), AMOUNT, issuance_ref(uuid.uuid4()))
    row("mint (single), later, fresh recipient", single_later)

    holder = _new_address()
    issued = issuance_ref(uuid.uuid4())
    bench.mint(MINTER_KEY, holder, 10_000, issued)
    burn_partial = bench.burn(MINTER_KEY, holder, 4_000, issued)
    row("burnWithReference, partial", burn_partial)
    burn_rest = bench.burn(MINTER_KEY, holder, 6_000, issued)
    row("burnWithReference, the rest (balance to zero)", burn_rest)
    anchor_first = bench.anchor(1)
    row("anchorAuditLog, first", anchor_first)
    anchor_later = bench.anchor(2)
    row("anchorAuditLog, later", anchor_later)

    # Worst cases, each on a fresh contract: the first of its kind.
    bench.fresh_contract()
    holder = _new_address()
    single_first = bench.mint(MINTER_KEY, holder, LARGEST_AMOUNT, issued)
    row("mint (single), fresh contract, first, 2**96-1", single_first)
    burn_first = bench.burn(MINTER_KEY, holder, LARGEST_AMOUNT, issued)
    row("burnWithReference, fresh contract, all of it", burn_first)
    # burnBatch: each item a fresh ref burning all of its own issuance (the balance to zero),
    # the first burn on a fresh contract, then later ones; and a batch resent whole.
    bench.fresh_contract()
    one = bench.issued_to(1, LARGEST_AMOUNT)
    burn_batch_first = bench.burn_batch(MINTER_KEY, one[0], one[1], one[2])
    row("burnBatch x1, fresh contract, all of it, 2**96-1", burn_batch_first)
    one = bench.issued_to(1, LARGEST_AMOUNT)
    burn_batch_1 = bench.burn_batch(MINTER_KEY, one[0], one[1], one[2])
    row("burnBatch x1, later, all of it, 2**96-1", burn_batch_1)
    many = bench.issued_to(100, LARGEST_AMOUNT)
    burn_batch_100 = bench.burn_batch(MINTER_KEY, many[0], many[1], many[2])
    row("burnBatch x100, later, all of each, 2**96-1", burn_batch_100, 100)
    part = bench.issued_to(100, 10_000)
    burn_batch_part = bench.burn_batch(MINTER_KEY, part[0], [4_000] * 100, part[2])
    row("burnBatch x100, later, partial", burn_batch_part, 100)
    burn_refs = [issuance_ref(uuid.uuid4()) for _ in range(100)]
    bench.send(MINTER_KEY, encode_burn_batch(part[0], [1_000] * 100, burn_refs, part[2]))
    burn_resent = bench.send(
        MINTER_KEY, encode_burn_batch(part[0], [1_000] * 100, burn_refs, part[2])
    )
    row("burnBatch x100 resent (all skipped)", burn_resent, 100)
    burn_item = max(
        (burn_batch_100.needed - burn_batch_1.needed) / 99,
        (burn_batch_part.needed - burn_batch_1.needed) / 99,
    )
    burn_fixed = burn_batch_first.needed - burn_item
    widest = bench.issued_to(MAX_BURN_BATCH_SIZE, LARGEST_AMOUNT)
    burn_largest = bench.burn_batch(MINTER_KEY, widest[0], widest[1], widest[2])
    row(f"burnBatch x{MAX_BURN_BATCH_SIZE}, all of each, 2**96-1", burn_largest)
    print(
        f"burnBatch needed per item {burn_item:,.0f}, fixed (fresh contract) {burn_fixed:,.0f}, "
        f"skipped {(burn_resent.used - burn_batch_1.used) / 99:,.0f}"
    )

    bench.fresh_contract()
    largest = bench.batch(
        MINTER_KEY,
        fresh_batch(MAX_BATCH_SIZE, LARGEST_AMOUNT),
        mint_batch_gas_limit(MAX_BATCH_SIZE),
    )
    row(f"mintBatch x{MAX_BATCH_SIZE}, fresh contract, first, 2**96-1", largest, MAX_BATCH_SIZE)

    print()
    print(
        f"mintBatch per item: fresh recipient {per_item:,.0f} (amount 2**96-1: "
        f"{per_item_large:,.0f}), existing holder {per_existing:,.0f}, skipped {per_skipped:,.0f}"
    )
    print(
        f"mintBatch fixed: later {fixed_later:,.0f}, first of a town's season "
        f"{first_other.used - per_item_large:,.0f}, first on a fresh contract {fixed_first:,.0f}"
    )

    # The client's limits against the worst case needed.
    checks = [
        ("MINT_BATCH_ITEM_GAS", MINT_BATCH_ITEM_GAS, per_item_large),
        ("MINT_BATCH_BASE_GAS", MINT_BATCH_BASE_GAS, fixed_first),
        (
            f"mint_batch_gas_limit({MAX_BATCH_SIZE})",
            mint_batch_gas_limit(MAX_BATCH_SIZE),
            largest.needed,
        ),
        ("MINT_GAS_LIMIT", MINT_GAS_LIMIT, max(single_first.needed, single_later.needed)),
        (
            "BURN_GAS_LIMIT",
            BURN_GAS_LIMIT,
            max(burn_partial.needed, burn_rest.needed, burn_first.needed),
        ),
        ("BURN_BATCH_ITEM_GAS", BURN_BATCH_ITEM_GAS, burn_item),
        ("BURN_BATCH_BASE_GAS", BURN_BATCH_BASE_GAS, burn_fixed),
        (
            f"burn_batch_gas_limit({MAX_BURN_BATCH_SIZE})",
            burn_batch_gas_limit(MAX_BURN_BATCH_SIZE),
            burn_largest.needed,
        ),
        ("ANCHOR_GAS_LIMIT", ANCHOR_GAS_LIMIT, max(anchor_first.needed, anchor_later.needed)),
    ]
    print()
    print(f"{'client limit':<32}{'limit':>12}{'worst needed':>14}{'margin':>9}")
    ok = True
    for name, limit, worst in checks:
        margin = limit / worst - 1
        ok = ok and limit >= worst
        short = "" if limit >= worst else "  SHORT"
        print(f"{name:<32}{limit:>12,}{worst:>14,.0f}{margin:>8.0%}{short}")
    limit = mint_batch_gas_limit(MAX_BATCH_SIZE)
    print(f"MAX_BATCH_SIZE={MAX_BATCH_SIZE}: its limit {limit:,}, the tx cap {TX_GAS_CAP:,}")

    started = time.perf_counter()
    signed = client.build_mint_batch_tx(
        MINTER_KEY,
        SEASON,
        *fresh_batch(MAX_BATCH_SIZE),
        nonce=client.pending_nonce(client.account(MINTER_KEY).address),
    )
    signed_at = time.perf_counter()
    client.raise_for_receipt(client.wait_receipt(client.send_raw(signed.raw)))
    done = time.perf_counter()
    print(
        f"batch of {MAX_BATCH_SIZE}: build+sign {1000 * (signed_at - started):.0f} ms, "
        f"send+receipt {1000 * (done - signed_at):.0f} ms"
    )
    started = time.perf_counter()
    events = sum(1 for _ in client.minted_events())
    print(f"minted_events: {events} decoded in {1000 * (time.perf_counter() - started):.0f} ms")
    return ok


def main() -> int:
    """Start a throwaway anvil, measure, stop it."""
    with tempfile.TemporaryDirectory() as tmp, AnvilNode(Path(tmp)) as node:
        ok = run(ChainClient(node.rpc_url, request_timeout=60.0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
