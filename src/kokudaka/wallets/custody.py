"""Custodial wallets: a fresh address per supporter and farmer, its key encrypted at rest.

Users sign in with an email (or Google/Apple), not a seed phrase, so the service holds a key
for them. The private key is encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
``settings.wallet_encryption_key``; the stored value is ``nonce || ciphertext`` and the user's
id is the associated data, so a ciphertext copied onto another user's row fails to decrypt
instead of handing that user someone else's funds.

The key never leaves this module except through :func:`decrypt_wallet_key`, which exists for
the later redemption flow (a holder's ``burn`` signed on their behalf). It is never logged and
never part of a response or an error.
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account

from kokudaka.core.settings import Settings
from kokudaka.models import Role, User

__all__ = [
    "CUSTODIAL_ROLES",
    "WalletKeyError",
    "assign_custodial_wallet",
    "decrypt_key",
    "decrypt_wallet_key",
    "encrypt_key",
]

#: Roles that hold KOKU and so get a custodial wallet at sign-up.
CUSTODIAL_ROLES = frozenset({Role.supporter, Role.farmer})

_NONCE_SIZE = 12
_KEY_SIZE = 32
# The info string versions the derivation: a future scheme uses a new label, and rows
# encrypted under the old one stay readable during a migration.
_HKDF_INFO = b"kokudaka/custodial-wallet-key/v1"
_HKDF_SALT = b"kokudaka"


class WalletKeyError(Exception):
    """A custodial key could not be produced: none stored, or the ciphertext does not open
    under this service's key and this user's id (tampered, swapped or wrong secret)."""


@lru_cache(maxsize=4)
def _aead(secret: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=_KEY_SIZE, salt=_HKDF_SALT, info=_HKDF_INFO
    ).derive(secret.encode("utf-8"))
    return AESGCM(key)


def encrypt_key(settings: Settings, user_id: uuid.UUID, private_key: bytes) -> bytes:
    """``nonce || AES-GCM(private_key)`` bound to ``user_id``; a random 96-bit nonce per key."""
    if len(private_key) != _KEY_SIZE:
        raise ValueError("a secp256k1 private key is 32 bytes")
    nonce = os.urandom(_NONCE_SIZE)
    return nonce + _aead(settings.wallet_encryption_key).encrypt(nonce, private_key, user_id.bytes)


def decrypt_key(settings: Settings, user_id: uuid.UUID, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt_key`; :class:`WalletKeyError` unless it opens for ``user_id``."""
    if len(ciphertext) <= _NONCE_SIZE:
        raise WalletKeyError("custodial key ciphertext is truncated")
    nonce, sealed = ciphertext[:_NONCE_SIZE], ciphertext[_NONCE_SIZE:]
    try:
        return _aead(settings.wallet_encryption_key).decrypt(nonce, sealed, user_id.bytes)
    except InvalidTag:
        # No detail: the caller learns only that it failed, never anything about the key.
        raise WalletKeyError("custodial key does not decrypt for this user") from None


def assign_custodial_wallet(settings: Settings, user: User) -> None:
    """Give ``user`` (already flushed, so it has an id) a new address and its encrypted key."""
    if user.id is None:
        raise ValueError("the user needs an id before a wallet is bound to it")
    account = Account.create()
    user.wallet_address = account.address
    user.wallet_key_ciphertext = encrypt_key(settings, user.id, bytes(account.key))


def decrypt_wallet_key(settings: Settings, user: User) -> bytes:
    """The 32-byte private key of ``user``'s custodial wallet, for signing on their behalf.

    The custodial key stays stored after a user proves a self-custody address: KOKU minted
    before the switch is still at the custodial address, and only this key can move it.
    """
    if user.wallet_key_ciphertext is None:
        raise WalletKeyError("this user has no custodial wallet")
    return decrypt_key(settings, user.id, user.wallet_key_ciphertext)
