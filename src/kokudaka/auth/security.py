"""Password hashing (argon2id) and signed bearer tokens (JWT, HS256 pinned)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

from kokudaka.auth.caller import Caller
from kokudaka.core.settings import Settings
from kokudaka.models import Role

# Pinned: a token that names any other algorithm (including "none") is refused.
JWT_ALGORITHM = "HS256"
# Verified tokens kept in memory (about 300 bytes each).
VERIFIED_TOKENS_CACHED = 8192


@lru_cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, type=Type.ID)


def password_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    try:
        return password_hasher(settings).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(settings: Settings, caller: Caller) -> str:
    """A signed token naming the account and the scope it acts in (see :class:`Caller`)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(caller.id),
        "role": caller.role.value,
        "municipality_id": _optional_id(caller.municipality_id),
        "region_id": _optional_id(caller.region_id),
        "ver": caller.token_version,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)


def _optional_id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _optional_uuid(value: object) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def _token_version(value: object) -> int:
    # Tokens issued before versions existed name none: they belong to version 0, which
    # every account had then.
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("token version is not an integer")
    return value


@lru_cache(maxsize=VERIFIED_TOKENS_CACHED)
def _verified(token: str, secret: str, audience: str, issuer: str) -> tuple[Caller, float]:
    """The caller named by a token whose signature and claims check out, and its
    expiry; raises otherwise.

    Cached: a client sends the same token with every request for its lifetime, and
    checking the signature and claims again costs more than the rest of the request's
    authentication. Only successes are cached (an exception is not), so forged tokens
    cannot crowd out real ones; the cache is keyed by the secret too, so rotating it
    invalidates every entry. Expiry is checked again on every use by the caller.
    """
    claims = jwt.decode(
        token,
        secret,
        algorithms=[JWT_ALGORITHM],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "role"]},
    )
    caller = Caller(
        id=uuid.UUID(str(claims["sub"])),
        role=Role(claims["role"]),
        municipality_id=_optional_uuid(claims.get("municipality_id")),
        region_id=_optional_uuid(claims.get("region_id")),
        token_version=_token_version(claims.get("ver")),
    )
    return caller, float(claims["exp"])


def decode_access_token(settings: Settings, token: str, now: float | None = None) -> Caller | None:
    """The caller a valid token names, or None for anything forged, expired or foreign.

    The account behind it is checked in the request's transaction (see
    :func:`kokudaka.auth.caller.check_account`): still active, same scope.
    """
    try:
        caller, expires = _verified(
            token, settings.jwt_secret, settings.jwt_audience, settings.jwt_issuer
        )
    except (jwt.PyJWTError, ValueError):
        return None
    if (time.time() if now is None else now) >= expires:
        return None
    return caller
