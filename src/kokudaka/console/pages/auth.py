"""Signing in and out of the console, and its language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from kokudaka.auth.service import SignInRefused
from kokudaka.console import sessions
from kokudaka.console.messages import translate
from kokudaka.console.sessions import (
    LANGUAGE_COOKIE,
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    SignInRequired,
    SupporterRefused,
    check_csrf,
)
from kokudaka.console.web import (
    CONSOLE_PREFIX,
    SIGN_IN_PATH,
    ConsoleRoute,
    open_page,
    page_language,
    redirect,
    render,
    set_pre_session_cookie,
)
from kokudaka.core.db import DbSession
from kokudaka.core.errors import TooManyRequests
from kokudaka.core.i18n import message
from kokudaka.core.settings import Settings
from kokudaka.models import Role

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

HOME_OF_ROLE = {
    Role.farmer: "/console/farmer",
    Role.town_admin: "/console/town",
    Role.regional_auditor: "/console/region",
    Role.platform_admin: "/console/region",
}

FormText = Annotated[str, Form(max_length=500)]
NextQuery = Annotated[str, Query(max_length=500)]


def safe_next(target: str) -> str:
    """Only a console path of this service: never a redirect to another host."""
    if target.startswith(CONSOLE_PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return CONSOLE_PREFIX


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(CONSOLE_PREFIX)
def console_home(request: Request, session: DbSession) -> Response:
    """Each role's own home page."""
    page = open_page(request, session)
    return RedirectResponse(HOME_OF_ROLE[page.signed_in.caller.role], status_code=303)


def _sign_in_form(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    token = request.cookies.get(PRE_SESSION_COOKIE) or sessions.new_token()
    response = render(
        request,
        "sign_in.html",
        language=page_language(request),
        csrf_token=token,
        status_code=status_code,
        next=safe_next(next_path),
        email=email,
        error=error,
        notice=notice,
    )
    set_pre_session_cookie(response, token, _settings(request))
    return response


@router.get(SIGN_IN_PATH)
def sign_in_page(
    request: Request, next: NextQuery = CONSOLE_PREFIX, signed_out: Annotated[str, Query()] = ""
) -> Response:
    notice = None
    if signed_out:
        notice = translate("signed_out", page_language(request))
    return _sign_in_form(request, next_path=next, notice=notice)


@router.post(SIGN_IN_PATH)
def sign_in(
    request: Request,
    session: DbSession,
    email: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next: FormText = CONSOLE_PREFIX,
) -> Response:
    """The API's sign-in rules; a refusal is answered on the form, and committed so that
    the failure counts towards the throttle exactly as on the API."""
    check_csrf(request.cookies.get(PRE_SESSION_COOKIE), csrf_token)
    language = page_language(request)
    settings = _settings(request)
    try:
        secret, _ = sessions.sign_in(session, settings, email, password)
    except SignInRefused as refused:
        error = message(refused.code, language, {})
        return _sign_in_form(request, next_path=next, email=email, error=error, status_code=401)
    except (TooManyRequests, SupporterRefused) as refused:
        error = message(refused.code, language, refused.params)
        return _sign_in_form(
            request, next_path=next, email=email, error=error, status_code=refused.status
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=not settings.is_development,
        path=CONSOLE_PREFIX,
    )
    # The pre-session token has served; a new one is made at the next sign-in.
    response.delete_cookie(PRE_SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response


@router.post(f"{CONSOLE_PREFIX}/sign-out")
def sign_out(request: Request, session: DbSession, csrf_token: FormText = "") -> Response:
    open_page(request, session, csrf_token=csrf_token)
    sessions.sign_out(session, request.cookies.get(SESSION_COOKIE))
    response = redirect(f"{SIGN_IN_PATH}?signed_out=1", request)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response


@router.post(f"{CONSOLE_PREFIX}/language")
def switch_language(
    request: Request,
    session: DbSession,
    lang: FormText = "ja",
    csrf_token: FormText = "",
    next: FormText = CONSOLE_PREFIX,
) -> Response:
    """Remember the reader's language (a cookie, so that it holds before sign-in too)."""
    try:
        open_page(request, session, csrf_token=csrf_token)
    except SignInRequired:
        check_csrf(request.cookies.get(PRE_SESSION_COOKIE), csrf_token)
    response = redirect(safe_next(next), request)
    response.set_cookie(
        LANGUAGE_COOKIE,
        "en" if lang == "en" else "ja",
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="strict",
        secure=not _settings(request).is_development,
        path=CONSOLE_PREFIX,
    )
    return response
