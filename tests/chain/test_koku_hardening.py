"""What a leaked key can do to KOKU v3, on a real anvil.

A town's minter key mints only within its own town's cap for a season and burns only what its
own town issued to that holder; it cannot touch another town's refs, caps or issuances, rotate
itself or step down; the anchor key only anchors, forwards; no path moves KOKU between holders;
the admin cannot be locked out or renounced by a slip.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_typing import HexStr
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.errors import TransactionReverted, map_chain_error
from kokudaka.chain.interface import MINTER_ROLE, TOWN_MINTER_SET_TOPIC, selector
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
    SPARE_KEY,
    TOWN,
    TOWN_CAP,
    new_ref,
)
from tests.chain.test_koku import fresh_address, mined, send_expecting_revert

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = bytes(32)


def token(chain: ChainClient) -> Contract:
    return chain.web3.eth.contract(address=chain.koku_address, abi=load_koku_artifact().abi)


def transact(chain: ChainClient, key: PrivateKey, function: str, *args: Any) -> None:
    """Sign and send one contract call from ``key``'s account; raise if it reverts."""
    account = chain.account(key)
    tx = getattr(token(chain).functions, function)(*args).build_transaction(
        {"from": account.address, "nonce": chain.pending_nonce(account.address), "gas": 200_000}
    )
    tx_hash = chain.send_raw(account.sign_transaction(tx).raw_transaction)
    chain.raise_for_receipt(chain.wait_receipt(tx_hash, timeout=10))


def reverted_tx(chain: ChainClient, key: PrivateKey, function: str, *args: Any) -> str | None:
    """The error a *mined* call from ``key``'s account reverts with."""
    with pytest.raises(TransactionReverted) as caught:
        transact(chain, key, function, *args)
    return caught.value.error_name


def refused(chain: ChainClient, key: PrivateKey, function: str, *args: Any) -> str | None:
    """The error a call from ``key``'s account reverts with (checked with eth_call)."""
    sender = chain.account(key).address
    with pytest.raises((ContractCustomError, ContractLogicError)) as caught:
        getattr(token(chain).functions, function)(*args).call({"from": sender})
    error = map_chain_error(caught.value)
    assert isinstance(error, TransactionReverted)
    return error.error_name


def mint(chain: ChainClient, key: PrivateKey, to: str, amount: int, ref: bytes) -> None:
    address = chain.account(key).address
    mined(chain, chain.build_mint_tx(key, SEASON, to, amount, ref, chain.pending_nonce(address)))


def burn(
    chain: ChainClient, key: PrivateKey, holder: str, amount: int, issuance: bytes
) -> TransactionReverted | None:
    """A correction of ``amount`` from ``holder`` against ``issuance``, mined; its revert if any."""
    address = chain.account(key).address
    signed = chain.build_burn_with_reference_tx(
        key, holder, amount, new_ref(), issuance, chain.pending_nonce(address)
    )
    try:
        mined(chain, signed)
    except TransactionReverted as error:
        return error
    return None


# ---------------------------------------------------------------- a leaked minter key


def test_a_leaked_minter_key_cannot_mint_past_its_towns_season_cap(
    chain: ChainClient, minter: str
) -> None:
    mint(chain, MINTER_KEY, fresh_address(), TOWN_CAP - 1, new_ref())
    nonce = chain.pending_nonce(minter)

    single = chain.build_mint_tx(MINTER_KEY, SEASON, fresh_address(), 2, new_ref(), nonce)
    error = send_expecting_revert(chain, single)
    assert (error.error_name, error.error_args) == ("AllowanceExceeded", (TOWN, SEASON, 2, 1))
    batch = chain.build_mint_batch_tx(
        MINTER_KEY, SEASON, [fresh_address()] * 2, [1, 1], [new_ref(), new_ref()], nonce + 1
    )
    assert send_expecting_revert(chain, batch).error_args == (TOWN, SEASON, 2, 1)
    # Nor in a season the admin has not capped.
    other_season = chain.build_mint_tx(
        MINTER_KEY, SEASON + 1, fresh_address(), 1, new_ref(), nonce + 2
    )
    assert send_expecting_revert(chain, other_season).error_args == (TOWN, SEASON + 1, 1, 0)

    mint(chain, MINTER_KEY, fresh_address(), 1, new_ref())  # exactly the last go
    assert chain.allowance_left(TOWN, SEASON) == 0
    assert chain.total_supply() == TOWN_CAP
    # The other town's room is its own, whatever this key did.
    assert chain.allowance_left(OTHER_TOWN, SEASON) == OTHER_TOWN_CAP
    mint(chain, OTHER_MINTER_KEY, fresh_address(), OTHER_TOWN_CAP, new_ref())
    assert chain.total_supply() == TOWN_CAP + OTHER_TOWN_CAP


