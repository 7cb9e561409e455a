"""Helping people with their accounts: listing users, setting a new password, lifting
a sign-in lock. Services flush; the request commits.

Who may do what: a platform administrator lists and helps every account; a town
administrator lists the accounts of their town (its farmers and administrators) and
helps its farmers; a regional auditor lists the accounts of their region's towns and
its auditors, read-only. Supporters belong to no town, so only platform
administrators help them: a town they invested in is no reason to let its staff take
over their account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.schemas import UserListItem
from kokudaka.auth.security import hash_password
from kokudaka.core.errors import Forbidden, NotFound
from kokudaka.core.pagination import Page, PageParams, next_cursor, paginate
from kokudaka.core.settings import Settings
from kokudaka.models import Municipality, Role, SignInFailure, StaffAction, User


@dataclass(frozen=True)
class UserFilters:
    role: Role | None = None
    municipality_id: uuid.UUID | None = None
    is_active: bool | None = None
    q: str | None = None
    """Words in the display name or the email."""


def _visible(session: Session, caller: Caller) -> list[ColumnElement[bool]]:
    """The accounts ``caller`` may list, as a WHERE clause; others are refused."""
    if caller.role is Role.platform_admin:
        return []
    if caller.role is Role.town_admin and caller.municipality_id is not None:
        return [User.municipality_id == caller.municipality_id]
    if caller.role is Role.regional_auditor and caller.region_id is not None:
        towns = select(Municipality.id).where(Municipality.region_id == caller.region_id)
        return [or_(User.municipality_id.in_(towns), User.region_id == caller.region_id)]
    raise Forbidden()


def _locked_emails(session: Session, settings: Settings, emails: list[str]) -> set[str]:
    """Which of ``emails`` the sign-in throttle refuses now."""
    if not emails:
        return set()
    window_start = datetime.now(UTC) - timedelta(seconds=settings.sign_in_window_seconds)
    rows = session.execute(
        select(SignInFailure.email)
        .where(SignInFailure.email.in_(emails), SignInFailure.failed_at > window_start)
        .group_by(SignInFailure.email)
        .having(func.count() >= settings.sign_in_max_failures)
    )
    return {email for (email,) in rows}


def user_items(session: Session, settings: Settings, users: list[User]) -> list[UserListItem]:
    locked = _locked_emails(session, settings, [user.email for user in users])
    return [
        UserListItem.model_validate(user).model_copy(
            update={"sign_in_locked": user.email in locked}
        )
        for user in users
    ]


def list_users(
    session: Session, settings: Settings, caller: Caller, filters: UserFilters, page: PageParams
) -> Page[UserListItem]:
    """Accounts in the caller's scope, newest first."""
    conditions = _visible(session, caller)
    if filters.municipality_id is not None:
        conditions.append(User.municipality_id == filters.municipality_id)
    if filters.role is not None:
        conditions.append(User.role == filters.role)
    if filters.is_active is not None:
        conditions.append(User.is_active.is_(filters.is_active))
    if filters.q:
        conditions.append(
            User.display_name.icontains(filters.q, autoescape=True)
            | User.email.icontains(filters.q, autoescape=True)
        )
    statement = paginate(select(User).where(*conditions), User.id, page)
    users, cursor = next_cursor(session.scalars(statement).all(), page, lambda u: u.id)
    return Page(items=user_items(session, settings, users), next_cursor=cursor)


def _helped_user(session: Session, caller: Caller, user_id: uuid.UUID) -> User:
    """The account ``caller`` may help: 404 if they may not even see it, 403 if they
    see it but may not act on it."""
    conditions = _visible(session, caller)
    user = session.scalar(select(User).where(User.id == user_id, *conditions))
    if user is None:
        raise NotFound("User")
    if caller.role is Role.platform_admin:
        # No administrator takes over another's account; their own is theirs.
        if user.role is Role.platform_admin and user.id != caller.id:
            raise Forbidden()
        return user
    if caller.role is Role.town_admin and user.role is Role.farmer:
        return user
    raise Forbidden()


def set_password(
    session: Session, settings: Settings, caller: Caller, user_id: uuid.UUID, new_password: str
) -> User:
    """Give an account the password an administrator chose (and passes on in person or
    by a channel they trust). Every token of the account is revoked and its sign-in
    lock lifted: whoever held the old password is out, the owner signs in anew."""
    user = _helped_user(session, caller, user_id)
    user.password_hash = hash_password(settings, new_password)
    user.token_version += 1
    session.execute(delete(SignInFailure).where(SignInFailure.email == user.email))
    session.flush()
    # Only that it happened: the password is never logged.
    _log(session, caller, StaffAction.account_password_reset, user)
    return user


def unlock(session: Session, caller: Caller, user_id: uuid.UUID) -> User:
    """Lift the sign-in throttle on an account: its recorded failures are cleared."""
    user = _helped_user(session, caller, user_id)
    session.execute(delete(SignInFailure).where(SignInFailure.email == user.email))
    session.flush()
    _log(session, caller, StaffAction.account_unlock, user)
    return user


def _log(session: Session, caller: Caller, action: StaffAction, user: User) -> None:
    append_staff_action(
        session,
        caller,
        action,
        object_type="user",
        object_id=user.id,
        municipality_id=user.municipality_id,
    )
