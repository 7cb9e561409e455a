"""Delivery addresses: personal data, stored only encrypted, bound to their redemption.

An address is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
``settings.wallet_encryption_key`` with its own label, as custodial wallet keys are
(``kokudaka.wallets.custody``), so one secret protects both and neither key opens the
other's data. The stored value is ``nonce || ciphertext`` with the redemption's id as
the associated data: a ciphertext copied onto another redemption does not open there.

Opened only to render a redemption for those allowed to see it (its supporter, the
work's farmer and their town's administrators); never logged, never in an error, an
audit row or an idempotency record (those hold a keyed hash: :func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kokudaka.core.settings import Settings

__all__ = ["AddressError", "fingerprint", "open_address", "seal_address"]

_NONCE_SIZE = 12
_KEY_SIZE = 32
# Versioned labels: a new scheme takes a new label and old rows stay readable.
_SEAL_INFO = b"kokudaka/redemption-address/v1"
_FINGERPRINT_INFO = b"kokudaka/request-fingerprint/v1"
_HKDF_SALT = b"kokudaka"


class AddressError(Exception):
    """A stored address does not open under this service's key and its redemption."""


@lru_cache(maxsize=8)
def _derived(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_SIZE, salt=_HKDF_SALT, info=info).derive(
        secret.encode("utf-8")
    )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_address(settings: Settings, redemption_id: uuid.UUID, address: dict[str, Any]) -> bytes:
    """``nonce || AES-GCM(JSON of the address)`` bound to ``redemption_id``."""
    nonce = os.urandom(_NONCE_SIZE)
    aead = AESGCM(_derived(settings.wallet_encryption_key, _SEAL_INFO))
    return nonce + aead.encrypt(nonce, _canonical(address), redemption_id.bytes)


def open_address(settings: Settings, redemption_id: uuid.UUID, ciphertext: bytes) -> dict[str, Any]:
    """Inverse of :func:`seal_address`; :class:`AddressError` unless it opens for this
    redemption."""
    if len(ciphertext) <= _NONCE_SIZE:
        raise AddressError("address ciphertext is truncated")
    aead = AESGCM(_derived(settings.wallet_encryption_key, _SEAL_INFO))
    try:
        plain = aead.decrypt(
            ciphertext[:_NONCE_SIZE], ciphertext[_NONCE_SIZE:], redemption_id.bytes
        )
    except InvalidTag:
        raise AddressError("address does not open for this redemption") from None
    opened: dict[str, Any] = json.loads(plain)
    return opened


def fingerprint(settings: Settings, request: dict[str, Any]) -> str:
    """A keyed hash of a request that may hold an address, for its idempotency record:
    equal requests match, and the stored hash cannot be tested against guessed
    addresses without the service's key (a plain hash of an address could)."""
    key = _derived(settings.wallet_encryption_key, _FINGERPRINT_INFO)
    return hmac.new(key, _canonical(request), hashlib.sha256).hexdigest()
