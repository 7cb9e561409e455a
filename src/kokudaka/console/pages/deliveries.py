"""Rice for bills in the console: the redemptions a farmer (or their town) has to ship,
shipping or refusing one, and the delivery ledger of a season with its CSV.

Every read and write goes through :mod:`kokudaka.redemptions` (``listing``, ``service``,
``delivery``) with the signed-in person as the caller, so who sees a redemption and its
address, and who may ship or refuse it, is the API's rule: the work's farmer, or an
administrator of its town (``Shipper``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.console.forms import ConsoleForm, form_errors
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
from kokudaka.core.errors import Forbidden, KokudakaError, NotFound
from kokudaka.core.pagination import PageParams, decode_cursor
from kokudaka.farmers import service as farmers
from kokudaka.harvest.yields import kg_of_go
from kokudaka.models import RedemptionState, Role, Work
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON
from kokudaka.municipalities.service import current_season
from kokudaka.redemptions import delivery, listing, service
from kokudaka.redemptions.schemas import RedemptionRefuse, RedemptionShip
from kokudaka.works import service as works

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
FormText = Annotated[str, Form(max_length=4000)]
PAGE = 50
#: The shipping list opens on what is left to ship; ``all`` lists every state.
DEFAULT_STATE = RedemptionState.requested.value
ALL_STATES = "all"
#: The label of each field the API's request models check, for their messages.
_FIELD_LABELS = {
    "shipped_kg": "delivery_shipped_kg",
    "carrier": "delivery_carrier",
    "tracking_number": "delivery_tracking_number",
    "reason": "delivery_refusal_reason",
}


@dataclass(frozen=True, slots=True)
class Side:
    """Whose pages: a farmer's (their works) or a town administrator's (the town's)."""

    role: Role
    base: str


FARMER = Side(Role.farmer, "/console/farmer")
TOWN = Side(Role.town_admin, "/console/town")


def _page(
    request: Request, session: DbSession, side: Side, csrf_token: str | None = None
) -> ConsolePage:
    page = open_page(request, session, csrf_token=csrf_token)
    caller = page.signed_in.caller
    if caller.role is not side.role:
        raise Forbidden()
    if side is FARMER and farmer_profile_of(session, caller) is None:
        raise Forbidden()
    if side is TOWN and caller.municipality_id is None:
        raise Forbidden()
    return page


def _works(page: ConsolePage, side: Side) -> list[Work]:
    """The works the caller ships for: a farmer's own, or every work of the town."""
    caller = page.signed_in.caller
    farmer = farmer_profile_of(page.session, caller) if side is FARMER else None
    return list(
        works.list_works(
            page.session,
            PageParams(limit=200, cursor=None),
            municipality_id=caller.municipality_id if side is TOWN else None,
            farmer_id=farmer.id if farmer is not None else None,
            variety=None,
            season=None,
            is_open=None,
        )
    )


def _farmer_names(page: ConsolePage, side: Side) -> dict[uuid.UUID, str]:
    """Farmers' names by id, for a town's pages (a farmer's pages are all their own)."""
    if side is not TOWN:
        return {}
    found = farmers.list_farmers(
        page.session,
        PageParams(limit=200, cursor=None),
        municipality_id=page.signed_in.caller.municipality_id,
        variety=None,
        q=None,
    )
    return {farmer.id: farmer.name for farmer in found}


def _season(value: str) -> int:
    chosen = parse_int(value)
    return chosen if chosen is not None and MIN_SEASON <= chosen <= MAX_SEASON else current_season()


# What to ship -----------------------------------------------------------------------


def _shipping_filters(work: str, state: str, choices: list[Work]) -> listing.ShippingFilters:
    work_id = None
    if work:
        work_id = parse_id(work)
        if work_id not in {w.id for w in choices}:
            raise NotFound("Work")
    chosen = RedemptionState(state) if state in RedemptionState.__members__ else None
    return listing.ShippingFilters(work_id=work_id, state=chosen)


def _shipping_page(
    page: ConsolePage,
    side: Side,
    *,
    work: str = "",
    state: str = DEFAULT_STATE,
    cursor: str = "",
    done: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    choices = _works(page, side)
    filters = _shipping_filters(work, state, choices)
    params = PageParams(limit=PAGE, cursor=decode_cursor(cursor) if cursor else None)
    found = listing.to_ship(page.session, page.settings, page.signed_in.caller, filters, params)
    query = {"work": work, "state": state}
    return page.render(
        "farmer/shipping.html",
        items=found.items,
        next_cursor=found.next_cursor,
        works=choices,
        filters=query,
        states=[s.value for s in RedemptionState],
        all_states=ALL_STATES,
        query=urlencode({name: value for name, value in query.items() if value}),
        base=side.base,
        farmer_names=_farmer_names(page, side),
        done=done if done in ("shipped", "refused") else "",
        error=error,
        status_code=status_code,
    )


@router.get("/console/farmer/shipping")
def farmer_shipping(
    request: Request,
    session: DbSession,
    work: Text = "",
    state: Text = DEFAULT_STATE,
    cursor: Text = "",
    done: Text = "",
) -> Response:
    """The farmer's redemptions, oldest first (``state=requested``: left to ship)."""
    page = _page(request, session, FARMER)
    return _shipping_page(page, FARMER, work=work, state=state, cursor=cursor, done=done)


@router.get("/console/town/shipping")
def town_shipping(
    request: Request,
    session: DbSession,
    work: Text = "",
    state: Text = DEFAULT_STATE,
    cursor: Text = "",
    done: Text = "",
) -> Response:
    """Every redemption on the town's works, oldest first."""
    page = _page(request, session, TOWN)
    return _shipping_page(page, TOWN, work=work, state=state, cursor=cursor, done=done)


class ShipForm(ConsoleForm):
    """A shipment as its form has it: the kilograms as typed."""

    shipped_kg: str = ""
    carrier: str = ""
    tracking_number: str = ""


def _invalid_text(page: ConsolePage, invalid: ValidationError) -> str:
    return " ".join(
        f"{page.t(_FIELD_LABELS[name])}: {text}" if name in _FIELD_LABELS else text
        for name, texts in form_errors(invalid, page.language).items()
        for text in texts
    )


def _acted(
    page: ConsolePage,
    side: Side,
    redemption_id: uuid.UUID,
    done: str,
    error: tuple[str, int] | None,
    form: dict[str, str] | None = None,
) -> Response:
    """After shipping or refusing: the row alone for htmx (with the error in it), else
    the list again, with the error at its top and the request's status."""
    if page.request.headers.get("HX-Request") != "true":
        if error is None:
            return redirect(f"{side.base}/shipping?done={done}", page.request)
        return _shipping_page(page, side, error=error[0], status_code=error[1])
    redemption = service.visible_redemption(page.session, page.signed_in.caller, redemption_id)
    item = service.read(page.session, page.settings, redemption)
    return page.render(
        "farmer/_redemption_row.html",
        item=item,
        base=side.base,
        farmer_name=_farmer_names(page, side).get(item.farmer_id),
        form=form or {},
        error=None if error is None else error[0],
    )


def _ship(
    request: Request, session: DbSession, side: Side, redemption_id: str, posted: ShipForm
) -> Response:
    page = _page(request, session, side, posted.csrf_token)
    caller = page.signed_in.caller
    # Someone else's redemption is a page that does not exist, as in the API.
    key = service.visible_redemption(session, caller, parse_id(redemption_id)).id
    try:
        body = RedemptionShip.model_validate(
            {
                "shipped_kg": posted.shipped_kg.strip().replace(",", ""),
                "carrier": posted.carrier.strip() or None,
                "tracking_number": posted.tracking_number.strip() or None,
            }
        )
        service.ship(session, caller, key, body)
    except ValidationError as invalid:
        return _acted(page, side, key, "", (_invalid_text(page, invalid), 422), posted.fields())
    except KokudakaError as refused:
        session.rollback()
        failure = (page.error_text(refused), refused.status)
        return _acted(page, side, key, "", failure, posted.fields())
    return _acted(page, side, key, "shipped", None)


def _refuse(
    request: Request,
    session: DbSession,
    side: Side,
    redemption_id: str,
    csrf_token: str,
    reason: str,
) -> Response:
    page = _page(request, session, side, csrf_token)
    caller = page.signed_in.caller
    key = service.visible_redemption(session, caller, parse_id(redemption_id)).id
    try:
        body = RedemptionRefuse.model_validate({"reason": reason.strip()})
        service.refuse(session, caller, key, body.reason)
    except ValidationError as invalid:
        return _acted(page, side, key, "", (_invalid_text(page, invalid), 422), {"reason": reason})
    except KokudakaError as refused:
        session.rollback()
        failure = (page.error_text(refused), refused.status)
        return _acted(page, side, key, "", failure, {"reason": reason})
    return _acted(page, side, key, "refused", None)


@router.post("/console/farmer/redemptions/{redemption_id}/ship")
def farmer_ship(
    request: Request, session: DbSession, redemption_id: str, posted: Annotated[ShipForm, Form()]
) -> Response:
    return _ship(request, session, FARMER, redemption_id, posted)


@router.post("/console/town/redemptions/{redemption_id}/ship")
def town_ship(
    request: Request, session: DbSession, redemption_id: str, posted: Annotated[ShipForm, Form()]
) -> Response:
    return _ship(request, session, TOWN, redemption_id, posted)


@router.post("/console/farmer/redemptions/{redemption_id}/refuse")
def farmer_refuse(
    request: Request,
    session: DbSession,
    redemption_id: str,
    csrf_token: FormText = "",
    reason: FormText = "",
) -> Response:
    return _refuse(request, session, FARMER, redemption_id, csrf_token, reason)


@router.post("/console/town/redemptions/{redemption_id}/refuse")
def town_refuse(
    request: Request,
    session: DbSession,
    redemption_id: str,
    csrf_token: FormText = "",
    reason: FormText = "",
) -> Response:
    return _refuse(request, session, TOWN, redemption_id, csrf_token, reason)


# The delivery ledger ----------------------------------------------------------------


def _ledger(request: Request, session: DbSession, side: Side, season: str) -> Response:
    page = _page(request, session, side)
    chosen = _season(season)
    ledger = delivery.delivery_ledger(session, page.signed_in.caller, chosen)
    return page.render(
        "farmer/deliveries.html" if side is FARMER else "town/deliveries.html",
        ledger=ledger,
        season=chosen,
        seasons=season_choices(chosen),
        base=side.base,
        kg_of_go=kg_of_go,
    )


def _ledger_csv(request: Request, session: DbSession, side: Side, season: str) -> Response:
    """The API's CSV of the ledger (BOM, Japan time, names), in the page's language."""
    page = _page(request, session, side)
    return delivery.delivery_csv(session, page.signed_in.caller, _season(season), page.language)


@router.get("/console/farmer/deliveries")
def farmer_deliveries(request: Request, session: DbSession, season: Text = "") -> Response:
    return _ledger(request, session, FARMER, season)


@router.get("/console/farmer/deliveries.csv")
def farmer_deliveries_csv(request: Request, session: DbSession, season: Text = "") -> Response:
    return _ledger_csv(request, session, FARMER, season)


@router.get("/console/town/deliveries")
def town_deliveries(request: Request, session: DbSession, season: Text = "") -> Response:
    return _ledger(request, session, TOWN, season)


@router.get("/console/town/deliveries.csv")
def town_deliveries_csv(request: Request, session: DbSession, season: Text = "") -> Response:
    return _ledger_csv(request, session, TOWN, season)
