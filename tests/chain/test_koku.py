"""The KOKU contract through ChainClient, on a real anvil."""

from __future__ import annotations

import os

import pytest
from web3.exceptions import ContractCustomError

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import (
    BURN_GAS_LIMIT,
    MAX_BATCH_SIZE,
    MINT_GAS_LIMIT,
    TX_GAS_CAP,
    ChainClient,
    SignedTx,
    mint_batch_gas_limit,
)
from kokudaka.chain.errors import TransactionReverted, map_chain_error
from tests.chain.conftest import (
    ADMIN_KEY,
    HOLDER_KEY,
    MINTER_ALLOWANCE,
    MINTER_KEY,
    OUTSIDER_KEY,
    new_ref,
)


def fresh_address() -> str:
    return "0x" + os.urandom(20).hex()


def mined(chain: ChainClient, signed: SignedTx) -> int:
    """Send, wait, raise on revert; returns the gas used."""
    assert chain.send_raw(signed.raw) == signed.tx_hash
    receipt = chain.wait_receipt(signed.tx_hash, timeout=10)
    chain.raise_for_receipt(receipt)
    return int(receipt["gasUsed"])


def send_expecting_revert(chain: ChainClient, signed: SignedTx) -> TransactionReverted:
    chain.send_raw(signed.raw)
    receipt = chain.wait_receipt(signed.tx_hash, timeout=10)
    assert receipt["status"] == 0
    with pytest.raises(TransactionReverted) as caught:
        chain.raise_for_receipt(receipt)
    assert caught.value.tx_hash == signed.tx_hash
    return caught.value


def test_token_metadata(chain: ChainClient) -> None:
    token = chain.web3.eth.contract(address=chain.koku_address, abi=load_koku_artifact().abi)
    assert token.functions.name().call() == "Kokudaka"
    assert token.functions.symbol().call() == "KOKU"
    assert token.functions.decimals().call() == 3
    assert chain.total_supply() == 0


def test_only_admin_configures_minters(chain: ChainClient) -> None:
    outsider = chain.account(OUTSIDER_KEY).address
    with pytest.raises(TransactionReverted) as caught:
        chain.configure_minter(OUTSIDER_KEY, outsider, 10**9)
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    assert caught.value.error_args[0] == outsider
    assert not chain.is_minter(outsider)

    chain.configure_minter(ADMIN_KEY, outsider, 5_000)
    assert chain.is_minter(outsider)
    assert chain.minter_allowance(outsider) == 5_000


def test_minter_role_cannot_be_granted_around_the_allowance(chain: ChainClient) -> None:
    token = chain.web3.eth.contract(address=chain.koku_address, abi=load_koku_artifact().abi)
    role = token.functions.MINTER_ROLE().call()
    admin = chain.account(ADMIN_KEY).address
    call = token.functions.grantRole(role, chain.account(OUTSIDER_KEY).address)
    with pytest.raises(ContractCustomError) as caught:
        call.call({"from": admin})
    mapped = map_chain_error(caught.value)
    assert isinstance(mapped, TransactionReverted)
    assert mapped.error_name == "UseMinterFunctions"


def test_mint_within_allowance_then_beyond(chain: ChainClient, minter: str) -> None:
    alice = fresh_address()
    nonce = chain.pending_nonce(minter)
    chain.configure_minter(ADMIN_KEY, minter, 1_000)

    gas = mined(chain, chain.build_mint_tx(MINTER_KEY, alice, 600, new_ref(), nonce))
    assert gas < MINT_GAS_LIMIT
    assert chain.balance_of(alice) == 600
    assert chain.minter_allowance(minter) == 400

    error = send_expecting_revert(
        chain, chain.build_mint_tx(MINTER_KEY, alice, 401, new_ref(), nonce + 1)
    )
    assert error.error_name == "AllowanceExceeded"
    assert error.error_args == (minter, 401, 400)
    assert chain.balance_of(alice) == 600
    assert chain.minter_allowance(minter) == 400


def test_single_mint_of_a_used_ref_reverts(chain: ChainClient, minter: str) -> None:
    alice = fresh_address()
    ref = new_ref()
    nonce = chain.pending_nonce(minter)
    assert not chain.is_minted(ref)
    mined(chain, chain.build_mint_tx(MINTER_KEY, alice, 1_000, ref, nonce))
    assert chain.is_minted(ref)

    error = send_expecting_revert(
        chain, chain.build_mint_tx(MINTER_KEY, alice, 1_000, ref, nonce + 1)
    )
    assert error.error_name == "AlreadyMinted"
    assert error.error_args == (ref,)
    assert chain.balance_of(alice) == 1_000
    assert chain.total_supply() == 1_000


