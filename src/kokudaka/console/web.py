"""How a console page is served: its route class, templates, language and security headers.

Console pages are HTML, so their errors are too: :class:`ConsoleRoute` renders the
service's errors (the same ``KokudakaError`` the API renders as problem+json) as a page
in the reader's language, and sends a browser without a live session to sign in.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kokudaka.console import formatting
from kokudaka.console.messages import Translator, translate
from kokudaka.console.sessions import (
    LANGUAGE_COOKIE,
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    SignedIn,
    SignInRequired,
    check_csrf,
    current,
)
from kokudaka.core.db import UnitOfWorkRoute
from kokudaka.core.errors import KokudakaError, NotFound
from kokudaka.core.i18n import Language, message, negotiate_language
from kokudaka.core.settings import Settings
from kokudaka.municipalities.service import current_season
from kokudaka.supporters.prefectures import PREFECTURES

CONSOLE_PREFIX = "/console"
SIGN_IN_PATH = f"{CONSOLE_PREFIX}/sign-in"

#: Every script, style and font comes from the service itself (closed town-hall
#: networks): the browser is told to load nothing from anywhere else, and to run no
#: inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show names and money of one town to one person: never kept by a shared cache.
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=PackageLoader("kokudaka.console", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
#: The menu of each role: (path, message key).
NAV_ITEMS: dict[str, list[tuple[str, str]]] = {
    "farmer": [
        ("/console/farmer", "nav_farmer_season"),
        ("/console/farmer/ledger", "nav_farmer_ledger"),
        ("/console/farmer/hours", "nav_farmer_hours"),
        ("/console/farmer/works", "nav_farmer_works"),
        ("/console/farmer/shipping", "nav_shipping"),
        ("/console/farmer/deliveries", "nav_deliveries"),
    ],
    "town_admin": [
        ("/console/town", "nav_town_dashboard"),
        ("/console/town/payments", "nav_town_payments"),
        ("/console/town/farmers", "nav_town_farmers"),
        ("/console/accounts", "nav_town_accounts"),
        ("/console/town/policy", "nav_town_policy"),
        ("/console/town/harvest", "nav_town_harvest"),
        ("/console/town/shipping", "nav_shipping"),
        ("/console/town/deliveries", "nav_deliveries"),
        ("/console/town/issuances", "nav_town_issuances"),
        ("/console/town/reconciliation", "nav_town_reconciliation"),
        ("/console/audit-log", "nav_audit_log"),
    ],
    "regional_auditor": [
        ("/console/region", "nav_region"),
        ("/console/accounts", "nav_town_accounts"),
        ("/console/audit-log", "nav_audit_log"),
    ],
    "platform_admin": [
        ("/console/region", "nav_region"),
        ("/console/accounts", "nav_town_accounts"),
        ("/console/audit-log", "nav_audit_log"),
    ],
}


def nav_items(role: str) -> list[tuple[str, str]]:
    return NAV_ITEMS.get(role, [])


templates.globals["nav_items"] = nav_items


def chart_json(chart: dict[str, Any], t: Translator) -> str:
    """A chart's data for charts.js: amounts in go are drawn in KOKU, labels translated.

    Escaped for a ``<script type="application/json">`` element: no ``<`` can close it."""
    unit = chart.get("unit", "count")
    divisor = 1000 if unit == "go" else 1
    spec = {
        "labels": chart_labels(chart, t),
        "unit": t("unit_" + unit),
        "stacked": bool(chart.get("stacked", True)),
        "whole": unit == "count",
        "datasets": [
            {"label": t("series_" + name), "data": [value / divisor for value in values]}
            for name, values in chart["series"].items()
        ],
    }
    return json.dumps(spec, ensure_ascii=False).replace("<", "\\u003c")


def chart_labels(chart: dict[str, Any], t: Translator) -> list[str]:
    """A chart's labels as shown: kinds are words to translate, weeks and names are not."""
    labels: list[str] = chart["labels"]
    if chart.get("label_kind"):
        return [t("kind_" + label) for label in labels]
    if chart.get("label_prefecture"):
        return [prefecture_name(code, t) for code in labels]
    return labels


