"""A small, realistic data set for tests, and helpers to act as its people."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.auth.caller import Caller
from kokudaka.auth.security import create_access_token
from kokudaka.auth.service import create_user
from kokudaka.core.settings import Settings
from kokudaka.models import Farmer, Municipality, MunicipalityPolicy, Region, Role, User, Work

SEASON = 2026
PRICE_YEN_PER_GO = 10
VOLUNTEER_GO_PER_HOUR = 500
YEARLY_CAP_GO = 10_000_000
PASSWORD = "correct horse battery"


@dataclass
class Person:
    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Town:
    municipality_id: uuid.UUID
    admin: Person
    farmer: Person
    farmer_id: uuid.UUID
    work_id: uuid.UUID


@dataclass
class World:
    client: httpx.Client
    db: sessionmaker[Session]
    settings: Settings
    region_id: uuid.UUID
    platform_admin: Person
    auditor: Person
    a: Town
    b: Town
    alice: Person
    bob: Person
    other_region_auditor: Person
    _counter: list[int] = field(default_factory=lambda: [0])

    def person(self, user: User) -> Person:
        return Person(user.id, user.email, create_access_token(self.settings, Caller.of(user)))

    def new_supporter(self, name: str = "supporter") -> Person:
        """Sign up a new supporter through the API."""
        self._counter[0] += 1
        email = f"{name}{self._counter[0]}-{uuid.uuid4().hex[:6]}@example.jp"
        response = self.client.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": name},
        )
        assert response.status_code == 201, response.text
        token = self.client.post(
            "/v1/auth/token", data={"username": email, "password": PASSWORD}
        ).json()["access_token"]
        return Person(uuid.UUID(response.json()["id"]), email, token)


def _user(
    session: Session,
    settings: Settings,
    email: str,
    role: Role,
    *,
    municipality_id: uuid.UUID | None = None,
    region_id: uuid.UUID | None = None,
) -> User:
    """An account made as the service makes it (supporters and farmers get a wallet)."""
    return create_user(
        session,
        settings,
        email=email,
        password=PASSWORD,
        display_name=email.split("@")[0],
        role=role,
        municipality_id=municipality_id,
        region_id=region_id,
    )


def build_world(client: httpx.Client, db: sessionmaker[Session], settings: Settings) -> World:
    with db.begin() as session:
        region = Region(code="aizu", name="会津")
        other_region = Region(code="other", name="Other region")
        session.add_all([region, other_region])
        session.flush()
        towns: list[tuple[Municipality, User, User, Farmer, Work]] = []
        for code, name in (("nishiaizu", "西会津町"), ("kitakata", "喜多方市")):
            town = Municipality(region_id=region.id, code=code, name=name)
            session.add(town)
            session.flush()
            session.add(
                MunicipalityPolicy(
                    municipality_id=town.id,
                    season=SEASON,
                    price_yen_per_go=PRICE_YEN_PER_GO,
                    volunteer_go_per_hour=VOLUNTEER_GO_PER_HOUR,
                    yearly_cap_go=YEARLY_CAP_GO,
                )
            )
            admin = _user(
                session,
                settings,
                f"admin@{code}.example.jp",
                Role.town_admin,
                municipality_id=town.id,
            )
            farmer_user = _user(
                session,
                settings,
                f"farmer@{code}.example.jp",
                Role.farmer,
                municipality_id=town.id,
            )
            farmer = Farmer(
                user_id=farmer_user.id,
                municipality_id=town.id,
                name=f"{name}の農家",
                farm_name=f"{code} farm",
                story="",
                varieties=["コシヒカリ"],
            )
            session.add(farmer)
            session.flush()
            work = Work(
                farmer_id=farmer.id,
                municipality_id=town.id,
                season=SEASON,
                title=f"{code} コシヒカリ {SEASON}",
                variety="コシヒカリ",
                description="",
                field_area_m2=10_000,
                planned_yield_go=3_600_000,
                offer_yen=10_000_000,
                is_open=True,
            )
            session.add(work)
            session.flush()
            towns.append((town, admin, farmer_user, farmer, work))
        platform = _user(session, settings, "platform@example.jp", Role.platform_admin)
        auditor = _user(
            session,
            settings,
            "auditor@aizu.example.jp",
            Role.regional_auditor,
            region_id=region.id,
        )
        other_auditor = _user(
            session,
            settings,
            "auditor@other.example.jp",
            Role.regional_auditor,
            region_id=other_region.id,
        )
        alice = _user(session, settings, "alice@example.jp", Role.supporter)
        bob = _user(session, settings, "bob@example.jp", Role.supporter)

    def person(user: User) -> Person:
        return Person(user.id, user.email, create_access_token(settings, Caller.of(user)))

    def as_town(entry: tuple[Municipality, User, User, Farmer, Work]) -> Town:
        municipality, admin, farmer_user, farmer, work = entry
        return Town(
            municipality_id=municipality.id,
            admin=person(admin),
            farmer=person(farmer_user),
            farmer_id=farmer.id,
            work_id=work.id,
        )

    return World(
        client=client,
        db=db,
        settings=settings,
        region_id=region.id,
        platform_admin=person(platform),
        auditor=person(auditor),
        a=as_town(towns[0]),
        b=as_town(towns[1]),
        alice=person(alice),
        bob=person(bob),
        other_region_auditor=person(other_auditor),
    )


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    """The response is an RFC 9457 problem with this status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status


def count(world: World, model: type) -> int:
    """Rows of ``model`` in the test database (to prove a refused request wrote nothing)."""
    with world.db() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
