"""Gas per KOKU issuance: single mint against mintBatch, and the largest batch under the cap.

Runs against a throwaway anvil (started here, on a free port, in a temporary directory), so the
numbers are those of the committed artifact on anvil's default hardfork.

    .venv/bin/python bench/chain_gas.py

Every recipient is a fresh address and every ref a fresh UUID: the worst case, two new storage
slots per item. The constants in ``kokudaka.chain.client`` (MINT_BATCH_BASE_GAS,
MINT_BATCH_ITEM_GAS, MAX_BATCH_SIZE) come from this script's output plus a margin.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from eth_account import Account

from kokudaka.chain.client import (
    MAX_BATCH_SIZE,
    MINT_BATCH_BASE_GAS,
    MINT_BATCH_ITEM_GAS,
    TX_GAS_CAP,
    ChainClient,
    SignedTx,
    encode_mint_batch,
    mint_batch_gas_limit,
)
from kokudaka.chain.devkeys import ANVIL_DEV_KEYS
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref

ADMIN_KEY = ANVIL_DEV_KEYS[0]
MINTER_KEY = ANVIL_DEV_KEYS[1]
AMOUNT = 1_500  # go: 1.5 KOKU, a typical small issuance


def fresh_batch(size: int) -> tuple[list[str], list[int], list[bytes]]:
    """``size`` new recipients with new refs (the expensive case)."""
    recipients = ["0x" + os.urandom(20).hex() for _ in range(size)]
    return recipients, [AMOUNT] * size, [issuance_ref(uuid.uuid4()) for _ in range(size)]


def sign_uncapped(client: ChainClient, size: int, nonce: int) -> SignedTx:
    """A batch signed outside the client's cap, to measure what an over-cap batch would cost."""
    recipients, amounts, refs = fresh_batch(size)
    fees = client.fees()
    signed = Account.from_key(MINTER_KEY).sign_transaction(
        {
            "type": 2,
            "chainId": client.chain_id(),
            "nonce": nonce,
            "to": client.koku_address,
            "gas": 40_000_000,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "value": 0,
            "data": encode_mint_batch(recipients, amounts, refs),
        }
    )
    return SignedTx(bytes(signed.raw_transaction), "0x" + signed.hash.hex())


def run(client: ChainClient) -> None:
    """Measure and print."""
    minter = client.account(MINTER_KEY).address
    client.deploy_koku(ADMIN_KEY)
    client.configure_minter(ADMIN_KEY, minter, 10**30)

    def mined_gas(signed: SignedTx) -> int:
        receipt = client.wait_receipt(client.send_raw(signed.raw))
        client.raise_for_receipt(receipt)
        return int(receipt["gasUsed"])

    nonce = client.pending_nonce(minter)
    recipients, amounts, refs = fresh_batch(1)
    first = mined_gas(client.build_mint_batch_tx(MINTER_KEY, recipients, amounts, refs, nonce))
    nonce += 1
    print(f"first mintBatch x1 ever (totalSupply 0 -> n): {first:,} gas")
    recipients, amounts, refs = fresh_batch(1)
    single = mined_gas(client.build_mint_tx(MINTER_KEY, recipients[0], AMOUNT, refs[0], nonce))
    nonce += 1
    print(f"anvil hardfork default, tx gas cap {TX_GAS_CAP:,}")
    print(f"{'shape':<28}{'gas used':>12}{'gas/issuance':>14}")
    print(f"{'mint (single)':<28}{single:>12,}{single:>14,}")

    measured: dict[int, int] = {}
    for size in (1, 10, 100, 500):
        if mint_batch_gas_limit(size) <= TX_GAS_CAP:
            signed = client.build_mint_batch_tx(MINTER_KEY, *fresh_batch(size), nonce=nonce)
        else:
            signed = sign_uncapped(client, size, nonce)
        measured[size] = mined_gas(signed)
        nonce += 1
        flag = "" if measured[size] <= TX_GAS_CAP else "  (over the cap)"
        print(f"{f'mintBatch x{size}':<28}{measured[size]:>12,}{measured[size] // size:>14,}{flag}")

    holders, amounts, refs = fresh_batch(100)
    nonce_before = nonce
    client.wait_receipt(
        client.send_raw(
            client.build_mint_batch_tx(MINTER_KEY, holders, amounts, refs, nonce=nonce).raw
        )
    )
    refs = [issuance_ref(uuid.uuid4()) for _ in holders]
    again = mined_gas(client.build_mint_batch_tx(MINTER_KEY, holders, amounts, refs, nonce + 1))
    nonce = nonce_before + 2
    print(f"{'mintBatch x100 (holders)':<28}{again:>12,}{again // 100:>14,}")
    resent = mined_gas(client.build_mint_batch_tx(MINTER_KEY, holders, amounts, refs, nonce))
    nonce += 1
    print(f"{'mintBatch x100 resent':<28}{resent:>12,}{'(all skipped)':>14}")

    per_item = (measured[500] - measured[1]) / 499
    fixed = measured[1] - per_item
    largest = int((TX_GAS_CAP - fixed) // per_item)
    signed = client.build_mint_batch_tx(
        MINTER_KEY, *fresh_batch(largest), nonce=nonce, gas=TX_GAS_CAP
    )
    at_largest = mined_gas(signed)
    nonce += 1
    print(f"{f'mintBatch x{largest} (largest)':<28}{at_largest:>12,}{at_largest // largest:>14,}")
    print(f"marginal gas per new recipient: {per_item:,.0f}; fixed per batch: {fixed:,.0f}")
    print(
        f"client limits: base {MINT_BATCH_BASE_GAS:,} + {MINT_BATCH_ITEM_GAS:,}/item, "
        f"MAX_BATCH_SIZE={MAX_BATCH_SIZE} (limit {mint_batch_gas_limit(MAX_BATCH_SIZE):,})"
    )

    started = time.perf_counter()
    signed = sign_uncapped(client, 500, nonce)
    signed_at = time.perf_counter()
    client.wait_receipt(client.send_raw(signed.raw))
    done = time.perf_counter()
    print(
        f"batch of 500: build+sign {1000 * (signed_at - started):.0f} ms, "
        f"send+receipt {1000 * (done - signed_at):.0f} ms"
    )
    nonce += 1
    started = time.perf_counter()
    signed = client.build_mint_batch_tx(MINTER_KEY, *fresh_batch(MAX_BATCH_SIZE), nonce=nonce)
    signed_at = time.perf_counter()
    client.wait_receipt(client.send_raw(signed.raw))
    done = time.perf_counter()
    print(
        f"batch of {MAX_BATCH_SIZE} (MAX_BATCH_SIZE): build+sign "
        f"{1000 * (signed_at - started):.0f} ms, send+receipt {1000 * (done - signed_at):.0f} ms"
    )
    started = time.perf_counter()
    events = sum(1 for _ in client.minted_events())
    print(
        f"minted_events: {events} events decoded in {1000 * (time.perf_counter() - started):.0f} ms"
    )


def main() -> int:
    """Start a throwaway anvil, measure, stop it."""
    with tempfile.TemporaryDirectory() as tmp, AnvilNode(Path(tmp)) as node:
        run(ChainClient(node.rpc_url, request_timeout=60.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
