"""The farmer's pages: this season at a glance, the support ledger, hours to approve, works.

Every read and write goes through the services the API uses (``farmers``, ``works``,
``volunteering``), with the farmer as the caller, so each rule (who may approve, what
a work may be changed to) is the API's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.console import stats
from kokudaka.console.csv_export import csv_response
from kokudaka.console.forms import ConsoleForm, FormErrors, form_errors, whole_number
from kokudaka.console.web import (
    ConsolePage,
    ConsoleRoute,
    open_page,
    parse_id,
    parse_int,
    redirect,
    season_choices,
)
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden, KokudakaError, NotFound, Unprocessable
from kokudaka.core.pagination import PageParams, decode_cursor, encode_cursor
from kokudaka.farmers.service import support_ledger, support_ledger_totals
from kokudaka.models import ContributionStatus, Farmer, IssuanceKind, Role, User, Work
from kokudaka.municipalities.service import current_season
from kokudaka.volunteering import service as volunteering
from kokudaka.works import service as works
from kokudaka.works.schemas import WorkCreate, WorkUpdate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
FormText = Annotated[str, Form(max_length=4000)]
LEDGER_PAGE = 100


def _farmer_page(
    request: Request, session: DbSession, csrf_token: str | None = None
) -> tuple[ConsolePage, Farmer]:
    page = open_page(request, session, csrf_token=csrf_token)
    if page.signed_in.caller.role is not Role.farmer:
        raise Forbidden()
    farmer = farmer_profile_of(session, page.signed_in.caller)
    if farmer is None:
        raise Forbidden()
    return page, farmer


def _season(value: str | None) -> int:
    return parse_int(value) or current_season()


def _own_works(session: DbSession, farmer: Farmer) -> list[Work]:
    return list(
        works.list_works(
            session,
            PageParams(limit=200, cursor=None),
            municipality_id=None,
            farmer_id=farmer.id,
            variety=None,
            season=None,
            is_open=None,
        )
    )


# This season ------------------------------------------------------------------------


@router.get("/console/farmer")
def season_at_a_glance(request: Request, session: DbSession, season: Text = "") -> Response:
    page, farmer = _farmer_page(request, session)
    chosen = _season(season)
    totals = support_ledger_totals(session, farmer, work_id=None, season=chosen)
    weekly = stats.farmer_weekly(session, farmer.id, chosen)
    return page.render(
        "farmer/season.html",
        farmer=farmer,
        season=chosen,
        seasons=season_choices(chosen),
        totals=totals,
        chart=weekly.as_chart(),
    )


# Support ledger ---------------------------------------------------------------------


def _ledger_filters(
    session: DbSession, farmer: Farmer, season: str, work: str, kind: str
) -> tuple[int | None, uuid.UUID | None, IssuanceKind | None]:
    work_id = None
    if work:
        work_id = parse_id(work)
        owned = session.get(Work, work_id)
        if owned is None or owned.farmer_id != farmer.id:
            raise NotFound("Work")
    chosen_kind = IssuanceKind(kind) if kind in IssuanceKind.__members__ else None
    return parse_int(season), work_id, chosen_kind


@router.get("/console/farmer/ledger")
def ledger(
    request: Request,
    session: DbSession,
    season: Text = "",
    work: Text = "",
    kind: Text = "",
    cursor: Text = "",
) -> Response:
    page, farmer = _farmer_page(request, session)
    chosen_season, work_id, chosen_kind = _ledger_filters(session, farmer, season, work, kind)
    params = PageParams(limit=LEDGER_PAGE, cursor=decode_cursor(cursor) if cursor else None)
    rows = support_ledger(
        session, farmer, params, work_id=work_id, season=chosen_season, kind=chosen_kind
    )
    totals = support_ledger_totals(
        session, farmer, work_id=work_id, season=chosen_season, kind=chosen_kind
    )
    next_cursor = None
    if len(rows) > LEDGER_PAGE:
        rows = rows[:LEDGER_PAGE]
        next_cursor = encode_cursor(rows[-1].issuance_id)
    query = {"season": season, "work": work, "kind": kind}
    return page.render(
        "farmer/ledger.html",
        rows=rows,
        totals=totals,
        works=_own_works(session, farmer),
        filters=query,
        seasons=season_choices(current_season()),
        next_cursor=next_cursor,
        csv_query="&".join(f"{name}={value}" for name, value in query.items() if value),
    )


@router.get("/console/farmer/ledger.csv")
def ledger_csv(
    request: Request, session: DbSession, season: Text = "", work: Text = "", kind: Text = ""
) -> Response:
    """The whole filtered ledger (every page) as a CSV that opens in Excel."""
    page, farmer = _farmer_page(request, session)
    chosen_season, work_id, chosen_kind = _ledger_filters(session, farmer, season, work, kind)
    lines: list[list[str]] = []
    params = PageParams(limit=500, cursor=None)
    while True:
        rows = support_ledger(
            session, farmer, params, work_id=work_id, season=chosen_season, kind=chosen_kind
        )
        for row in rows[: params.limit]:
            lines.append(
                [
                    row.created_at.isoformat(),
                    page.t("kind_" + row.kind.value),
                    row.supporter_name,
                    row.work_title or row.activity_title or "",
                    "" if row.amount_yen is None else str(row.amount_yen),
                    row.hours or "",
                    str(row.amount.go),
                    row.amount.koku,
                    page.t("yes") if row.reversed else "",
                ]
            )
        if len(rows) <= params.limit:
            break
        params = PageParams(limit=params.limit, cursor=rows[params.limit - 1].issuance_id)
    header = [
        page.t(key)
        for key in (
            "col_when",
            "col_kind",
            "col_supporter",
            "col_work_or_activity",
            "col_yen",
            "col_hours",
            "col_go",
            "col_koku",
            "col_reversed",
        )
    ]
    return csv_response("support-ledger.csv", header, lines, page.language)


# Hours awaiting approval --------------------------------------------------------------


@router.get("/console/farmer/hours")
def hours(request: Request, session: DbSession) -> Response:
    page, farmer = _farmer_page(request, session)
    pending = volunteering.list_contributions(
        session,
        page.signed_in.caller,
        PageParams(limit=200, cursor=None),
        status=ContributionStatus.pending,
    )
    activities = volunteering.list_activities(
        session, PageParams(limit=50, cursor=None), farmer_id=farmer.id
    )
    return page.render("farmer/hours.html", pending=pending.items, activities=activities.items)


def _reviewed(
    page: ConsolePage, contribution_id: uuid.UUID, error: KokudakaError | None
) -> Response:
    """After a review: the row alone for htmx, else the whole page again."""
    if page.request.headers.get("HX-Request") != "true":
        if error is not None:
            raise error
        return redirect("/console/farmer/hours", page.request)
    contribution, _ = volunteering.visible_contribution(
        page.session, page.signed_in.caller, contribution_id
    )
    supporter = page.session.get(User, contribution.supporter_id)
    return page.render(
        "farmer/_contribution_row.html",
        item=volunteering.contribution_read(page.session, contribution),
        supporter_name=supporter.display_name if supporter else "",
        error=page.error_text(error) if error else None,
    )


@router.post("/console/farmer/contributions/{contribution_id}/approve")
def approve_hours(
    request: Request, session: DbSession, contribution_id: str, csrf_token: FormText = ""
) -> Response:
    page, _ = _farmer_page(request, session, csrf_token)
    key = parse_id(contribution_id)
    try:
        volunteering.approve(session, page.signed_in.caller, key)
    except KokudakaError as error:
        session.rollback()
        return _reviewed(page, key, error)
    return _reviewed(page, key, None)


@router.post("/console/farmer/contributions/{contribution_id}/reject")
def reject_hours(
    request: Request,
    session: DbSession,
    contribution_id: str,
    csrf_token: FormText = "",
    reason: FormText = "",
) -> Response:
    page, _ = _farmer_page(request, session, csrf_token)
    key = parse_id(contribution_id)
    try:
        if not reason.strip():
            raise Unprocessable("validation_error")
        volunteering.reject(session, page.signed_in.caller, key, reason.strip())
    except KokudakaError as error:
        session.rollback()
        return _reviewed(page, key, error)
    return _reviewed(page, key, None)


# Works ------------------------------------------------------------------------------


@router.get("/console/farmer/works")
def work_list(request: Request, session: DbSession) -> Response:
    page, farmer = _farmer_page(request, session)
    reads = works.work_reads(session, _own_works(session, farmer))
    return page.render("farmer/works.html", works=reads)


class WorkForm(ConsoleForm):
    """A work as its form has it: the planned yield in kg of polished rice."""

    season: str = ""
    title: str = ""
    variety: str = ""
    description: str = ""
    field_area_m2: str = ""
    planned_yield_kg: str = ""
    offer_yen: str = ""
    is_open: str = ""


def _work_values(form: dict[str, str]) -> dict[str, Any]:
    """The form's fields as the API's request body: numbers as numbers, the planned yield
    entered in kg of polished rice and stored in 合 (150 g each, rounded down)."""
    values: dict[str, Any] = {
        "title": form["title"].strip(),
        "variety": form["variety"].strip(),
        "description": form["description"],
        "season": whole_number(form["season"]),
        "field_area_m2": whole_number(form["field_area_m2"]),
        "offer_yen": whole_number(form["offer_yen"]),
        "planned_yield_go": None,
        "is_open": form.get("is_open") == "on",
    }
    kg = whole_number(form["planned_yield_kg"])
    if isinstance(kg, int):
        values["planned_yield_go"] = kg * 1000 // 150
    else:
        values["planned_yield_go"] = kg
    return values


def _work_form(
    page: ConsolePage, work: Work | None, form: dict[str, str], errors: FormErrors | None
) -> Response:
    return page.render(
        "farmer/work_form.html",
        work=work,
        form=form,
        errors=errors or {},
        status_code=422 if errors else 200,
    )


def _form_of(work: Work | None) -> dict[str, str]:
    if work is None:
        return WorkForm(season=str(current_season()), is_open="on").fields()
    return WorkForm(
        season=str(work.season),
        title=work.title,
        variety=work.variety,
        description=work.description,
        field_area_m2=str(work.field_area_m2),
        planned_yield_kg=str(work.planned_yield_go * 150 // 1000),
        offer_yen=str(work.offer_yen),
        is_open="on" if work.is_open else "",
    ).fields()


def _own_work(session: DbSession, farmer: Farmer, work_id: str) -> Work:
    """One of the farmer's own works; any other is a page that does not exist."""
    work = session.get(Work, parse_id(work_id))
    if work is None or work.farmer_id != farmer.id:
        raise NotFound("Work")
    return work


