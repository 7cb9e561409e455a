"""A town gets its minter key when it is created, in the same transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.core.settings import Settings
from kokudaka.demo import load_demo
from kokudaka.models import Municipality
from kokudaka.models.chain import TownMinter
from kokudaka.towns.minters import minter_for
from tests.world import World, assert_problem


def test_a_town_created_through_the_api_has_its_minter_key(
    world: World, db: sessionmaker[Session], settings: Settings
) -> None:
    with db() as session:
        region_id = session.scalar(
            select(Municipality.region_id).where(Municipality.id == world.a.municipality_id)
        )
    created = world.client.post(
        "/v1/municipalities",
        json={"region_id": str(region_id), "code": "tadami", "name": "只見町"},
        headers=world.platform_admin.headers,
    )
    assert created.status_code == 201, created.text
    town = uuid.UUID(created.json()["id"])
    with db() as session:
        key = minter_for(session, town)
    assert key.municipality_id == town
    assert len(key.private_key(settings)) == 32
    # A refused creation leaves no key behind.
    keys = _count_keys(db)
    assert_problem(
        world.client.post(
            "/v1/municipalities",
            json={"region_id": str(region_id), "code": "tadami", "name": "只見町"},
            headers=world.platform_admin.headers,
        ),
        409,
        "municipality_code_taken",
    )
    assert _count_keys(db) == keys


def test_the_demo_towns_have_their_minter_keys(
    db: sessionmaker[Session], settings: Settings
) -> None:
    with db.begin() as session:
        load_demo(session, settings)
    with db() as session:
        towns = session.scalars(select(Municipality.id)).all()
        assert towns
        assert {minter_for(session, town).municipality_id for town in towns} == set(towns)


def _count_keys(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(TownMinter)) or 0
