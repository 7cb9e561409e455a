"""Wallet API schemas. No schema here has a field for a key or a ciphertext."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from eth_utils.address import is_checksum_address
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from kokudaka.core.schemas import RequestModel, ResponseModel
from kokudaka.wallets.service import Custody


def _address(value: str) -> str:
    # All-lower or all-upper hex carries no checksum; mixed case must be a valid EIP-55
    # checksum, so a mistyped address is refused rather than silently accepted.
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and not is_checksum_address(value):
        raise ValueError("mixed-case address with an invalid EIP-55 checksum")
    return value


ADDRESS_FORMAT = "ethereum-address"
"""The JSON Schema format the document gives an address: no pattern can state an EIP-55
checksum, so the format names the rule."""

Address = Annotated[
    str,
    StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$"),
    AfterValidator(_address),
    WithJsonSchema(
        {
            "type": "string",
            "format": ADDRESS_FORMAT,
            "description": "0x and 40 hex digits: all lower case, all upper case, or "
            "mixed case with a valid EIP-55 checksum.",
        }
    ),
]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]


class ChallengeCreate(RequestModel):
    address: Address = Field(examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])


class ChallengeRead(ResponseModel):
    challenge_id: uuid.UUID
    message: str = Field(description="Sign this exact text with personal_sign (EIP-191).")
    address: str
    expires_at: datetime


class WalletVerify(RequestModel):
    challenge_id: uuid.UUID
    signature: Signature = Field(description="65-byte EIP-191 signature as 0x hex.")


class WalletRead(ResponseModel):
    address: str = Field(description="Where new KOKU is minted (EIP-55 checksummed).")
    custody: Custody = Field(
        description="custodial: the service holds the key; self: the user proved control."
    )
