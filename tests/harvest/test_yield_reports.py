"""Yield reports: filed by the farmer or the town, countersigned or rejected by another
administrator of the town, corrected by new reports until the bills are issued."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kokudaka.harvest.yields import japan_today
from kokudaka.models import StaffLogEntry, Work, YieldReport, YieldReportState, utcnow
from tests.harvest.helpers import file_report, invest_and_confirm, second_admin
from tests.world import SEASON, Person, World, assert_problem

# Town A's work plans 3,600,000 go = 540,000 kg; 432,000 kg is 80% of it, 702,000 kg 130%.
AT_80 = "432000"
AT_130 = "702000"


def countersign(world: World, person: Person, report_id: str) -> dict[str, object]:
    response = world.client.post(
        f"/v1/yield-reports/{report_id}/countersign", headers=person.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def harvest(world: World) -> dict[str, object]:
    response = world.client.get(f"/v1/works/{world.a.work_id}/harvest")
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_filed_corrected_then_countersigned_public_and_final(world: World) -> None:
    invest_and_confirm(world, world.alice, 5_000)
    assert harvest(world)["state"] == "no_report"

    first = file_report(world.client, world.a.farmer, world.a.work_id, kg=AT_130)
    assert first.status_code == 201, first.text
    assert harvest(world)["state"] == "awaiting_countersignature"
    # A correction before the countersignature: a new report supersedes the first.
    filed = file_report(world.client, world.a.farmer, world.a.work_id, kg=AT_80)
    assert filed.status_code == 201, filed.text
    report = filed.json()
    assert report["state"] == "filed"
    assert report["actual_yield"]["go"] == 432_000_000 // 150
    assert report["actual_yield_kg"] == "432000.000"
    assert report["filed_by"]["id"] == str(world.a.farmer.id)
    pending = harvest(world)
    assert pending["state"] == "awaiting_countersignature"
    assert pending["actual_yield"] is None  # only a countersigned report counts
    assert_problem(
        world.client.post(
            f"/v1/yield-reports/{first.json()['id']}/countersign", headers=world.a.admin.headers
        ),
        409,
        "yield_report_not_filed",
    )

    signed = countersign(world, world.a.admin, report["id"])
    assert signed["state"] == "countersigned"
    public = harvest(world)
    # Countersigning settles the work: its boards are bills now.
    assert public["state"] == "bills_issued"
    assert public["bills_issued_at"] is not None
    assert public["planned_yield"]["go"] == 3_600_000
    assert public["actual_yield"]["go"] == 2_880_000
    assert public["ratio_bp"] == 8_000
    assert public["ceiling_bp"] == 12_000
    assert public["capped_ratio_bp"] == 8_000
    assert public["counted_yield"]["go"] == 2_880_000
    assert public["countersigned_by"]["id"] == str(world.a.admin.id)
    assert public["countersigned_at"] is not None
    assert public["evidence"]["slip_number"] == "JA-AIZU-2026-000123"
    assert public["evidence"]["photo_urls"] == ["https://photos.example.jp/harvest/1.jpg"]
    assert public["boards"]["investment"]["go"] == 500
    again = world.client.post(
        f"/v1/yield-reports/{report['id']}/countersign", headers=world.a.admin.headers
    )
    assert_problem(again, 409, "bills_already_issued")
    late = file_report(world.client, world.a.farmer, world.a.work_id, kg=AT_130)
    assert_problem(late, 409, "bills_already_issued")

    states = world.client.get(
        f"/v1/works/{world.a.work_id}/yield-reports", headers=world.a.farmer.headers
    ).json()["items"]
    assert [(r["id"], r["state"]) for r in states] == [
        (report["id"], "countersigned"),
        (first.json()["id"], "superseded"),
    ]
    with world.db() as session:
        actions = list(
            session.scalars(
                select(StaffLogEntry.action)
                .where(StaffLogEntry.object_type == "yield_report")
                .order_by(StaffLogEntry.sequence)
            )
        )
    assert actions == ["yield.file", "yield.file", "yield.countersign"]


def test_a_new_filing_supersedes_one_awaiting_countersignature(world: World) -> None:
    first = file_report(world.client, world.a.farmer, world.a.work_id, kg="1").json()
    second = file_report(world.client, world.a.admin, world.a.work_id, kg="2").json()
    stale = world.client.post(
        f"/v1/yield-reports/{first['id']}/countersign", headers=world.a.admin.headers
    )
    assert_problem(stale, 409, "yield_report_not_filed")
    # The administrator who filed it may not countersign it; another one may.
    own = world.client.post(
        f"/v1/yield-reports/{second['id']}/countersign", headers=world.a.admin.headers
    )
    assert_problem(own, 403, "own_yield_report")
    countersign(world, second_admin(world), second["id"])
    assert harvest(world)["filed_by"]["role"] == "town_admin"


def test_rejected_with_a_reason_then_filed_again(world: World) -> None:
    report = file_report(world.client, world.a.farmer, world.a.work_id).json()
    rejected = world.client.post(
        f"/v1/yield-reports/{report['id']}/reject",
        json={"reason": "伝票の数量と一致しません。"},
        headers=world.a.admin.headers,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["rejection_reason"] == "伝票の数量と一致しません。"
    assert harvest(world)["state"] == "rejected"
    assert harvest(world)["actual_yield"] is None
    assert file_report(world.client, world.a.farmer, world.a.work_id).status_code == 201
    with world.db() as session:
        assert "yield.reject" in set(session.scalars(select(StaffLogEntry.action)))


def test_who_may_file_review_and_read(world: World) -> None:
    for outsider in (world.alice, world.b.farmer, world.b.admin, world.auditor):
        response = file_report(world.client, outsider, world.a.work_id)
        assert response.status_code == 403, response.text
    report = file_report(world.client, world.a.farmer, world.a.work_id).json()
    for outsider in (world.a.farmer, world.b.admin, world.alice, world.platform_admin):
        response = world.client.post(
            f"/v1/yield-reports/{report['id']}/countersign", headers=outsider.headers
        )
        assert response.status_code == 403, response.text
    path = f"/v1/works/{world.a.work_id}/yield-reports"
    for reader in (world.a.farmer, world.a.admin, world.auditor, world.platform_admin):
        assert world.client.get(path, headers=reader.headers).status_code == 200
    for outsider in (world.alice, world.b.farmer, world.b.admin, world.other_region_auditor):
        assert world.client.get(path, headers=outsider.headers).status_code == 403
    assert_problem(
        world.client.post(
            f"/v1/yield-reports/{uuid.uuid4()}/countersign", headers=world.a.admin.headers
        ),
        404,
        "not_found",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"kg": "1.2345"},
        {"kg": "-5"},
        {"kg": 540.5},
        {"photo_urls": ["http://photos.example.jp/1.jpg"]},
        {"photo_urls": [f"https://photos.example.jp/{i}.jpg" for i in range(11)]},
        {"photo_urls": ["https://photos.example.jp/" + "a" * 2000]},
        {"slip_number": ""},
    ],
)
def test_invalid_reports_are_refused(world: World, changes: dict[str, object]) -> None:
    if "kg" in changes:
        changes = {"actual_yield_kg": changes.pop("kg"), **changes}
    response = world.client.post(
        f"/v1/works/{world.a.work_id}/yield-reports",
        json={
            "actual_yield_kg": "1",
            "harvested_on": f"{SEASON}-09-01",
            **changes,
        },
        headers=world.a.farmer.headers,
    )
    assert_problem(response, 422, "validation_error")


def test_the_harvest_date_is_in_the_season_and_not_ahead(world: World) -> None:
    for day in (japan_today() + timedelta(days=1), japan_today().replace(year=SEASON - 1)):
        response = file_report(
            world.client, world.a.farmer, world.a.work_id, harvested_on=day.isoformat()
        )
        assert_problem(response, 409, "harvest_date_invalid")
    with world.db() as session:
        assert session.scalar(select(YieldReport.id)) is None


def test_nothing_changes_once_the_bills_are_issued(world: World) -> None:
    report = file_report(world.client, world.a.farmer, world.a.work_id).json()
    with world.db.begin() as session:
        session.execute(
            update(Work).where(Work.id == world.a.work_id).values(bills_issued_at=utcnow())
        )
    assert_problem(
        world.client.post(
            f"/v1/yield-reports/{report['id']}/countersign", headers=world.a.admin.headers
        ),
        409,
        "bills_already_issued",
    )
    assert_problem(
        file_report(world.client, world.a.farmer, world.a.work_id), 409, "bills_already_issued"
    )
    assert harvest(world)["state"] == "bills_issued"
    with world.db() as session:
        states = set(session.scalars(select(YieldReport.state)))
    assert states == {YieldReportState.filed}
