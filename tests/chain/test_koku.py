"""The KOKU contract (v3, towns as issuers) through ChainClient, on a real anvil: towns' minters
and caps per season, single and batch mints, corrections, events, and the computed gas limits
against the worst cases they must cover."""

from __future__ import annotations

import os

import pytest

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import (
    ANCHOR_GAS_LIMIT,
    BURN_GAS_LIMIT,
    MAX_BATCH_SIZE,
    MINT_GAS_LIMIT,
    TX_GAS_CAP,
    ChainClient,
    SignedTx,
    mint_batch_gas_limit,
)
from kokudaka.chain.errors import TransactionReverted
from kokudaka.chain.interface import ANCHOR_ROLE
from tests.chain.conftest import (
    ADMIN_KEY,
    ANCHOR_KEY,
    HOLDER_KEY,
    MINTER_KEY,
    OTHER_MINTER_KEY,
    OTHER_TOWN,
    OTHER_TOWN_CAP,
    OUTSIDER_KEY,
    SEASON,
    TOWN,
    TOWN_CAP,
    new_ref,
)


def fresh_address() -> str:
    """An address that never held anything: its balance slot is written from zero."""
    return "0x" + os.urandom(20).hex()


def mined(chain: ChainClient, signed: SignedTx) -> int:
    """Send, wait, raise on revert; returns the gas used."""
    assert chain.send_raw(signed.raw) == signed.tx_hash
    receipt = chain.wait_receipt(signed.tx_hash, timeout=10)
    chain.raise_for_receipt(receipt)
    return int(receipt["gasUsed"])


def send_expecting_revert(chain: ChainClient, signed: SignedTx) -> TransactionReverted:
    """Send a transaction that must be mined and revert; returns the decoded revert."""
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


def test_the_towns_as_deployed(chain: ChainClient, minter: str, other_minter: str) -> None:
    assert chain.admin() == chain.account(ADMIN_KEY).address
    assert chain.minter_of(TOWN) == minter
    assert chain.minter_of(OTHER_TOWN) == other_minter
    assert chain.town_of(minter) == TOWN
    assert chain.town_of(other_minter) == OTHER_TOWN
    assert chain.is_minter(minter)
    assert chain.is_minter(other_minter)
    outsider = chain.account(OUTSIDER_KEY).address
    assert not chain.is_minter(outsider)
    assert chain.town_of(outsider) == bytes(32)
    assert chain.minter_of(new_ref()) is None  # a town the contract never heard of
    assert (chain.season_cap(TOWN, SEASON), chain.season_minted(TOWN, SEASON)) == (TOWN_CAP, 0)
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP
    assert chain.allowance_left(OTHER_TOWN, SEASON) == OTHER_TOWN_CAP
    assert chain.allowance_left(TOWN, SEASON + 1) == 0
    assert chain.has_role(ANCHOR_ROLE, chain.account(ANCHOR_KEY).address)
    assert not chain.has_role(ANCHOR_ROLE, minter)
    assert chain.last_anchor() == (0, bytes(32))


def test_only_the_admin_sets_minters_and_caps(chain: ChainClient, minter: str) -> None:
    outsider = chain.account(OUTSIDER_KEY).address
    with pytest.raises(TransactionReverted) as caught:
        chain.set_town_minter(OUTSIDER_KEY, new_ref(), outsider)
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    assert caught.value.error_args[0] == outsider
    assert not chain.is_minter(outsider)

    # A town's own minter cannot raise its cap either.
    with pytest.raises(TransactionReverted) as caught:
        chain.set_season_cap(MINTER_KEY, TOWN, SEASON, 10**12)
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    assert caught.value.error_args[0] == minter
    assert chain.season_cap(TOWN, SEASON) == TOWN_CAP

    town = new_ref()
    chain.set_town_minter(ADMIN_KEY, town, outsider)
    chain.set_season_cap(ADMIN_KEY, town, SEASON, 5_000)
    assert chain.town_of(outsider) == town
    assert chain.allowance_left(town, SEASON) == 5_000


