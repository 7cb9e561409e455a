"""Redeeming rice bills: requesting, cancelling, refusing, shipping and receiving.

A request holds its 合 at once (``postings.hold``); cancelling (the supporter) or
refusing (the farmer or their town) releases them; shipping burns them, with a bill burn
in the outbox that the settlement worker sends after commit, referenced by the
redemption. Every change of state locks the redemption's row first (``FOR NO KEY
UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway), so two "shipped"
requests at once ship once and burn once: the second finds it shipped and is refused.

Who may do what: the supporter who holds the bill requests, cancels and confirms
receipt; the work's farmer and their town's administrators ship and refuse, and those
are staff actions in the audit log (without the address). Anyone else is told the
redemption does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.core.errors import Conflict, Forbidden, NotFound
from kokudaka.core.ids import new_id
from kokudaka.core.settings import Settings
from kokudaka.harvest.yields import grams_of_kg, japan_today
from kokudaka.investments.service import claim_idempotency_key, record_response
from kokudaka.ledger.service import chain_reference
from kokudaka.models import (
    Bill,
    ChainAsset,
    ChainOperation,
    ChainOperationKind,
    MunicipalityPolicy,
    Redemption,
    RedemptionState,
    Role,
    StaffAction,
    Work,
    table_of,
    utcnow,
)
from kokudaka.redemptions import postings
from kokudaka.redemptions.addresses import fingerprint, seal_address
from kokudaka.redemptions.reads import redemption_reads
from kokudaka.redemptions.schemas import (
    DeliveryRequest,
    RedemptionCreate,
    RedemptionRead,
    RedemptionShip,
)

__all__ = [
    "IDEMPOTENCY_SCOPE",
    "cancel",
    "may_manage",
    "read",
    "receive",
    "refuse",
    "request_redemption",
    "ship",
    "visible_redemption",
]

IDEMPOTENCY_SCOPE = "redemptions.create"

_bills = table_of(Bill)
_works = table_of(Work)
_policies = table_of(MunicipalityPolicy)

# The bill to redeem, with its work and the town's expiry for its season.
_BILL_FOR_REDEEMING = (
    select(
        _bills.c.id,
        _bills.c.holder_id,
        _bills.c.work_id,
        _bills.c.municipality_id,
        _bills.c.season,
        _works.c.title,
        _works.c.farmer_id,
        _policies.c.bills_expire_on,
    )
    .join(_works, _works.c.id == _bills.c.work_id)
    .outerjoin(
        _policies,
        (_policies.c.municipality_id == _bills.c.municipality_id)
        & (_policies.c.season == _bills.c.season),
    )
    .where(_bills.c.id == bindparam("bill_id"))
)


def _bill_accounts(redemption: Redemption) -> postings.BillAccounts:
    return postings.BillAccounts(
        redemption.work_id, redemption.holder_id, redemption.municipality_id
    )


def _title(session: Session, work_id: uuid.UUID) -> str:
    return session.scalar(select(Work.title).where(Work.id == work_id)) or ""


def may_manage(session: Session, caller: Caller, redemption: Redemption) -> bool:
    """The work's farmer, or an administrator of its town: who ships and refuses, and
    sees the address."""
    if caller.role is Role.town_admin:
        return caller.municipality_id == redemption.municipality_id
    farmer = farmer_profile_of(session, caller)
    return farmer is not None and farmer.id == redemption.farmer_id


def _may_see(session: Session, caller: Caller, redemption: Redemption) -> bool:
    return redemption.holder_id == caller.id or may_manage(session, caller, redemption)


def visible_redemption(session: Session, caller: Caller, redemption_id: uuid.UUID) -> Redemption:
    """The redemption if the caller may see it, else ``not_found`` (never 403: whether
    someone else's redemption exists is not the caller's to know)."""
    redemption = session.get(Redemption, redemption_id)
    if redemption is None or not _may_see(session, caller, redemption):
        raise NotFound("Redemption")
    return redemption


def _locked(session: Session, caller: Caller, redemption_id: uuid.UUID) -> Redemption:
    """The redemption's row, locked to the end of the transaction and read after the lock
    (a concurrent change committed while waiting is seen), if the caller may see it."""
    redemption = session.scalar(
        select(Redemption)
        .where(Redemption.id == redemption_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if redemption is None or not _may_see(session, caller, redemption):
        raise NotFound("Redemption")
    return redemption


def _refuse_unless(redemption: Redemption, state: RedemptionState, code: str) -> None:
    if redemption.state is not state:
        raise Conflict(code, status=redemption.state.value)


def request_redemption(
    session: Session,
    settings: Settings,
    supporter: Caller,
    bill_id: uuid.UUID,
    body: RedemptionCreate,
    idempotency_key: str,
    now: datetime | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """Hold ``body.amount_go`` of the caller's bill for a new redemption. Returns (status,
    body, replayed): a retry with the same key gets the first answer.

    The stored answer holds no address (it is personal data, and the record is not
    encrypted): a replay reads it from the redemption, as long as it is kept.
    """
    conn = session.connection()
    request = {"bill_id": str(bill_id), **body.model_dump(mode="json")}
    claimed = claim_idempotency_key(
        conn, supporter.id, idempotency_key, fingerprint(settings, request), IDEMPOTENCY_SCOPE
    )
    if not isinstance(claimed, uuid.UUID):
        first = session.get(Redemption, uuid.UUID(claimed.response_body["id"]))
        answer = dict(claimed.response_body)
        if first is not None:
            answer["address"] = redemption_reads(session, settings, [first])[0].model_dump(
                mode="json"
            )["address"]
        return claimed.response_status, answer, True

    bill = conn.execute(_BILL_FOR_REDEEMING, {"bill_id": bill_id}).first()
    if bill is None or bill.holder_id != supporter.id:
        raise NotFound("Bill")
    # Valid through the town's day (in Japan), as the expiry job reads it: gifted after it.
    expire_on = bill.bills_expire_on
    if expire_on is not None and japan_today(now) > expire_on:
        raise Conflict("bills_expired", season=bill.season, valid_through=expire_on.isoformat())
    redemption_id = new_id()
    entry_id = postings.hold(
        conn,
        postings.BillAccounts(bill.work_id, bill.holder_id, bill.municipality_id),
        redemption_id=redemption_id,
        amount_go=body.amount_go,
        title=bill.title,
        actor_id=supporter.id,
    )
    address = body.address.model_dump(mode="json") if isinstance(body, DeliveryRequest) else None
    redemption = Redemption(
        id=redemption_id,
        bill_id=bill.id,
        work_id=bill.work_id,
        farmer_id=bill.farmer_id,
        municipality_id=bill.municipality_id,
        season=bill.season,
        holder_id=bill.holder_id,
        amount_go=body.amount_go,
        method=body.method,
        state=RedemptionState.requested,
        address_ciphertext=None
        if address is None
        else seal_address(settings, redemption_id, address),
        hold_entry_id=entry_id,
    )
    session.add(redemption)
    session.flush()
    answer = redemption_reads(session, settings, [redemption])[0].model_dump(mode="json")
    record_response(conn, claimed, 201, {**answer, "address": None})
    return 201, answer, False


def cancel(session: Session, caller: Caller, redemption_id: uuid.UUID) -> Redemption:
    """The supporter withdraws a redemption not yet shipped: its hold goes back to the bill."""
    redemption = _locked(session, caller, redemption_id)
    if redemption.holder_id != caller.id:
        raise Forbidden()
    _refuse_unless(redemption, RedemptionState.requested, "redemption_not_requested")
    _release(session, caller, redemption, refused=False)
    redemption.state = RedemptionState.cancelled
    redemption.cancelled_at = redemption.closed_at = utcnow()
    session.flush()
    return redemption


def _release(session: Session, caller: Caller, redemption: Redemption, *, refused: bool) -> None:
    redemption.release_entry_id = postings.release(
        session.connection(),
        _bill_accounts(redemption),
        redemption_id=redemption.id,
        amount_go=redemption.amount_go,
        title=_title(session, redemption.work_id),
        refused=refused,
        actor_id=caller.id,
    )


def refuse(session: Session, caller: Caller, redemption_id: uuid.UUID, reason: str) -> Redemption:
    """The farmer or their town refuses a redemption not yet shipped, with a reason the
    supporter sees: its hold goes back to the bill."""
    redemption = _locked(session, caller, redemption_id)
    if not may_manage(session, caller, redemption):
        raise Forbidden()
    _refuse_unless(redemption, RedemptionState.requested, "redemption_not_requested")
    _release(session, caller, redemption, refused=True)
    now = utcnow()
    redemption.state = RedemptionState.refused
    redemption.refused_at = redemption.closed_at = now
    redemption.refused_by_id = caller.id
    redemption.refusal_reason = reason
    session.flush()
    append_staff_action(
        session,
        caller,
        StaffAction.redemption_refuse,
        object_type="redemption",
        object_id=redemption.id,
        data={
            "reason": reason,
            "bill_id": redemption.bill_id,
            "amount_go": redemption.amount_go,
            "release_entry_id": redemption.release_entry_id,
        },
        municipality_id=redemption.municipality_id,
    )
    return redemption


def ship(
    session: Session, caller: Caller, redemption_id: uuid.UUID, body: RedemptionShip
) -> Redemption:
    """The farmer or their town marks a requested redemption shipped (or handed over at
    the farm): its held 合 are burned, and a bill burn goes into the outbox, once."""
    redemption = _locked(session, caller, redemption_id)
    if not may_manage(session, caller, redemption):
        raise Forbidden()
    _refuse_unless(redemption, RedemptionState.requested, "redemption_not_requested")
    entry_id = postings.ship(
        session.connection(),
        _bill_accounts(redemption),
        redemption_id=redemption.id,
        amount_go=redemption.amount_go,
        title=_title(session, redemption.work_id),
        actor_id=caller.id,
    )
    session.add(
        ChainOperation(
            asset=ChainAsset.bill,
            kind=ChainOperationKind.burn,
            entry_id=entry_id,
            bill_id=redemption.bill_id,
            municipality_id=redemption.municipality_id,
            user_id=redemption.holder_id,
            reference=chain_reference(redemption.id),
            amount_go=redemption.amount_go,
        )
    )
    redemption.state = RedemptionState.shipped
    redemption.shipment_entry_id = entry_id
    redemption.shipped_at = utcnow()
    redemption.shipped_by_id = caller.id
    redemption.shipped_g = grams_of_kg(body.shipped_kg)
    redemption.carrier = body.carrier
    redemption.tracking_number = body.tracking_number
    session.flush()
    append_staff_action(
        session,
        caller,
        StaffAction.redemption_ship,
        object_type="redemption",
        object_id=redemption.id,
        data={
            "bill_id": redemption.bill_id,
            "amount_go": redemption.amount_go,
            "method": redemption.method,
            "shipped_kg": body.shipped_kg,
            "carrier": body.carrier,
            "tracking_number": body.tracking_number,
            "shipment_entry_id": entry_id,
        },
        municipality_id=redemption.municipality_id,
    )
    return redemption


def receive(session: Session, caller: Caller, redemption_id: uuid.UUID) -> Redemption:
    """The supporter confirms the rice arrived (or was collected)."""
    redemption = _locked(session, caller, redemption_id)
    if redemption.holder_id != caller.id:
        raise Forbidden()
    _refuse_unless(redemption, RedemptionState.shipped, "redemption_not_shipped")
    redemption.state = RedemptionState.received
    redemption.received_at = redemption.closed_at = utcnow()
    redemption.received_by_id = caller.id
    session.flush()
    return redemption


def read(session: Session, settings: Settings, redemption: Redemption) -> RedemptionRead:
    return redemption_reads(session, settings, [redemption])[0]
