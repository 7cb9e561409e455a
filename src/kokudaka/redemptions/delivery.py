"""The farmer's delivery ledger: per work of a season, the rice owed and where it stands.

For each harvested work, per supporter holding a bill on it and in total:

- **bills**: the bill issued at the harvest;
- **left**: not yet asked for (the holder's bill account);
- **requested**: asked for and held, awaiting shipment (redemptions ``requested``);
- **outstanding** = left + requested: the rice the farmer still owes. Summed over the
  work it is minus the balance of the work's bill issuance account (``bills:<work>``),
  since shipments (and gifts at expiry) go back there;
- **shipped**: shipped, received or not; **received**: of those, received;
  **refused**: refused by the farmer or their town (back in *left*).

Amounts are 合 and kg (150 g a 合); the weight the farmer entered when shipping is shown
beside them. Three statements whatever the number of works and supporters. The CSV has
the issuance export's conventions (BOM, CRLF, Japan time, names beside amounts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import farmer_profile_of
from kokudaka.console.csv_export import csv_response
from kokudaka.core.errors import Forbidden
from kokudaka.core.i18n import Language
from kokudaka.core.schemas import Amount
from kokudaka.harvest.schemas import FarmerBrief, WorkBrief
from kokudaka.harvest.yields import format_kg, kg_of_go
from kokudaka.models import (
    Account,
    AccountKind,
    Bill,
    Farmer,
    Redemption,
    RedemptionState,
    Role,
    User,
    Work,
)
from kokudaka.municipalities.service import JST
from kokudaka.redemptions.schemas import (
    DeliveryLedger,
    SupporterBrief,
    SupporterDeliveries,
    WorkDeliveries,
)

__all__ = ["CSV_COLUMNS", "CSV_COLUMNS_JA", "delivery_csv", "delivery_ledger"]

CSV_COLUMNS = [
    "Work", "Season", "Farmer", "Supporter", "Bill (go)", "Outstanding (go)",
    "Outstanding (kg)", "Left (go)", "Requested (go)", "Shipped (go)", "Shipped (kg)",
    "Shipped weight (kg)", "Received (go)", "Refused (go)", "Last shipped (Japan time)",
]  # fmt: skip
CSV_COLUMNS_JA = [
    "作品", "年度", "農家", "支援者", "米手形(合)", "未引渡し(合)", "未引渡し(kg)",
    "未依頼(合)", "依頼中(合)", "発送済み(合)", "発送済み(kg)", "発送重量(kg)",
    "受取済み(合)", "お断り(合)", "最終発送日時(日本時間)",
]  # fmt: skip
_JAPAN_TIME = "%Y-%m-%d %H:%M:%S"
_SHIPPED = (RedemptionState.shipped, RedemptionState.received)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(slots=True)
class _Line:
    bill_go: int = 0
    left_go: int = 0
    requested_go: int = 0
    shipped_go: int = 0
    shipped_g: int = 0
    received_go: int = 0
    refused_go: int = 0
    last_shipped_at: datetime | None = None

    def add(self, other: _Line) -> None:
        self.bill_go += other.bill_go
        self.left_go += other.left_go
        self.requested_go += other.requested_go
        self.shipped_go += other.shipped_go
        self.shipped_g += other.shipped_g
        self.received_go += other.received_go
        self.refused_go += other.refused_go
        self.last_shipped_at = _later(self.last_shipped_at, other.last_shipped_at)

    def amounts(self) -> dict[str, object]:
        outstanding = self.left_go + self.requested_go
        return {
            "bills": Amount.of(self.bill_go),
            "outstanding": Amount.of(outstanding),
            "outstanding_kg": kg_of_go(outstanding),
            "left": Amount.of(self.left_go),
            "requested": Amount.of(self.requested_go),
            "requested_kg": kg_of_go(self.requested_go),
            "shipped": Amount.of(self.shipped_go),
            "shipped_kg": kg_of_go(self.shipped_go),
            "shipped_weight_kg": format_kg(self.shipped_g),
            "received": Amount.of(self.received_go),
            "received_kg": kg_of_go(self.received_go),
            "refused": Amount.of(self.refused_go),
            "refused_kg": kg_of_go(self.refused_go),
        }


@dataclass(slots=True)
class _Work:
    work: WorkBrief
    farmer: FarmerBrief
    total: _Line = field(default_factory=_Line)
    lines: dict[uuid.UUID, tuple[str, _Line]] = field(default_factory=dict)


def _works(session: Session, caller: Caller, season: int) -> dict[uuid.UUID, _Work]:
    statement = (
        select(Work.id, Work.title, Work.season, Work.variety, Farmer.id, Farmer.name)
        .add_columns(Farmer.farm_name)
        .join(Farmer, Farmer.id == Work.farmer_id)
        .where(Work.season == season, Work.bills_issued_at.is_not(None))
        .order_by(Work.id)
    )
    if caller.role is Role.town_admin and caller.municipality_id is not None:
        statement = statement.where(Work.municipality_id == caller.municipality_id)
    else:
        farmer = farmer_profile_of(session, caller)
        if farmer is None:
            raise Forbidden()
        statement = statement.where(Work.farmer_id == farmer.id)
    return {
        work_id: _Work(
            WorkBrief(id=work_id, title=title, season=season_, variety=variety),
            FarmerBrief(id=farmer_id, name=name, farm_name=farm_name),
        )
        for work_id, title, season_, variety, farmer_id, name, farm_name in session.execute(
            statement
        )
    }


def _collect(session: Session, caller: Caller, season: int) -> dict[uuid.UUID, _Work]:
    works = _works(session, caller, season)
    if not works:
        return works
    bills = session.execute(
        select(Bill.work_id, Bill.holder_id, User.display_name, Bill.amount_go, Account.balance_go)
        .join(User, User.id == Bill.holder_id)
        .outerjoin(
            Account,
            and_(
                Account.user_id == Bill.holder_id,
                Account.work_id == Bill.work_id,
                Account.kind == AccountKind.bill_holder,
            ),
        )
        .where(Bill.work_id.in_(works))
        .order_by(Bill.work_id, Bill.id)
    )
    for work_id, holder_id, name, amount, left in bills:
        works[work_id].lines[holder_id] = (name, _Line(bill_go=amount, left_go=int(left or 0)))
    redeemed = session.execute(
        select(
            Redemption.work_id,
            Redemption.holder_id,
            Redemption.state,
            func.sum(Redemption.amount_go),
            func.sum(Redemption.shipped_g),
            func.max(Redemption.shipped_at),
        )
        .where(Redemption.work_id.in_(works))
        .group_by(Redemption.work_id, Redemption.holder_id, Redemption.state)
    )
    for work_id, holder_id, state, go, grams, shipped_at in redeemed:
        line = works[work_id].lines[holder_id][1]
        go = int(go or 0)
        if state is RedemptionState.requested:
            line.requested_go += go
        elif state in _SHIPPED:
            line.shipped_go += go
            line.shipped_g += int(grams or 0)
            line.last_shipped_at = _later(line.last_shipped_at, shipped_at)
            if state is RedemptionState.received:
                line.received_go += go
        elif state is RedemptionState.refused:
            line.refused_go += go
    for work in works.values():
        for _, line in work.lines.values():
            work.total.add(line)
    return works


def delivery_ledger(session: Session, caller: Caller, season: int) -> DeliveryLedger:
    """The ledger of the caller's works (a farmer) or their town's (an administrator)."""
    return DeliveryLedger(
        season=season,
        works=[
            WorkDeliveries(
                work=work.work,
                farmer=work.farmer,
                supporters=[
                    SupporterDeliveries(
                        supporter=SupporterBrief(id=holder_id, display_name=name),
                        **line.amounts(),
                    )
                    for holder_id, (name, line) in work.lines.items()
                ],
                **work.total.amounts(),
            )
            for work in _collect(session, caller, season).values()
        ],
    )


def delivery_csv(session: Session, caller: Caller, season: int, language: Language) -> Response:
    """The ledger's supporter lines as a spreadsheet, opened as it is in Excel."""
    rows: list[list[str]] = []
    for work in _collect(session, caller, season).values():
        for name, line in work.lines.values():
            outstanding = line.left_go + line.requested_go
            rows.append(
                [
                    work.work.title,
                    str(work.work.season),
                    work.farmer.name,
                    name,
                    str(line.bill_go),
                    str(outstanding),
                    kg_of_go(outstanding),
                    str(line.left_go),
                    str(line.requested_go),
                    str(line.shipped_go),
                    kg_of_go(line.shipped_go),
                    format_kg(line.shipped_g),
                    str(line.received_go),
                    str(line.refused_go),
                    ""
                    if line.last_shipped_at is None
                    else line.last_shipped_at.astimezone(JST).strftime(_JAPAN_TIME),
                ]
            )
    header = CSV_COLUMNS_JA if language == "ja" else CSV_COLUMNS
    return csv_response(f"deliveries-{season}.csv", header, rows, language)
