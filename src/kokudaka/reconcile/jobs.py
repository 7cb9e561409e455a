"""Reconciliations run in the background (``POST /v1/audit/reconciliations``), with progress.

A reconciliation of a large ledger takes tens of seconds; a client should not hold a request
open for it, and the service should not run two at once (each holds every operation of the
ledger in memory). So a job is queued, runs in one background thread per process, one at a
time, and is fetched later by its id.

Jobs are kept in memory, per process, not in a table. A job is a derived, read-only report
that can be run again at any moment, not a record of anything; its progress only exists in
the process that runs it, and a table would keep, after a restart, jobs marked running that
nothing runs any more. The service runs one process (``kokudaka serve``), so every request
reaches the process that holds the job. The last :data:`KEEP` finished jobs are kept.

Each job reads one snapshot of the database on the reader (:func:`read_snapshot`): its
statements agree with each other while writes go on, it takes no write lock and no request's
admission, and it is never blocked by a writer.

Each job runs in a child process at the lowest CPU priority, not in a thread of the service.
Comparing 100,000 operations is seconds of Python; in a thread it holds the GIL against the
event loop and the request threads, and the confirm path's p99 went from under 90 ms to
300 ms while it ran (``bench/reconcile_beside_writes.py``). A process of its own takes the
GIL out of it, and its priority lets the kernel run the service's requests first.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Final

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError
from kokudaka.core.db import Database, create_sessionmaker, read_snapshot
from kokudaka.core.engines import create_db_engine
from kokudaka.core.errors import TooManyRequests
from kokudaka.models import ChainDeployment, ChainOperation, utcnow
from kokudaka.reconcile.report import ReconciliationReport
from kokudaka.reconcile.service import reconcile

__all__ = [
    "JobState",
    "ReconciliationJob",
    "ReconciliationJobs",
    "ReconciliationProgress",
]

logger = logging.getLogger(__name__)

#: Finished jobs kept for reading, per process (the oldest go first).
KEEP: Final = 32
#: Jobs waiting or running at once; a further start is refused with 429.
PENDING_LIMIT: Final = 4
#: Seconds a refused start is told to wait.
RETRY_AFTER: Final = 30
PROGRESS_EVERY: Final = 2_000
#: Seconds the job rests per second it works, at each progress tick. Niceness only reaches
#: the job's own CPU; the node and the database answer its queries at full priority, beside
#: the service's requests. Resting as long as it worked halves that load.
PACE: Final = 1.0
#: The child process's niceness: the lowest priority, it runs on what the service leaves.
NICENESS: Final = 19


class JobState(StrEnum):
    """Where a reconciliation job stands."""

    queued = "queued"
    """Waiting for the one reconciliation the process runs at a time."""
    running = "running"
    done = "done"
    """Finished: ``report`` says whether the ledger and the chain agree."""
    failed = "failed"
    """Stopped without a report: ``error`` is the problem code (``chain_unavailable``)."""


class ReconciliationProgress(BaseModel):
    """How far a running reconciliation is. Operations are read first, then compared
    with the events read beside them; balances are read last."""

    operations_total: int = Field(description="Chain operations in the job's snapshot")
    operations_compared: int = Field(description="Operations read so far")
    minted_events: int = Field(description="Minted events read so far")
    burned_events: int = Field(description="Burned events read so far")
    balances: int = Field(description="Balances read so far")


class ReconciliationJob(BaseModel):
    """A reconciliation run in the background, and its report once done."""

    id: uuid.UUID
    state: JobState
    scope: str = Field(description="`all` or `municipalities`, as in the report")
    municipality_ids: list[uuid.UUID] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ReconciliationProgress
    report: ReconciliationReport | None = Field(description="Once `done`")
    error: str | None = Field(description="Once `failed`: the problem code")


@dataclass(frozen=True)
class _Job:
    id: uuid.UUID
    scope: tuple[uuid.UUID, ...] | None
    limit: int
    rpc_url: str
    deployment_id: uuid.UUID
    created_at: datetime
    state: JobState = JobState.queued
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: dict[str, int] = field(default_factory=dict)
    report: ReconciliationReport | None = None
    error: str | None = None

    def visible_to(self, audited: Sequence[uuid.UUID] | None) -> bool:
        """Whether a caller who audits ``audited`` (None: every town) may read the job."""
        if audited is None:
            return True
        return self.scope is not None and set(self.scope) <= set(audited)

    def read(self) -> ReconciliationJob:
        done = self.progress
        return ReconciliationJob(
            id=self.id,
            state=self.state,
            scope="all" if self.scope is None else "municipalities",
            municipality_ids=None if self.scope is None else list(self.scope),
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            progress=ReconciliationProgress(
                operations_total=done.get("total", 0),
                operations_compared=done.get("operations", 0),
                minted_events=done.get("minted events", 0),
                burned_events=done.get("burned events", 0),
                balances=done.get("balances", 0),
            ),
            report=self.report,
            error=self.error,
        )


class ReconciliationJobs:
    """The process's reconciliation jobs: queued, run one at a time, kept for reading."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._jobs: dict[uuid.UUID, _Job] = {}
        self._queue: queue.SimpleQueue[uuid.UUID] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def start(
        self,
        client: ChainClient,
        deployment: ChainDeployment,
        scope: Sequence[uuid.UUID] | None,
        limit: int,
    ) -> ReconciliationJob:
        """Queue a reconciliation of ``scope`` (None: everything), or return the one of the
        same scope and limit that is already waiting or running."""
        key = None if scope is None else tuple(sorted(dict.fromkeys(scope)))
        with self._lock:
            pending = [j for j in self._jobs.values() if j.finished_at is None]
            for job in pending:
                if job.scope == key and job.limit == limit:
                    return job.read()
            if len(pending) >= PENDING_LIMIT:
                raise TooManyRequests(
                    "reconciliations_busy",
                    retry_after=RETRY_AFTER,
                    headers={"Retry-After": str(RETRY_AFTER)},
                )
            job = _Job(uuid.uuid4(), key, limit, client.rpc_url, deployment.id, utcnow())
            self._jobs[job.id] = job
            self._forget_old()
            if self._worker is None or not self._worker.is_alive():
                # A daemon: a reconciliation in progress never holds up the process's exit.
                self._worker = threading.Thread(
                    target=self._work, name="reconciliation-jobs", daemon=True
                )
                self._worker.start()
        self._queue.put(job.id)
        return job.read()

    def get(self, job_id: uuid.UUID) -> _Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _forget_old(self) -> None:
        finished = sorted(
            (j for j in self._jobs.values() if j.finished_at is not None),
            key=lambda j: j.created_at,
        )
        for job in finished[: max(0, len(finished) - KEEP)]:
            del self._jobs[job.id]

    def _update(self, job_id: uuid.UUID, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            job = self.get(job_id)
            if job is not None:
                self._run(job)

    def _run(self, job: _Job) -> None:
        done: dict[str, int] = {}
        self._update(job.id, state=JobState.running, started_at=utcnow())
        url = self._database.read_engine.url.render_as_string(hide_password=False)
        task = _Task(url, job.rpc_url, job.deployment_id, job.scope, job.limit)
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=_reconcile_in_child, args=(task, sender), name="reconciliation", daemon=True
        )
        child.start()
        sender.close()  # the child's end: receiving ends when the child has closed it
        outcome: tuple[str, str] = ("failed", "internal")
        try:
            while True:
                try:
                    message = receiver.recv()
                except EOFError:  # the child died without a word
                    break
                if message[0] != "progress":
                    outcome = message
                    break
                _, phase, count = message
                # Balances are read in two rounds: the larger count is the one to show.
                done[phase] = max(count, done.get(phase, 0)) if phase == "balances" else count
                self._update(job.id, progress=dict(done))
        finally:
            receiver.close()
            child.join()
        if outcome[0] != "done":
            self._update(job.id, state=JobState.failed, error=outcome[1], finished_at=utcnow())
            return
        report = ReconciliationReport.model_validate_json(outcome[1])
        # Balances tick per PROGRESS_EVERY only: the last batch is counted here.
        done["balances"] = max(done.get("balances", 0), report.counts.addresses)
        self._update(
            job.id, state=JobState.done, report=report, progress=dict(done), finished_at=utcnow()
        )


