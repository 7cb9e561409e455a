"""A small, realistic data set: one region, two towns, farmers with works, supporters.

Loaded by ``kokudaka demo``. It runs once: a second run finds the region and stops.
Every account's password is printed, so the data set is for development only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.auth.service import create_user
from kokudaka.core.settings import Settings
from kokudaka.ledger import service as ledger
from kokudaka.models import (
    Activity,
    Contribution,
    ContributionStatus,
    Farmer,
    Investment,
    InvestmentStatus,
    IssuanceKind,
    Municipality,
    MunicipalityPolicy,
    Region,
    Role,
    Work,
)

DEMO_PASSWORD = "kokudaka-demo-2026"  # noqa: S105  (development data only)
SEASON = 2026

TOWNS = (
    ("nishiaizu", "西会津町", 12, 400),
    ("aizubange", "会津坂下町", 11, 350),
)
FARMERS = (
    ("nishiaizu", "佐藤 一郎", "佐藤農園", "コシヒカリ", "棚田で育てる減農薬のコシヒカリ。"),
    ("nishiaizu", "鈴木 花子", "鈴木ファーム", "ひとめぼれ", "ミネラル野菜と一緒に育てるお米。"),
    ("aizubange", "高橋 誠", "高橋米店", "天のつぶ", "会津盆地の真ん中で三代続く米農家。"),
)


def load_demo(session: Session, settings: Settings) -> str:
    if session.scalar(select(Region).where(Region.code == "aizu")) is not None:
        return "the demo data set is already loaded"
    region = Region(code="aizu", name="会津")
    session.add(region)
    session.flush()
    towns: dict[str, Municipality] = {}
    lines = [f"all demo passwords: {DEMO_PASSWORD}"]
    for code, name, price, rate in TOWNS:
        town = Municipality(region_id=region.id, code=code, name=name)
        session.add(town)
        session.flush()
        towns[code] = town
        session.add(
            MunicipalityPolicy(
                municipality_id=town.id,
                season=SEASON,
                price_yen_per_go=price,
                volunteer_go_per_hour=rate,
                yearly_cap_go=50_000_000,
            )
        )
        admin = create_user(
            session,
            settings,
            email=f"admin@{code}.example.jp",
            password=DEMO_PASSWORD,
            display_name=f"{name} 役場",
            role=Role.town_admin,
            municipality_id=town.id,
        )
        lines.append(f"town administrator of {name}: {admin.email}")
    create_user(
        session,
        settings,
        email="auditor@aizu.example.jp",
        password=DEMO_PASSWORD,
        display_name="会津 監査",
        role=Role.regional_auditor,
        region_id=region.id,
    )
    lines.append("regional auditor: auditor@aizu.example.jp")

    works: list[Work] = []
    for index, (code, name, farm, variety, story) in enumerate(FARMERS, start=1):
        user = create_user(
            session,
            settings,
            email=f"farmer{index}@example.jp",
            password=DEMO_PASSWORD,
            display_name=name,
            role=Role.farmer,
            municipality_id=towns[code].id,
        )
        farmer = Farmer(
            user_id=user.id,
            municipality_id=towns[code].id,
            name=name,
            farm_name=farm,
            story=story,
            varieties=[variety],
        )
        session.add(farmer)
        session.flush()
        work = Work(
            farmer_id=farmer.id,
            municipality_id=towns[code].id,
            season=SEASON,
            title=f"{farm}の{variety} {SEASON}",
            variety=variety,
            description=story,
            field_area_m2=8_000 + 1_000 * index,
            planned_yield_go=3_000_000,
            offer_yen=3_000_000,
            is_open=True,
        )
        session.add(work)
        session.flush()
        works.append(work)
        lines.append(f"farmer {name}: {user.email}")

    supporters = [
        create_user(
            session,
            settings,
            email=f"supporter{index}@example.jp",
            password=DEMO_PASSWORD,
            display_name=display,
            role=Role.supporter,
        )
        for index, display in enumerate(("山田 太郎", "Emma Clarke"), start=1)
    ]
    lines.extend(f"supporter {s.display_name}: {s.email}" for s in supporters)

    # One confirmed investment, one awaiting payment.
    first_work = works[0]
    price = TOWNS[0][2]
    for supporter, yen, confirmed in (
        (supporters[0], 30_000, True),
        (supporters[1], 10_000, False),
    ):
        go, remainder = divmod(yen, price)
        investment = Investment(
            supporter_id=supporter.id,
            work_id=first_work.id,
            municipality_id=first_work.municipality_id,
            amount_yen=yen,
            price_yen_per_go=price,
            go_amount=go,
            remainder_yen=remainder,
            status=InvestmentStatus.confirmed if confirmed else InvestmentStatus.pending_payment,
            payment_reference="demo-furikomi-1" if confirmed else None,
            confirmed_at=datetime.now(UTC) if confirmed else None,
        )
        session.add(investment)
        session.flush()
        if confirmed:
            ledger.issue(
                session,
                municipality_id=first_work.municipality_id,
                season=SEASON,
                recipient_id=supporter.id,
                amount_go=go,
                cause=ledger.IssuanceCause(
                    kind=IssuanceKind.investment,
                    idempotency_key=f"investment:{investment.id}",
                    memo=f"Investment of {yen} yen in {first_work.title}",
                    farmer_id=first_work.farmer_id,
                    work_id=first_work.id,
                    investment_id=investment.id,
                    price_yen_per_go=price,
                ),
                actor_id=None,
            )

    # A rice-planting day with one approved contribution of three hours.
    host = session.get(Farmer, first_work.farmer_id)
    assert host is not None
    activity = Activity(
        municipality_id=first_work.municipality_id,
        farmer_id=host.id,
        created_by_id=host.user_id,
        title="田植え体験",
        description="手植えで田植えをします。長靴をお持ちください。",
        activity_on=date(SEASON, 5, 24),
        place="西会津町 佐藤農園の棚田",
        go_per_hour=TOWNS[0][3],
        capacity=20,
        max_minutes_per_person=6 * 60,
    )
    session.add(activity)
    session.flush()
    contribution = Contribution(
        activity_id=activity.id,
        supporter_id=supporters[1].id,
        minutes=180,
        status=ContributionStatus.approved,
        reviewed_by_id=host.user_id,
        reviewed_at=datetime.now(UTC),
    )
    session.add(contribution)
    session.flush()
    ledger.issue(
        session,
        municipality_id=activity.municipality_id,
        season=SEASON,
        recipient_id=supporters[1].id,
        amount_go=activity.go_per_hour * contribution.minutes // 60,
        cause=ledger.IssuanceCause(
            kind=IssuanceKind.contribution,
            idempotency_key=f"contribution:{contribution.id}",
            memo=f"3 hours at {activity.title}",
            farmer_id=host.id,
            activity_id=activity.id,
            contribution_id=contribution.id,
            go_per_hour=activity.go_per_hour,
        ),
        actor_id=host.user_id,
    )
    return "\n".join(lines)
