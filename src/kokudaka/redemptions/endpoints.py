"""Redeeming rice bills: ``/v1/bills/{id}/redemptions``, ``/v1/redemptions/{id}/...``,
the lists, and the farmer's delivery ledger."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from starlette.responses import Response

from kokudaka.auth.caller import Caller
from kokudaka.auth.dependencies import AppSettings, CurrentUser, Supporter, require_roles
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.i18n import negotiate_language
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.investments.endpoints import IdempotencyKey
from kokudaka.models import RedemptionState, Role
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON
from kokudaka.redemptions import delivery, listing, service
from kokudaka.redemptions.schemas import (
    DeliveryLedger,
    RedemptionCreate,
    RedemptionRead,
    RedemptionRefuse,
    RedemptionShip,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["redemptions"])

Paging = Annotated[PageParams, Depends(page_params)]
Shipper = Annotated[Caller, Depends(require_roles(Role.farmer, Role.town_admin))]
Season = Annotated[int, Query(ge=MIN_SEASON, le=MAX_SEASON, examples=[2026])]

_NOT_VISIBLE = "`not_found`: no such redemption, or not the caller's to see"
_NOT_REQUESTED = "`redemption_not_requested`: already shipped, received, cancelled or refused"
_NOT_THE_SHIPPER = "`forbidden`: only the work's farmer or their town's administrators may"
_NOT_THE_SUPPORTER = "`forbidden`: only the supporter who asked for it may"


@router.post(
    "/v1/bills/{bill_id}/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionRead,
    summary="Redeem rice for part or all of a bill (its holder; needs an Idempotency-Key)",
    responses={
        404: {"description": "`not_found`: no bill of the caller's with this id"},
        409: {
            "description": "`bill_insufficient`: less is left of the bill than asked "
            "(`remaining_go` says how much); `bills_expired`: the town's bills for the season "
            "have expired"
        },
        422: {"description": "Invalid body or address, or the key was used with another body"},
    },
)
def request_redemption(
    bill_id: uuid.UUID,
    body: RedemptionCreate,
    session: DbSession,
    settings: AppSettings,
    supporter: Supporter,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Ask the work's farmer for `amount_go` 合 of rice (150 g each) from one of the caller's
    rice bills, delivered to an address in Japan or picked up at the farm.

    The 合 are held at once, so the bill can never be redeemed past what is left, whatever
    requests run at the same time. The address is stored encrypted and shown only to the
    caller, the work's farmer and their town's administrators, and erased some time after the
    redemption is closed (the town's retention period, 90 days unless it sets otherwise).

    Send a fresh `Idempotency-Key` per intended redemption and reuse it on retries: a retry
    with the same key and body answers with the first result (header `Idempotent-Replayed:
    true`) and holds nothing more.
    """
    code, payload, replayed = service.request_redemption(
        session, settings, supporter, bill_id, body, idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payload, status_code=code, headers=headers)


@router.get(
    "/v1/redemptions/{redemption_id}",
    summary="One redemption (its supporter, the work's farmer, their town)",
    responses={404: {"description": _NOT_VISIBLE}},
)
def get_redemption(
    redemption_id: uuid.UUID, session: DbSession, settings: AppSettings, user: CurrentUser
) -> RedemptionRead:
    """One redemption with its state, and its address while it is kept. Visible to the
    supporter who asked for it, the work's farmer and their town's administrators; to anyone
    else it does not exist (404).
    """
    redemption = service.visible_redemption(session, user, redemption_id)
    return service.read(session, settings, redemption)


@router.post(
    "/v1/redemptions/{redemption_id}/cancel",
    summary="Cancel a redemption not yet shipped (its supporter)",
    responses={
        403: {"description": _NOT_THE_SUPPORTER},
        404: {"description": _NOT_VISIBLE},
        409: {"description": _NOT_REQUESTED},
    },
)
def cancel_redemption(
    redemption_id: uuid.UUID, session: DbSession, settings: AppSettings, user: CurrentUser
) -> RedemptionRead:
    """Withdraw a redemption that is still `requested`: its 合 go back to the bill."""
    return service.read(session, settings, service.cancel(session, user, redemption_id))


@router.post(
    "/v1/redemptions/{redemption_id}/refuse",
    summary="Refuse a redemption with a reason (the work's farmer or their town)",
    responses={
        403: {"description": _NOT_THE_SHIPPER},
        404: {"description": _NOT_VISIBLE},
        409: {"description": _NOT_REQUESTED},
    },
)
def refuse_redemption(
    redemption_id: uuid.UUID,
    body: RedemptionRefuse,
    session: DbSession,
    settings: AppSettings,
    user: CurrentUser,
) -> RedemptionRead:
    """Refuse a redemption that is still `requested`, with a reason the supporter sees: its
    合 go back to the bill. Logged in the staff audit log (without the address).
    """
    redemption = service.refuse(session, user, redemption_id, body.reason)
    return service.read(session, settings, redemption)


