"""``/v1/auth``: self sign-up and the OAuth2 password flow; staff accounts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from kokudaka.auth import service
from kokudaka.auth.caller import Caller
from kokudaka.auth.dependencies import AppSettings, PlatformAdmin
from kokudaka.auth.schemas import (
    AuditorCreate,
    RegisterRequest,
    StaffCreate,
    TokenResponse,
    TownAdminCreate,
    UserRead,
)
from kokudaka.auth.security import create_access_token
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import problem_response
from kokudaka.models import Role

router = APIRouter(route_class=UnitOfWorkRoute, tags=["auth"])
# Staff accounts have a router of their own: a route's tags add to its router's, so an
# "admin" route on the "auth" router is listed under both.
admin_router = APIRouter(route_class=UnitOfWorkRoute, tags=["admin"])


@router.post(
    "/v1/auth/register",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up as a supporter",
)
def register(body: RegisterRequest, session: DbSession, settings: AppSettings) -> UserRead:
    """Create a supporter account with an email and a password.

    Anybody may call it; staff and farmer accounts are made by administrators instead. The account
    gets a custodial wallet at once. Sign in with `POST /v1/auth/token` afterwards.
    """
    user = service.create_user(
        session,
        settings,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=Role.supporter,
    )
    return UserRead.model_validate(user)


@router.post(
    "/v1/auth/token",
    summary="Sign in (OAuth2 password flow) and get a short-lived bearer token",
    response_model=TokenResponse,
    responses={
        401: {
            "description": "Wrong credentials, or a disabled account (answered alike, so "
            "a sign-in never tells whether a disabled account's password was right)"
        },
        429: {"description": "Throttled"},
    },
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
) -> TokenResponse | JSONResponse:
    """Sign in with email (as `username`) and password: the OAuth2 password flow.

    Answers a bearer token valid for `expires_in` seconds; send it as `Authorization: Bearer
    <token>`. Repeated failures for an account are throttled (429 with `Retry-After`); a wrong
    password and a disabled account answer alike (401).
    """
    try:
        user = service.authenticate(session, settings, form.username, form.password)
    except service.SignInRefused as refused:
        # Answer with an error but let the request commit, so the failure counts.
        return problem_response(request, 401, refused.code, headers={"WWW-Authenticate": "Bearer"})
    return TokenResponse(
        access_token=create_access_token(settings, Caller.of(user)),
        expires_in=settings.access_token_ttl_seconds,
    )


@admin_router.post(
    "/v1/admin/users",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "`not_found`: no such municipality or region"}},
    summary="Create a town administrator, regional auditor or platform administrator",
)
def create_staff(
    body: StaffCreate, session: DbSession, settings: AppSettings, admin: PlatformAdmin
) -> UserRead:
    """Create a staff account: a town administrator (with `municipality_id`), a regional auditor
    (with `region_id`) or another platform administrator.

    For platform administrators only. Farmers are registered by their town (`POST /v1/farmers`) and
    supporters sign up themselves.
    """
    user = service.create_staff(
        session,
        settings,
        admin,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
        municipality_id=body.municipality_id if isinstance(body, TownAdminCreate) else None,
        region_id=body.region_id if isinstance(body, AuditorCreate) else None,
    )
    return UserRead.model_validate(user)


@admin_router.post(
    "/v1/admin/users/{user_id}/disable",
    summary="Disable an account and revoke its tokens",
    description="Tokens issued before the disable stay refused after the account is "
    "enabled again. A platform administrator's own account, and any other platform "
    "administrator's, cannot be disabled.",
    responses={
        403: {"description": "`cannot_disable_platform_admin`"},
        409: {"description": "`cannot_disable_own_account`"},
    },
)
def disable_user(user_id: uuid.UUID, session: DbSession, admin: PlatformAdmin) -> UserRead:
    return UserRead.model_validate(service.set_active(session, admin, user_id, active=False))


@admin_router.post("/v1/admin/users/{user_id}/enable", summary="Enable an account")
def enable_user(user_id: uuid.UUID, session: DbSession, admin: PlatformAdmin) -> UserRead:
    """Enable a disabled account again.

    For platform administrators. Tokens issued before the account was disabled stay refused: the
    user signs in again.
    """
    return UserRead.model_validate(service.set_active(session, admin, user_id, active=True))
