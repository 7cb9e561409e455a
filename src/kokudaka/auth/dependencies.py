"""Request dependencies: the settings, the signed-in user and role gates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from kokudaka.auth.security import decode_access_token
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden, Unauthorized
from kokudaka.core.settings import Settings
from kokudaka.models import Role, User

_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


# Dependencies that do no I/O are ``async`` so FastAPI runs them on the event loop
# rather than paying a worker-thread hop for each.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


def get_current_user(
    session: DbSession,
    settings: AppSettings,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    if not token:
        raise Unauthorized("not_authenticated", headers=_CHALLENGE)
    user_id = decode_access_token(settings, token)
    if user_id is None:
        raise Unauthorized("invalid_token", headers=_CHALLENGE)
    user = session.get(User, user_id)
    # A disabled account's tokens stop working at once, not when they expire.
    if user is None or not user.is_active:
        raise Unauthorized("invalid_token", headers=_CHALLENGE)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    async def _gate(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden()
        return user

    return _gate


Supporter = Annotated[User, Depends(require_roles(Role.supporter))]
TownAdmin = Annotated[User, Depends(require_roles(Role.town_admin))]
PlatformAdmin = Annotated[User, Depends(require_roles(Role.platform_admin))]
Auditor = Annotated[
    User,
    Depends(require_roles(Role.town_admin, Role.regional_auditor, Role.platform_admin)),
]