def test_a_minter_key_mints_and_burns_only_for_its_own_town(chain: ChainClient) -> None:
    holder = chain.account(HOLDER_KEY).address
    ours, theirs = new_ref(), new_ref()
    start_block = chain.block_number() + 1
    mint(chain, MINTER_KEY, holder, 700, ours)
    mint(chain, OTHER_MINTER_KEY, holder, 300, theirs)

    # Every mint by a key counts against, and is recorded for, that key's town only.
    assert chain.season_minted(TOWN, SEASON) == 700
    assert chain.season_minted(OTHER_TOWN, SEASON) == 300
    assert chain.is_minted(TOWN, ours)
    assert not chain.is_minted(OTHER_TOWN, ours)
    assert chain.is_minted(OTHER_TOWN, theirs)
    assert not chain.is_minted(TOWN, theirs)
    assert [(e.ref, e.town) for e in chain.minted_events(start_block)] == [
        (ours, TOWN),
        (theirs, OTHER_TOWN),
    ]

    # The other town's issuance does not exist in this key's town: nothing to burn.
    error = burn(chain, MINTER_KEY, holder, 1, theirs)
    assert error is not None
    assert (error.error_name, error.error_args) == (
        "BurnExceedsIssued",
        (theirs, ZERO_ADDRESS, 1, 0),
    )
    error = burn(chain, OTHER_MINTER_KEY, holder, 1, ours)
    assert error is not None
    assert error.error_name == "BurnExceedsIssued"
    assert chain.balance_of(holder) == 1_000
    assert chain.issued_of(OTHER_TOWN, theirs) == (holder, 300)


def test_the_same_ref_in_two_towns_mints_twice_independently(
    chain: ChainClient, other_minter: str
) -> None:
    """One town's minter cannot claim another town's ref first."""
    alice, bob = fresh_address(), fresh_address()
    ref = new_ref()
    start_block = chain.block_number() + 1
    mint(chain, MINTER_KEY, alice, 100, ref)
    batch = chain.build_mint_batch_tx(
        OTHER_MINTER_KEY, SEASON, [bob], [200], [ref], chain.pending_nonce(other_minter)
    )
    mined(chain, batch)  # minted, not skipped: the ref is still fresh in the other town

    assert chain.balance_of(alice) == 100
    assert chain.balance_of(bob) == 200
    assert chain.issued_of(TOWN, ref) == (chain.web3.to_checksum_address(alice), 100)
    assert chain.issued_of(OTHER_TOWN, ref) == (chain.web3.to_checksum_address(bob), 200)
    assert [(e.town, e.amount) for e in chain.minted_events(start_block)] == [
        (TOWN, 100),
        (OTHER_TOWN, 200),
    ]
    assert list(chain.mint_skipped_events(start_block)) == []

    # Within each town the ref is still exactly-once.
    again = chain.build_mint_tx(
        OTHER_MINTER_KEY, SEASON, bob, 200, ref, chain.pending_nonce(other_minter)
    )
    assert send_expecting_revert(chain, again).error_name == "AlreadyMinted"
    # And a correction in one town leaves the other town's issuance of that ref whole.
    assert burn(chain, MINTER_KEY, alice, 100, ref) is None
    assert chain.issued_of(OTHER_TOWN, ref)[1] == 200
    assert chain.balance_of(bob) == 200


