"""``mintBatch`` calldata (KOKU's and the rice bills') and the rice bills' ``burnBatch``, encoded by
hand for speed, are exactly what eth_abi encodes."""

from __future__ import annotations

import os
import uuid

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from kokudaka.chain.bills import encode_bill_burn_batch, encode_bill_mint_batch
from kokudaka.chain.bills_interface import BURN_BATCH_SELECTOR as BILL_BURN_BATCH_SELECTOR
from kokudaka.chain.bills_interface import MINT_BATCH_SELECTOR as BILL_MINT_BATCH_SELECTOR
from kokudaka.chain.interface import MINT_BATCH_SELECTOR
from kokudaka.chain.refs import issuance_ref
from kokudaka.chain.transactions import encode_mint_batch


@pytest.mark.parametrize("size", [0, 1, 2, 315])
def test_a_batch_encodes_as_eth_abi_does(size: int) -> None:
    recipients = ["0x" + os.urandom(20).hex() for _ in range(size)]
    if size:
        recipients[0] = to_checksum_address(recipients[0])  # checksummed or lower case
    amounts = [1 + i * 7919 for i in range(size)]
    if size > 1:
        amounts[1] = 2**256 - 1
    refs = [issuance_ref(uuid.uuid4()) for _ in range(size)]
    expected = MINT_BATCH_SELECTOR + encode(
        ["uint16", "address[]", "uint256[]", "bytes32[]"], [2026, recipients, amounts, refs]
    )
    assert encode_mint_batch(2026, recipients, amounts, refs) == expected


@pytest.mark.parametrize(
    ("season", "recipients", "amounts", "refs", "problem"),
    [
        (0, ["0x" + "11" * 20], [1], [b"\x01" * 32], "season"),
        (2026, ["0x" + "11" * 19], [1], [b"\x01" * 32], "not an address"),
        (2026, ["0x" + "11" * 20], [0], [b"\x01" * 32], "positive integer"),
        (2026, ["0x" + "11" * 20], [2**256], [b"\x01" * 32], "uint256"),
        (2026, ["0x" + "11" * 20], [1], [bytes(32)], "zero ref"),
        (2026, ["0x" + "11" * 20], [1, 2], [b"\x01" * 32], "differ in length"),
    ],
)
def test_a_bad_item_is_refused(
    season: int, recipients: list[str], amounts: list[int], refs: list[bytes], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        encode_mint_batch(season, recipients, amounts, refs)


@pytest.mark.parametrize("size", [0, 1, 3, 297])
def test_a_bill_batch_encodes_as_eth_abi_does(size: int) -> None:
    works = [uuid.uuid4().int for _ in range(2)]
    work_ids = [works[i * 2 // max(size, 1)] for i in range(size)]  # two runs of one work
    recipients = ["0x" + os.urandom(20).hex() for _ in range(size)]
    amounts = [1 + i * 7919 for i in range(size)]
    refs = [issuance_ref(uuid.uuid4()) for _ in range(size)]
    expected = BILL_MINT_BATCH_SELECTOR + encode(
        ["uint256[]", "address[]", "uint256[]", "bytes32[]"], [work_ids, recipients, amounts, refs]
    )
    assert encode_bill_mint_batch(work_ids, recipients, amounts, refs) == expected
    with pytest.raises(ValueError, match="differ in length"):
        encode_bill_mint_batch([*work_ids, works[0]], recipients, amounts, refs)


@pytest.mark.parametrize("size", [0, 1, 3, 334])
def test_a_bill_burn_batch_encodes_as_eth_abi_does(size: int) -> None:
    holders = ["0x" + os.urandom(20).hex() for _ in range(size)]
    if size:
        holders[0] = to_checksum_address(holders[0])
    work_ids = [uuid.uuid4().int for _ in range(size)]  # any works mixed
    amounts = [1 + i * 7919 for i in range(size)]
    if size > 1:
        amounts[1] = 2**256 - 1
    refs = [issuance_ref(uuid.uuid4()) for _ in range(size)]
    drawn_on = [issuance_ref(uuid.uuid4()) for _ in range(size)]
    expected = BILL_BURN_BATCH_SELECTOR + encode(
        ["address[]", "uint256[]", "uint256[]", "bytes32[]", "bytes32[]"],
        [holders, work_ids, amounts, refs, drawn_on],
    )
    assert encode_bill_burn_batch(holders, work_ids, amounts, refs, drawn_on) == expected


@pytest.mark.parametrize(
    ("holder", "work_id", "amount", "ref", "drawn_on", "problem"),
    [
        ("0x" + "11" * 19, 1, 1, b"\x01" * 32, b"\x02" * 32, "not an address"),
        ("0x" + "11" * 20, 0, 1, b"\x01" * 32, b"\x02" * 32, "positive uint256"),
        ("0x" + "11" * 20, 1, 0, b"\x01" * 32, b"\x02" * 32, "positive integer"),
        ("0x" + "11" * 20, 1, 1, bytes(32), b"\x02" * 32, "zero ref"),
        ("0x" + "11" * 20, 1, 1, b"\x01" * 32, b"\x02" * 31, "32 bytes"),
    ],
)
def test_a_bad_bill_burn_is_refused(
    holder: str, work_id: int, amount: int, ref: bytes, drawn_on: bytes, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        encode_bill_burn_batch([holder], [work_id], [amount], [ref], [drawn_on])
    with pytest.raises(ValueError, match="differ in length"):
        encode_bill_burn_batch([holder, holder], [1], [1], [b"\x01" * 32], [b"\x02" * 32])
