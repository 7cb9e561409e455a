"""``/v1/investments`` and ``/v1/payments/webhook``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from kokudaka.auth.dependencies import AppSettings, CurrentUser, Supporter, TownAdmin
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.pagination import Page, PageParams, page_params
from kokudaka.investments import listing, service
from kokudaka.investments.schemas import (
    InvestmentCreate,
    InvestmentListItem,
    InvestmentRead,
    PaymentConfirmation,
    PaymentWebhookEvent,
)
from kokudaka.models import InvestmentStatus
from kokudaka.municipalities.schemas import MAX_SEASON, MIN_SEASON

router = APIRouter(route_class=UnitOfWorkRoute, tags=["investments"])

Paging = Annotated[PageParams, Depends(page_params)]

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        # Printable ASCII: the key is stored, and a control character has no place in it.
        pattern=r"^[\x20-\x7e]+$",
        description="Unique per intended investment; a retry with the same key returns "
        "the first result and creates nothing new.",
        examples=["6f1c2f0e-4b8e-4f63-9d0c-1c1d2c3e4f50"],
    ),
]


@router.post(
    "/v1/investments",
    status_code=status.HTTP_201_CREATED,
    response_model=InvestmentRead,
    summary="Invest yen in an open work (needs an Idempotency-Key header)",
    responses={
        404: {"description": "`not_found`: no such work"},
        409: {
            "description": "Work closed, over-subscribed, the town has no policy, the "
            "amount buys no whole go at the season's price (`investment_too_small`), or "
            "`boards_closed`: the town's last day for boards of the work's season has passed, "
            "or `work_harvested`: the work's bills are issued"
        },
        422: {"description": "Invalid body, or the key was used with another body"},
    },
)
def create_investment(
    body: InvestmentCreate,
    session: DbSession,
    supporter: Supporter,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Invest yen in an open work, as a supporter.

    The yen are reserved against the work's offer and the town's yearly cap at once, and the
    investment waits for payment (`pending_payment`). When the town (or the payment provider's
    webhook) confirms the payment, ⌊yen ÷ price⌋ 合 are issued at the price quoted now, shown in the
    answer.

    Send a fresh `Idempotency-Key` per intended investment and reuse it on retries: a retry with the
    same key and body answers with the first result (header `Idempotent-Replayed: true`) and creates
    nothing new; the same key with another body is refused (422 `idempotency_key_reused`).
    """
    code, payload, replayed = service.create_investment(session, supporter, body, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payload, status_code=code, headers=headers)


@router.get(
    "/v1/investments",
    summary="Investments to confirm or follow, newest first (staff and farmers)",
    description="Town administrators see their town's investments (with "
    "`status=pending_payment`: the payments to confirm), regional auditors their "
    "region's (read-only), platform administrators every town's, a farmer those in "
    "their own works. Supporters are refused: theirs are at `/v1/me/investments`. "
    "`q` searches the supporter's name, and for staff their email.",
    responses={
        403: {
            "description": "A supporter, or a municipality outside the caller's scope",
            "content": {"application/problem+json": {}},
        }
    },
)
def list_investments(
    session: DbSession,
    user: CurrentUser,
    paging: Paging,
    status_filter: Annotated[
        InvestmentStatus | None, Query(alias="status", description="Only this status.")
    ] = None,
    municipality_id: Annotated[
        uuid.UUID | None, Query(description="Only this town (within your scope).")
    ] = None,
    work_id: Annotated[uuid.UUID | None, Query(description="Only this work.")] = None,
    season: Annotated[
        int | None,
        Query(ge=MIN_SEASON, le=MAX_SEASON, description="Only works of this season."),
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Words in the supporter's name or email."),
    ] = None,
) -> Page[InvestmentListItem]:
    filters = listing.InvestmentFilters(
        status=status_filter,
        municipality_id=municipality_id,
        work_id=work_id,
        season=season,
        q=q,
    )
    return listing.list_investments(session, user, filters, paging)


@router.get("/v1/investments/{investment_id}", summary="One investment")
def get_investment(
    investment_id: uuid.UUID, session: DbSession, user: CurrentUser
) -> InvestmentRead:
    """One investment, with its status and what was (or will be) issued for it in 合.

    Visible to its supporter, to its town's administrators and to auditors of its region; to anybody
    else it does not exist (404).
    """
    return service.to_read(session, service.visible_investment(session, user, investment_id))


@router.post(
    "/v1/investments/{investment_id}/confirm",
    summary="Record the payment received (town administrators); issues the KOKU",
)
def confirm_investment(
    investment_id: uuid.UUID, body: PaymentConfirmation, session: DbSession, admin: TownAdmin
) -> InvestmentRead:
    """Record that the payment of an investment was received, and issue its KOKU.

    For the town administrators of the investment's town. The investment must still be
    `pending_payment`; the KOKU (integer 合) goes to the supporter's ledger now and is minted on the
    chain after commit. A second confirmation is refused with 409, and so is a payment for an
    investment the harvest cancelled (`work_harvested`).
    """
    return service.confirm_by_admin(session, admin, investment_id, body.payment_reference)


@router.post(
    "/v1/investments/{investment_id}/cancel",
    summary="Cancel an investment that is still awaiting payment",
)
def cancel_investment(
    investment_id: uuid.UUID, session: DbSession, user: CurrentUser
) -> InvestmentRead:
    """Cancel an investment that is still awaiting payment.

    For its supporter or their town's administrators. The reserved yen go back to the work's offer
    and the reserved cap room to the town; nothing was issued, so nothing is reversed. An investment
    that is no longer `pending_payment` is refused with 409.
    """
    return service.to_read(session, service.cancel(session, user, investment_id))


async def verified_payment_event(
    request: Request,
    settings: AppSettings,
    signature: Annotated[str | None, Header(alias="Kokudaka-Signature", max_length=1000)] = None,
) -> PaymentWebhookEvent:
    """The provider's event, its signature checked against the raw body.

    A dependency, so that it runs before the request is admitted to the database
    (``UnitOfWorkRoute``): reading the body never holds a database slot.
    """
    raw = await request.body()
    service.verify_webhook_signature(
        settings.payment_webhook_secret,
        signature,
        raw,
        settings.payment_webhook_tolerance_seconds,
        datetime.now(UTC),
    )
    try:
        return PaymentWebhookEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from exc


@router.post(
    "/v1/payments/webhook",
    summary="Payment provider's signed notice that an investment was paid",
    description="Signed with `Kokudaka-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
    "'<t>.' + raw body>` using the shared secret `KOKUDAKA_PAYMENT_WEBHOOK_SECRET`. "
    "A replayed event id, a bad signature or a stale timestamp is refused.",
    responses={
        400: {"description": "`webhook_stale`: the signature's timestamp is too old"},
        401: {"description": "`invalid_signature`: no signature, or not ours"},
        404: {"description": "`not_found`: no such investment"},
        409: {
            "description": "`webhook_replayed` (this event id was seen before), "
            "`investment_not_pending`, or `work_harvested` (the investment was still unpaid "
            "when the work's harvest was settled, and was cancelled then)"
        },
        422: {
            "description": "`validation_error` (the body is not a payment event) or "
            "`payment_amount_mismatch`"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentWebhookEvent.model_json_schema()}},
        }
    },
)
def payment_webhook(
    event: Annotated[PaymentWebhookEvent, Depends(verified_payment_event)], session: DbSession
) -> InvestmentRead:
    return service.confirm_by_webhook(session, event)
