"""Issuance ids as on-chain refs, and the dev-key guard."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kokudaka.chain.devkeys import ANVIL_DEV_KEYS, is_dev_key
from kokudaka.chain.refs import issuance_ref, uuid_from_ref


@given(st.uuids())
def test_ref_is_the_uuid_left_padded_and_round_trips(issuance_id: uuid.UUID) -> None:
    ref = issuance_ref(issuance_id)
    assert len(ref) == 32
    assert ref[:16] == bytes(16)
    assert int.from_bytes(ref, "big") == issuance_id.int
    assert uuid_from_ref(ref) == issuance_id
    assert uuid_from_ref("0x" + ref.hex()) == issuance_id


def test_refs_not_made_here_are_refused() -> None:
    with pytest.raises(ValueError, match="nil UUID"):
        issuance_ref(uuid.UUID(int=0))
    with pytest.raises(ValueError, match="32 bytes"):
        uuid_from_ref(bytes(16))
    with pytest.raises(ValueError, match="high 16 bytes"):
        uuid_from_ref(b"\x01" + bytes(31))
    with pytest.raises(ValueError, match="zero ref"):
        uuid_from_ref(bytes(32))


def test_dev_keys_are_recognised_in_any_spelling() -> None:
    key = ANVIL_DEV_KEYS[0]
    assert is_dev_key(key)
    assert is_dev_key(key.upper().replace("0X", ""))
    assert is_dev_key(bytes.fromhex(key[2:]))
    assert not is_dev_key("0x" + "11" * 32)
