"""The town administrator's pages: the season's dashboard, payments to confirm, farmers,
the season's policy and the issuances with their CSV.

A town administrator acts only in their own town: every page reads and writes it
through the API's services with the administrator as the caller, so another town's
objects are refused by the same rules (404 for what belongs to a person).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response, StreamingResponse

from kokudaka.audit import service as audit
from kokudaka.audit.schemas import IssuanceFilters
from kokudaka.console import population, stats
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
from kokudaka.core.pagination import PageParams, decode_cursor
from kokudaka.farmers import service as farmers
from kokudaka.farmers.schemas import FarmerCreate, FarmerUpdate
from kokudaka.investments import listing
from kokudaka.investments import service as investments
from kokudaka.models import (
    Farmer,
    InvestmentStatus,
    IssuanceKind,
    Municipality,
    Role,
    User,
    Work,
)
from kokudaka.municipalities import service as municipalities
from kokudaka.municipalities.schemas import PolicyUpdate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
FormText = Annotated[str, Form(max_length=4000)]
PAGE = 100


def town_page(
    request: Request, session: Session, csrf_token: str | None = None
) -> tuple[ConsolePage, Municipality]:
    page = open_page(request, session, csrf_token=csrf_token)
    caller = page.signed_in.caller
    if caller.role is not Role.town_admin or caller.municipality_id is None:
        raise Forbidden()
    return page, municipalities.get_municipality(session, caller.municipality_id)


def _season(value: str | None) -> int:
    return parse_int(value) or municipalities.current_season()


# Dashboard --------------------------------------------------------------------------


@router.get("/console/town")
def dashboard(request: Request, session: DbSession, season: Text = "") -> Response:
    page, town = town_page(request, session)
    chosen = _season(season)
    try:
        policy = municipalities.get_policy(session, town.id, chosen)
    except NotFound:
        policy = None
    weekly = stats.town_weekly(session, [town.id], chosen)
    return page.render(
        "town/dashboard.html",
        town=town,
        season=chosen,
        seasons=season_choices(chosen, ahead=True),
        policy=policy,
        cap_used_percent=stats.percent(policy.issued_go, policy.yearly_cap_go) if policy else None,
        weekly=weekly.as_chart(),
        by_kind=stats.by_kind_chart(weekly),
        chain=stats.chain_states(session, [town.id]),
        last_reconciliation=stats.last_reconciliation(request.app, [town.id]),
        **population.page_context(session, [town.id], chosen),
    )


# Payments awaiting confirmation -----------------------------------------------------


@router.get("/console/town/payments")
def payments(request: Request, session: DbSession, q: Text = "") -> Response:
    page, _ = town_page(request, session)
    pending = listing.list_investments(
        session,
        page.signed_in.caller,
        listing.InvestmentFilters(status=InvestmentStatus.pending_payment, q=q.strip() or None),
        PageParams(limit=PAGE, cursor=None),
    )
    return page.render("town/payments.html", pending=pending.items, q=q)


@router.post("/console/town/payments/{investment_id}/confirm")
def confirm_payment(
    request: Request,
    session: DbSession,
    investment_id: str,
    csrf_token: FormText = "",
    payment_reference: FormText = "",
) -> Response:
    """Record the payment received, with its reference (a bank transfer's number), and
    issue the KOKU: the API's confirmation, by the same service."""
    page, _ = town_page(request, session, csrf_token)
    key = parse_id(investment_id)
    error: str | None = None
    try:
        reference = payment_reference.strip()
        if not reference:
            raise Unprocessable("validation_error")
        investments.confirm_by_admin(session, page.signed_in.caller, key, reference)
    except KokudakaError as refused:
        session.rollback()
        if request.headers.get("HX-Request") != "true":
            raise
        error = page.error_text(refused)
    if request.headers.get("HX-Request") != "true":
        return redirect("/console/town/payments", request)
    investment = investments.visible_investment(session, page.signed_in.caller, key)
    return page.render(
        "town/_payment_row.html",
        item=investments.to_read(session, investment),
        supporter_name=_name_of(session, investment.supporter_id),
        work_title=_title_of(session, investment.work_id),
        error=error,
    )


def _name_of(session: Session, user_id: uuid.UUID) -> str:
    user = session.get(User, user_id)
    return user.display_name if user else ""


def _title_of(session: Session, work_id: uuid.UUID) -> str:
    work = session.get(Work, work_id)
    return work.title if work else ""


# Issuances --------------------------------------------------------------------------


def _issuance_filters(town: Municipality, season: str, kind: str, farmer: str) -> IssuanceFilters:
    return IssuanceFilters(
        municipality_id=town.id,
        season=parse_int(season),
        kind=IssuanceKind(kind) if kind in IssuanceKind.__members__ else None,
        farmer_id=parse_id(farmer) if farmer else None,
    )


@router.get("/console/town/issuances")
def issuances(
    request: Request,
    session: DbSession,
    season: Text = "",
    kind: Text = "",
    farmer: Text = "",
    cursor: Text = "",
) -> Response:
    page, town = town_page(request, session)
    filters = _issuance_filters(town, season, kind, farmer)
    params = PageParams(limit=PAGE, cursor=decode_cursor(cursor) if cursor else None)
    found = audit.list_issuances(session, page.signed_in.caller, filters, params)
    query = {"season": season, "kind": kind, "farmer": farmer}
    return page.render(
        "town/issuances.html",
        rows=found.items,
        next_cursor=found.next_cursor,
        filters=query,
        seasons=season_choices(municipalities.current_season(), ahead=True),
        farmers=_town_farmers(session, town),
        query="&".join(f"{name}={value}" for name, value in query.items() if value),
    )


@router.get("/console/town/issuances.csv")
def issuances_csv(
    request: Request, session: DbSession, season: Text = "", kind: Text = "", farmer: Text = ""
) -> Response:
    """The accounting office's CSV: the API's export (same columns, BOM, Japan time)."""
    page, town = town_page(request, session)
    filters = _issuance_filters(town, season, kind, farmer)
    conditions = audit.scoped_conditions(session, page.signed_in.caller, filters)
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return StreamingResponse(
        audit.export_csv(factory, conditions, page.language),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="issuances.csv"',
            "Content-Language": page.language,
        },
    )


