"""Test harness: a real database, the real ASGI app served by uvicorn over HTTP.

The database is SQLite in a temporary file, or PostgreSQL when
``KOKUDAKA_TEST_DATABASE_URL`` names a server: then a fresh database is created for
the run and dropped after it. The schema is made by the Alembic migrations, as in
production. Each test starts from empty tables.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.core.db import create_db_engine
from kokudaka.core.settings import Environment, Settings
from kokudaka.main import create_app
from kokudaka.models import Base
from tests.world import World, build_world

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("KOKUDAKA_TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'kokudaka.db'}"
        return
    name = f"kokudaka_test_{uuid.uuid4().hex[:12]}"
    # Pre-ping: a test may restart the server (tests/settlement), killing pooled connections.
    admin_engine = create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def run_migrations(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    run_migrations(database_url)
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
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    """The real app behind uvicorn on a loopback port, for the whole run."""
    with serving(settings) as url:
        yield url


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test database; tables are emptied after each test."""
    yield sessionmaker(engine, expire_on_commit=False)
    _empty_all_tables(engine)


@pytest.fixture
def client(base_url: str, db: sessionmaker[Session]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Language": "en"}) as c:
        yield c


@pytest.fixture
def world(client: httpx.Client, db: sessionmaker[Session], settings: Settings) -> World:
    """Two towns of one region, each with an administrator, a farmer with an open
    work, and supporters; an auditor for the region and a platform administrator."""
    return build_world(client, db, settings)
