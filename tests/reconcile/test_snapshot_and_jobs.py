"""A reconciliation reads one snapshot on the reader, beside writers; and runs as a job."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kokudaka.chain.client import ChainClient
from kokudaka.core.db import Database, create_sessionmaker, read_snapshot
from kokudaka.core.errors import TooManyRequests
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment, ChainOperation
from kokudaka.reconcile.jobs import PENDING_LIMIT, JobState, ReconciliationJobs
from kokudaka.reconcile.service import reconcile
from tests.reconcile.helpers import Settler
from tests.world import Person, World

JOBS = "/v1/audit/reconciliations"


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database.connect(settings.sqlalchemy_url)
    yield database
    database.dispose()


def _operations(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ChainOperation)) or 0


def test_a_snapshot_sees_none_of_what_is_committed_after_it(
    world: World, database: Database, settler: Settler, engine: Engine
) -> None:
    # The reader's snapshot neither waits for the writer nor makes it wait, and its
    # statements agree with each other (on PostgreSQL: REPEATABLE READ, not READ COMMITTED).
    person = world.new_supporter("snap")
    settler.issue(world.a.municipality_id, person, 100)
    with database.read_sessions() as session:
        read_snapshot(session)
        assert _operations(session) == 1
        started = time.monotonic()
        settler.issue(world.a.municipality_id, person, 200)  # commits on the writer
        assert time.monotonic() - started < 5
        assert _operations(session) == 1
        with create_sessionmaker(engine)() as fresh:
            assert _operations(fresh) == 2
    with database.read_sessions() as session:
        session.execute(select(1))
        with pytest.raises(RuntimeError, match="first statement"):
            read_snapshot(session)


def test_events_newer_than_the_snapshot_are_looked_up_again(
    world: World,
    database: Database,
    settler: Settler,
    chain: ChainClient,
    deployment: ChainDeployment,
) -> None:
    # An operation created and minted after the snapshot was taken (the worker goes on
    # beside a long reconciliation) is in flight, not an unknown mint.
    person = world.new_supporter("late")
    settler.issue(world.a.municipality_id, person, 100)
    settler.settle()
    with database.read_sessions() as session:
        read_snapshot(session)
        assert _operations(session) == 1  # the snapshot is taken here
        settler.issue(world.a.municipality_id, person, 250)
        settler.settle()
        report = reconcile(session, chain, deployment, recent=database.read_sessions)
    assert report.status == "clean", report.discrepancies
    assert report.counts.in_flight == 1
    assert report.counts.minted_events == 2


def _wait(client: httpx.Client, person: Person, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        response = client.get(f"{JOBS}/{job_id}", headers=person.headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        if body["state"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_a_job_reconciles_in_the_background_and_reports_progress(
    world: World, runtime_client: httpx.Client, settler: Settler
) -> None:
    in_a, in_b = world.new_supporter("a"), world.new_supporter("b")
    settler.issue(world.a.municipality_id, in_a, 100)
    settler.issue(world.b.municipality_id, in_b, 200)
    settler.settle()
    a = str(world.a.municipality_id)

    started = runtime_client.post(JOBS, headers=world.a.admin.headers)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"{JOBS}/{job['id']}"
    assert job["state"] in ("queued", "running", "done")
    assert job["municipality_ids"] == [a]

    done = _wait(runtime_client, world.a.admin, job["id"])
    assert done["state"] == "done", done
    assert done["error"] is None
    assert done["progress"] == {
        "operations_total": 2,
        "operations_compared": 2,
        "minted_events": 2,
        "burned_events": 0,
        "balances": 1,
    }
    report = done["report"]
    assert isinstance(report, dict)
    now = runtime_client.get("/v1/audit/reconciliation", headers=world.a.admin.headers).json()
    assert report["status"] == now["status"] == "clean"
    assert report["counts"] == now["counts"]
    assert report["municipalities"] == now["municipalities"]

    # Scoped as the reconciliation itself: the region's auditor and the platform see the
    # town's job; the other town's administrator does not, nor anyone outside the region.
    for person in (world.auditor, world.platform_admin):
        assert runtime_client.get(f"{JOBS}/{job['id']}", headers=person.headers).is_success
    for person in (world.b.admin, world.other_region_auditor):
        hidden = runtime_client.get(f"{JOBS}/{job['id']}", headers=person.headers)
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["code"] == "not_found"
    region_job = runtime_client.post(JOBS, headers=world.auditor.headers).json()
    assert set(region_job["municipality_ids"]) == {a, str(world.b.municipality_id)}
    assert _wait(runtime_client, world.auditor, region_job["id"])["state"] == "done"
    town_view = runtime_client.get(f"{JOBS}/{region_job['id']}", headers=world.a.admin.headers)
    assert town_view.status_code == 404

    unknown = runtime_client.get(f"{JOBS}/{uuid.uuid4()}", headers=world.platform_admin.headers)
    assert unknown.status_code == 404
    refused = runtime_client.post(
        JOBS,
        headers=world.a.admin.headers,
        params={"municipality_id": str(world.b.municipality_id)},
    )
    assert refused.status_code == 403
    assert runtime_client.post(JOBS, headers=world.alice.headers).status_code == 403


def test_without_a_chain_a_job_is_not_started(world: World, client: httpx.Client) -> None:
    response = client.post(JOBS, headers=world.platform_admin.headers)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "chain_unavailable"


def test_many_waiting_jobs_are_refused_with_retry_after(
    world: World, database: Database, chain: ChainClient, deployment: ChainDeployment
) -> None:
    # Jobs of different scopes pile up behind the one running; past the limit a start is
    # refused (429) instead of queueing without end. Same scope and limit: the same job.
    jobs = ReconciliationJobs(database)
    # A worker that takes nothing from the queue: every job stays queued.
    gate = threading.Event()
    jobs._worker = threading.Thread(target=gate.wait, daemon=True)
    jobs._worker.start()
    try:
        first = jobs.start(chain, deployment, [world.a.municipality_id], 10)
        assert jobs.start(chain, deployment, [world.a.municipality_id], 10).id == first.id
        for _ in range(PENDING_LIMIT - 1):
            jobs.start(chain, deployment, [uuid.uuid4()], 10)
        with pytest.raises(TooManyRequests) as refused:
            jobs.start(chain, deployment, [uuid.uuid4()], 10)
        assert jobs.get(first.id).state == JobState.queued  # type: ignore[union-attr]
    finally:
        gate.set()
    assert refused.value.code == "reconciliations_busy"
    assert refused.value.headers == {"Retry-After": "30"}
