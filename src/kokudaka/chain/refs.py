"""On-chain references: how an off-chain id becomes the contract's ``bytes32 ref``.

Every mint carries the issuance id (a UUID) so the contract can refuse to mint it twice and the
auditor can match each ``Minted`` event to its ledger row. The UUID's 16 bytes are LEFT-padded
with 16 zero bytes, i.e. the ref read as a ``uint256`` equals ``uuid.int``. That is the natural
Solidity reading (``bytes32(uint256(uint128(id)))``), it shows in explorers as the UUID's hex at
the end of the word, and it makes the inverse strict: a ref whose high 16 bytes are not zero was
not produced here. Burn (correction) refs use the same encoding; the contract keeps them in a
separate namespace.
"""

from __future__ import annotations

import uuid

__all__ = ["REF_SIZE", "issuance_ref", "ref_to_uuid", "town_id", "uuid_from_ref"]

REF_SIZE = 32
_PAD = bytes(16)


def issuance_ref(issuance_id: uuid.UUID) -> bytes:
    """The 32-byte ref for ``issuance_id``: 16 zero bytes, then the UUID's big-endian bytes.

    The nil UUID is refused: it would encode to the zero ref, which the contract rejects as the
    mark of a forgotten id.
    """
    if issuance_id.int == 0:
        raise ValueError("the nil UUID cannot be an on-chain ref")
    return _PAD + issuance_id.bytes


def uuid_from_ref(ref: bytes | str) -> uuid.UUID:
    """Inverse of :func:`issuance_ref`; accepts the raw 32 bytes or their ``0x`` hex.

    Raises ``ValueError`` for a ref that this module could not have produced.
    """
    raw = bytes.fromhex(ref.removeprefix("0x")) if isinstance(ref, str) else bytes(ref)
    if len(raw) != REF_SIZE:
        raise ValueError(f"a ref is {REF_SIZE} bytes, got {len(raw)}")
    if raw[:16] != _PAD:
        raise ValueError(f"0x{raw.hex()} is not a UUID ref: its high 16 bytes are not zero")
    value = uuid.UUID(bytes=raw[16:])
    if value.int == 0:
        raise ValueError("the zero ref is not a UUID ref")
    return value


#: Alias read naturally at call sites that think in refs first.
ref_to_uuid = uuid_from_ref


def town_id(municipality_id: uuid.UUID) -> bytes:
    """The contract's ``bytes32 town`` for a municipality: its UUID encoded like a ref.

    Caps, minters and the namespace of refs are kept per town on chain (see contracts/Koku.sol).
    """
    return issuance_ref(municipality_id)