@router.post(
    "/v1/redemptions/{redemption_id}/ship",
    summary="Mark a redemption shipped (the work's farmer or their town)",
    responses={
        403: {"description": _NOT_THE_SHIPPER},
        404: {"description": _NOT_VISIBLE},
        409: {"description": _NOT_REQUESTED},
    },
)
def ship_redemption(
    redemption_id: uuid.UUID,
    body: RedemptionShip,
    session: DbSession,
    settings: AppSettings,
    user: CurrentUser,
) -> RedemptionRead:
    """Record that the rice was sent (carrier, tracking number, kilograms) or handed over at
    the farm. Its 合 are burned: from the ledger now, on the chain after commit (a bill burn
    referenced by the redemption), exactly once however often it is sent. Logged in the
    staff audit log (without the address).
    """
    redemption = service.ship(session, user, redemption_id, body)
    return service.read(session, settings, redemption)


@router.post(
    "/v1/redemptions/{redemption_id}/receive",
    summary="Confirm the rice arrived (its supporter)",
    responses={
        403: {"description": _NOT_THE_SUPPORTER},
        404: {"description": _NOT_VISIBLE},
        409: {"description": "`redemption_not_shipped`: not shipped, or already received"},
    },
)
def receive_redemption(
    redemption_id: uuid.UUID, session: DbSession, settings: AppSettings, user: CurrentUser
) -> RedemptionRead:
    """Confirm receipt of a shipped redemption. Without it, a redemption counts as received
    14 days after shipping.
    """
    return service.read(session, settings, service.receive(session, user, redemption_id))


@router.get("/v1/me/redemptions", summary="My redemptions, newest first")
def my_redemptions(
    session: DbSession, settings: AppSettings, user: CurrentUser, paging: Paging
) -> Page[RedemptionRead]:
    """The caller's redemptions of their rice bills, newest first and paged, in every state,
    with their addresses while they are kept.
    """
    return listing.my_redemptions(session, settings, user, paging)


@router.get(
    "/v1/farmer/redemptions",
    summary="Redemptions to ship, oldest first (farmers; town administrators for their town)",
)
def redemptions_to_ship(
    session: DbSession,
    settings: AppSettings,
    user: Shipper,
    paging: Paging,
    work_id: Annotated[uuid.UUID | None, Query(description="Only this work.")] = None,
    state: Annotated[RedemptionState | None, Query(description="Only this state.")] = None,
) -> Page[RedemptionRead]:
    """A farmer's redemptions on their works (a town administrator's: every work of the
    town), oldest first so the longest waiting comes first, with the delivery addresses to
    ship to. `state=requested` lists what is left to ship.
    """
    filters = listing.ShippingFilters(work_id=work_id, state=state)
    return listing.to_ship(session, settings, user, filters, paging)


@router.get("/v1/farmer/deliveries", summary="The delivery ledger of a season (farmers, towns)")
def deliveries(session: DbSession, user: Shipper, season: Season) -> DeliveryLedger:
    """Per harvested work of the season (a farmer's, or every work of a town administrator's
    town), and per supporter: bills issued, rice still owed (`outstanding` = not yet asked
    for + requested and held), requested, shipped, received and refused, in 合 and kg.
    """
    return delivery.delivery_ledger(session, user, season)


@router.get(
    "/v1/farmer/deliveries.csv",
    summary="The delivery ledger as a CSV file (farmers, towns)",
    response_class=Response,
    responses={
        200: {
            "description": "CSV, one row per supporter and work. Japanese columns: "
            + ", ".join(delivery.CSV_COLUMNS_JA)
            + ". English columns: "
            + ", ".join(delivery.CSV_COLUMNS),
            "content": {
                "text/csv": {"example": "\ufeff" + ",".join(delivery.CSV_COLUMNS_JA) + "\r\n"}
            },
        }
    },
)
def deliveries_csv(request: Request, session: DbSession, user: Shipper, season: Season) -> Response:
    """The delivery ledger's supporter lines, as the issuance export is made: UTF-8 with a
    byte order mark, CRLF, names beside the amounts, times in Japan time. Japanese headers
    by default, English with `Accept-Language: en`. No addresses.
    """
    language = negotiate_language(request.headers.get("accept-language"))
    return delivery.delivery_csv(session, user, season, language)
