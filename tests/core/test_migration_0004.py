"""Migration 0004 on existing data: investments already awaiting payment hold their go
under the cap of their town and season from the upgrade on, as new ones will."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tests.fixtures.databases import SERVER_URL_ENV, alembic_config, temporary_database

NOW = "2026-06-01 00:00:00"


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database of its own (this test migrates down): a SQLite file, or a fresh
    database on the PostgreSQL server the suite is run against."""
    with temporary_database(os.environ.get(SERVER_URL_ENV), tmp_path, prefix="kokudaka_m4") as url:
        yield url


def _id() -> str:
    return uuid.uuid4().hex  # how the Uuid type stores a key on SQLite


def test_upgrade_reserves_the_go_of_pending_investments_and_downgrade_drops_it(
    empty_database: str,
) -> None:
    url = empty_database
    config = alembic_config(url)
    command.upgrade(config, "0003")
    engine = create_engine(url)
    region, town, person, farmer = _id(), _id(), _id(), _id()
    work_2026, work_2027 = _id(), _id()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO regions (id, code, name, created_at) VALUES (:id, 'r', 'r', :at)"),
            {"id": region, "at": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO municipalities (id, region_id, code, name, created_at) "
                "VALUES (:id, :region, 't', 't', :at)"
            ),
            {"id": town, "region": region, "at": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, display_name, role, is_active, "
                "created_at) VALUES (:id, 'p@example.jp', 'x', 'p', 'supporter', :active, :at)"
            ),
            {"id": person, "active": True, "at": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO farmers (id, user_id, municipality_id, name, farm_name, story, "
                "varieties, updated_at, created_at) "
                "VALUES (:id, :user, :town, 'f', 'f', '', '[]', :at, :at)"
            ),
            {"id": farmer, "user": person, "town": town, "at": NOW},
        )
        for work, season in ((work_2026, 2026), (work_2027, 2027)):
            conn.execute(
                text(
                    "INSERT INTO works (id, farmer_id, municipality_id, season, title, variety, "
                    "description, field_area_m2, planned_yield_go, offer_yen, is_open, "
                    "updated_at, created_at) VALUES (:id, :farmer, :town, :season, 'w', 'v', "
                    "'', 1, 1, 1000000, :open, :at, :at)"
                ),
                {
                    "id": work,
                    "farmer": farmer,
                    "town": town,
                    "season": season,
                    "open": True,
                    "at": NOW,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO municipality_policies (id, municipality_id, season, "
                    "price_yen_per_go, volunteer_go_per_hour, yearly_cap_go, updated_at) "
                    "VALUES (:id, :town, :season, 10, 0, 100000, :at)"
                ),
                {"id": _id(), "town": town, "season": season, "at": NOW},
            )
        # 2026: two pending (100 + 30 go), one confirmed, one cancelled; 2027: one pending.
        for work, go, status in (
            (work_2026, 100, "pending_payment"),
            (work_2026, 30, "pending_payment"),
            (work_2026, 7, "confirmed"),
            (work_2026, 5, "cancelled"),
            (work_2027, 40, "pending_payment"),
        ):
            conn.execute(
                text(
                    "INSERT INTO investments (id, supporter_id, work_id, municipality_id, "
                    "amount_yen, price_yen_per_go, go_amount, remainder_yen, status, "
                    "created_at) VALUES (:id, :person, :work, :town, :yen, 10, :go, 0, "
                    ":status, :at)"
                ),
                {
                    "id": _id(),
                    "person": person,
                    "work": work,
                    "town": town,
                    "yen": go * 10,
                    "go": go,
                    "status": status,
                    "at": NOW,
                },
            )

    command.upgrade(config, "0004")
    with engine.connect() as conn:
        reserved = dict(
            conn.execute(text("SELECT season, reserved_go FROM municipality_policies")).all()
        )
        versions = conn.execute(text("SELECT token_version FROM users")).scalars().all()
    assert reserved == {2026: 130, 2027: 40}
    assert versions == [0]

    command.downgrade(config, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("municipality_policies")}
    assert "reserved_go" not in columns
    assert "token_version" not in {c["name"] for c in inspect(engine).get_columns("users")}
    engine.dispose()
