"""Redemptions as the API shows them: a page of them read in three statements.

Only callers allowed to see a redemption get here (its supporter, the work's farmer,
their town's administrators; the services and lists check that first), so the address
is opened for each one that still has it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.core.schemas import Amount
from kokudaka.core.settings import Settings
from kokudaka.harvest.schemas import BillMint, WorkBrief
from kokudaka.harvest.yields import format_kg, kg_of_go
from kokudaka.models import ChainAsset, ChainOperation, Redemption, User, Work
from kokudaka.redemptions.addresses import open_address
from kokudaka.redemptions.schemas import AddressRead, RedemptionRead, SupporterBrief

__all__ = ["redemption_reads"]


def redemption_reads(
    session: Session, settings: Settings, redemptions: Sequence[Redemption]
) -> list[RedemptionRead]:
    if not redemptions:
        return []
    work_ids = {r.work_id for r in redemptions}
    works = {
        row.id: WorkBrief(id=row.id, title=row.title, season=row.season, variety=row.variety)
        for row in session.execute(
            select(Work.id, Work.title, Work.season, Work.variety).where(Work.id.in_(work_ids))
        )
    }
    holders = {
        row.id: SupporterBrief(id=row.id, display_name=row.display_name)
        for row in session.execute(
            select(User.id, User.display_name).where(
                User.id.in_({r.holder_id for r in redemptions})
            )
        )
    }
    shipments = [r.shipment_entry_id for r in redemptions if r.shipment_entry_id is not None]
    burns: dict[uuid.UUID, BillMint] = {}
    if shipments:
        for op in session.scalars(
            select(ChainOperation).where(
                ChainOperation.entry_id.in_(shipments), ChainOperation.asset == ChainAsset.bill
            )
        ):
            burns[op.entry_id] = BillMint(
                state=op.state,
                reference=op.reference,
                tx_hash=op.tx_hash,
                block_number=op.block_number,
            )
    return [
        RedemptionRead(
            id=r.id,
            bill_id=r.bill_id,
            work=works[r.work_id],
            farmer_id=r.farmer_id,
            supporter=holders[r.holder_id],
            amount=Amount.of(r.amount_go),
            amount_kg=kg_of_go(r.amount_go),
            method=r.method,
            state=r.state,
            address=(
                None
                if r.address_ciphertext is None
                else AddressRead(**open_address(settings, r.id, r.address_ciphertext))
            ),
            address_erased_at=r.address_erased_at,
            carrier=r.carrier,
            tracking_number=r.tracking_number,
            shipped_kg=None if r.shipped_g is None else format_kg(r.shipped_g),
            shipped_at=r.shipped_at,
            received_at=r.received_at,
            received_automatically=r.received_at is not None and r.received_by_id is None,
            cancelled_at=r.cancelled_at,
            refused_at=r.refused_at,
            refusal_reason=r.refusal_reason,
            created_at=r.created_at,
            burn=None if r.shipment_entry_id is None else burns.get(r.shipment_entry_id),
        )
        for r in redemptions
    ]
