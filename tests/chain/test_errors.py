"""Node and web3 failures arrive as the typed errors of kokudaka.chain.errors."""

from __future__ import annotations

import os

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import (
    ChainUnavailable,
    ContractMissing,
    InsufficientFunds,
    NonceTooLow,
    ReceiptTimeout,
    TransactionAlreadyKnown,
    decode_revert,
)
from kokudaka.chain.processes import free_port
from tests.chain.conftest import MINTER_KEY, SEASON, new_ref


def test_used_nonce_is_nonce_too_low(chain: ChainClient, minter: str) -> None:
    nonce = chain.pending_nonce(minter)
    first = chain.build_mint_tx(MINTER_KEY, SEASON, minter, 1, new_ref(), nonce)
    chain.wait_receipt(chain.send_raw(first.raw))
    reuse = chain.build_mint_tx(MINTER_KEY, SEASON, minter, 1, new_ref(), nonce)
    with pytest.raises(NonceTooLow):
        chain.send_raw(reuse.raw)
    # Resending the very transaction that landed is the same error: the worker's cue to look
    # the recorded hash up instead.
    with pytest.raises(NonceTooLow):
        chain.send_raw(first.raw)


def test_pending_transaction_resent_is_already_known(chain: ChainClient, minter: str) -> None:
    chain.rpc("evm_setAutomine", [False])
    nonce = chain.pending_nonce(minter)
    signed = chain.build_mint_tx(MINTER_KEY, SEASON, minter, 1, new_ref(), nonce)
    chain.send_raw(signed.raw)
    with pytest.raises(TransactionAlreadyKnown):
        chain.send_raw(signed.raw)
    assert chain.get_receipt(signed.tx_hash) is None  # non-blocking while pending
    assert chain.pending_nonce(minter) == nonce + 1
    assert chain.latest_nonce(minter) == nonce
    with pytest.raises(ReceiptTimeout) as caught:
        chain.wait_receipt(signed.tx_hash, timeout=0.2)
    assert caught.value.tx_hash == signed.tx_hash
    chain.rpc("evm_mine")
    receipt = chain.get_receipt(signed.tx_hash)
    assert receipt is not None
    assert receipt["status"] == 1


def test_unfunded_sender_is_insufficient_funds(chain: ChainClient) -> None:
    pauper_key = os.urandom(32)
    signed = chain.build_anchor_tx(pauper_key, 1, bytes(32), 0)
    with pytest.raises(InsufficientFunds):
        chain.send_raw(signed.raw)


def test_unreachable_node_is_chain_unavailable() -> None:
    client = ChainClient(f"http://127.0.0.1:{free_port()}", read_retries=0, request_timeout=2)
    with pytest.raises(ChainUnavailable):
        client.block_number()
    with pytest.raises(ChainUnavailable):
        client.send_raw(b"\x02")


def test_no_code_at_the_address_is_contract_missing(chain: ChainClient) -> None:
    nowhere = "0x" + os.urandom(20).hex()
    assert not chain.code_exists(nowhere)
    assert chain.code_exists(chain.koku_address)
    chain.use_koku(nowhere)
    with pytest.raises(ContractMissing):
        chain.total_supply()
    with pytest.raises(ContractMissing, match="no KOKU contract address"):
        ChainClient(chain.rpc_url).total_supply()


def test_decode_revert_names_custom_and_builtin_errors() -> None:
    ref = new_ref()
    already = keccak(text="AlreadyMinted(bytes32)")[:4] + encode(["bytes32"], [ref])
    name, args = decode_revert(already)
    assert name == "AlreadyMinted"
    assert args == (ref,)
    assert decode_revert("0x08c379a0" + encode(["string"], ["nope"]).hex()) == ("Error", ("nope",))
    assert decode_revert("0xdeadbeef") == (None, ())
    assert decode_revert(None) == (None, ())