def test_a_leaked_minter_key_burns_only_what_an_issuance_minted_to_that_holder(
    chain: ChainClient,
) -> None:
    holder = chain.account(HOLDER_KEY).address
    neighbour = chain.account(OUTSIDER_KEY).address
    to_holder, to_neighbour, other_towns = new_ref(), new_ref(), new_ref()
    mint(chain, MINTER_KEY, holder, 5_000, to_holder)
    mint(chain, MINTER_KEY, neighbour, 1_000, to_neighbour)
    # KOKU the holder received from another town: this key may not touch it.
    mint(chain, OTHER_MINTER_KEY, holder, 1_000, other_towns)
    assert chain.balance_of(holder) == 6_000

    def burned(amount: int, issuance: bytes) -> str | None:
        error = burn(chain, MINTER_KEY, holder, amount, issuance)
        return None if error is None else error.error_name

    assert burned(1, to_neighbour) == "BurnExceedsIssued"  # issued to someone else
    assert burned(1, new_ref()) == "BurnExceedsIssued"  # never issued
    assert burned(1, other_towns) == "BurnExceedsIssued"  # issued by another town
    too_much = burn(chain, MINTER_KEY, holder, 5_001, to_holder)
    assert too_much is not None
    assert too_much.error_name == "BurnExceedsIssued"
    assert too_much.error_args[1:] == (holder, 5_001, 5_000)
    assert burned(3_000, to_holder) is None
    assert burned(2_001, to_holder) == "BurnExceedsIssued"  # only 2,000 left of it
    assert burned(2_000, to_holder) is None
    assert burned(1, to_holder) == "BurnExceedsIssued"  # spent in full

    # Whatever the key tried, the holder keeps what another town issued, and the record says why.
    assert chain.balance_of(holder) == 1_000
    assert chain.balance_of(neighbour) == 1_000
    assert chain.issued_of(TOWN, to_holder) == (holder, 0)
    assert chain.is_minted(TOWN, to_holder)


# ---------------------------------------------------------------- caps and minters (the admin)


def test_a_cap_below_what_was_minted_reverts(chain: ChainClient) -> None:
    mint(chain, MINTER_KEY, fresh_address(), 600, new_ref())
    with pytest.raises(TransactionReverted) as caught:
        chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, 599)
    assert caught.value.error_name == "CapBelowMinted"
    assert caught.value.error_args == (TOWN, SEASON, 599, 600)
    assert chain.season_cap(TOWN, SEASON) == TOWN_CAP

    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, 600)  # down to what was minted: no room left
    assert chain.allowance_left(TOWN, SEASON) == 0
    assert chain.season_minted(TOWN, SEASON) == 600


def test_setting_the_same_cap_twice_is_idempotent(chain: ChainClient) -> None:
    mint(chain, MINTER_KEY, fresh_address(), 600, new_ref())
    # The cap is an absolute figure: resending it (a retried admin command) is not a top-up.
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, TOWN_CAP)
    chain.set_season_cap(ADMIN_KEY, TOWN, SEASON, TOWN_CAP)
    assert chain.season_cap(TOWN, SEASON) == TOWN_CAP
    assert chain.season_minted(TOWN, SEASON) == 600
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP - 600


def test_rotating_a_towns_minter_revokes_the_old_key_and_the_new_one_has_what_was_left(
    chain: ChainClient, minter: str
) -> None:
    holder = chain.account(HOLDER_KEY).address
    spare = chain.account(SPARE_KEY).address
    issued = new_ref()
    mint(chain, MINTER_KEY, holder, 600, issued)
    start_block = chain.block_number() + 1

    chain.set_town_minter(ADMIN_KEY, TOWN, spare)
    [log] = chain.rpc(
        "eth_getLogs",
        [
            {
                "address": chain.koku_address,
                "topics": [TOWN_MINTER_SET_TOPIC],
                "fromBlock": hex(start_block),
            }
        ],
    )
    assert bytes.fromhex(log["topics"][1][2:]) == TOWN
    assert chain.web3.to_checksum_address("0x" + log["topics"][2][-40:]) == spare
    assert chain.web3.to_checksum_address("0x" + log["data"][-40:]) == minter  # the previous

    # The old key is out: no role, no town, no mint, no burn.
    assert not chain.is_minter(minter)
    assert chain.town_of(minter) == bytes(32)
    assert chain.minter_of(TOWN) == spare
    old_mint = chain.build_mint_tx(
        MINTER_KEY, SEASON, fresh_address(), 1, new_ref(), chain.pending_nonce(minter)
    )
    assert send_expecting_revert(chain, old_mint).error_name == "AccessControlUnauthorizedAccount"
    error = burn(chain, MINTER_KEY, holder, 1, issued)
    assert error is not None
    assert error.error_name == "AccessControlUnauthorizedAccount"

    # The new key has exactly what the town had left, and the town's refs and issuances.
    assert chain.allowance_left(TOWN, SEASON) == TOWN_CAP - 600
    left = TOWN_CAP - 600
    nonce = chain.pending_nonce(spare)
    mined(
        chain,
        chain.build_mint_batch_tx(
            SPARE_KEY, SEASON, [holder, fresh_address()], [600, left], [issued, new_ref()], nonce
        ),
    )
    assert [e.ref for e in chain.mint_skipped_events(start_block)] == [issued]
    assert chain.allowance_left(TOWN, SEASON) == 0
    one_more = chain.build_mint_tx(SPARE_KEY, SEASON, fresh_address(), 1, new_ref(), nonce + 1)
    assert send_expecting_revert(chain, one_more).error_args == (TOWN, SEASON, 1, 0)
    assert burn(chain, SPARE_KEY, holder, 600, issued) is None
    assert chain.balance_of(holder) == 0


