"""Investing, confirming payments and cancelling.

Concurrency: creating an investment locks the work's row, so the over-subscription
check and the insert cannot interleave with another investment in the same work;
confirming locks the investment, then (in the ledger) the town's policy row, always in
that order, so two confirmations never deadlock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kokudaka.auth.permissions import audits_municipality, manages_municipality
from kokudaka.core.errors import BadRequest, Conflict, NotFound, Unauthorized, Unprocessable
from kokudaka.core.ids import new_id
from kokudaka.core.schemas import Amount
from kokudaka.investments.schemas import InvestmentCreate, InvestmentRead, PaymentWebhookEvent
from kokudaka.ledger import service as ledger
from kokudaka.ledger.schemas import IssuanceRead, issuance_read_of, issuance_reads
from kokudaka.models import (
    ChainOperation,
    IdempotencyRecord,
    Investment,
    InvestmentStatus,
    Issuance,
    IssuanceKind,
    MunicipalityPolicy,
    PaymentEvent,
    Role,
    User,
    Work,
    utcnow,
)

IDEMPOTENCY_SCOPE = "investments.create"


def to_read(
    session: Session,
    investment: Investment,
    issued: tuple[Issuance, ChainOperation] | None = None,
) -> InvestmentRead:
    """The read model; pass ``issued`` when the caller has just written it, to spare
    the queries, or nothing to look it up (none exists before confirmation)."""
    if issued is not None:
        issuance_read: IssuanceRead | None = issuance_read_of(*issued)
    elif investment.status is InvestmentStatus.confirmed:
        issuance = session.scalar(select(Issuance).where(Issuance.investment_id == investment.id))
        issuance_read = issuance_reads(session, [issuance])[0] if issuance else None
    else:
        issuance_read = None
    return InvestmentRead(
        id=investment.id,
        supporter_id=investment.supporter_id,
        work_id=investment.work_id,
        municipality_id=investment.municipality_id,
        status=investment.status,
        amount_yen=investment.amount_yen,
        price_yen_per_go=investment.price_yen_per_go,
        amount=Amount.of(investment.go_amount),
        remainder_yen=investment.remainder_yen,
        payment_reference=investment.payment_reference,
        created_at=investment.created_at,
        confirmed_at=investment.confirmed_at,
        cancelled_at=investment.cancelled_at,
        issuance=issuance_read,
    )


def request_fingerprint(body: InvestmentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_idempotency_key(
    session: Session, user: User, key: str, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """Reserve ``key`` for this request, or find the record of the first request.

    The reservation is an insert under a unique constraint, inside a savepoint: on
    PostgreSQL a concurrent retry with the same key blocks on that insert until the
    first request commits, then finds its record and replays it; on SQLite the write
    lock taken at BEGIN already serialises them. Returns the record and whether it
    is the first request's (to replay) rather than a new reservation.
    """
    existing = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user.id,
            IdempotencyRecord.scope == IDEMPOTENCY_SCOPE,
            IdempotencyRecord.key == key,
        )
    )
    if existing is None:
        record = IdempotencyRecord(
            user_id=user.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_hash=fingerprint,
            response_status=0,
            response_body={},
        )
        if session.get_bind().dialect.name == "sqlite":
            # The write lock taken at BEGIN means no one else can insert this key now.
            session.add(record)
            return record, False
        try:
            with session.begin_nested():
                session.add(record)
            return record, False
        except IntegrityError:
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user.id,
                    IdempotencyRecord.scope == IDEMPOTENCY_SCOPE,
                    IdempotencyRecord.key == key,
                )
            )
            assert existing is not None
    if existing.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused")
    return existing, True


def create_investment(
    session: Session, supporter: User, body: InvestmentCreate, idempotency_key: str
) -> tuple[int, dict[str, Any], bool]:
    """Returns (status, body, replayed). A retry with the same key gets the first answer."""
    fingerprint = request_fingerprint(body)
    record, replay = claim_idempotency_key(session, supporter, idempotency_key, fingerprint)
    if replay:
        return record.response_status, record.response_body, True

    work = session.scalar(select(Work).where(Work.id == body.work_id).with_for_update())
    if work is None:
        raise NotFound("Work")
    if not work.is_open:
        raise Conflict("work_closed")
    policy = session.scalar(
        select(MunicipalityPolicy).where(
            MunicipalityPolicy.municipality_id == work.municipality_id,
            MunicipalityPolicy.season == work.season,
        )
    )
    if policy is None:
        raise Conflict("policy_missing", season=work.season)
    go_amount, remainder = divmod(body.amount_yen, policy.price_yen_per_go)
    if go_amount == 0:
        raise Unprocessable("investment_too_small", price_yen_per_go=policy.price_yen_per_go)
    remaining = work.offer_yen - work.subscribed_yen
    if body.amount_yen > remaining:
        raise Conflict("work_oversubscribed", remaining_yen=max(remaining, 0))
    work.subscribed_yen += body.amount_yen

    investment = Investment(
        id=new_id(),
        supporter_id=supporter.id,
        work_id=work.id,
        municipality_id=work.municipality_id,
        amount_yen=body.amount_yen,
        price_yen_per_go=policy.price_yen_per_go,
        go_amount=go_amount,
        remainder_yen=remainder,
        status=InvestmentStatus.pending_payment,
        created_at=utcnow(),
    )
    session.add(investment)
    response = to_read(session, investment).model_dump(mode="json")
    record.response_status = 201
    record.response_body = response
    session.flush()
    return 201, response, False


def visible_investment(session: Session, user: User, investment_id: uuid.UUID) -> Investment:
    """The investment if the user may see it: its supporter, or the town's staff."""
    investment = session.get(Investment, investment_id)
    if investment is None:
        raise NotFound("Investment")
    if investment.supporter_id == user.id or manages_municipality(user, investment.municipality_id):
        return investment
    if user.role is Role.regional_auditor and audits_municipality(
        session, user, investment.municipality_id
    ):
        return investment
    raise NotFound("Investment")


