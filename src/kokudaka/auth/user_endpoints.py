"""``/v1/admin/users``: finding accounts and helping their owners (a new password, a
lifted sign-in lock). Creating, disabling and enabling staff are in ``endpoints``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from kokudaka.auth import users
from kokudaka.auth.dependencies import AppSettings, CurrentUser
from kokudaka.auth.schemas import PasswordSet, UserListItem
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.core.schemas import QueryBool
from kokudaka.models import Role

router = APIRouter(route_class=UnitOfWorkRoute, tags=["admin"])

Paging = Annotated[PageParams, Depends(page_params)]


def _problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"description": text, "content": {"application/problem+json": {}}}
        for code, text in descriptions.items()
    }


@router.get(
    "/v1/admin/users",
    summary="Accounts, newest first (platform and town administrators, auditors)",
    description="A platform administrator sees every account, a town administrator "
    "the accounts of their town (farmers and administrators), a regional auditor those "
    "of their region's towns and its auditors. Supporters belong to no town: only "
    "platform administrators see them. `q` searches the display name and the email.",
    responses=_problems({403: "A supporter or a farmer"}),
)
def list_users(
    session: DbSession,
    settings: AppSettings,
    user: CurrentUser,
    paging: Paging,
    role: Annotated[Role | None, Query(description="Only this role.")] = None,
    municipality_id: Annotated[uuid.UUID | None, Query(description="Only this town's.")] = None,
    active: Annotated[
        QueryBool | None, Query(description="true: only enabled accounts; false: only disabled.")
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Words in the name or email."),
    ] = None,
) -> Page[UserListItem]:
    filters = users.UserFilters(role=role, municipality_id=municipality_id, is_active=active, q=q)
    return users.list_users(session, settings, user, filters, paging)


_HELP_REFUSALS = _problems(
    {
        403: "Not an administrator who may help this account: a town administrator helps "
        "only their town's farmers; no platform administrator helps another's account",
        404: "No such account in the caller's scope",
    }
)


@router.post(
    "/v1/admin/users/{user_id}/password",
    summary="Set a new password for an account (platform administrators; town "
    "administrators for their farmers)",
    description="The administrator chooses the password and passes it on; the service "
    "never makes one up, so no password travels in a response. Every token of the "
    "account is revoked and its sign-in lock lifted.",
    responses=_HELP_REFUSALS,
)
def set_password(
    user_id: uuid.UUID,
    body: PasswordSet,
    session: DbSession,
    settings: AppSettings,
    user: CurrentUser,
) -> UserListItem:
    account = users.set_password(session, settings, user, user_id, body.new_password)
    return users.user_items(session, settings, [account])[0]


@router.post(
    "/v1/admin/users/{user_id}/unlock",
    summary="Lift an account's sign-in lock (platform administrators; town "
    "administrators for their farmers)",
    description="Clears the failed sign-ins recorded for the account's email, so its "
    "owner may try again at once.",
    responses=_HELP_REFUSALS,
)
def unlock_user(
    user_id: uuid.UUID, session: DbSession, settings: AppSettings, user: CurrentUser
) -> UserListItem:
    account = users.unlock(session, user, user_id)
    return users.user_items(session, settings, [account])[0]