def prefecture_name(code: str, t: Translator) -> str:
    """A prefecture's name in the page's language, or the words for the other groups."""
    if code in PREFECTURES:
        english, japanese = PREFECTURES[code]
        return japanese if t.language == "ja" else english
    return t("prefecture_" + code)


def chart_value(value: int, chart: dict[str, Any]) -> str:
    return formatting.koku(value) if chart.get("unit") == "go" else formatting.number(value)


templates.globals["chart_json"] = chart_json
templates.globals["chart_value"] = chart_value
templates.globals["chart_labels"] = chart_labels
templates.globals["prefecture_name"] = prefecture_name
templates.filters.update(
    yen=formatting.yen, koku=formatting.koku, number=formatting.number, jst=formatting.jst
)


def page_language(request: Request) -> Language:
    """The language chosen with the console's switch, else the browser's, else Japanese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in ("ja", "en"):
        return "ja" if chosen == "ja" else "en"
    return negotiate_language(request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    *,
    language: Language,
    signed_in: SignedIn | None = None,
    csrf_token: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = templates.get_template(template).render(
        t=Translator(language),
        lang=language,
        signed_in=signed_in,
        csrf_token=signed_in.csrf_token if signed_in else csrf_token,
        path=request.url.path,
        is_htmx=request.headers.get("HX-Request") == "true",
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


@dataclass(frozen=True, slots=True)
class ConsolePage:
    """A request of a signed-in person: renders pages in their language."""

    request: Request
    session: Session
    signed_in: SignedIn
    language: Language

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.app.state.settings
        return settings

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.request,
            template,
            language=self.language,
            signed_in=self.signed_in,
            status_code=status_code,
            **context,
        )

    def t(self, key: str, **params: object) -> str:
        return translate(key, self.language, **params)

    def error_text(self, error: KokudakaError) -> str:
        return message(error.code, self.language, error.params)


def open_page(request: Request, session: Session, *, csrf_token: str | None = None) -> ConsolePage:
    """The signed-in person's page, or :class:`SignInRequired`. A form post passes its
    hidden ``csrf_token``, which must be the session's."""
    settings: Settings = request.app.state.settings
    signed_in = current(session, settings, request.cookies.get(SESSION_COOKIE))
    if request.method != "GET":
        check_csrf(signed_in.csrf_token, csrf_token)
    return ConsolePage(request, session, signed_in, page_language(request))


def parse_id(value: str) -> uuid.UUID:
    """An id from a console URL; anything else is a page that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Page") from None


def parse_int(value: str | None) -> int | None:
    """An optional whole number from a filter form (an empty field means no filter)."""
    if value is None or not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def redirect(url: str, request: Request) -> Response:
    """Go to ``url`` after a post: a full page load for htmx too."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _sign_in_redirect(request: Request) -> Response:
    target = request.url.path if request.method == "GET" else CONSOLE_PREFIX
    return redirect(f"{SIGN_IN_PATH}?next={quote(target, safe='/')}", request)


def _error_page(request: Request, status: int, text: str) -> Response:
    language = page_language(request)
    return render(
        request,
        "error.html",
        language=language,
        status_code=status,
        status=status,
        text=text,
    )


class ConsoleRoute(UnitOfWorkRoute):
    """A console page: one unit of work like every route, errors as HTML pages, and the
    console's security headers on every answer."""

    # A page view touches its sign-in session (the idle timeout), so GETs write too.
    gets_write = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = _sign_in_redirect(request)
            except KokudakaError as error:
                language = page_language(request)
                response = _error_page(
                    request, error.status, message(error.code, language, error.params)
                )
                response.headers.update(error.headers)
            except RequestValidationError:
                language = page_language(request)
                response = _error_page(request, 422, message("validation_error", language, {}))
            response.headers.update(SECURITY_HEADERS)
            return response

        return console_handler


def set_pre_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        PRE_SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=not settings.is_development,
        path=CONSOLE_PREFIX,
    )


def season_choices(chosen: int, *, ahead: bool = False) -> list[int]:
    """The seasons a page's picker offers, newest first: the last three and the one chosen,
    and the next one when ``ahead`` (a town sets a season's policy before it starts)."""
    this = current_season()
    offered = {this - 2, this - 1, this, chosen}
    if ahead:
        offered.add(this + 1)
    return sorted(offered, reverse=True)
