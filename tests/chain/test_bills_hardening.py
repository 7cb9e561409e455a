"""What a leaked key can do to the rice bills contract, on a real anvil.

A town's minter key registers and mints only its own town's works, within their caps and its
town's allowance; it burns only what its own town issued, from that holder, of that work, never
more than the issuance; it cannot change minters, allowances or works of the admin. No path moves
a bill between holders.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from kokudaka.chain.artifact import load_bills_artifact
from kokudaka.chain.bills import BillsClient, BillWork
from kokudaka.chain.client import PrivateKey
from kokudaka.chain.errors import TransactionReverted, map_chain_error
from kokudaka.chain.interface import MINTER_ROLE
from tests.chain.conftest import (
    ADMIN_KEY,
    BILLS_CAP,
    HOLDER_KEY,
    MINTER_KEY,
    OTHER_BILLS_CAP,
    OTHER_MINTER_KEY,
    OTHER_TOWN,
    OUTSIDER_KEY,
    SEASON,
    SPARE_KEY,
    TOWN,
    new_ref,
)
from tests.chain.test_bills import (
    burn,
    fresh_address,
    mint,
    new_work,
    nonce_of,
    register,
)
from tests.chain.test_koku import send_expecting_revert

DEFAULT_ADMIN_ROLE = bytes(32)


def contract(bills: BillsClient) -> Contract:
    return bills.connection.web3.eth.contract(address=bills.address, abi=load_bills_artifact().abi)


def refused(bills: BillsClient, key: PrivateKey, function: str, *args: Any) -> str | None:
    """The error a call from ``key``'s account reverts with (checked with eth_call)."""
    sender = bills.connection.account(key).address
    with pytest.raises((ContractCustomError, ContractLogicError)) as caught:
        getattr(contract(bills).functions, function)(*args).call({"from": sender})
    error = map_chain_error(caught.value)
    assert isinstance(error, TransactionReverted)
    return error.error_name


def test_a_town_cannot_mint_another_towns_work(bills: BillsClient) -> None:
    theirs = new_work()
    register(bills, theirs, 10_000, key=OTHER_MINTER_KEY)
    holder = fresh_address()
    signed = bills.build_mint_batch_tx(
        MINTER_KEY, [theirs], [holder], [1_000], [new_ref()], nonce_of(bills, MINTER_KEY)
    )
    error = send_expecting_revert(bills.connection, signed)
    assert error.error_name == "NotTownWork"
    assert error.error_args == (theirs, OTHER_TOWN)
    # Nor hide it behind one of its own works in the same batch.
    ours = new_work()
    register(bills, ours, 10_000)
    signed = bills.build_mint_batch_tx(
        MINTER_KEY,
        [ours, theirs],
        [holder, holder],
        [1_000, 1_000],
        [new_ref(), new_ref()],
        nonce_of(bills, MINTER_KEY),
    )
    assert send_expecting_revert(bills.connection, signed).error_name == "NotTownWork"
    assert bills.total_supply(theirs) == bills.total_supply(ours) == 0
    # An unregistered work is no town's.
    assert refused(bills, MINTER_KEY, "mintBatch", [new_work()], [holder], [1], [new_ref()]) == (
        "NotTownWork"
    )


def test_a_town_cannot_take_over_or_resize_another_towns_work(bills: BillsClient) -> None:
    theirs = new_work()
    register(bills, theirs, 10_000, key=OTHER_MINTER_KEY)
    assert refused(bills, MINTER_KEY, "registerWork", theirs, SEASON, 1) == "NotTownWork"
    assert refused(bills, OTHER_MINTER_KEY, "registerWork", theirs, SEASON + 1, 10_000) == (
        "WorkSeasonFixed"
    )
    assert bills.work(theirs) == BillWork(OTHER_TOWN, SEASON, 10_000, 0)


