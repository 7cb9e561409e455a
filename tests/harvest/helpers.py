"""Acting out boards and harvests through the API."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from kokudaka.auth.service import create_user
from kokudaka.harvest.yields import japan_today
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue
from kokudaka.models import IssuanceKind, MunicipalityPolicy, Role, User
from tests.volunteering.helpers import logged, post_activity
from tests.world import PASSWORD, SEASON, Person, Town, World


def invest_and_confirm(
    world: World, supporter: Person, yen: int, town: Town | None = None
) -> dict[str, Any]:
    """A confirmed investment in town A's work (or ``town``'s): its issuance is a board on
    the work."""
    town = town or world.a
    made = world.client.post(
        "/v1/investments",
        json={"work_id": str(town.work_id), "amount_yen": yen},
        headers={**supporter.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    confirmed = world.client.post(
        f"/v1/investments/{made.json()['id']}/confirm",
        json={"payment_reference": f"furikomi-{made.json()['id']}"},
        headers=town.admin.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    result: dict[str, Any] = confirmed.json()
    return result


def approved_hours(
    world: World, supporter: Person, hours: str, work_id: uuid.UUID | None
) -> dict[str, Any]:
    """Hours approved on a new activity of town A's farmer, naming ``work_id`` or none."""
    extra = {"work_id": str(work_id)} if work_id else {}
    activity = post_activity(world.client, world.a.farmer, **extra)
    contribution = logged(world.client, supporter, activity["id"], hours)
    approved = world.client.post(
        f"/v1/contributions/{contribution['id']}/approve", headers=world.a.farmer.headers
    )
    assert approved.status_code == 200, approved.text
    result: dict[str, Any] = approved.json()
    return result


def set_boards_close_on(world: World, day: date | None) -> None:
    with world.db.begin() as session:
        policy = session.scalar(
            select(MunicipalityPolicy).where(
                MunicipalityPolicy.municipality_id == world.a.municipality_id,
                MunicipalityPolicy.season == SEASON,
            )
        )
        assert policy is not None
        policy.boards_close_on = day


def yesterday() -> date:
    return japan_today() - timedelta(days=1)


def harvest_day() -> str:
    """A harvest date in the test season, not after today."""
    return min(japan_today(), date(SEASON, 12, 31)).replace(day=1).isoformat()


def report_body(kg: str = "432", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actual_yield_kg": kg,
        "harvested_on": harvest_day(),
        "photo_urls": ["https://photos.example.jp/harvest/1.jpg"],
        "slip_number": "JA-AIZU-2026-000123",
        "note": "稲刈り完了。",
    }
    body.update(changes)
    return body


def file_report(
    client: httpx.Client, person: Person, work_id: uuid.UUID, **changes: Any
) -> httpx.Response:
    return client.post(
        f"/v1/works/{work_id}/yield-reports", json=report_body(**changes), headers=person.headers
    )


def second_admin(world: World) -> Person:
    with world.db.begin() as session:
        user = create_user(
            session,
            world.settings,
            email=f"admin2-{uuid.uuid4().hex[:6]}@nishiaizu.example.jp",
            password=PASSWORD,
            display_name="西会津町 第二管理者",
            role=Role.town_admin,
            municipality_id=world.a.municipality_id,
        )
        return world.person(user)


def many_boards(world: World, count: int) -> None:
    """``count`` supporters with one investment board each on town A's work, issued
    straight through the ledger (fast enough for thousands)."""
    with world.db.begin() as session:
        for i in range(count):
            user = User(
                email=f"board{i}@example.jp",
                display_name=f"board {i}",
                role=Role.supporter,
                password_hash="",
            )
            session.add(user)
            session.flush()
            issue(
                session,
                municipality_id=world.a.municipality_id,
                season=SEASON,
                recipient_id=user.id,
                amount_go=100 + i,
                cause=IssuanceCause(
                    kind=IssuanceKind.investment,
                    idempotency_key=f"test-board:{i}",
                    memo=Memo("investment", {"amount_yen": 1000, "title": "t"}),
                    work_id=world.a.work_id,
                    farmer_id=world.a.farmer_id,
                ),
                actor_id=None,
            )


def harvested(world: World, town: Town, kg: str) -> dict[str, Any]:
    """``town``'s work harvested: its farmer files ``kg``, its administrator countersigns,
    which converts the boards into bills. The countersigned report."""
    report = file_report(world.client, town.farmer, town.work_id, kg=kg)
    assert report.status_code == 201, report.text
    signed = world.client.post(
        f"/v1/yield-reports/{report.json()['id']}/countersign", headers=town.admin.headers
    )
    assert signed.status_code == 200, signed.text
    result: dict[str, Any] = signed.json()
    return result