@router.get("/console/farmer/works/new")
def new_work(request: Request, session: DbSession) -> Response:
    page, _ = _farmer_page(request, session)
    return _work_form(page, None, _form_of(None), None)


@router.post("/console/farmer/works/new")
def create_work(
    request: Request, session: DbSession, posted: Annotated[WorkForm, Form()]
) -> Response:
    page, _ = _farmer_page(request, session, posted.csrf_token)
    form = posted.fields()
    try:
        body = WorkCreate.model_validate(_work_values(form))
    except ValidationError as invalid:
        return _work_form(page, None, form, form_errors(invalid, page.language))
    works.create_work(session, page.signed_in.caller, body)
    return redirect("/console/farmer/works", request)


@router.get("/console/farmer/works/{work_id}")
def edit_work(request: Request, session: DbSession, work_id: str) -> Response:
    page, farmer = _farmer_page(request, session)
    work = _own_work(session, farmer, work_id)
    return _work_form(page, work, _form_of(work), None)


@router.post("/console/farmer/works/{work_id}")
def update_work(
    request: Request, session: DbSession, work_id: str, posted: Annotated[WorkForm, Form()]
) -> Response:
    page, farmer = _farmer_page(request, session, posted.csrf_token)
    work = _own_work(session, farmer, work_id)
    form = posted.fields() | {"season": str(work.season)}
    values = _work_values(form)
    del values["season"]  # a work's season is fixed when it is made
    try:
        body = WorkUpdate.model_validate(values)
        works.update_work(session, page.signed_in.caller, work.id, body)
    except ValidationError as invalid:
        return _work_form(page, work, form, form_errors(invalid, page.language))
    except KokudakaError as refused:
        session.rollback()
        return _work_form(page, work, form, {"": [page.error_text(refused)]})
    return redirect("/console/farmer/works", request)


@router.post("/console/farmer/works/{work_id}/open")
def open_or_close_work(
    request: Request,
    session: DbSession,
    work_id: str,
    csrf_token: FormText = "",
    open: FormText = "",
) -> Response:
    """Open a work for support, or close it (a closed work takes no new investment)."""
    page, farmer = _farmer_page(request, session, csrf_token)
    work = _own_work(session, farmer, work_id)
    works.update_work(session, page.signed_in.caller, work.id, WorkUpdate(is_open=open == "1"))
    return redirect("/console/farmer/works", request)