# Farmers ----------------------------------------------------------------------------


def _town_farmers(session: Session, town: Municipality) -> list[Farmer]:
    return list(
        farmers.list_farmers(
            session,
            PageParams(limit=200, cursor=None),
            municipality_id=town.id,
            variety=None,
            q=None,
        )
    )


@router.get("/console/town/farmers")
def farmer_list(request: Request, session: DbSession, q: Text = "") -> Response:
    page, town = town_page(request, session)
    found = farmers.list_farmers(
        session,
        PageParams(limit=200, cursor=None),
        municipality_id=town.id,
        variety=None,
        q=q.strip() or None,
    )
    return page.render("town/farmers.html", farmers=found, q=q)


class FarmerEditForm(ConsoleForm):
    """A farmer's profile as its form has it: varieties typed in one line."""

    name: str = ""
    farm_name: str = ""
    story: str = ""
    varieties: str = ""

    def body(self) -> dict[str, Any]:
        """The API's request body: the varieties as a list."""
        return {**self.fields(), "varieties": _varieties(self.varieties)}


class FarmerForm(FarmerEditForm):
    """A new farmer: the account's email and first password, and the profile."""

    email: str = ""
    password: str = ""

    def fields(self) -> dict[str, str]:
        """What the form shows again: a password is never sent back to the browser."""
        return super().fields() | {"password": ""}

    def body(self) -> dict[str, Any]:
        return super().body() | {"password": self.password}


def _farmer_form(
    page: ConsolePage, farmer: Farmer | None, form: dict[str, str], errors: FormErrors | None
) -> Response:
    return page.render(
        "town/farmer_form.html",
        farmer=farmer,
        form=form,
        errors=errors or {},
        status_code=422 if errors else 200,
    )


def _varieties(text: str) -> list[str]:
    """Varieties typed one per line or separated by commas (、 as well)."""
    parts = text.replace("、", ",").replace("\n", ",").split(",")
    return [part.strip() for part in parts if part.strip()]


@router.get("/console/town/farmers/new")
def new_farmer(request: Request, session: DbSession) -> Response:
    page, _ = town_page(request, session)
    return _farmer_form(page, None, FarmerForm().fields(), None)


@router.post("/console/town/farmers/new")
def register_farmer(
    request: Request, session: DbSession, posted: Annotated[FarmerForm, Form()]
) -> Response:
    """The farmer's account and profile in the administrator's town (the API's rule)."""
    page, _ = town_page(request, session, posted.csrf_token)
    form = posted.fields()
    try:
        body = FarmerCreate.model_validate(posted.body())
        farmers.create_farmer(session, page.settings, page.signed_in.caller, body)
    except ValidationError as invalid:
        return _farmer_form(page, None, form, form_errors(invalid, page.language))
    except KokudakaError as refused:
        session.rollback()
        return _farmer_form(page, None, form, {"": [page.error_text(refused)]})
    return redirect("/console/town/farmers", request)


def _own_farmer(session: Session, town: Municipality, farmer_id: str) -> Farmer:
    farmer = session.get(Farmer, parse_id(farmer_id))
    if farmer is None or farmer.municipality_id != town.id:
        raise NotFound("Farmer")
    return farmer


