"""The ledger reconciled with the chain, for auditors: now (``GET /v1/audit/reconciliation``),
or as a job run in the background whose progress and report are read later
(``POST /v1/audit/reconciliations``, ``GET /v1/audit/reconciliations/{id}``). Both read one
snapshot of the database on the reader: no write lock, no writer kept waiting."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from kokudaka.auth.caller import Caller
from kokudaka.auth.dependencies import Auditor
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.chain.access import UNAVAILABLE_RESPONSES, chain_client, chain_unavailable
from kokudaka.chain.errors import ChainError
from kokudaka.core.db import Database, DbSession, UnitOfWorkRoute, read_snapshot
from kokudaka.core.errors import Forbidden, NotFound
from kokudaka.reconcile.jobs import ReconciliationJob, ReconciliationJobs, reconciliation_jobs
from kokudaka.reconcile.report import DEFAULT_LIMIT, ReconciliationReport
from kokudaka.reconcile.service import reconcile

router = APIRouter(route_class=UnitOfWorkRoute)

MunicipalityFilter = Annotated[
    uuid.UUID | None, Query(description="Only this municipality (within your scope)")
]
DiscrepancyLimit = Annotated[
    int, Query(ge=0, le=10_000, description="Most discrepancies listed; counts cover all")
]


@router.get(
    "/v1/audit/reconciliation",
    tags=["audit"],
    summary="Reconcile the ledger with the chain, now (auditors)",
    description="Compares the SQL ledger and its chain outbox with the KOKU contract: every "
    "operation against its event, every address's balance, and (for platform administrators, "
    "who see every town) the total supply and the minter's allowance. Rice bills likewise "
    "against the bills contract, per work (its registration, cap and supply) and holder "
    "(ERC-1155 balances), in the report's `bills`; and the ledger against itself (every entry "
    "sums to zero per asset, every balance equals its postings). Town administrators see "
    "their town's operations and addresses, regional auditors their region's.",
    responses={
        403: {
            "description": "Not an auditor, or the municipality is outside the caller's scope",
            "content": {"application/problem+json": {}},
        },
        **UNAVAILABLE_RESPONSES,
    },
)
def reconciliation(
    request: Request,
    session: DbSession,
    user: Auditor,
    municipality_id: MunicipalityFilter = None,
    limit: DiscrepancyLimit = DEFAULT_LIMIT,
) -> ReconciliationReport:
    database: Database = request.app.state.database
    read_snapshot(session)
    scope = _scope(session, user, municipality_id)
    client, deployment = chain_client(request)
    try:
        return reconcile(
            session, client, deployment, scope, limit=limit, recent=database.read_sessions
        )
    except ChainError:
        raise chain_unavailable() from None


def _scope(
    session: Session, user: Caller, municipality_id: uuid.UUID | None
) -> list[uuid.UUID] | None:
    scope = audited_municipality_ids(session, user)
    if municipality_id is not None:
        if scope is not None and municipality_id not in scope:
            raise Forbidden()
        scope = [municipality_id]
    return scope


def _jobs(request: Request) -> ReconciliationJobs:
    return reconciliation_jobs(request.app.state, request.app.state.database)


_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not an auditor, or the municipality is outside the caller's scope",
        "content": {"application/problem+json": {}},
    }
}
JOBS_PATH = "/v1/audit/reconciliations"


@router.post(
    JOBS_PATH,
    tags=["audit"],
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a reconciliation in the background (auditors)",
    description="The reconciliation of `GET /v1/audit/reconciliation`, scoped the same way, run "
    "in the background for a large ledger: answers at once with the job (its `Location`), whose "
    "progress and, once `done`, report are read with `GET /v1/audit/reconciliations/{id}`. One "
    "runs at a time; a job of the same scope and limit already waiting or running is answered "
    "instead of a new one. Jobs are kept by the process that runs them, the last few finished.",
    responses={
        **_FORBIDDEN,
        429: {"description": "`reconciliations_busy`: too many jobs waiting; retry later"},
        **UNAVAILABLE_RESPONSES,
    },
)
def start_reconciliation(
    request: Request,
    response: Response,
    session: DbSession,
    user: Auditor,
    municipality_id: MunicipalityFilter = None,
    limit: DiscrepancyLimit = DEFAULT_LIMIT,
) -> ReconciliationJob:
    scope = _scope(session, user, municipality_id)
    client, deployment = chain_client(request)
    job = _jobs(request).start(client, deployment, scope, limit)
    response.headers["Location"] = f"{JOBS_PATH}/{job.id}"
    return job


@router.get(
    JOBS_PATH + "/{job_id}",
    tags=["audit"],
    summary="A background reconciliation: its progress, and its report once done (auditors)",
    description="Jobs are visible to auditors whose scope covers the job's; others get 404.",
    responses=_FORBIDDEN,
)
def reconciliation_job(
    request: Request, session: DbSession, user: Auditor, job_id: uuid.UUID
) -> ReconciliationJob:
    job = _jobs(request).get(job_id)
    if job is None or not job.visible_to(audited_municipality_ids(session, user)):
        raise NotFound("Reconciliation")
    return job.read()
