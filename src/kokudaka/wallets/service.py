"""Self-custody: a user proves control of an address by signing a one-time challenge.

The proof is an EIP-191 ``personal_sign`` of a message that names the service, the user, the
address, a random nonce and an expiry, so a signature cannot be replayed for another user,
another address or after it expired; the challenge row is single use. Only externally owned
accounts can prove themselves this way (a contract wallet would need EIP-1271).

Switching to a self-custody address keeps the custodial key: KOKU minted before the switch
stays at the custodial address (reconciliation compares balances per address, so nothing is
lost to the audit), and operations sent after it go to the new address.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import BadRequest, Conflict, Forbidden, NotFound
from kokudaka.models import User, WalletChallenge, utcnow
from kokudaka.wallets.custody import CUSTODIAL_ROLES

#: How long a challenge may be signed for.
CHALLENGE_TTL = timedelta(minutes=10)
SERVICE_NAME = "Kokudaka (石高)"


class Custody(StrEnum):
    custodial = "custodial"
    """The service holds the key (assigned at sign-up)."""
    self = "self"
    """The user proved control of the address by signing a challenge."""


@dataclass(frozen=True)
class Wallet:
    address: str
    custody: Custody


def _require_wallet_holder(user: User) -> None:
    # Staff never hold KOKU; only supporters and farmers have a wallet to change.
    if user.role not in CUSTODIAL_ROLES:
        raise Forbidden()


def _refuse_taken(session: Session, user: User, address: str) -> None:
    owner = session.scalar(select(User.id).where(User.wallet_address == address))
    if owner is not None and owner != user.id:
        raise Conflict("wallet_address_taken")


def challenge_message(user_id: uuid.UUID, address: str, nonce: str, expires_at: datetime) -> str:
    return (
        f"{SERVICE_NAME} asks you to prove that you control this address.\n"
        f"Signing is free and sends no transaction.\n\n"
        f"Service: {SERVICE_NAME}\n"
        f"User: {user_id}\n"
        f"Address: {address}\n"
        f"Nonce: {nonce}\n"
        f"Expires at: {expires_at.isoformat(timespec='seconds')}"
    )


def create_challenge(session: Session, user: User, address: str) -> WalletChallenge:
    """A new challenge for ``address`` (checksummed here), valid for :data:`CHALLENGE_TTL`."""
    _require_wallet_holder(user)
    address = to_checksum_address(address)
    _refuse_taken(session, user, address)
    expires_at = (utcnow() + CHALLENGE_TTL).replace(microsecond=0)
    challenge = WalletChallenge(
        user_id=user.id,
        address=address,
        message=challenge_message(user.id, address, secrets.token_hex(16), expires_at),
        expires_at=expires_at,
    )
    session.add(challenge)
    session.flush()
    return challenge


def _recover(message: str, signature: str) -> str | None:
    try:
        recovered: str = Account.recover_message(encode_defunct(text=message), signature=signature)
    except (BadSignature, ValidationError, ValueError):
        return None
    return recovered


def verify_challenge(
    session: Session, user: User, challenge_id: uuid.UUID, signature: str
) -> Wallet:
    """Check the signature and make the challenge's address the user's wallet.

    An unknown, used, expired or someone else's challenge is refused alike, so the answer
    reveals nothing about other users' challenges. Nothing is written unless all checks pass.
    """
    _require_wallet_holder(user)
    challenge = session.scalar(
        select(WalletChallenge)
        .where(WalletChallenge.id == challenge_id)
        .with_for_update(key_share=True)
    )
    if (
        challenge is None
        or challenge.user_id != user.id
        or challenge.used_at is not None
        or challenge.expires_at <= utcnow()
    ):
        raise BadRequest("wallet_challenge_invalid")
    if _recover(challenge.message, signature) != challenge.address:
        raise BadRequest("wallet_signature_invalid")
    _refuse_taken(session, user, challenge.address)
    challenge.used_at = utcnow()
    user.wallet_address = challenge.address
    session.flush()
    return Wallet(address=challenge.address, custody=Custody.self)


def wallet_of(session: Session, user: User) -> Wallet:
    """The address KOKU is minted to, and who holds its key.

    Self custody is recorded by the used challenge that proved the current address; any other
    address was assigned by the service.
    """
    if user.wallet_address is None:
        raise NotFound("Wallet")
    proven = session.scalar(
        select(WalletChallenge.id)
        .where(
            WalletChallenge.user_id == user.id,
            WalletChallenge.address == user.wallet_address,
            WalletChallenge.used_at.is_not(None),
        )
        .limit(literal_limit(1))
    )
    return Wallet(
        address=user.wallet_address,
        custody=Custody.self if proven is not None else Custody.custodial,
    )
