"""``/v1/me/statement``: the caller's year, as JSON and as a printable page in Japanese."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from kokudaka.auth.dependencies import CurrentUser
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.harvest.yields import japan_today
from kokudaka.models import User
from kokudaka.statements.schemas import StatementRead
from kokudaka.statements.service import year_figures

router = APIRouter(route_class=UnitOfWorkRoute, tags=["me"])

# Years the service can have figures for; anything else is a 422, not an empty year.
Year = Annotated[int, Query(ge=2000, le=2100, examples=[2026])]

_templates = Environment(
    loader=PackageLoader("kokudaka.statements", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


@router.get("/v1/me/statement", summary="My year: paid, volunteered, earned, bills and rice")
def my_statement(session: DbSession, user: CurrentUser, year: Year) -> StatementRead:
    """The caller's figures for one calendar year in Japan: yen paid for confirmed investments,
    hours volunteered, KOKU earned (not reversed), rice bills received, rice redeemed (shipped)
    and gifts of expired bills to farmers, with rice in 合 and kg. The same as a printable page
    in Japanese at `/v1/me/statement.html`.
    """
    return StatementRead.of(year_figures(session, user.id, year))


@router.get(
    "/v1/me/statement.html",
    summary="My year as a printable page in Japanese",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "A printable page"}},
)
def my_statement_page(session: DbSession, user: CurrentUser, year: Year) -> HTMLResponse:
    """The figures of `/v1/me/statement` as a page in Japanese to print or save as PDF."""
    statement = StatementRead.of(year_figures(session, user.id, year))
    name = session.scalar(select(User.display_name).where(User.id == user.id)) or ""
    page = _templates.get_template("statement.html").render(
        statement=statement, name=name, issued_on=japan_today().isoformat()
    )
    return HTMLResponse(page, headers={"Cache-Control": "private, no-store"})