def test_one_key_serves_one_town(chain: ChainClient, other_minter: str) -> None:
    with pytest.raises(TransactionReverted) as caught:
        chain.set_town_minter(ADMIN_KEY, TOWN, other_minter)
    assert caught.value.error_name == "MinterOfAnotherTown"
    assert caught.value.error_args == (other_minter, OTHER_TOWN)
    assert chain.town_of(other_minter) == OTHER_TOWN
    assert chain.minter_of(TOWN) == chain.account(MINTER_KEY).address


def test_the_minter_role_moves_only_through_the_town_functions(
    chain: ChainClient, minter: str
) -> None:
    outsider = chain.account(OUTSIDER_KEY).address
    # A minter cannot step down (its town would lose its minter without TownMinterSet) ...
    assert reverted_tx(chain, MINTER_KEY, "renounceRole", MINTER_ROLE, minter) == (
        "UseMinterFunctions"
    )
    # ... and the admin can neither grant the role around a town nor revoke it around one.
    assert reverted_tx(chain, ADMIN_KEY, "grantRole", MINTER_ROLE, outsider) == (
        "UseMinterFunctions"
    )
    assert refused(chain, ADMIN_KEY, "revokeRole", MINTER_ROLE, minter) == "UseMinterFunctions"
    assert chain.is_minter(minter)
    assert chain.has_role(MINTER_ROLE, minter)
    assert not chain.has_role(MINTER_ROLE, outsider)
    assert chain.minter_of(TOWN) == minter


# ---------------------------------------------------------------- no path around the ledger


def test_transfers_are_disabled_and_there_is_no_holder_burn(chain: ChainClient) -> None:
    holder = chain.account(HOLDER_KEY).address
    outsider = chain.account(OUTSIDER_KEY).address
    mint(chain, MINTER_KEY, holder, 1_000, new_ref())

    assert reverted_tx(chain, HOLDER_KEY, "transfer", outsider, 1) == "TransfersDisabled"
    transact(chain, HOLDER_KEY, "approve", outsider, 1_000)  # an approval moves nothing ...
    assert reverted_tx(chain, OUTSIDER_KEY, "transferFrom", holder, outsider, 1) == (
        "TransfersDisabled"
    )  # ... and cannot be used
    assert chain.balance_of(holder) == 1_000
    assert chain.balance_of(outsider) == 0

    entries: list[dict[str, Any]] = [dict(e) for e in load_koku_artifact().abi]
    functions = {str(e["name"]) for e in entries if e.get("type") == "function"}
    assert not functions & {"burn", "burnFrom"}
    # Nor is there a fallback that would answer ERC20Burnable's selectors.
    for signature, args in (("burn(uint256)", "00" * 31 + "01"), ("burnFrom(address,uint256)", "")):
        data = HexStr("0x" + selector(signature).hex() + args)
        with pytest.raises(ContractLogicError):
            chain.web3.eth.call({"from": holder, "to": chain.koku_address, "data": data})
    assert chain.total_supply() == 1_000


def test_a_skipped_batch_item_is_observable(chain: ChainClient, minter: str) -> None:
    alice, bob, carol = fresh_address(), fresh_address(), fresh_address()
    used, fresh = new_ref(), new_ref()
    mint(chain, MINTER_KEY, alice, 100, used)
    start_block = chain.block_number() + 1

    # The used ref comes back with another recipient and amount: skipped, and said so.
    signed = chain.build_mint_batch_tx(
        MINTER_KEY, SEASON, [bob, carol], [999, 5], [used, fresh], chain.pending_nonce(minter)
    )
    mined(chain, signed)
    [skipped] = chain.mint_skipped_events(start_block)
    assert (skipped.ref, skipped.to.lower(), skipped.amount, skipped.town) == (
        used,
        bob,
        999,
        TOWN,
    )
    assert skipped.tx_hash == signed.tx_hash
    assert skipped.block_number == chain.block_number()
    assert [e.ref for e in chain.minted_events(start_block)] == [fresh]
    assert chain.balance_of(bob) == 0
    assert chain.issued_of(TOWN, used) == (chain.web3.to_checksum_address(alice), 100)
    assert chain.season_minted(TOWN, SEASON) == 105  # a skip spends nothing of the cap


