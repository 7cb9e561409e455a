"""The caller of a request: whose account it is and the scope it acts in.

A bearer token names the caller's account, role, town and region (all fixed when an
account is created) and the account's token version when it was issued. Authorisation
decides from those; and the account is read in the request's own transaction, before
any other statement, to check it is still active and unchanged: a disabled account's
tokens stop working at once, and stay dead after it is enabled again (disabling moves
the version on). The check costs no extra worker-thread hop (see
``kokudaka.core.db.check_at_begin``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from kokudaka.core.db import take_check_at_begin
from kokudaka.core.errors import Unauthorized
from kokudaka.models import Role, User, table_of

users = table_of(User)

#: What a token's scope is checked against, in :class:`Caller`'s order after the id.
ACCOUNT_COLUMNS = (users.c.role, users.c.municipality_id, users.c.region_id, users.c.token_version)
#: Only an active account answers: ``users.c.id == bindparam("user_id")`` and this.
ACTIVE = users.c.is_active.is_(True)
_ACCOUNT = select(*ACCOUNT_COLUMNS).where(users.c.id == bindparam("user_id"), ACTIVE)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """An account making a request, as its token names it."""

    id: uuid.UUID
    role: Role
    municipality_id: uuid.UUID | None
    """Set for farmers and town administrators: the town whose scope they act in."""
    region_id: uuid.UUID | None
    """Set for regional auditors."""
    token_version: int = 0
    """The account's ``token_version`` when the token was issued (see ``User``)."""

    @classmethod
    def of(cls, user: User) -> Caller:
        return cls(user.id, user.role, user.municipality_id, user.region_id, user.token_version)


def refuse_unless_current(caller: Caller, account: Caller | None) -> None:
    """401 unless the account (``None`` when missing or disabled) has the token's scope
    and token version."""
    if account != caller:
        raise Unauthorized("invalid_token", headers=CHALLENGE)


def check_account(connection: Connection, caller: Caller) -> None:
    """Refuse the request unless the caller's account is active with the same scope and
    has not revoked its tokens since this one was issued."""
    row = connection.execute(_ACCOUNT, {"user_id": caller.id}).first()
    refuse_unless_current(caller, None if row is None else Caller(caller.id, *row))


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """The caller's account check, pending until the request's transaction begins
    (``kokudaka.core.db.check_at_begin``)."""

    caller: Caller

    def __call__(self, connection: Connection) -> None:
        check_account(connection, self.caller)

    def verify(self, account: Sequence[Any] | None) -> None:
        """The check, on the :data:`ACCOUNT_COLUMNS` a statement read for it (``None``
        when the active account was not found)."""
        refuse_unless_current(
            self.caller, None if account is None else Caller(self.caller.id, *account)
        )


def take_account_check(session: Session) -> AccountCheck | None:
    """The request's pending account check, taken back to be folded into the first
    statement (which must then read :data:`ACCOUNT_COLUMNS` of the active account and
    call :meth:`AccountCheck.verify`); ``None`` when none is pending."""
    return take_check_at_begin(session, AccountCheck)
