"""Creating accounts and signing in. Services flush; the request commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.security import hash_password, verify_password
from kokudaka.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from kokudaka.core.settings import Settings
from kokudaka.models import Municipality, Region, Role, SignInFailure, StaffAction, User
from kokudaka.wallets.custody import CUSTODIAL_ROLES, assign_custodial_wallet

# Verified against when the email is unknown, so that a wrong email costs the same
# time as a wrong password and does not reveal which accounts exist.
_UNKNOWN_USER_HASH: dict[tuple[int, int], str] = {}


def create_user(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str,
    role: Role,
    municipality_id: uuid.UUID | None = None,
    region_id: uuid.UUID | None = None,
) -> User:
    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("email_taken")
    user = User(
        email=email,
        password_hash=hash_password(settings, password),
        display_name=display_name,
        role=role,
        municipality_id=municipality_id,
        region_id=region_id,
        is_active=True,
    )
    session.add(user)
    session.flush()
    if role in CUSTODIAL_ROLES:
        # Holders get their custodial wallet in the same transaction as the account, so no
        # committed supporter or farmer is ever without an address to mint to.
        assign_custodial_wallet(settings, user)
        session.flush()
    return user


def create_staff(
    session: Session,
    settings: Settings,
    actor: Caller,
    *,
    email: str,
    password: str,
    display_name: str,
    role: Role,
    municipality_id: uuid.UUID | None,
    region_id: uuid.UUID | None,
) -> User:
    """Town administrators belong to one town, auditors to one region. Logged as a
    staff action of ``actor``."""
    if role is Role.town_admin:
        if municipality_id is None or region_id is not None:
            raise Unprocessable("validation_error")
        if session.get(Municipality, municipality_id) is None:
            raise NotFound("Municipality")
    elif role is Role.regional_auditor:
        if region_id is None or municipality_id is not None:
            raise Unprocessable("validation_error")
        if session.get(Region, region_id) is None:
            raise NotFound("Region")
    elif role is Role.platform_admin:
        if municipality_id is not None or region_id is not None:
            raise Unprocessable("validation_error")
    else:
        # Supporters sign up themselves; farmers are made by their town.
        raise Unprocessable("validation_error")
    user = create_user(
        session,
        settings,
        email=email,
        password=password,
        display_name=display_name,
        role=role,
        municipality_id=municipality_id,
        region_id=region_id,
    )
    append_staff_action(
        session,
        actor,
        StaffAction.staff_register,
        object_type="user",
        object_id=user.id,
        data={
            "email": user.email,
            "display_name": display_name,
            "role": role,
            "municipality_id": municipality_id,
            "region_id": region_id,
        },
        municipality_id=municipality_id,
    )
    return user


class SignInRefused(Exception):
    """A failed sign-in; the failure is recorded by the caller's committed transaction."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


def authenticate(session: Session, settings: Settings, email: str, password: str) -> User:
    """Return the user for valid credentials.

    Raises TooManyRequests while the account is throttled and SignInRefused on a wrong
    password or a disabled account (after recording the failure, which the endpoint
    commits even though it answers with an error).

    A disabled account is refused exactly as a wrong password: the same answer, a
    failure counted alike and the password hash checked either way, so a sign-in never
    tells whether the password of a disabled account was right.
    """
    email = email.strip().lower()
    now = datetime.now(UTC)
    window_start = now - timedelta(seconds=settings.sign_in_window_seconds)
    failures = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.email == email, SignInFailure.failed_at > window_start)
    )
    if failures is not None and failures >= settings.sign_in_max_failures:
        retry_after = settings.sign_in_window_seconds
        raise TooManyRequests(headers={"Retry-After": str(retry_after)}, retry_after=retry_after)

    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        key = (settings.argon2_time_cost, settings.argon2_memory_kib)
        if key not in _UNKNOWN_USER_HASH:
            _UNKNOWN_USER_HASH[key] = hash_password(settings, "unknown-user-timing-guard")
        verify_password(settings, _UNKNOWN_USER_HASH[key], password)
        ok = False
    else:
        ok = verify_password(settings, user.password_hash, password)
    if not ok or user is None or not user.is_active:
        session.add(SignInFailure(email=email, failed_at=now))
        session.flush()
        raise SignInRefused("invalid_credentials")
    # A successful sign-in clears the account's failures.
    session.execute(delete(SignInFailure).where(SignInFailure.email == email))
    return user


def account_of(session: Session, caller: Caller) -> User:
    """The caller's whole account, for the endpoints that show or change it.

    The request's account check runs first in its transaction, so a missing or
    disabled account has been refused before this reads it.
    """
    user = session.get(User, caller.id)
    assert user is not None
    return user


def set_active(session: Session, actor: Caller, user_id: uuid.UUID, active: bool) -> User:
    """Disable or enable an account.

    Disabling revokes every token issued so far (the account's token version moves
    on), so enabling the account again does not bring them back: its owner signs in
    anew. A platform administrator cannot disable their own account, nor another
    platform administrator's: the platform must never be left without one, and no
    administrator can lock the others out.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User")
    if not active:
        if user.id == actor.id:
            raise Conflict("cannot_disable_own_account")
        if user.role is Role.platform_admin:
            raise Forbidden("cannot_disable_platform_admin")
        if user.is_active:
            user.token_version += 1
    user.is_active = active
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.account_enable if active else StaffAction.account_disable,
        object_type="user",
        object_id=user.id,
        municipality_id=user.municipality_id,
    )
    return user