def test_mint_within_the_cap_then_beyond(chain: ChainClient, minter: str) -> None:
    alice = fresh_address()
    nonce = chain.pending_nonce(minter)
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, 1_000)

    gas = mined(chain, chain.build_mint_tx(MINTER_KEY, SEASON, alice, 600, new_ref(), nonce))
    assert gas < MINT_GAS_LIMIT
    assert chain.balance_of(alice) == 600
    assert chain.season_minted(TOWN, SEASON) == 600
    assert chain.allowance_left(TOWN, SEASON) == 400

    error = send_expecting_revert(
        chain, chain.build_mint_tx(MINTER_KEY, SEASON, alice, 401, new_ref(), nonce + 1)
    )
    assert error.error_name == "AllowanceExceeded"
    assert error.error_args == (TOWN, SEASON, 401, 400)
    assert chain.balance_of(alice) == 600
    assert chain.allowance_left(TOWN, SEASON) == 400


def test_each_season_has_its_own_cap(chain: ChainClient, minter: str) -> None:
    nonce = chain.pending_nonce(minter)
    # No cap was set for next season: nothing can be minted in it yet.
    error = send_expecting_revert(
        chain, chain.build_mint_tx(MINTER_KEY, SEASON + 1, fresh_address(), 1, new_ref(), nonce)
    )
    assert error.error_args == (TOWN, SEASON + 1, 1, 0)

    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON + 1, 700)
    nonce = chain.pending_nonce(minter)
    mined(
        chain, chain.build_mint_tx(MINTER_KEY, SEASON + 1, fresh_address(), 700, new_ref(), nonce)
    )
    assert chain.allowance_left(TOWN, SEASON + 1) == 0
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP  # this season is untouched


def test_single_mint_of_a_used_ref_reverts(chain: ChainClient, minter: str) -> None:
    alice = fresh_address()
    ref = new_ref()
    nonce = chain.pending_nonce(minter)
    assert not chain.is_minted(TOWN, ref)
    mined(chain, chain.build_mint_tx(MINTER_KEY, SEASON, alice, 1_000, ref, nonce))
    assert chain.is_minted(TOWN, ref)
    assert chain.issued_of(TOWN, ref) == (chain.web3.to_checksum_address(alice), 1_000)

    error = send_expecting_revert(
        chain, chain.build_mint_tx(MINTER_KEY, SEASON, alice, 1_000, ref, nonce + 1)
    )
    assert error.error_name == "AlreadyMinted"
    assert error.error_args == (ref,)
    assert chain.balance_of(alice) == 1_000
    assert chain.total_supply() == 1_000
    assert chain.season_minted(TOWN, SEASON) == 1_000


def test_batch_skips_minted_refs_and_mints_the_rest(chain: ChainClient, minter: str) -> None:
    alice, bob, carol = fresh_address(), fresh_address(), fresh_address()
    done, fresh, also_fresh = new_ref(), new_ref(), new_ref()
    nonce = chain.pending_nonce(minter)
    mined(chain, chain.build_mint_tx(MINTER_KEY, SEASON, alice, 100, done, nonce))
    start_block = chain.block_number() + 1

    # `done` was minted already, and `fresh` appears twice: each is minted exactly once.
    batch = chain.build_mint_batch_tx(
        MINTER_KEY,
        SEASON,
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
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP - 725
    events = list(chain.minted_events(start_block))
    assert [(e.ref, e.to.lower(), e.amount, e.town) for e in events] == [
        (fresh, bob, 250, TOWN),
        (also_fresh, carol, 375, TOWN),
    ]
    assert {e.tx_hash for e in events} == {batch.tx_hash}
    skipped = list(chain.mint_skipped_events(start_block))
    assert [(e.ref, e.to.lower(), e.amount, e.town) for e in skipped] == [
        (done, alice, 100, TOWN),
        (fresh, bob, 999, TOWN),
    ]

    # Resending the whole batch after a "crash" mints nothing more and does not revert.
    mined(
        chain,
        chain.build_mint_batch_tx(
            MINTER_KEY, SEASON, [bob, carol], [250, 375], [fresh, also_fresh], nonce + 2
        ),
    )
    assert chain.total_supply() == 725
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP - 725
    assert len(list(chain.minted_events(start_block))) == 2
    assert len(list(chain.mint_skipped_events(start_block))) == 4


def test_batch_beyond_the_cap_reverts_whole(chain: ChainClient, minter: str) -> None:
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, 500)
    recipients = [fresh_address(), fresh_address()]
    refs = [new_ref(), new_ref()]
    signed = chain.build_mint_batch_tx(
        MINTER_KEY, SEASON, recipients, [300, 300], refs, chain.pending_nonce(minter)
    )
    error = send_expecting_revert(chain, signed)
    assert error.error_name == "AllowanceExceeded"
    assert error.error_args == (TOWN, SEASON, 600, 500)
    assert not any(chain.is_minted(TOWN, ref) for ref in refs)
    assert chain.total_supply() == 0
    assert chain.season_minted(TOWN, SEASON) == 0