def test_a_leaked_key_is_bounded_by_its_towns_allowance(bills: BillsClient) -> None:
    """Everything a town's key can ever mint in a season is its works' caps, and those fit the
    allowance the admin signed."""
    work = new_work()
    register(bills, work, BILLS_CAP)
    assert refused(bills, MINTER_KEY, "registerWork", new_work(), SEASON, 1) == (
        "AllowanceExceeded"
    )
    holder = fresh_address()
    mint(bills, [(work, holder, BILLS_CAP, new_ref())])
    assert refused(bills, MINTER_KEY, "mintBatch", [work], [holder], [1], [new_ref()]) == (
        "WorkCapExceeded"
    )
    # Lowering another work's cap cannot free room below what was minted.
    assert refused(bills, MINTER_KEY, "registerWork", work, SEASON, BILLS_CAP - 1) == (
        "WorkCapBelowMinted"
    )
    # Another season has no allowance until the admin signs one.
    assert refused(bills, MINTER_KEY, "registerWork", new_work(), SEASON + 1, 1) == (
        "AllowanceExceeded"
    )
    assert bills.allowance_left(OTHER_TOWN, SEASON) == OTHER_BILLS_CAP


def test_a_town_burns_only_what_it_issued(bills: BillsClient) -> None:
    ours, theirs = new_work(), new_work()
    register(bills, ours, 10_000)
    register(bills, theirs, 10_000, key=OTHER_MINTER_KEY)
    holder, other_holder = fresh_address(), fresh_address()
    our_issue, their_issue = new_ref(), new_ref()
    mint(bills, [(ours, holder, 4_000, our_issue), (ours, other_holder, 4_000, new_ref())])
    mint(bills, [(theirs, holder, 4_000, their_issue)], key=OTHER_MINTER_KEY)

    def burn_refused(*args: Any) -> str | None:
        return refused(bills, MINTER_KEY, "burnWithReference", *args)

    # Another town's issuance does not exist in this town's namespace.
    assert burn_refused(holder, theirs, 1, new_ref(), their_issue) == "BurnExceedsIssued"
    # Its own issuance, but another work of the same holder...
    assert burn_refused(holder, theirs, 1, new_ref(), our_issue) == "BurnExceedsIssued"
    # ... or another holder of the same work.
    assert burn_refused(other_holder, ours, 1, new_ref(), our_issue) == "BurnExceedsIssued"
    # Never more than the issuance in total, however many burn refs.
    burn(bills, holder, ours, 3_000, our_issue)
    assert burn_refused(holder, ours, 1_001, new_ref(), our_issue) == "BurnExceedsIssued"
    burn(bills, holder, ours, 1_000, our_issue)
    assert burn_refused(holder, ours, 1, new_ref(), our_issue) == "BurnExceedsIssued"
    assert bills.balance_of(holder, theirs) == 4_000
    assert bills.balance_of(other_holder, ours) == 4_000


def test_outsiders_and_minters_cannot_do_the_admins_work(bills: BillsClient) -> None:
    work = new_work()
    outsider = bills.connection.account(OUTSIDER_KEY).address
    for key in (OUTSIDER_KEY, MINTER_KEY):
        assert refused(bills, key, "setTownMinter", TOWN, outsider) == (
            "AccessControlUnauthorizedAccount"
        )
        assert refused(bills, key, "setSeasonCap", TOWN, SEASON, 10**12) == (
            "AccessControlUnauthorizedAccount"
        )
        assert refused(bills, key, "releaseWork", work) == "AccessControlUnauthorizedAccount"
        assert refused(bills, key, "setURI", "https://evil.example/{id}") == (
            "AccessControlUnauthorizedAccount"
        )
    holder = fresh_address()
    assert refused(bills, OUTSIDER_KEY, "registerWork", work, SEASON, 1) == (
        "AccessControlUnauthorizedAccount"
    )
    assert refused(bills, OUTSIDER_KEY, "mintBatch", [work], [holder], [1], [new_ref()]) == (
        "AccessControlUnauthorizedAccount"
    )
    # The minter role moves only with a town, and a minter cannot step down by itself.
    assert refused(bills, ADMIN_KEY, "grantRole", MINTER_ROLE, outsider) == "UseMinterFunctions"
    minter = bills.connection.account(MINTER_KEY).address
    assert refused(bills, MINTER_KEY, "renounceRole", MINTER_ROLE, minter) == ("UseMinterFunctions")
    assert refused(bills, ADMIN_KEY, "grantRole", DEFAULT_ADMIN_ROLE, outsider) == (
        "AccessControlEnforcedDefaultAdminRules"
    )
    # One key serves one town.
    other_minter = bills.connection.account(OTHER_MINTER_KEY).address
    assert refused(bills, ADMIN_KEY, "setTownMinter", TOWN, other_minter) == ("MinterOfAnotherTown")


