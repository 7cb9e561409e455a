"""GET routes run read-only: beside the writer, never waiting for its lock, and never writing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import Engine, text, update

from kokudaka.core.db import DbSession, UnitOfWorkRoute, WriteInReadOnlyRoute, writes
from kokudaka.core.settings import Settings
from kokudaka.main import create_app
from kokudaka.models import Work
from tests.world import World

#: Far below SQLite's 30 s busy timeout, which is how long a read waited before.
READ_DEADLINE_SECONDS = 3.0


@pytest.fixture
def write_lock_held(engine: Engine, world: World, is_postgres: bool) -> Iterator[None]:
    """Another connection in the middle of a write transaction, for the whole test.

    SQLite: it holds the database's one write lock (``BEGIN IMMEDIATE`` and a write).
    PostgreSQL: it holds EXCLUSIVE locks on the tables the reads touch, which leave
    plain reads alone but block any statement that takes a row or write lock.
    """
    with engine.connect() as conn:
        if is_postgres:
            conn.execute(text("LOCK TABLE users, accounts, works, farmers IN EXCLUSIVE MODE"))
        # On SQLite the engine's BEGIN IMMEDIATE already took the write lock.
        conn.execute(update(Work).where(Work.id == world.a.work_id).values(title="being edited"))
        yield
        conn.rollback()


@pytest.mark.usefixtures("write_lock_held")
def test_reads_are_answered_while_a_write_transaction_holds_the_lock(world: World) -> None:
    paths = [
        ("/v1/me/balance", world.alice.headers),
        ("/v1/me/ledger", world.alice.headers),
        ("/v1/me", world.alice.headers),
        ("/v1/works", {}),
        (f"/v1/works/{world.a.work_id}", {}),
        (f"/v1/farmers/{world.a.farmer_id}", {}),
    ]
    with httpx.Client(base_url=str(world.client.base_url), timeout=READ_DEADLINE_SECONDS) as c:
        for path, headers in paths:
            started = time.monotonic()
            response = c.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            assert time.monotonic() - started < READ_DEADLINE_SECONDS
        # The uncommitted edit is not seen.
        assert c.get(f"/v1/works/{world.a.work_id}").json()["title"] != "being edited"


def test_reads_run_while_a_write_waits_for_the_lock(world: World, engine: Engine) -> None:
    # A write request queued behind a held lock keeps the writer's admission; reads
    # must not queue behind it.
    finished = threading.Event()
    body = {"work_id": str(world.a.work_id), "amount_yen": 1000}

    def invest() -> None:
        headers = {**world.bob.headers, "Idempotency-Key": uuid.uuid4().hex}
        with httpx.Client(base_url=str(world.client.base_url), timeout=30) as c:
            c.post("/v1/investments", json=body, headers=headers)
        finished.set()

    with engine.connect() as conn:
        conn.execute(update(Work).where(Work.id == world.a.work_id).values(title="locked"))
        writer = threading.Thread(target=invest)
        writer.start()
        time.sleep(0.3)  # the write is admitted and waits for the lock
        with httpx.Client(base_url=str(world.client.base_url), timeout=READ_DEADLINE_SECONDS) as c:
            assert c.get("/v1/me/balance", headers=world.alice.headers).status_code == 200
            assert c.get("/v1/works").status_code == 200
        assert not finished.is_set()
        conn.rollback()
    writer.join(timeout=30)
    assert finished.is_set()


def test_a_get_route_that_writes_fails_loudly(settings: Settings, world: World) -> None:
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/test/renames-work")
    def renames_work(session: DbSession) -> None:
        session.get_one(Work, world.a.work_id).title = "renamed by a GET"

    @router.get("/test/renames-work-with-core")
    def renames_work_with_core(session: DbSession) -> None:
        session.execute(update(Work).values(title="renamed by a GET"))

    @router.get("/test/marked-as-writing")
    @writes
    def marked(session: DbSession) -> None:
        session.get_one(Work, world.a.work_id).title = "renamed, as declared"

    app = create_app(settings)
    app.include_router(router)

    async def _get(path: str) -> int:
        # In process, so that the server's exception reaches the test as it is.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get(path)).status_code

    def get(path: str) -> int:
        # In a thread of its own: the browser tests' Playwright keeps an event loop
        # running in the main thread for the whole session.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(anyio.run, _get, path).result()

    # The ORM's flush is stopped before it writes. A Core statement skips the flush:
    # the database itself refuses it, and that is reported the same way (not as a
    # database outage, a 503 to retry).
    for path in ("/test/renames-work", "/test/renames-work-with-core"):
        with pytest.raises(WriteInReadOnlyRoute, match=r"@kokudaka\.core\.db\.writes"):
            get(path)
    assert world.client.get(f"/v1/works/{world.a.work_id}").json()["title"] != ("renamed by a GET")
    assert get("/test/marked-as-writing") == 200
    assert world.client.get(f"/v1/works/{world.a.work_id}").json()["title"] == (
        "renamed, as declared"
    )


def test_reads_carry_validators_and_answer_304_while_unchanged(world: World) -> None:
    works = world.client.get("/v1/works")
    assert works.status_code == 200
    assert works.headers["Cache-Control"] == "public, no-cache"
    etag = works.headers["ETag"]
    unchanged = world.client.get("/v1/works", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["ETag"] == etag
    farmer = world.client.get(f"/v1/farmers/{world.a.farmer_id}")
    assert (
        world.client.get(
            f"/v1/farmers/{world.a.farmer_id}",
            headers={"If-None-Match": f"W/{farmer.headers['ETag']}"},
        ).status_code
        == 304
    )

    # An investment changes what is subscribed: the same tag no longer matches.
    invested = world.client.post(
        "/v1/investments",
        json={"work_id": str(world.a.work_id), "amount_yen": 1000},
        headers={**world.alice.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert invested.status_code == 201, invested.text
    changed = world.client.get("/v1/works", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag

    # The caller's own data: private, and per token.
    balance = world.client.get("/v1/me/balance", headers=world.alice.headers)
    assert balance.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization" in balance.headers["Vary"]
    # Errors carry no validators.
    assert "ETag" not in world.client.get("/v1/me/balance").headers
