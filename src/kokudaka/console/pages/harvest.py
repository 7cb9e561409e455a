"""The harvest in the console: the farmer files a work's yield, the town countersigns.

Every read and write goes through :mod:`kokudaka.harvest.service`, with the signed-in
person as the caller, so who may file, countersign or reject is the API's rule.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import Response

from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.console.forms import ConsoleForm, FormErrors, form_errors
from kokudaka.console.web import (
    ConsolePage,
    ConsoleRoute,
    open_page,
    parse_id,
    parse_int,
    redirect,
)
from kokudaka.core.db import DbSession
from kokudaka.core.errors import Forbidden, KokudakaError, NotFound
from kokudaka.harvest import service as harvest
from kokudaka.harvest.bills import town_harvested_works
from kokudaka.harvest.schemas import YieldReportCreate, YieldReportReject
from kokudaka.harvest.yields import japan_today, kg_of_go
from kokudaka.models import Farmer, Role, Work, YieldReport
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON
from kokudaka.municipalities.service import current_season

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

FormText = Annotated[str, Form(max_length=4000)]
Text = Annotated[str, Query(max_length=100)]


def percent(bp: int | None) -> str:
    """Basis points as a percentage with two decimals (12000 -> "120.00")."""
    if bp is None:
        return "-"
    return f"{bp // 100}.{bp % 100:02d}"


# The farmer's work ------------------------------------------------------------------


class YieldForm(ConsoleForm):
    """A yield report as its form has it: photo addresses separated by spaces (the
    request guard refuses line breaks in form values)."""

    actual_yield_kg: str = ""
    harvested_on: str = ""
    photo_urls: str = ""
    slip_number: str = ""
    note: str = ""


def _farmers_work(
    request: Request, session: DbSession, work_id: str, csrf_token: str | None = None
) -> tuple[ConsolePage, Work]:
    page = open_page(request, session, csrf_token=csrf_token)
    if page.signed_in.caller.role is not Role.farmer:
        raise Forbidden()
    farmer = farmer_profile_of(session, page.signed_in.caller)
    work = session.get(Work, parse_id(work_id))
    if farmer is None or work is None or work.farmer_id != farmer.id:
        raise NotFound("Work")
    return page, work


def _harvest_page(
    page: ConsolePage,
    session: DbSession,
    work: Work,
    form: dict[str, str],
    errors: FormErrors,
    filed: bool = False,
) -> Response:
    read = harvest.harvest_read(session, work.id)
    reports = harvest.report_reads(
        session, harvest.list_reports(session, page.signed_in.caller, work.id)
    )
    return page.render(
        "farmer/harvest.html",
        work=work,
        harvest=read,
        reports=reports,
        form=form,
        errors=errors,
        percent=percent,
        kg_of_go=kg_of_go,
        filed=filed,
        status_code=422 if errors else 200,
    )


@router.get("/console/farmer/works/{work_id}/harvest")
def work_harvest(request: Request, session: DbSession, work_id: str, filed: Text = "") -> Response:
    """The work's harvest, its reports and the form to file one (``filed=1``: just filed)."""
    page, work = _farmers_work(request, session, work_id)
    form = YieldForm(harvested_on=min(japan_today().isoformat(), f"{work.season}-12-31"))
    return _harvest_page(page, session, work, form.fields(), {}, filed=filed == "1")


def _report_values(form: dict[str, str]) -> dict[str, Any]:
    return {
        "actual_yield_kg": form["actual_yield_kg"].strip().replace(",", ""),
        "harvested_on": form["harvested_on"].strip(),
        "photo_urls": form["photo_urls"].split(),
        "slip_number": form["slip_number"].strip() or None,
        "note": form["note"],
    }


@router.post("/console/farmer/works/{work_id}/harvest")
def file_yield(
    request: Request, session: DbSession, work_id: str, posted: Annotated[YieldForm, Form()]
) -> Response:
    page, work = _farmers_work(request, session, work_id, posted.csrf_token)
    form = posted.fields()
    try:
        body = YieldReportCreate.model_validate(_report_values(form))
        harvest.file_report(session, page.signed_in.caller, work.id, body)
    except ValidationError as invalid:
        return _harvest_page(page, session, work, form, form_errors(invalid, page.language))
    except KokudakaError as refused:
        session.rollback()
        return _harvest_page(page, session, work, form, {"": [page.error_text(refused)]})
    return redirect(f"/console/farmer/works/{work.id}/harvest?filed=1", request)


