"""KOKU's ``burnBatch`` on a real anvil: each item a ``burnWithReference``, a used burn ref
skipped with ``BurnSkipped`` (a resend after a crash is harmless), any other refusal reverting
the whole batch, so a leaked minter key still burns no more than an issuance minted to its
holder."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode

from kokudaka.chain.client import (
    MAX_BURN_BATCH_SIZE,
    ChainClient,
    PrivateKey,
    SignedTx,
    burn_batch_gas_limit,
    encode_burn_batch,
)
from kokudaka.chain.errors import TransactionReverted
from kokudaka.chain.interface import BURN_BATCH_SELECTOR
from tests.chain.conftest import MINTER_KEY, OTHER_MINTER_KEY, SEASON, TOWN, new_ref
from tests.chain.test_koku import fresh_address, mined


def mint(chain: ChainClient, key: PrivateKey, to: str, amount: int, ref: bytes) -> None:
    address = chain.account(key).address
    mined(chain, chain.build_mint_tx(key, SEASON, to, amount, ref, chain.pending_nonce(address)))


def burn_batch(
    chain: ChainClient,
    key: PrivateKey,
    holders: list[str],
    amounts: list[int],
    refs: list[bytes],
    issuances: list[bytes],
) -> SignedTx:
    address = chain.account(key).address
    return chain.build_burn_batch_tx(
        key, holders, amounts, refs, issuances, chain.pending_nonce(address)
    )


def unchecked_burn_batch(
    chain: ChainClient,
    holders: list[str],
    amounts: list[int],
    refs: list[bytes],
    issuances: list[bytes],
) -> SignedTx:
    """A ``burnBatch`` encoded by eth_abi, past the client's own checks (as a leaked key
    could send it)."""
    data = BURN_BATCH_SELECTOR + encode(
        ["address[]", "uint256[]", "bytes32[]", "bytes32[]"], [holders, amounts, refs, issuances]
    )
    minter = chain.account(MINTER_KEY)
    return chain._sign(
        minter, chain.koku_address, data, chain.pending_nonce(minter.address), 200_000, None
    )


def reverts(chain: ChainClient, signed: SignedTx) -> TransactionReverted:
    with pytest.raises(TransactionReverted) as caught:
        mined(chain, signed)
    return caught.value


def test_a_batch_burns_each_item_and_a_resend_skips_them_observably(chain: ChainClient) -> None:
    alice, bob = fresh_address(), fresh_address()
    to_alice, to_bob = new_ref(), new_ref()
    mint(chain, MINTER_KEY, alice, 5_000, to_alice)
    mint(chain, MINTER_KEY, bob, 3_000, to_bob)
    start = chain.block_number() + 1
    refs = [new_ref(), new_ref()]

    first = burn_batch(chain, MINTER_KEY, [alice, bob], [5_000, 1_000], refs, [to_alice, to_bob])
    mined(chain, first)
    assert (chain.balance_of(alice), chain.balance_of(bob)) == (0, 2_000)
    assert [e.ref for e in chain.burned_events(start)] == refs
    assert chain.issued_of(TOWN, to_bob)[1] == 2_000

    # The same batch again (a crash before its outcome was recorded): nothing burned twice,
    # and each skip says what it skipped.
    again = burn_batch(chain, MINTER_KEY, [alice, bob], [5_000, 1_000], refs, [to_alice, to_bob])
    mined(chain, again)
    skipped = list(chain.burn_skipped_events(start))
    assert [(e.ref, e.from_.lower(), e.amount, e.town) for e in skipped] == [
        (refs[0], alice, 5_000, TOWN),
        (refs[1], bob, 1_000, TOWN),
    ]
    assert {e.tx_hash for e in skipped} == {again.tx_hash}
    assert len(list(chain.burned_events(start))) == 2
    assert (chain.balance_of(alice), chain.balance_of(bob)) == (0, 2_000)

    # A used ref beside a fresh one: the fresh one burns.
    fresh = new_ref()
    mined(
        chain,
        burn_batch(chain, MINTER_KEY, [bob, bob], [1_000, 500], [refs[1], fresh], [to_bob, to_bob]),
    )
    assert chain.balance_of(bob) == 1_500
    assert chain.is_burned(TOWN, fresh)


def test_a_leaked_key_cannot_burn_past_an_issuance_in_a_batch(chain: ChainClient) -> None:
    holder, neighbour = fresh_address(), fresh_address()
    issued, theirs, other_towns = new_ref(), new_ref(), new_ref()
    mint(chain, MINTER_KEY, holder, 5_000, issued)
    mint(chain, MINTER_KEY, neighbour, 1_000, theirs)
    mint(chain, OTHER_MINTER_KEY, holder, 1_000, other_towns)

    # Two items drawing on one issuance, together past it: the whole batch reverts.
    error = reverts(
        chain,
        burn_batch(
            chain,
            MINTER_KEY,
            [holder, holder],
            [3_000, 2_001],
            [new_ref(), new_ref()],
            [issued, issued],
        ),
    )
    assert error.error_name == "BurnExceedsIssued"
    assert (error.error_args[1].lower(), *error.error_args[2:]) == (holder, 2_001, 2_000)
    # Another holder's issuance, another town's, one never issued: each reverts the batch, and
    # the good item beside it does not burn either.
    for issuance in (theirs, other_towns, new_ref()):
        error = reverts(
            chain,
            burn_batch(
                chain,
                MINTER_KEY,
                [holder, holder],
                [1, 1],
                [new_ref(), new_ref()],
                [issued, issuance],
            ),
        )
        assert error.error_name == "BurnExceedsIssued"
    assert chain.balance_of(holder) == 6_000
    assert chain.issued_of(TOWN, issued)[1] == 5_000

    # A zero amount or a zero ref is a bug upstream, not a duplicate.
    zero_amount = unchecked_burn_batch(chain, [holder], [0], [new_ref()], [issued])
    assert reverts(chain, zero_amount).error_name == "ZeroAmount"
    zero_ref = unchecked_burn_batch(chain, [holder], [1], [bytes(32)], [issued])
    assert reverts(chain, zero_ref).error_name == "InvalidRef"
    # Burning it all, then once more with a fresh ref: nothing is left of the issuance.
    mined(chain, burn_batch(chain, MINTER_KEY, [holder], [5_000], [new_ref()], [issued]))
    assert (
        reverts(
            chain, burn_batch(chain, MINTER_KEY, [holder], [1], [new_ref()], [issued])
        ).error_name
        == "BurnExceedsIssued"
    )
    assert chain.balance_of(holder) == 1_000  # what the other town issued stays


def test_mismatched_arrays_revert(chain: ChainClient) -> None:
    holder, issued = fresh_address(), new_ref()
    mint(chain, MINTER_KEY, holder, 5_000, issued)
    signed = unchecked_burn_batch(chain, [holder], [1], [new_ref()], [issued, issued])
    assert reverts(chain, signed).error_name == "LengthMismatch"


def test_the_encoding_is_the_abis_and_batches_stay_under_the_gas_cap() -> None:
    holders = [fresh_address() for _ in range(3)]
    refs = [new_ref() for _ in range(3)]
    issuances = [new_ref() for _ in range(3)]
    amounts = [1, 2**96 - 1, 40]
    assert encode_burn_batch(holders, amounts, refs, issuances) == BURN_BATCH_SELECTOR + encode(
        ["address[]", "uint256[]", "bytes32[]", "bytes32[]"], [holders, amounts, refs, issuances]
    )
    assert burn_batch_gas_limit(MAX_BURN_BATCH_SIZE) <= 2**24
    assert burn_batch_gas_limit(MAX_BURN_BATCH_SIZE + 1) > 2**24
    with pytest.raises(ValueError, match="differ in length"):
        encode_burn_batch(holders, amounts[:2], refs, issuances)