# ---------------------------------------------------------------- the audit anchor


def test_anchors_only_go_forward_and_only_from_the_anchor_key(chain: ChainClient) -> None:
    anchor = chain.account(ANCHOR_KEY).address
    first, second = bytes(range(32)), bytes(range(32, 64))
    start_block = chain.block_number() + 1
    tx_first = chain.anchor_audit_log(ANCHOR_KEY, 5, first)
    assert chain.last_anchor() == (5, first)

    for sequence in (5, 4):
        with pytest.raises(TransactionReverted) as caught:
            chain.anchor_audit_log(ANCHOR_KEY, sequence, second)
        assert caught.value.error_name == "AnchorNotNewer"
        assert caught.value.error_args == (sequence, 5)
    # Neither a town's minter nor the admin holds the anchor role.
    for key in (MINTER_KEY, ADMIN_KEY):
        with pytest.raises(TransactionReverted) as caught:
            chain.anchor_audit_log(key, 6, second)
        assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    assert chain.last_anchor() == (5, first)

    tx_second = chain.anchor_audit_log(ANCHOR_KEY, 6, second)
    assert chain.last_anchor() == (6, second)
    events = list(chain.anchored_events(start_block))
    assert [(e.sequence, e.head, e.anchored_by, e.tx_hash) for e in events] == [
        (5, first, anchor, tx_first),
        (6, second, anchor, tx_second),
    ]

    # The anchor key can do nothing else.
    signed = chain.build_mint_tx(
        ANCHOR_KEY, SEASON, fresh_address(), 1, new_ref(), chain.pending_nonce(anchor)
    )
    assert send_expecting_revert(chain, signed).error_name == "AccessControlUnauthorizedAccount"


# ---------------------------------------------------------------- the admin


def test_the_admin_cannot_revoke_renounce_or_share_itself_away(chain: ChainClient) -> None:
    admin = chain.account(ADMIN_KEY).address
    other = chain.account(OUTSIDER_KEY).address
    assert chain.admin() == admin
    assert refused(chain, ADMIN_KEY, "revokeRole", DEFAULT_ADMIN_ROLE, admin) == (
        "AccessControlEnforcedDefaultAdminRules"
    )
    assert refused(chain, ADMIN_KEY, "grantRole", DEFAULT_ADMIN_ROLE, other) == (
        "AccessControlEnforcedDefaultAdminRules"
    )
    # Renouncing needs a transfer to zero scheduled and waited out first.
    assert refused(chain, ADMIN_KEY, "renounceRole", DEFAULT_ADMIN_ROLE, admin) == (
        "AccessControlEnforcedDefaultAdminDelay"
    )
    assert chain.has_role(DEFAULT_ADMIN_ROLE, admin)


def test_the_constructor_refuses_the_zero_admin(chain: ChainClient) -> None:
    with pytest.raises(TransactionReverted) as caught:
        chain.deploy_koku(ADMIN_KEY, admin=ZERO_ADDRESS)
    assert caught.value.error_name == "AccessControlInvalidDefaultAdmin"


def test_the_admin_is_handed_over_in_two_steps_after_the_delay(chain: ChainClient) -> None:
    old, new = chain.account(ADMIN_KEY).address, chain.account(OUTSIDER_KEY).address
    chain.deploy_koku(ADMIN_KEY, admin_delay=3_600)  # the client now uses the fresh contract
    assert token(chain).functions.defaultAdminDelay().call() == 3_600

    transact(chain, ADMIN_KEY, "beginDefaultAdminTransfer", new)
    assert refused(chain, OUTSIDER_KEY, "acceptDefaultAdminTransfer") == (
        "AccessControlEnforcedDefaultAdminDelay"
    )
    assert chain.admin() == old  # still in charge meanwhile

    chain.rpc("evm_increaseTime", [3_601])
    chain.rpc("evm_mine")
    transact(chain, OUTSIDER_KEY, "acceptDefaultAdminTransfer")
    assert chain.admin() == new
    with pytest.raises(TransactionReverted) as caught:
        chain.set_town_minter(ADMIN_KEY, TOWN, old)
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    chain.set_town_minter(OUTSIDER_KEY, TOWN, chain.account(SPARE_KEY).address)
    chain.set_season_cap(OUTSIDER_KEY, TOWN, SEASON, 1)
    assert chain.minter_of(TOWN) == chain.account(SPARE_KEY).address
    assert chain.allowance_left(TOWN, SEASON) == 1
