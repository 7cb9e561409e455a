"""The claim's address check gives exactly what eth_utils would, faster."""

from __future__ import annotations

from eth_utils.address import is_address, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from kokudaka.settlement.sorting import checksummed_address

HEX = "0123456789abcdefABCDEF"
#: 40 hex digits in any case, with or without a prefix, and near misses of that shape.
ADDRESSES = st.builds(
    lambda prefix, digits, suffix: prefix + digits + suffix,
    st.sampled_from(["0x", "0X", "", " ", "0x0x"]),
    st.text(HEX, min_size=39, max_size=41) | st.text(HEX + "gxG \n", min_size=40, max_size=40),
    st.sampled_from(["", "", "", "\n", " "]),
)


@given(ADDRESSES)
def test_the_same_as_eth_utils(address: str) -> None:
    expected = to_checksum_address(address) if is_address(address) else None
    assert checksummed_address.__wrapped__(address) == expected


@given(st.binary(min_size=20, max_size=20))
def test_a_checksummed_address_and_its_lower_case_give_the_same(raw: bytes) -> None:
    checksummed = to_checksum_address(raw)
    assert checksummed_address.__wrapped__(checksummed) == checksummed
    assert checksummed_address.__wrapped__(checksummed.lower()) == checksummed
