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
from kokudaka.auth.schemas import RegisterRequest, StaffCreate, TokenResponse, UserRead
from kokudaka.auth.security import create_access_token
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import problem_response
from kokudaka.models import Role

router = APIRouter(route_class=UnitOfWorkRoute, tags=["auth"])


@router.post(
    "/v1/auth/register",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up as a supporter",
)
def register(body: RegisterRequest, session: DbSession, settings: AppSettings) -> UserRead:
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
    try:
        user = service.authenticate(session, settings, form.username, form.password)
    except service.SignInRefused as refused:
        # Answer with an error but let the request commit, so the failure counts.
        return problem_response(request, 401, refused.code, headers={"WWW-Authenticate": "Bearer"})
    return TokenResponse(
        access_token=create_access_token(settings, Caller.of(user)),
        expires_in=settings.access_token_ttl_seconds,
    )


@router.post(
    "/v1/admin/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a town administrator, regional auditor or platform administrator",
    tags=["admin"],
)
def create_staff(
    body: StaffCreate, session: DbSession, settings: AppSettings, _admin: PlatformAdmin
) -> UserRead:
    user = service.create_staff(
        session,
        settings,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
        municipality_id=body.municipality_id,
        region_id=body.region_id,
    )
    return UserRead.model_validate(user)


@router.post(
    "/v1/admin/users/{user_id}/disable",
    summary="Disable an account and revoke its tokens",
    description="Tokens issued before the disable stay refused after the account is "
    "enabled again. A platform administrator's own account, and any other platform "
    "administrator's, cannot be disabled.",
    tags=["admin"],
    responses={
        403: {"description": "`cannot_disable_platform_admin`"},
        409: {"description": "`cannot_disable_own_account`"},
    },
)
def disable_user(user_id: uuid.UUID, session: DbSession, admin: PlatformAdmin) -> UserRead:
    return UserRead.model_validate(service.set_active(session, admin, user_id, active=False))


@router.post("/v1/admin/users/{user_id}/enable", summary="Enable an account", tags=["admin"])
def enable_user(user_id: uuid.UUID, session: DbSession, admin: PlatformAdmin) -> UserRead:
    return UserRead.model_validate(service.set_active(session, admin, user_id, active=True))
