"""Supporters and staff: find an account, reset its password, lift its sign-in lock,
disable or enable it.

The API's rules decide who may do what (``kokudaka.auth.users``): a town administrator
sees their town's accounts and helps its farmers; a regional auditor reads their
region's; a platform administrator sees everyone, helps supporters and staff, and is
the only one who disables or enables accounts (``POST /v1/admin/users/{id}/disable``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from kokudaka.auth import service as accounts
from kokudaka.auth import users
from kokudaka.auth.schemas import PasswordSet, UserListItem
from kokudaka.console.forms import form_errors
from kokudaka.console.web import ConsolePage, ConsoleRoute, open_page, parse_id, redirect
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden, KokudakaError
from kokudaka.core.pagination import PageParams
from kokudaka.models import Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
FormText = Annotated[str, Form(max_length=500)]
ACCOUNTS_PATH = "/console/accounts"


def _accounts_page(
    request: Request, session: DbSession, csrf_token: str | None = None
) -> ConsolePage:
    page = open_page(request, session, csrf_token=csrf_token)
    if page.signed_in.caller.role is Role.farmer:
        raise Forbidden()
    return page


@router.get(ACCOUNTS_PATH)
def account_list(
    request: Request, session: DbSession, q: Text = "", role: Text = "", done: Text = ""
) -> Response:
    page = _accounts_page(request, session)
    filters = users.UserFilters(
        q=q.strip() or None, role=Role(role) if role in Role.__members__ else None
    )
    found = users.list_users(
        session, page.settings, page.signed_in.caller, filters, PageParams(limit=100, cursor=None)
    )
    return _render(page, found.items, q, role, done=done)


def _render(
    page: ConsolePage,
    items: list[UserListItem],
    q: str,
    role: str,
    *,
    done: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    caller = page.signed_in.caller
    return page.render(
        "accounts.html",
        items=items,
        q=q,
        role=role,
        roles=[r.value for r in Role],
        done=done if done in ("password", "unlocked", "disabled", "enabled") else "",
        error=error,
        can_help=caller.role in (Role.town_admin, Role.platform_admin),
        can_disable=caller.role is Role.platform_admin,
        status_code=status_code,
    )


def _refused(page: ConsolePage, message: str, status: int) -> Response:
    found = users.list_users(
        page.session,
        page.settings,
        page.signed_in.caller,
        users.UserFilters(),
        PageParams(limit=100, cursor=None),
    )
    return _render(page, found.items, "", "", error=message, status_code=status)


@router.post(ACCOUNTS_PATH + "/{user_id}/password")
def reset_password(
    request: Request,
    session: DbSession,
    user_id: str,
    csrf_token: FormText = "",
    new_password: FormText = "",
) -> Response:
    """Set the password the administrator chose; the account's tokens and console
    sessions end, and its sign-in lock is lifted (the API's service)."""
    page = _accounts_page(request, session, csrf_token)
    try:
        body = PasswordSet.model_validate({"new_password": new_password})
        users.set_password(
            session, page.settings, page.signed_in.caller, parse_id(user_id), body.new_password
        )
    except ValidationError as invalid:
        messages = form_errors(invalid, page.language).get("new_password", [])
        return _refused(page, " ".join(messages), 422)
    except KokudakaError as refused:
        session.rollback()
        if refused.status == 404:
            raise
        return _refused(page, page.error_text(refused), refused.status)
    return redirect(f"{ACCOUNTS_PATH}?done=password", request)


@router.post(ACCOUNTS_PATH + "/{user_id}/unlock")
def unlock(
    request: Request, session: DbSession, user_id: str, csrf_token: FormText = ""
) -> Response:
    page = _accounts_page(request, session, csrf_token)
    users.unlock(session, page.signed_in.caller, parse_id(user_id))
    return redirect(f"{ACCOUNTS_PATH}?done=unlocked", request)


@router.post(ACCOUNTS_PATH + "/{user_id}/active")
def set_active(
    request: Request,
    session: DbSession,
    user_id: str,
    csrf_token: FormText = "",
    active: FormText = "",
) -> Response:
    """Disable (its tokens and console sessions end at once) or enable an account."""
    page = _accounts_page(request, session, csrf_token)
    if page.signed_in.caller.role is not Role.platform_admin:
        raise Forbidden()
    try:
        accounts.set_active(session, page.signed_in.caller, parse_id(user_id), active == "1")
    except KokudakaError as refused:
        session.rollback()
        if refused.status == 404:
            raise
        return _refused(page, page.error_text(refused), refused.status)
    return redirect(f"{ACCOUNTS_PATH}?done={'enabled' if active == '1' else 'disabled'}", request)
