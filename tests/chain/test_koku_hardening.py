"""What a leaked key can do to KOKU, on a real anvil: a minter key destroys only what the
service issued, and the admin cannot be locked out or renounced by a slip."""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from kokudaka.chain.artifact import load_koku_artifact
from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.errors import TransactionReverted, map_chain_error
from tests.chain.conftest import ADMIN_KEY, HOLDER_KEY, MINTER_KEY, OUTSIDER_KEY, new_ref
from tests.chain.test_koku import mined

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = bytes(32)


def token(chain: ChainClient) -> Contract:
    return chain.web3.eth.contract(address=chain.koku_address, abi=load_koku_artifact().abi)


def transact(chain: ChainClient, key: PrivateKey, function: str, *args: Any) -> None:
    """Sign and send one contract call from ``key``'s account; raise if it reverts."""
    account = chain.account(key)
    tx = getattr(token(chain).functions, function)(*args).build_transaction(
        {"from": account.address, "nonce": chain.pending_nonce(account.address)}
    )
    tx_hash = chain.send_raw(account.sign_transaction(tx).raw_transaction)
    chain.raise_for_receipt(chain.wait_receipt(tx_hash, timeout=10))


def refused(chain: ChainClient, key: PrivateKey, function: str, *args: Any) -> str | None:
    """The error a call from ``key``'s account reverts with (checked with eth_call)."""
    sender = chain.account(key).address
    with pytest.raises((ContractCustomError, ContractLogicError)) as caught:
        getattr(token(chain).functions, function)(*args).call({"from": sender})
    error = map_chain_error(caught.value)
    assert isinstance(error, TransactionReverted)
    return error.error_name


def test_a_leaked_minter_key_burns_only_what_an_issuance_minted(
    chain: ChainClient, minter: str
) -> None:
    holder = chain.account(HOLDER_KEY).address
    neighbour = chain.account(OUTSIDER_KEY).address
    nonce = chain.pending_nonce(minter)
    to_holder, to_neighbour = new_ref(), new_ref()
    mined(chain, chain.build_mint_tx(MINTER_KEY, holder, 5_000, to_holder, nonce))
    mined(chain, chain.build_mint_tx(MINTER_KEY, neighbour, 1_000, to_neighbour, nonce + 1))
    # KOKU the holder received otherwise than by an issuance: no burn may touch it.
    transact(chain, OUTSIDER_KEY, "transfer", holder, 1_000)
    assert chain.balance_of(holder) == 6_000
    nonce += 2

    def burn(amount: int, issuance: bytes) -> TransactionReverted | None:
        nonlocal nonce
        signed = chain.build_burn_with_reference_tx(
            MINTER_KEY, holder, amount, new_ref(), issuance, nonce
        )
        nonce += 1
        try:
            mined(chain, signed)
        except TransactionReverted as error:
            return error
        return None

    assert burn(1, to_neighbour).error_name == "BurnExceedsIssued"  # issued to someone else
    assert burn(1, new_ref()).error_name == "BurnExceedsIssued"  # never issued
    too_much = burn(5_001, to_holder)
    assert too_much.error_name == "BurnExceedsIssued"
    assert too_much.error_args[1:] == (holder, 5_001, 5_000)
    assert burn(3_000, to_holder) is None
    assert burn(2_001, to_holder).error_name == "BurnExceedsIssued"  # only 2,000 left of it
    assert burn(2_000, to_holder) is None
    assert burn(1, to_holder).error_name == "BurnExceedsIssued"  # spent in full

    # Whatever the key tried, the holder keeps what it got otherwise, and the record says why.
    assert chain.balance_of(holder) == 1_000
    assert token(chain).functions.issuedOf(to_holder).call() == [holder, 0]
    assert chain.is_minted(to_holder)


def test_the_admin_cannot_revoke_renounce_or_share_itself_away(chain: ChainClient) -> None:
    admin = chain.account(ADMIN_KEY).address
    other = chain.account(OUTSIDER_KEY).address
    assert token(chain).functions.defaultAdmin().call() == admin
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
    assert token(chain).functions.hasRole(DEFAULT_ADMIN_ROLE, admin).call()


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
    assert token(chain).functions.defaultAdmin().call() == old  # still in charge meanwhile

    chain.rpc("evm_increaseTime", [3_601])
    chain.rpc("evm_mine")
    transact(chain, OUTSIDER_KEY, "acceptDefaultAdminTransfer")
    assert token(chain).functions.defaultAdmin().call() == new
    assert refused(chain, ADMIN_KEY, "configureMinter", new, 1) == (
        "AccessControlUnauthorizedAccount"
    )
    transact(chain, OUTSIDER_KEY, "configureMinter", new, 1)
    assert chain.is_minter(new)