def test_no_path_moves_a_bill_between_holders(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 10_000)
    holder = bills.connection.account(HOLDER_KEY).address
    mint(bills, [(work, holder, 5_000, new_ref())])
    outsider = bills.connection.account(OUTSIDER_KEY).address
    for key in (HOLDER_KEY, MINTER_KEY, ADMIN_KEY):
        assert refused(bills, key, "safeTransferFrom", holder, outsider, work, 1, b"") == (
            "TransfersDisabled"
        )
        assert refused(bills, key, "safeBatchTransferFrom", holder, outsider, [work], [1], b"") == (
            "TransfersDisabled"
        )
    assert refused(bills, HOLDER_KEY, "setApprovalForAll", outsider, True) == ("TransfersDisabled")
    assert bills.balance_of(holder, work) == 5_000


def test_a_squatted_work_is_released_by_the_admin(bills: BillsClient) -> None:
    """A leaked key registers another town's work id first; the admin unbinds it, the right town
    registers and mints it, and the squatter's bills stay burnable as its own issuances."""
    work = new_work()
    register(bills, work, 5_000)  # TOWN's key, squatting OTHER_TOWN's work
    squatter, squat_issue = fresh_address(), new_ref()
    mint(bills, [(work, squatter, 1_000, squat_issue)])
    assert refused(bills, OTHER_MINTER_KEY, "registerWork", work, SEASON, 8_000) == ("NotTownWork")
    bills.release_work(ADMIN_KEY, work)
    assert bills.work(work).town is None
    assert bills.season_reserved(TOWN, SEASON) == 1_000  # the minted part stays counted
    register(bills, work, 8_000, key=OTHER_MINTER_KEY)
    supporter = fresh_address()
    mint(bills, [(work, supporter, 8_000, new_ref())], key=OTHER_MINTER_KEY)
    assert bills.work(work) == BillWork(OTHER_TOWN, SEASON, 8_000, 8_000)
    # TOWN's minter rotated to a fresh key, which burns the squat.
    bills.set_town_minter(ADMIN_KEY, TOWN, bills.connection.account(SPARE_KEY).address)
    burn(bills, squatter, work, 1_000, squat_issue, key=SPARE_KEY)
    assert bills.total_supply(work) == 8_000


def test_a_rotated_out_key_mints_nothing(bills: BillsClient) -> None:
    work = new_work()
    register(bills, work, 10_000)
    holder = fresh_address()
    mint(bills, [(work, holder, 1_000, new_ref())])
    spare = bills.connection.account(SPARE_KEY).address
    bills.set_town_minter(ADMIN_KEY, TOWN, spare)
    assert refused(bills, MINTER_KEY, "mintBatch", [work], [holder], [1], [new_ref()]) == (
        "AccessControlUnauthorizedAccount"
    )
    mint(bills, [(work, holder, 9_000, new_ref())], key=SPARE_KEY)  # the work stays the town's
    assert bills.work(work).minted == 10_000
    bills.remove_town_minter(ADMIN_KEY, TOWN)
    assert bills.minter_of(TOWN) is None
    assert refused(bills, SPARE_KEY, "registerWork", new_work(), SEASON, 1) == (
        "AccessControlUnauthorizedAccount"
    )