@router.get("/console/town/farmers/{farmer_id}")
def edit_farmer(request: Request, session: DbSession, farmer_id: str) -> Response:
    page, town = town_page(request, session)
    farmer = _own_farmer(session, town, farmer_id)
    form = FarmerEditForm(
        name=farmer.name,
        farm_name=farmer.farm_name,
        story=farmer.story,
        varieties="、".join(farmer.varieties),
    )
    return _farmer_form(page, farmer, form.fields(), None)


@router.post("/console/town/farmers/{farmer_id}")
def update_farmer(
    request: Request, session: DbSession, farmer_id: str, posted: Annotated[FarmerEditForm, Form()]
) -> Response:
    page, town = town_page(request, session, posted.csrf_token)
    farmer = _own_farmer(session, town, farmer_id)
    form = posted.fields()
    try:
        body = FarmerUpdate.model_validate(posted.body())
        farmers.update_farmer(session, page.signed_in.caller, farmer.id, body)
    except ValidationError as invalid:
        return _farmer_form(page, farmer, form, form_errors(invalid, page.language))
    return redirect("/console/town/farmers", request)


# The season's policy ----------------------------------------------------------------


class PolicyForm(ConsoleForm):
    """A season's policy as its form has it: the yearly cap in KOKU (kept in go), the
    harvest ceiling in whole percent (kept in basis points), dates as YYYY-MM-DD."""

    season: str = ""
    price_yen_per_go: str = ""
    volunteer_go_per_hour: str = ""
    yearly_cap_koku: str = ""
    harvest_ceiling_percent: str = "120"
    bills_expire_on: str = ""
    boards_close_on: str = ""


def _percent_text(bp: int) -> str:
    return str(bp // 100) if bp % 100 == 0 else f"{bp // 100}.{bp % 100:02d}"


@router.get("/console/town/policy")
def policy_page(
    request: Request, session: DbSession, season: Text = "", saved: Text = ""
) -> Response:
    page, town = town_page(request, session)
    chosen = _season(season)
    try:
        policy = municipalities.get_policy(session, town.id, chosen)
        form = PolicyForm(
            price_yen_per_go=str(policy.price_yen_per_go),
            volunteer_go_per_hour=str(policy.volunteer_go_per_hour),
            yearly_cap_koku=str(policy.yearly_cap_go // 1000),
            harvest_ceiling_percent=_percent_text(policy.harvest_ceiling_bp),
            bills_expire_on=policy.bills_expire_on.isoformat() if policy.bills_expire_on else "",
            boards_close_on=policy.boards_close_on.isoformat() if policy.boards_close_on else "",
        )
    except NotFound:
        policy = None
        form = PolicyForm()
    return _policy_form(page, chosen, policy is not None, form.fields(), None)


def _policy_form(
    page: ConsolePage, season: int, exists: bool, form: dict[str, str], errors: FormErrors | None
) -> Response:
    return page.render(
        "town/policy.html",
        season=season,
        seasons=season_choices(season, ahead=True),
        exists=exists,
        form=form,
        errors=errors or {},
        saved=page.request.method == "GET" and page.request.query_params.get("saved") == "1",
        status_code=422 if errors else 200,
    )


@router.post("/console/town/policy")
def save_policy(
    request: Request,
    session: DbSession,
    posted: Annotated[PolicyForm, Form()],
) -> Response:
    """The season's price, volunteer rate and yearly cap (entered in KOKU, kept in go)."""
    page, town = town_page(request, session, posted.csrf_token)
    chosen = _season(posted.season)
    form = posted.fields()
    cap = whole_number(posted.yearly_cap_koku)
    ceiling = whole_number(posted.harvest_ceiling_percent)
    values = {
        "season": chosen,
        "price_yen_per_go": whole_number(posted.price_yen_per_go),
        "volunteer_go_per_hour": whole_number(posted.volunteer_go_per_hour),
        "yearly_cap_go": cap * 1000 if isinstance(cap, int) else cap,
        "harvest_ceiling_bp": ceiling * 100 if isinstance(ceiling, int) else ceiling,
        "bills_expire_on": posted.bills_expire_on.strip() or None,
        "boards_close_on": posted.boards_close_on.strip() or None,
    }
    try:
        body = PolicyUpdate.model_validate(values)
        municipalities.put_policy(session, page.signed_in.caller, town.id, body)
    except ValidationError as invalid:
        errors = form_errors(invalid, page.language)
        if "yearly_cap_go" in errors:
            errors["yearly_cap_koku"] = errors.pop("yearly_cap_go")
        if "harvest_ceiling_bp" in errors:
            errors["harvest_ceiling_percent"] = errors.pop("harvest_ceiling_bp")
        return _policy_form(page, chosen, False, form, errors)
    except KokudakaError as refused:
        session.rollback()
        return _policy_form(page, chosen, True, form, {"": [page.error_text(refused)]})
    return redirect(f"/console/town/policy?season={chosen}&saved=1", request)
