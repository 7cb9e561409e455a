"""Request dependencies: the settings, the signed-in user and role gates.

They do no I/O: the caller comes from the token, and its account is checked first
thing in the request's transaction (see ``kokudaka.core.db.UnitOfWorkRoute``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from kokudaka.auth.caller import CHALLENGE, AccountCheck, Caller
from kokudaka.auth.security import decode_access_token
from kokudaka.core.db import DbSession, check_at_begin
from kokudaka.core.errors import Forbidden, Unauthorized
from kokudaka.core.openapi import declare_problems
from kokudaka.core.settings import Settings
from kokudaka.models import Role

_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


# Dependencies that do no I/O are ``async`` so FastAPI runs them on the event loop
# rather than paying a worker-thread hop for each.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


BearerToken = Annotated[str | None, Depends(_bearer)]


def _authenticate(request: Request, session: Session, token: str | None) -> Caller:
    """The caller named by a valid bearer token; its account is checked first thing in
    the request's transaction (a disabled account's tokens stop working at once)."""
    if not token:
        raise Unauthorized("not_authenticated", headers=CHALLENGE)
    caller = decode_access_token(request.app.state.settings, token)
    if caller is None:
        raise Unauthorized("invalid_token", headers=CHALLENGE)
    check_at_begin(session, AccountCheck(caller))
    return caller


# The gates below authenticate themselves rather than depend on get_caller: one
# dependency fewer to solve on every request.
async def get_caller(request: Request, session: DbSession, token: BearerToken) -> Caller:
    return _authenticate(request, session, token)


CurrentUser = Annotated[Caller, Depends(get_caller)]


def require_roles(*roles: Role) -> Callable[[Request, Session, str | None], Awaitable[Caller]]:
    async def _gate(request: Request, session: DbSession, token: BearerToken) -> Caller:
        caller = _authenticate(request, session, token)
        if caller.role not in roles:
            raise Forbidden()
        return caller

    allowed = ", ".join(f"`{role.value}`" for role in roles)
    return declare_problems(_gate, {403: f"`forbidden`: only for the roles {allowed}."})


Supporter = Annotated[Caller, Depends(require_roles(Role.supporter))]
TownAdmin = Annotated[Caller, Depends(require_roles(Role.town_admin))]
PlatformAdmin = Annotated[Caller, Depends(require_roles(Role.platform_admin))]
Auditor = Annotated[
    Caller,
    Depends(require_roles(Role.town_admin, Role.regional_auditor, Role.platform_admin)),
]