# The town's countersignatures -------------------------------------------------------


def _town_page(request: Request, session: DbSession, csrf_token: str | None = None) -> ConsolePage:
    page = open_page(request, session, csrf_token=csrf_token)
    caller = page.signed_in.caller
    if caller.role is not Role.town_admin or caller.municipality_id is None:
        raise Forbidden()
    return page


def _queue(
    page: ConsolePage,
    session: DbSession,
    error: str | None = None,
    done: str = "",
    season: int | None = None,
) -> Response:
    caller = page.signed_in.caller
    assert caller.municipality_id is not None
    this = current_season()
    chosen = season if season is not None and MIN_SEASON <= season <= MAX_SEASON else this
    # The season's harvested works, each with the rice its farmer owes.
    settled = town_harvested_works(session, caller.municipality_id, chosen)
    reports = harvest.reports_awaiting(session, caller.municipality_id)
    work_ids = {r.work_id for r in reports}
    rows = session.execute(
        select(Work, Farmer.name)
        .join(Farmer, Farmer.id == Work.farmer_id)
        .where(Work.id.in_(work_ids))
    ).all()
    works = {work.id: (work, name) for work, name in rows}
    reads = harvest.report_reads(session, reports)
    items = [
        {
            "report": read,
            "work": works[report.work_id][0],
            "farmer_name": works[report.work_id][1],
            "ratio": percent(
                read.actual_yield.go * 10_000 // works[report.work_id][0].planned_yield_go
            ),
            "own": report.filed_by_id == caller.id,
        }
        for report, read in zip(reports, reads, strict=True)
    ]
    return page.render(
        "town/harvest.html",
        items=items,
        settled=settled,
        season=chosen,
        seasons=sorted({this - 2, this - 1, this, chosen}, reverse=True),
        kg_of_go=kg_of_go,
        error=error,
        done=done if done in ("countersigned", "rejected") else "",
        status_code=409 if error else 200,
    )


@router.get("/console/town/harvest")
def awaiting_countersignature(
    request: Request, session: DbSession, done: Text = "", season: Text = ""
) -> Response:
    """The town's reports awaiting countersignature (``done``: what was just done), and the
    season's harvested works with their settlement."""
    page = _town_page(request, session)
    return _queue(page, session, done=done, season=parse_int(season))


def _reviewed(
    request: Request, session: DbSession, report_id: str, csrf_token: str, reason: str | None
) -> Response:
    page = _town_page(request, session, csrf_token)
    report = session.get(YieldReport, parse_id(report_id))
    if report is None:
        raise NotFound("Yield report")
    try:
        if reason is None:
            harvest.countersign(session, page.signed_in.caller, report.id)
            done = "countersigned"
        else:
            body = YieldReportReject.model_validate({"reason": reason.strip()})
            harvest.reject(session, page.signed_in.caller, report.id, body.reason)
            done = "rejected"
    except ValidationError as invalid:
        messages = form_errors(invalid, page.language)
        return _queue(page, session, " ".join(m for ms in messages.values() for m in ms))
    except KokudakaError as refused:
        session.rollback()
        return _queue(page, session, page.error_text(refused))
    return redirect(f"/console/town/harvest?done={done}", request)


@router.post("/console/town/yield-reports/{report_id}/countersign")
def countersign_report(
    request: Request, session: DbSession, report_id: str, csrf_token: FormText = ""
) -> Response:
    return _reviewed(request, session, report_id, csrf_token, None)


@router.post("/console/town/yield-reports/{report_id}/reject")
def reject_report(
    request: Request,
    session: DbSession,
    report_id: str,
    csrf_token: FormText = "",
    reason: FormText = "",
) -> Response:
    return _reviewed(request, session, report_id, csrf_token, reason)
