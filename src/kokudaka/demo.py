"""A small, realistic data set: one region, two towns, farmers with works, supporters.

Loaded by ``kokudaka demo``. It runs once: a second run finds the region and stops.
Every account's password is printed, so the data set is for development only.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.service import create_user
from kokudaka.core.settings import Settings
from kokudaka.investments import service as investments
from kokudaka.investments.schemas import InvestmentCreate
from kokudaka.models import Farmer, Municipality, MunicipalityPolicy, Region, Role, User, Work
from kokudaka.towns.minters import create_town_minter
from kokudaka.volunteering import service as volunteering
from kokudaka.volunteering.schemas import ActivityCreate, ContributionCreate

DEMO_PASSWORD = "kokudaka-demo-2026"  # noqa: S105  (development data only)
SEASON = 2026

# slug, name, 全国地方公共団体コード, yen per go, go per volunteer hour
TOWNS = (
    ("nishiaizu", "西会津町", "074055", 12, 400),
    ("aizubange", "会津坂下町", "074217", 11, 350),
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
    admins: dict[uuid.UUID, User] = {}
    lines = [f"all demo passwords: {DEMO_PASSWORD}"]
    for code, name, national_code, price, rate in TOWNS:
        town = Municipality(region_id=region.id, code=code, name=name, national_code=national_code)
        session.add(town)
        session.flush()
        create_town_minter(session, settings, town.id)
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
        admins[town.id] = admin
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

    # One confirmed investment, one awaiting payment, and a rice-planting day with one
    # approved contribution of three hours: through the services, as the API would.
    first_work = works[0]
    town_admin = Caller.of(admins[first_work.municipality_id])
    for number, (supporter, yen, confirmed) in enumerate(
        ((supporters[0], 30_000, True), (supporters[1], 10_000, False)), start=1
    ):
        _, invested, _ = investments.create_investment(
            session,
            Caller.of(supporter),
            InvestmentCreate(work_id=first_work.id, amount_yen=yen),
            idempotency_key=f"demo-{number}",
        )
        if confirmed:
            investments.confirm_by_admin(
                session, town_admin, uuid.UUID(invested["id"]), f"demo-furikomi-{number}"
            )

    host = session.scalar(select(User).join(Farmer).where(Farmer.id == first_work.farmer_id))
    assert host is not None
    activity = volunteering.create_activity(
        session,
        Caller.of(host),
        ActivityCreate(
            title="田植え体験",
            description="手植えで田植えをします。長靴をお持ちください。",
            activity_on=date(SEASON, 5, 24),
            place="西会津町 佐藤農園の棚田",
            capacity=20,
            max_hours_per_person=Decimal(6),
        ),
    )
    contribution = volunteering.log_hours(
        session, Caller.of(supporters[1]), activity.id, ContributionCreate(hours=Decimal(3))
    )
    volunteering.approve(session, Caller.of(host), contribution.id)
    return "\n".join(lines)
