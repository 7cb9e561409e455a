"""Investing, confirming payments and cancelling.

An investment holds two things while it awaits payment: its yen against the work's
offer and its go against the town's yearly cap (``reserved_go``). So a supporter is
refused at once when either is full, and a payment the town has accepted can always
be confirmed. Cancelling gives both back; confirming turns the go into issuance.

Concurrency: creating an investment locks the work's row, so the over-subscription
check and the insert cannot interleave with another investment in the same work, then
takes cap room by one conditional UPDATE of the town's policy row; confirming locks
the investment, then (in the ledger) the policy row; cancelling locks the investment,
the work, then the policy row. Every path takes them in that order, so none deadlock.

Creating and confirming are the busiest writes of the service, so they use Core
statements built once at import (see ``kokudaka.models.base.table_of``): building a
statement costs about as much as running it on SQLite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audits_municipality, manages_municipality
from kokudaka.core.errors import BadRequest, Conflict, NotFound, Unauthorized, Unprocessable
from kokudaka.core.ids import new_id
from kokudaka.core.schemas import Amount
from kokudaka.harvest.boards import refuse_closed_boards
from kokudaka.investments.schemas import InvestmentCreate, InvestmentRead, PaymentWebhookEvent
from kokudaka.ledger import service as ledger
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.schemas import IssuanceRead, issuance_read_of, issuance_reads
from kokudaka.models import (
    AnyRow,
    IdempotencyRecord,
    Investment,
    InvestmentCancellation,
    InvestmentStatus,
    Issuance,
    IssuanceKind,
    MunicipalityPolicy,
    PaymentEvent,
    Role,
    StaffAction,
    Work,
    Written,
    table_of,
    utcnow,
    written,
)

IDEMPOTENCY_SCOPE = "investments.create"

investments = table_of(Investment)
works = table_of(Work)
policies = table_of(MunicipalityPolicy)
idempotency_records = table_of(IdempotencyRecord)

_KEY_COLUMNS = ["user_id", "scope", "key"]
# Reserving an Idempotency-Key: an insert that does nothing (returns no row) if the
# key is taken.
_RESERVE_KEY = {
    name: insert_for_dialect(idempotency_records)
    .on_conflict_do_nothing(index_elements=_KEY_COLUMNS)
    .returning(idempotency_records.c.id)
    for name, insert_for_dialect in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_FIRST_REQUEST = select(
    idempotency_records.c.request_hash,
    idempotency_records.c.response_status,
    idempotency_records.c.response_body,
).where(
    idempotency_records.c.user_id == bindparam("user_id"),
    idempotency_records.c.scope == bindparam("scope"),
    idempotency_records.c.key == bindparam("key"),
)
_RECORD_RESPONSE = (
    update(idempotency_records)
    .where(idempotency_records.c.id == bindparam("record_id"))
    .values(response_status=bindparam("status"), response_body=bindparam("body"))
)
# The work to invest in, with the price of its town's policy for its season. Not locked: the
# guarded _SUBSCRIBE at the end of the request is what holds a concurrent request to the rules.
_WORK_FOR_INVESTING = (
    select(
        works.c.municipality_id,
        works.c.season,
        works.c.is_open,
        works.c.offer_yen,
        works.c.subscribed_yen,
        policies.c.price_yen_per_go,
        policies.c.boards_close_on,
        works.c.bills_issued_at,
    )
    .outerjoin(
        policies,
        (policies.c.municipality_id == works.c.municipality_id)
        & (policies.c.season == works.c.season),
    )
    .where(works.c.id == bindparam("work_id"))
)
# Subscribes only while the work still takes the amount: PostgreSQL re-checks the conditions on
# the row as a concurrent writer left it, so the work is locked only from here to the commit.
_SUBSCRIBE = (
    update(works)
    .where(
        works.c.id == bindparam("work_id"),
        works.c.is_open.is_(True),
        works.c.bills_issued_at.is_(None),
        works.c.subscribed_yen + bindparam("yen") <= works.c.offer_yen,
    )
    .values(subscribed_yen=works.c.subscribed_yen + bindparam("yen"))
)
# No RETURNING: every column is given (see kokudaka.models.written).
_INSERT_INVESTMENT = insert(investments)
_CONFIRMING = frozenset({"status", "payment_reference", "confirmed_at", "confirmed_by_id"})
_COLUMNS = tuple(c.key for c in investments.c if c.key not in _CONFIRMING)
# The investment to confirm, locked, with what its issuance needs of its work.
_INVESTMENT_FOR_CONFIRMING = (
    select(
        *investments.c,
        works.c.season,
        works.c.title,
        works.c.farmer_id,
    )
    .join(works, works.c.id == investments.c.work_id)
    .where(investments.c.id == bindparam("investment_id"))
    .with_for_update(of=investments, key_share=True)
)
_MARK_CONFIRMED = (
    update(investments)
    .where(investments.c.id == bindparam("investment_id"))
    .values(
        status=InvestmentStatus.confirmed,
        payment_reference=bindparam("reference"),
        confirmed_at=bindparam("at"),
        confirmed_by_id=bindparam("actor_id"),
    )
)


def to_read(
    session: Session,
    investment: Investment | Written,
    issued: ledger.Issued | None = None,
) -> InvestmentRead:
    """The read model; pass ``issued`` when the caller has just written it, to spare
    the queries, or nothing to look it up (none exists before confirmation)."""
    if issued is not None:
        issuance_read: IssuanceRead | None = issuance_read_of(issued.issuance, issued.mint)
    elif investment.status is InvestmentStatus.confirmed:
        issuance = session.scalar(select(Issuance).where(Issuance.investment_id == investment.id))
        issuance_read = issuance_reads(session, [issuance])[0] if issuance else None
    else:
        issuance_read = None
    return InvestmentRead(**read_fields(investment, issuance_read))


def read_fields(investment: Investment | Written, issuance: IssuanceRead | None) -> dict[str, Any]:
    """The fields of :class:`InvestmentRead` (and of the lists' items built on it)."""
    return {
        "id": investment.id,
        "supporter_id": investment.supporter_id,
        "work_id": investment.work_id,
        "municipality_id": investment.municipality_id,
        "status": investment.status,
        "amount_yen": investment.amount_yen,
        "price_yen_per_go": investment.price_yen_per_go,
        "amount": Amount.of(investment.go_amount),
        "remainder_yen": investment.remainder_yen,
        "payment_reference": investment.payment_reference,
        "created_at": investment.created_at,
        "confirmed_at": investment.confirmed_at,
        "cancelled_at": investment.cancelled_at,
        "cancellation_reason": investment.cancellation_reason,
        "issuance": issuance,
    }


def request_fingerprint(body: InvestmentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_idempotency_key(
    conn: Connection,
    user_id: uuid.UUID,
    key: str,
    fingerprint: str,
    scope: str = IDEMPOTENCY_SCOPE,
) -> uuid.UUID | AnyRow:
    """Reserve ``key`` for this request, or find the record of the first request.

    The reservation is an insert that does nothing on a conflict with the unique
    (user, scope, key). On PostgreSQL a concurrent retry with the same key waits in
    that insert until the first request commits (then inserts nothing and replays
    its record) or rolls back (then takes the key); on SQLite the write lock taken at
    BEGIN already serialises them. Returns the new record's id, or the first
    request's record to replay. ``scope`` keeps each kind of request's keys apart.
    """
    reserved: uuid.UUID | None = conn.execute(
        _RESERVE_KEY[conn.dialect.name],
        {
            "id": new_id(),
            "user_id": user_id,
            "scope": scope,
            "key": key,
            "request_hash": fingerprint,
            "response_status": 0,
            "response_body": {},
            "created_at": utcnow(),
        },
    ).scalar()
    if reserved is not None:
        return reserved
    first = conn.execute(_FIRST_REQUEST, {"user_id": user_id, "scope": scope, "key": key}).one()
    if first.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused")
    return first


def record_response(
    conn: Connection, record_id: uuid.UUID, status: int, body: dict[str, Any]
) -> None:
    """Store the answer to replay for the request that claimed ``record_id``."""
    conn.execute(_RECORD_RESPONSE, {"record_id": record_id, "status": status, "body": body})


def create_investment(
    session: Session, supporter: Caller, body: InvestmentCreate, idempotency_key: str
) -> tuple[int, dict[str, Any], bool]:
    """Returns (status, body, replayed). A retry with the same key gets the first answer."""
    conn = session.connection()
    claimed = claim_idempotency_key(conn, supporter.id, idempotency_key, request_fingerprint(body))
    if not isinstance(claimed, uuid.UUID):
        return claimed.response_status, claimed.response_body, True

    work = conn.execute(_WORK_FOR_INVESTING, {"work_id": body.work_id}).first()
    if work is None:
        raise NotFound("Work")
    price, go_amount, remainder = _refuse_or_price(work, body.amount_yen)
    investment = written(
        investments,
        id=new_id(),
        supporter_id=supporter.id,
        work_id=body.work_id,
        municipality_id=work.municipality_id,
        amount_yen=body.amount_yen,
        price_yen_per_go=price,
        go_amount=go_amount,
        remainder_yen=remainder,
        status=InvestmentStatus.pending_payment,
        payment_reference=None,
        confirmed_at=None,
        confirmed_by_id=None,
        cancelled_at=None,
        cancellation_reason=None,
        created_at=utcnow(),
    )
    conn.execute(_INSERT_INVESTMENT, vars(investment))
    response = to_read(session, investment).model_dump(mode="json")
    conn.execute(_RECORD_RESPONSE, {"record_id": claimed, "status": 201, "body": response})
    # The shared rows last, each locked from its UPDATE to the commit: the work, then the
    # town's policy row, which every investment and issuance of the town updates (see
    # ledger.issue). Work before policy, as cancelling and the harvest lock them. A refusal
    # of either rolls the whole request back.
    while conn.execute(_SUBSCRIBE, {"work_id": body.work_id, "yen": body.amount_yen}).rowcount != 1:
        # A concurrent request changed the work since it was read: refuse with what it is now,
        # or, if a cancellation made room again meanwhile, subscribe again.
        _refuse_or_price(
            conn.execute(_WORK_FOR_INVESTING, {"work_id": body.work_id}).one(), body.amount_yen
        )
    ledger.reserve_cap_room(
        session, municipality_id=work.municipality_id, season=work.season, amount_go=go_amount
    )
    return 201, response, False


def _refuse_or_price(work: AnyRow, amount_yen: int) -> tuple[int, int, int]:
    """The season's price and the KOKU ``amount_yen`` buys, ``(price, go, remainder)``, or the
    Conflict that refuses investing it in ``work`` as read."""
    if work.bills_issued_at is not None:
        raise Conflict("work_harvested")
    if not work.is_open:
        raise Conflict("work_closed")
    # An investment's issuance is a board (米ボード) on the work.
    refuse_closed_boards(work.boards_close_on, work.season)
    price = work.price_yen_per_go
    if price is None:
        raise Conflict("policy_missing", season=work.season)
    go_amount, remainder = divmod(amount_yen, price)
    if go_amount == 0:
        # A rule of the season's price as it stands (like work_oversubscribed).
        raise Conflict("investment_too_small", price_yen_per_go=price)
    remaining = work.offer_yen - work.subscribed_yen
    if amount_yen > remaining:
        raise Conflict("work_oversubscribed", remaining_yen=max(remaining, 0))
    return price, go_amount, remainder


def visible_investment(session: Session, user: Caller, investment_id: uuid.UUID) -> Investment:
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


def _locked_for_confirming(conn: Connection, investment_id: uuid.UUID) -> AnyRow:
    investment = conn.execute(_INVESTMENT_FOR_CONFIRMING, {"investment_id": investment_id}).first()
    if investment is None:
        raise NotFound("Investment")
    return investment


def _confirm(
    session: Session, investment: AnyRow, payment_reference: str, actor: Caller | None
) -> InvestmentRead:
    """Mark a locked investment paid and issue its KOKU at the price it was quoted."""
    if investment.cancellation_reason is InvestmentCancellation.work_harvested:
        # A payment that arrives after the harvest: the boards are already bills.
        raise Conflict("work_harvested")
    if investment.status is not InvestmentStatus.pending_payment:
        raise Conflict("investment_not_pending", status=investment.status.value)
    actor_id = actor.id if actor else None
    changes: dict[str, Any] = {
        "status": InvestmentStatus.confirmed,
        "payment_reference": payment_reference,
        "confirmed_at": datetime.now(UTC),
        "confirmed_by_id": actor_id,
    }
    session.connection().execute(
        _MARK_CONFIRMED,
        {
            "investment_id": investment.id,
            "reference": payment_reference,
            "at": changes["confirmed_at"],
            "actor_id": actor_id,
        },
    )
    # The row as it now stands, without reading it back.
    columns = investment._mapping
    confirmed = written(investments, **{name: columns[name] for name in _COLUMNS}, **changes)
    issued = ledger.issue(
        session,
        municipality_id=investment.municipality_id,
        season=investment.season,
        recipient_id=investment.supporter_id,
        amount_go=investment.go_amount,
        cause=ledger.IssuanceCause(
            kind=IssuanceKind.investment,
            idempotency_key=f"investment:{investment.id}",
            memo=Memo(
                "investment", {"amount_yen": investment.amount_yen, "title": investment.title}
            ),
            farmer_id=investment.farmer_id,
            work_id=investment.work_id,
            investment_id=investment.id,
            price_yen_per_go=investment.price_yen_per_go,
        ),
        actor_id=actor_id,
        reserved=True,
    )
    return to_read(session, confirmed, issued)


def confirm_by_admin(
    session: Session, admin: Caller, investment_id: uuid.UUID, payment_reference: str
) -> InvestmentRead:
    investment = _locked_for_confirming(session.connection(), investment_id)
    if not manages_municipality(admin, investment.municipality_id):
        raise NotFound("Investment")
    confirmed = _confirm(session, investment, payment_reference, admin)
    append_staff_action(
        session,
        admin,
        StaffAction.investment_confirm,
        object_type="investment",
        object_id=investment.id,
        data={"payment_reference": payment_reference},
        municipality_id=investment.municipality_id,
    )
    return confirmed


def cancel(session: Session, user: Caller, investment_id: uuid.UUID) -> Investment:
    investment = session.scalar(
        select(Investment).where(Investment.id == investment_id).with_for_update(key_share=True)
    )
    if investment is None or (
        investment.supporter_id != user.id
        and not manages_municipality(user, investment.municipality_id)
    ):
        raise NotFound("Investment")
    if investment.status is not InvestmentStatus.pending_payment:
        raise Conflict("investment_not_pending", status=investment.status.value)
    work = session.scalar(
        select(Work).where(Work.id == investment.work_id).with_for_update(key_share=True)
    )
    assert work is not None
    work.subscribed_yen -= investment.amount_yen
    ledger.release_cap_room(
        session,
        municipality_id=investment.municipality_id,
        season=work.season,
        amount_go=investment.go_amount,
    )
    investment.status = InvestmentStatus.cancelled
    investment.cancelled_at = datetime.now(UTC)
    investment.cancellation_reason = InvestmentCancellation.withdrawn
    session.flush()
    if investment.supporter_id != user.id:
        # Staff cancelling someone's investment is a staff action; a supporter's own is not.
        append_staff_action(
            session,
            user,
            StaffAction.investment_cancel,
            object_type="investment",
            object_id=investment.id,
            municipality_id=investment.municipality_id,
        )
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
    # In integers: a signed timestamp of any size is only stale, never a float overflow.
    if abs(int(now.timestamp()) - timestamp) > tolerance_seconds:
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
    investment = _locked_for_confirming(session.connection(), event.investment_id)
    if event.amount_yen != investment.amount_yen:
        raise Unprocessable(
            "payment_amount_mismatch", paid_yen=event.amount_yen, amount_yen=investment.amount_yen
        )
    return _confirm(session, investment, event.payment_reference, None)