def test_batch_skips_minted_refs_and_mints_the_rest(chain: ChainClient, minter: str) -> None:
    alice, bob, carol = fresh_address(), fresh_address(), fresh_address()
    done, fresh, also_fresh = new_ref(), new_ref(), new_ref()
    nonce = chain.pending_nonce(minter)
    mined(chain, chain.build_mint_tx(MINTER_KEY, alice, 100, done, nonce))
    start_block = chain.block_number() + 1

    # `done` was minted already, and `fresh` appears twice: each is minted exactly once.
    batch = chain.build_mint_batch_tx(
        MINTER_KEY,
        [alice, bob, carol, bob],
        [100, 250, 375, 999],
        [done, fresh, also_fresh, fresh],
        nonce + 1,
    )
    mined(chain, batch)

    assert chain.balance_of(alice) == 100
    assert chain.balance_of(bob) == 250
    assert chain.balance_of(carol) == 375
    assert chain.total_supply() == 725
    assert chain.minter_allowance(minter) == MINTER_ALLOWANCE - 725
    events = list(chain.minted_events(start_block))
    assert [(e.ref, e.to.lower(), e.amount) for e in events] == [
        (fresh, bob, 250),
        (also_fresh, carol, 375),
    ]
    assert {e.tx_hash for e in events} == {batch.tx_hash}

    # Resending the whole batch after a "crash" mints nothing more and does not revert.
    mined(
        chain,
        chain.build_mint_batch_tx(
            MINTER_KEY, [bob, carol], [250, 375], [fresh, also_fresh], nonce + 2
        ),
    )
    assert chain.total_supply() == 725
    assert len(list(chain.minted_events(start_block))) == 2


def test_batch_beyond_allowance_reverts_whole(chain: ChainClient, minter: str) -> None:
    chain.configure_minter(ADMIN_KEY, minter, 500)
    recipients = [fresh_address(), fresh_address()]
    refs = [new_ref(), new_ref()]
    signed = chain.build_mint_batch_tx(
        MINTER_KEY, recipients, [300, 300], refs, chain.pending_nonce(minter)
    )
    error = send_expecting_revert(chain, signed)
    assert error.error_name == "AllowanceExceeded"
    assert error.error_args == (minter, 600, 500)
    assert not any(chain.is_minted(ref) for ref in refs)
    assert chain.total_supply() == 0


def test_batch_input_is_validated_before_signing(chain: ChainClient) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        chain.build_mint_batch_tx(MINTER_KEY, [fresh_address()], [1, 2], [new_ref()], 0)
    with pytest.raises(ValueError, match="positive integer"):
        chain.build_mint_batch_tx(MINTER_KEY, [fresh_address()], [0], [new_ref()], 0)
    with pytest.raises(ValueError, match="32 bytes"):
        chain.build_mint_batch_tx(MINTER_KEY, [fresh_address()], [1], [b"short"], 0)
    with pytest.raises(ValueError, match="zero ref"):
        chain.build_mint_batch_tx(MINTER_KEY, [fresh_address()], [1], [bytes(32)], 0)
    with pytest.raises(ValueError, match="not an address"):
        chain.build_mint_batch_tx(MINTER_KEY, ["0x1234"], [1], [new_ref()], 0)
    too_many = MAX_BATCH_SIZE + 1
    with pytest.raises(ValueError, match="MAX_BATCH_SIZE"):
        chain.build_mint_batch_tx(
            MINTER_KEY, [fresh_address()] * too_many, [1] * too_many, [new_ref()] * too_many, 0
        )


def test_computed_gas_covers_the_largest_batch_under_the_cap(
    chain: ChainClient, minter: str
) -> None:
    size = MAX_BATCH_SIZE
    assert mint_batch_gas_limit(size) <= TX_GAS_CAP
    chain.configure_minter(ADMIN_KEY, minter, 10**6 * size)
    signed = chain.build_mint_batch_tx(
        MINTER_KEY,
        [fresh_address() for _ in range(size)],
        [10**6] * size,  # large amounts: more non-zero calldata bytes, the costly case
        [new_ref() for _ in range(size)],
        chain.pending_nonce(minter),
    )
    gas_used = mined(chain, signed)
    assert gas_used <= mint_batch_gas_limit(size)
    # The limit is a worst case, but not a wasteful one.
    assert gas_used > 0.9 * mint_batch_gas_limit(size)
    assert chain.minter_allowance(minter) == 0