def _lock_pending(session: Session, investment_id: uuid.UUID) -> Investment:
    investment = session.scalar(
        select(Investment).where(Investment.id == investment_id).with_for_update()
    )
    if investment is None:
        raise NotFound("Investment")
    return investment


def _confirm(
    session: Session, investment: Investment, payment_reference: str, actor: User | None
) -> InvestmentRead:
    if investment.status is not InvestmentStatus.pending_payment:
        raise Conflict("investment_not_pending", status=investment.status.value)
    # Only three of the work's columns are needed; the supporter only by id.
    work = session.execute(
        select(Work.season, Work.title, Work.farmer_id).where(Work.id == investment.work_id)
    ).one()
    investment.status = InvestmentStatus.confirmed
    investment.payment_reference = payment_reference
    investment.confirmed_at = datetime.now(UTC)
    investment.confirmed_by_id = actor.id if actor else None
    issued = ledger.issue_with_mint(
        session,
        municipality_id=investment.municipality_id,
        season=work.season,
        recipient_id=investment.supporter_id,
        amount_go=investment.go_amount,
        cause=ledger.IssuanceCause(
            kind=IssuanceKind.investment,
            idempotency_key=f"investment:{investment.id}",
            memo=f"Investment of {investment.amount_yen} yen in {work.title}",
            farmer_id=work.farmer_id,
            work_id=investment.work_id,
            investment_id=investment.id,
            price_yen_per_go=investment.price_yen_per_go,
        ),
        actor_id=actor.id if actor else None,
    )
    return to_read(session, investment, issued)


def confirm_by_admin(
    session: Session, admin: User, investment_id: uuid.UUID, payment_reference: str
) -> InvestmentRead:
    investment = _lock_pending(session, investment_id)
    if not manages_municipality(admin, investment.municipality_id):
        raise NotFound("Investment")
    return _confirm(session, investment, payment_reference, admin)


def cancel(session: Session, user: User, investment_id: uuid.UUID) -> Investment:
    investment = _lock_pending(session, investment_id)
    if investment.supporter_id != user.id and not manages_municipality(
        user, investment.municipality_id
    ):
        raise NotFound("Investment")
    if investment.status is not InvestmentStatus.pending_payment:
        raise Conflict("investment_not_pending", status=investment.status.value)
    work = session.scalar(select(Work).where(Work.id == investment.work_id).with_for_update())
    assert work is not None
    work.subscribed_yen -= investment.amount_yen
    investment.status = InvestmentStatus.cancelled
    investment.cancelled_at = datetime.now(UTC)
    session.flush()
    return investment


def signature_for(secret: str, timestamp: int, body: bytes) -> str:
    """``v1`` signature of a webhook: HMAC-SHA256 over ``"<timestamp>." + body``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    secret: str, header: str | None, body: bytes, tolerance_seconds: int, now: datetime
) -> None:
    """Check a ``Kokudaka-Signature: t=<unix>,v1=<hex>`` header (Stripe's scheme)."""
    if not header:
        raise Unauthorized("invalid_signature")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError) as exc:
        raise Unauthorized("invalid_signature") from exc
    expected = signature_for(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise Unauthorized("invalid_signature")
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise BadRequest("webhook_stale")


def confirm_by_webhook(session: Session, event: PaymentWebhookEvent) -> InvestmentRead:
    """Confirm from a verified provider event; a replayed event id is refused."""
    try:
        with session.begin_nested():
            session.add(
                PaymentEvent(
                    event_id=event.event_id,
                    investment_id=event.investment_id,
                    received_at=datetime.now(UTC),
                )
            )
    except IntegrityError as exc:
        # Either the event id was seen before, or the investment id is unknown.
        if session.get(Investment, event.investment_id) is None:
            raise NotFound("Investment") from exc
        raise Conflict("webhook_replayed") from exc
    investment = _lock_pending(session, event.investment_id)
    if event.amount_yen != investment.amount_yen:
        raise Unprocessable(
            "payment_amount_mismatch", paid_yen=event.amount_yen, amount_yen=investment.amount_yen
        )
    return _confirm(session, investment, event.payment_reference, None)
