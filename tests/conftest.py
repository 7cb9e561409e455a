"""Test harness: a real database, the real ASGI app served by uvicorn over HTTP.

The database is SQLite in a temporary file, or PostgreSQL when
``KOKUDAKA_TEST_DATABASE_URL`` names a server: then a fresh database is created for
the run and dropped after it. The schema is made by the Alembic migrations, as in
production. Each test starts from empty tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Environment, Settings
from kokudaka.main import create_app
from tests.fixtures import servers
from tests.fixtures.databases import (
    SERVER_URL_ENV,
    empty_all_tables,
    migrate,
    temporary_database,
)
from tests.world import World, build_world


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporary_database(os.environ.get(SERVER_URL_ENV), tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    migrate(database_url)
    return Settings(
        env=Environment.test,
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        argon2_time_cost=1,
        argon2_memory_kib=64,
        chain_enabled=False,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The real app for ``settings`` behind uvicorn on a loopback port; yields its URL."""
    with servers.serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    """The real app behind uvicorn on a loopback port, for the whole run."""
    with serving(settings) as url:
        yield url


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test database; tables are emptied after each test."""
    yield sessionmaker(engine, expire_on_commit=False)
    empty_all_tables(engine)


@pytest.fixture
def client(base_url: str, db: sessionmaker[Session]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Language": "en"}) as c:
        yield c


@pytest.fixture
def world(client: httpx.Client, db: sessionmaker[Session], settings: Settings) -> World:
    """Two towns of one region, each with an administrator, a farmer with an open
    work, and supporters; an auditor for the region and a platform administrator."""
    return build_world(client, db, settings)
