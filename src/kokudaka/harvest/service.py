"""Yield reports: filing, countersigning, rejecting, and a work's public harvest.

Every write locks the work's row first, so a filing and a countersignature of the same
work never interleave; the partial unique indexes on ``yield_reports`` (one report
awaiting countersignature, one in effect per work) are the database's own guard.
Nothing is filed or countersigned once the work's bills are issued
(``Work.bills_issued_at``, set by the harvest conversion). Services flush; the request
commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.auth.caller import Caller
from kokudaka.auth.permissions import audits_municipality, farmer_profile_of
from kokudaka.core.engines import literal_limit
from kokudaka.core.errors import Conflict, Forbidden, NotFound
from kokudaka.core.schemas import Amount
from kokudaka.farmers.service import is_town_admin_of
from kokudaka.harvest import yields
from kokudaka.harvest.bills import WorkSettlement, work_settlements
from kokudaka.harvest.boards import work_board_totals
from kokudaka.harvest.conversion import convert_work, lock_unpaid_investments
from kokudaka.harvest.schemas import (
    BoardsTotal,
    Evidence,
    HarvestRead,
    HarvestSettlement,
    HarvestState,
    PersonRef,
    YieldReportCreate,
    YieldReportRead,
)
from kokudaka.models import (
    DEFAULT_HARVEST_CEILING_BP,
    MunicipalityPolicy,
    Role,
    StaffAction,
    User,
    Work,
    YieldReport,
    YieldReportState,
    utcnow,
)


def _locked_work(session: Session, work_id: uuid.UUID) -> Work:
    work = session.scalar(
        select(Work)
        .where(Work.id == work_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if work is None:
        raise NotFound("Work")
    return work


def _is_farmer_of(session: Session, actor: Caller, work: Work) -> bool:
    own = farmer_profile_of(session, actor)
    return own is not None and own.id == work.farmer_id


def _refuse_after_bills(work: Work) -> None:
    if work.bills_issued_at is not None:
        raise Conflict("bills_already_issued")


def ceiling_bp(session: Session, work: Work) -> int:
    """The town's harvest ceiling for the work's season (120% if it set no policy)."""
    value = session.scalar(
        select(MunicipalityPolicy.harvest_ceiling_bp).where(
            MunicipalityPolicy.municipality_id == work.municipality_id,
            MunicipalityPolicy.season == work.season,
        )
    )
    return DEFAULT_HARVEST_CEILING_BP if value is None else value


def file_report(
    session: Session, actor: Caller, work_id: uuid.UUID, body: YieldReportCreate
) -> YieldReport:
    """File a work's actual yield, by its farmer or an administrator of its town. A
    report still awaiting countersignature is superseded by this one."""
    work = _locked_work(session, work_id)
    if not (_is_farmer_of(session, actor, work) or is_town_admin_of(actor, work.municipality_id)):
        raise Forbidden()
    _refuse_after_bills(work)
    if body.harvested_on.year != work.season or body.harvested_on > yields.japan_today():
        # A rule of the work's season and of today, not of the body alone.
        raise Conflict("harvest_date_invalid", season=work.season)
    grams = yields.grams_of_kg(body.actual_yield_kg)
    now = utcnow()
    # The one awaiting countersignature steps aside first (one per work, by index).
    session.execute(
        update(YieldReport)
        .where(YieldReport.work_id == work.id, YieldReport.state == YieldReportState.filed)
        .values(state=YieldReportState.superseded, superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    report = YieldReport(
        work_id=work.id,
        municipality_id=work.municipality_id,
        actual_yield_g=grams,
        actual_yield_go=yields.go_of_grams(grams),
        harvested_on=body.harvested_on,
        photo_urls=list(body.photo_urls),
        slip_number=body.slip_number,
        note=body.note,
        state=YieldReportState.filed,
        filed_by_id=actor.id,
    )
    session.add(report)
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.yield_file,
        object_type="yield_report",
        object_id=report.id,
        data={
            "work_id": work.id,
            "actual_yield_g": grams,
            "actual_yield_go": report.actual_yield_go,
            "harvested_on": body.harvested_on,
            "slip_number": body.slip_number,
            "photos": len(body.photo_urls),
        },
        municipality_id=work.municipality_id,
    )
    return report


def _for_review(
    session: Session, actor: Caller, report_id: uuid.UUID, *, converting: bool = False
) -> tuple[YieldReport, Work]:
    """The report, locked with its work, if ``actor`` may countersign or reject it: an
    administrator of the work's town who did not file it. ``converting``: the work's
    investments awaiting payment are locked first, which the conversion cancels."""
    found = session.get(YieldReport, report_id)
    if found is None:
        raise NotFound("Yield report")
    if not (actor.role is Role.town_admin and actor.municipality_id == found.municipality_id):
        raise Forbidden()
    if found.filed_by_id == actor.id:
        raise Forbidden("own_yield_report")
    if converting:
        lock_unpaid_investments(session, found.work_id)
    work = _locked_work(session, found.work_id)
    report = session.scalar(
        select(YieldReport)
        .where(YieldReport.id == report_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    assert report is not None
    _refuse_after_bills(work)
    if report.state is not YieldReportState.filed:
        raise Conflict("yield_report_not_filed", status=report.state.value)
    return report, work


def countersign(session: Session, actor: Caller, report_id: uuid.UUID) -> YieldReport:
    """Countersign a report: it becomes the work's actual yield, public and final, and
    settles the work: every board on it becomes a rice bill sized by this yield
    (:mod:`kokudaka.harvest.conversion`), in this transaction."""
    report, work = _for_review(session, actor, report_id, converting=True)
    now = utcnow()
    session.execute(
        update(YieldReport)
        .where(YieldReport.work_id == work.id, YieldReport.state == YieldReportState.countersigned)
        .values(state=YieldReportState.superseded, superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    report.state = YieldReportState.countersigned
    report.reviewed_by_id = actor.id
    report.reviewed_at = now
    session.flush()
    ceiling = ceiling_bp(session, work)
    converted = convert_work(session, work, report, ceiling, actor.id)
    append_staff_action(
        session,
        actor,
        StaffAction.yield_countersign,
        object_type="yield_report",
        object_id=report.id,
        data={
            "work_id": work.id,
            "actual_yield_go": report.actual_yield_go,
            "planned_yield_go": work.planned_yield_go,
            "ceiling_bp": ceiling,
            "boards": converted.boards,
            "board_go": converted.board_go,
            "bill_go": converted.bill_go,
            "cancelled_investments": converted.cancelled_investments,
        },
        municipality_id=work.municipality_id,
    )
    return report


def reject(session: Session, actor: Caller, report_id: uuid.UUID, reason: str) -> YieldReport:
    report, work = _for_review(session, actor, report_id)
    report.state = YieldReportState.rejected
    report.reviewed_by_id = actor.id
    report.reviewed_at = utcnow()
    report.rejection_reason = reason
    session.flush()
    append_staff_action(
        session,
        actor,
        StaffAction.yield_reject,
        object_type="yield_report",
        object_id=report.id,
        data={"work_id": work.id, "reason": reason},
        municipality_id=work.municipality_id,
    )
    return report


# Reads ----------------------------------------------------------------------------


def _people(session: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, PersonRef]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.role).where(User.id.in_(wanted))
    ).all()
    return {r[0]: PersonRef(id=r[0], display_name=r[1], role=r[2]) for r in rows}


def _evidence(report: YieldReport) -> Evidence:
    return Evidence(
        photo_urls=list(report.photo_urls), slip_number=report.slip_number, note=report.note
    )


def report_reads(session: Session, reports: Sequence[YieldReport]) -> list[YieldReportRead]:
    ids: set[uuid.UUID | None] = {r.filed_by_id for r in reports}
    people = _people(session, ids | {r.reviewed_by_id for r in reports})
    return [
        YieldReportRead(
            id=r.id,
            work_id=r.work_id,
            state=r.state,
            actual_yield=Amount.of(r.actual_yield_go),
            actual_yield_kg=yields.format_kg(r.actual_yield_g),
            harvested_on=r.harvested_on,
            evidence=_evidence(r),
            filed_by=people[r.filed_by_id],
            filed_at=r.created_at,
            reviewed_by=people.get(r.reviewed_by_id) if r.reviewed_by_id else None,
            reviewed_at=r.reviewed_at,
            rejection_reason=r.rejection_reason,
        )
        for r in reports
    ]


def may_read_reports(session: Session, user: Caller, work: Work) -> bool:
    """The work's farmer and whoever audits its town (its administrators, its region's
    auditors, platform administrators)."""
    return _is_farmer_of(session, user, work) or audits_municipality(
        session, user, work.municipality_id
    )


def list_reports(session: Session, user: Caller, work_id: uuid.UUID) -> list[YieldReport]:
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound("Work")
    if not may_read_reports(session, user, work):
        raise Forbidden()
    return list(
        session.scalars(
            select(YieldReport)
            .where(YieldReport.work_id == work.id)
            .order_by(YieldReport.id.desc())
        )
    )


def reports_awaiting(session: Session, municipality_id: uuid.UUID) -> list[YieldReport]:
    """A town's reports awaiting countersignature, oldest first (the console's queue)."""
    return list(
        session.scalars(
            select(YieldReport)
            .where(
                YieldReport.municipality_id == municipality_id,
                YieldReport.state == YieldReportState.filed,
            )
            .order_by(YieldReport.id)
        )
    )


def _state(work: Work, newest: YieldReport | None, in_effect: YieldReport | None) -> HarvestState:
    if work.bills_issued_at is not None:
        return HarvestState.bills_issued
    if newest is not None and newest.state is YieldReportState.filed:
        return HarvestState.awaiting_countersignature
    if in_effect is not None:
        return HarvestState.countersigned
    if newest is not None and newest.state is YieldReportState.rejected:
        return HarvestState.rejected
    return HarvestState.no_report


def settlement_read(settled: WorkSettlement) -> HarvestSettlement:
    return HarvestSettlement(
        boards_converted=settled.boards_converted,
        boards=Amount.of(settled.board_go),
        bills_issued=Amount.of(settled.bill_go),
        bills_issued_kg=yields.kg_of_go(settled.bill_go),
        rice_owed=Amount.of(settled.outstanding_go),
        rice_owed_kg=yields.kg_of_go(settled.outstanding_go),
        investments_cancelled=settled.investments_cancelled,
    )


def harvest_read(session: Session, work_id: uuid.UUID) -> HarvestRead:
    """A work's harvest as the public sees it: planned against the countersigned actual."""
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound("Work")
    newest = session.scalar(
        select(YieldReport)
        .where(YieldReport.work_id == work.id, YieldReport.state != YieldReportState.superseded)
        .order_by(YieldReport.id.desc())
        .limit(literal_limit(1))
    )
    report = session.scalar(
        select(YieldReport).where(
            YieldReport.work_id == work.id, YieldReport.state == YieldReportState.countersigned
        )
    )
    ceiling = ceiling_bp(session, work)
    totals = work_board_totals(session, work.id)
    boards = BoardsTotal(
        investment=Amount.of(totals.investment_go),
        labour=Amount.of(totals.labour_go),
        total=Amount.of(totals.total_go),
    )
    planned = work.planned_yield_go
    people = _people(
        session, {report.filed_by_id, report.reviewed_by_id} if report else set[uuid.UUID | None]()
    )
    actual = report.actual_yield_go if report else None
    settled = work_settlements(session, [work.id]).get(work.id) if work.bills_issued_at else None
    return HarvestRead(
        work_id=work.id,
        season=work.season,
        state=_state(work, newest, report),
        planned_yield=Amount.of(planned),
        actual_yield=Amount.of(actual) if actual is not None else None,
        actual_yield_kg=yields.format_kg(report.actual_yield_g) if report else None,
        ratio_bp=yields.ratio_bp(actual, planned) if actual is not None else None,
        ceiling_bp=ceiling,
        capped_ratio_bp=(
            yields.capped_ratio_bp(actual, planned, ceiling) if actual is not None else None
        ),
        counted_yield=(
            Amount.of(yields.counted_yield_go(actual, planned, ceiling))
            if actual is not None
            else None
        ),
        harvested_on=report.harvested_on if report else None,
        evidence=_evidence(report) if report else None,
        filed_by=people.get(report.filed_by_id) if report else None,
        filed_at=report.created_at if report else None,
        countersigned_by=(
            people.get(report.reviewed_by_id) if report and report.reviewed_by_id else None
        ),
        countersigned_at=report.reviewed_at if report else None,
        bills_issued_at=work.bills_issued_at,
        boards=boards,
        settlement=settlement_read(settled) if settled else None,
    )