def test_batch_input_is_validated_before_signing(chain: ChainClient) -> None:
    one = [fresh_address()]
    with pytest.raises(ValueError, match="differ in length"):
        chain.build_mint_batch_tx(MINTER_KEY, SEASON, one, [1, 2], [new_ref()], 0)
    with pytest.raises(ValueError, match="positive integer"):
        chain.build_mint_batch_tx(MINTER_KEY, SEASON, one, [0], [new_ref()], 0)
    with pytest.raises(ValueError, match="32 bytes"):
        chain.build_mint_batch_tx(MINTER_KEY, SEASON, one, [1], [b"short"], 0)
    with pytest.raises(ValueError, match="zero ref"):
        chain.build_mint_batch_tx(MINTER_KEY, SEASON, one, [1], [bytes(32)], 0)
    with pytest.raises(ValueError, match="not an address"):
        chain.build_mint_batch_tx(MINTER_KEY, SEASON, ["0x1234"], [1], [new_ref()], 0)
    for season in (0, 2**16, True):
        with pytest.raises(ValueError, match="season"):
            chain.build_mint_batch_tx(MINTER_KEY, season, one, [1], [new_ref()], 0)
    too_many = MAX_BATCH_SIZE + 1
    with pytest.raises(ValueError, match="MAX_BATCH_SIZE"):
        chain.build_mint_batch_tx(
            MINTER_KEY, SEASON, one * too_many, [1] * too_many, [new_ref()] * too_many, 0
        )


def test_the_largest_batch_of_fresh_recipients_fits_its_computed_gas_limit(
    chain: ChainClient,
) -> None:
    """The worst case the limits must cover: MAX_BATCH_SIZE new recipients and new refs, as the
    first batch of a town's season on a fresh contract (totalSupply, the season's minted total
    and every balance and ref written from zero), with large amounts (more calldata)."""
    size = MAX_BATCH_SIZE
    limit = mint_batch_gas_limit(size)
    assert limit <= TX_GAS_CAP
    chain.deploy_koku(ADMIN_KEY)  # the client now uses the fresh contract
    chain.set_town_minter(ADMIN_KEY, TOWN, chain.account(MINTER_KEY).address)
    amount = 2**96 - 1  # the largest one issuance may be: every calldata byte non-zero
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, amount * size)
    signed = chain.build_mint_batch_tx(
        MINTER_KEY,
        SEASON,
        [fresh_address() for _ in range(size)],
        [amount] * size,
        [new_ref() for _ in range(size)],
        chain.pending_nonce(chain.account(MINTER_KEY).address),
    )
    gas_used = mined(chain, signed)  # signed with the computed limit: it would revert OutOfGas
    assert gas_used <= limit
    # The limit is a worst case, but not a wasteful one.
    assert gas_used > 0.9 * limit
    assert chain.allowance_left(TOWN, SEASON) == 0


def test_single_mint_burn_and_anchor_fit_their_limits_in_their_worst_case(
    chain: ChainClient, minter: str
) -> None:
    """Each first of its kind on a fresh contract, signed with the client's default limits."""
    chain.deploy_koku(ADMIN_KEY)
    chain.set_town_minter(ADMIN_KEY, TOWN, minter)
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, 2**96)
    chain.grant_anchor_role(ADMIN_KEY, chain.account(ANCHOR_KEY).address)
    holder = fresh_address()
    issued = new_ref()
    nonce = chain.pending_nonce(minter)
    mint = chain.build_mint_tx(MINTER_KEY, SEASON, holder, 2**96 - 1, issued, nonce)
    assert mined(chain, mint) < MINT_GAS_LIMIT
    burn = chain.build_burn_with_reference_tx(
        MINTER_KEY, holder, 12_345, new_ref(), issued, nonce + 1
    )
    assert mined(chain, burn) < BURN_GAS_LIMIT
    anchor_key = chain.account(ANCHOR_KEY).address
    anchor = chain.build_anchor_tx(ANCHOR_KEY, 1, os.urandom(32), chain.pending_nonce(anchor_key))
    assert mined(chain, anchor) < ANCHOR_GAS_LIMIT