def test_minted_events_are_decoded_across_chunks(chain: ChainClient, minter: str) -> None:
    start_block = chain.block_number() + 1
    nonce = chain.pending_nonce(minter)
    expected = []
    for i in range(3):
        recipients = [fresh_address() for _ in range(4)]
        refs = [new_ref() for _ in range(4)]
        amounts = [1_000 * (i + 1) + j for j in range(4)]
        signed = chain.build_mint_batch_tx(MINTER_KEY, recipients, amounts, refs, nonce + i)
        mined(chain, signed)
        block = chain.block_number()
        expected += [
            (ref, to.lower(), amount, signed.tx_hash, block)
            for ref, to, amount in zip(refs, recipients, amounts, strict=True)
        ]

    events = list(chain.minted_events(start_block))
    assert [(e.ref, e.to.lower(), e.amount, e.tx_hash, e.block_number) for e in events] == expected
    assert all(e.minter == minter for e in events)
    assert [e.log_index for e in events[:4]] == [1, 3, 5, 7]  # each Minted follows its Transfer
    assert list(chain.minted_events(start_block, chunk_blocks=1)) == events
    assert list(chain.minted_events(start_block + 1, start_block + 1)) == events[4:8]


def test_burn_with_reference_and_holder_burn(chain: ChainClient, minter: str) -> None:
    holder = chain.account(HOLDER_KEY).address
    nonce = chain.pending_nonce(minter)
    issued = new_ref()
    mined(chain, chain.build_mint_tx(MINTER_KEY, holder, 5_000, issued, nonce))
    start_block = chain.block_number() + 1

    correction = new_ref()
    burn = chain.build_burn_with_reference_tx(
        MINTER_KEY, holder, 1_200, correction, issued, nonce + 1
    )
    gas = mined(chain, burn)
    assert gas < BURN_GAS_LIMIT
    assert chain.is_burned(correction)
    assert chain.balance_of(holder) == 3_800
    assert chain.total_supply() == 3_800
    [event] = chain.burned_events(start_block)
    assert (event.ref, event.from_, event.amount, event.minter) == (
        correction,
        holder,
        1_200,
        minter,
    )

    again = chain.build_burn_with_reference_tx(
        MINTER_KEY, holder, 1_200, correction, issued, nonce + 2
    )
    assert send_expecting_revert(chain, again).error_name == "AlreadyBurned"

    outsider_burn = chain.build_burn_with_reference_tx(
        OUTSIDER_KEY,
        holder,
        1,
        new_ref(),
        issued,
        chain.pending_nonce(chain.account(OUTSIDER_KEY).address),
    )
    assert send_expecting_revert(chain, outsider_burn).error_name == (
        "AccessControlUnauthorizedAccount"
    )

    # A holder burns its own (e.g. redeeming rice); burning more than it holds reverts.
    holder_nonce = chain.pending_nonce(holder)
    mined(chain, chain.build_burn_tx(HOLDER_KEY, 800, holder_nonce))
    assert chain.balance_of(holder) == 3_000
    error = send_expecting_revert(chain, chain.build_burn_tx(HOLDER_KEY, 3_001, holder_nonce + 1))
    assert error.error_name == "ERC20InsufficientBalance"
    assert chain.total_supply() == 3_000


def test_remove_minter_revokes(chain: ChainClient, minter: str) -> None:
    chain.remove_minter(ADMIN_KEY, minter)
    assert not chain.is_minter(minter)
    assert chain.minter_allowance(minter) == 0
    signed = chain.build_mint_tx(
        MINTER_KEY, fresh_address(), 1, new_ref(), chain.pending_nonce(minter)
    )
    error = send_expecting_revert(chain, signed)
    assert error.error_name == "AccessControlUnauthorizedAccount"
    assert error.error_args[0] == minter


def test_snapshot_isolation_left_the_supply_at_zero(chain: ChainClient, minter: str) -> None:
    # Runs after tests that minted: the revert to the session snapshot must have undone them.
    assert chain.total_supply() == 0
    assert chain.minter_allowance(minter) == MINTER_ALLOWANCE