@dataclass(frozen=True)
class _Task:
    """What the child process needs: plain values, sent to a fresh interpreter."""

    database_url: str
    rpc_url: str
    deployment_id: uuid.UUID
    scope: tuple[uuid.UUID, ...] | None
    limit: int


def _reconcile_in_child(task: _Task, sender: Connection) -> None:
    """The reconciliation, in the child process: progress and the outcome go to ``sender``
    as ``("progress", phase, count)``, then ``("done", report JSON)`` or
    ``("failed", problem code)``."""
    os.nice(NICENESS)
    sending = threading.Lock()  # the reconciliation reports progress from its threads too
    worked_since = threading.local()

    def send(message: tuple[object, ...]) -> None:
        with sending:
            sender.send(message)

    def progress(phase: str, count: int) -> None:
        # Each of the reconciliation's threads rests as long as it worked since its last tick.
        now = time.monotonic()
        since: float | None = getattr(worked_since, "at", None)
        if since is not None:
            time.sleep((now - since) * PACE)
        worked_since.at = time.monotonic()
        send(("progress", phase, count))

    engine = create_db_engine(task.database_url, read_only=True, pool_size=2)
    sessions = create_sessionmaker(engine, read_only=True)
    try:
        with sessions() as session:
            read_snapshot(session)
            deployment = session.get_one(ChainDeployment, task.deployment_id)
            total = session.scalar(select(func.count()).select_from(ChainOperation)) or 0
            send(("progress", "total", total))
            client = ChainClient(
                task.rpc_url, koku_address=deployment.token_address, request_timeout=60.0
            )
            report = reconcile(
                session,
                client,
                deployment,
                task.scope,
                progress,
                limit=task.limit,
                progress_every=PROGRESS_EVERY,
                recent=sessions,
            )
        send(("done", report.model_dump_json()))
    except ChainError:
        send(("failed", "chain_unavailable"))
    except Exception:
        logger.exception("reconciliation failed")
        send(("failed", "internal"))
    finally:
        engine.dispose()
        sender.close()


_CREATING = threading.Lock()


def reconciliation_jobs(state: object, database: Database) -> ReconciliationJobs:
    """The process's jobs, kept on the app's ``state`` (made on first use)."""
    with _CREATING:
        jobs: ReconciliationJobs | None = getattr(state, "reconciliation_jobs", None)
        if jobs is None:
            jobs = ReconciliationJobs(database)
            setattr(state, "reconciliation_jobs", jobs)  # noqa: B010
        return jobs