def test_minted_events_are_decoded_across_chunks(chain: ChainClient, minter: str) -> None:
    start_block = chain.block_number() + 1
    nonce = chain.pending_nonce(minter)
    expected = []
    for i in range(3):
        recipients = [fresh_address() for _ in range(4)]
        refs = [new_ref() for _ in range(4)]
        amounts = [1_000 * (i + 1) + j for j in range(4)]
        signed = chain.build_mint_batch_tx(MINTER_KEY, SEASON, recipients, amounts, refs, nonce + i)
        mined(chain, signed)
        block = chain.block_number()
        expected += [
            (ref, to.lower(), amount, signed.tx_hash, block)
            for ref, to, amount in zip(refs, recipients, amounts, strict=True)
        ]

    events = list(chain.minted_events(start_block))
    assert [(e.ref, e.to.lower(), e.amount, e.tx_hash, e.block_number) for e in events] == expected
    assert all(e.town == TOWN for e in events)
    assert [e.log_index for e in events[:4]] == [1, 3, 5, 7]  # each Minted follows its Transfer
    assert list(chain.minted_events(start_block, chunk_blocks=1)) == events
    assert list(chain.minted_events(start_block + 1, start_block + 1)) == events[4:8]


def test_burn_with_reference(chain: ChainClient, minter: str) -> None:
    holder = chain.account(HOLDER_KEY).address
    nonce = chain.pending_nonce(minter)
    issued = new_ref()
    mined(chain, chain.build_mint_tx(MINTER_KEY, SEASON, holder, 5_000, issued, nonce))
    start_block = chain.block_number() + 1

    correction = new_ref()
    burn = chain.build_burn_with_reference_tx(
        MINTER_KEY, holder, 1_200, correction, issued, nonce + 1
    )
    gas = mined(chain, burn)
    assert gas < BURN_GAS_LIMIT
    assert chain.is_burned(TOWN, correction)
    assert not chain.is_burned(OTHER_TOWN, correction)
    assert chain.balance_of(holder) == 3_800
    assert chain.total_supply() == 3_800
    assert chain.issued_of(TOWN, issued) == (holder, 3_800)
    # A burn does not give the town its cap back.
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP - 5_000
    [event] = chain.burned_events(start_block)
    assert (event.ref, event.from_, event.amount, event.town) == (correction, holder, 1_200, TOWN)
    assert event.tx_hash == burn.tx_hash

    again = chain.build_burn_with_reference_tx(
        MINTER_KEY, holder, 1_200, correction, issued, nonce + 2
    )
    error = send_expecting_revert(chain, again)
    assert (error.error_name, error.error_args) == ("AlreadyBurned", (correction,))

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
    assert chain.balance_of(holder) == 3_800


def test_remove_town_minter_revokes(chain: ChainClient, minter: str) -> None:
    chain.remove_town_minter(ADMIN_KEY, TOWN)
    assert not chain.is_minter(minter)
    assert chain.minter_of(TOWN) is None
    assert chain.town_of(minter) == bytes(32)
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP  # the cap stays with the town
    signed = chain.build_mint_tx(
        MINTER_KEY, SEASON, fresh_address(), 1, new_ref(), chain.pending_nonce(minter)
    )
    error = send_expecting_revert(chain, signed)
    assert error.error_name == "AccessControlUnauthorizedAccount"
    assert error.error_args[0] == minter
    # The other town is not affected.
    other = chain.account(OTHER_MINTER_KEY).address
    assert chain.minter_of(OTHER_TOWN) == other


def test_snapshot_isolation_left_the_towns_as_configured(chain: ChainClient, minter: str) -> None:
    # Runs after tests that minted, rotated and redeployed: the revert must have undone them.
    assert chain.total_supply() == 0
    assert chain.minter_of(TOWN) == minter
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP
    assert chain.allowance_left(OTHER_TOWN, SEASON) == OTHER_TOWN_CAP
