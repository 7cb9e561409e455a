"""The town administrator's reconciliation page: the API's reconciliation job
(``POST /v1/audit/reconciliations``), started from a form and followed until its report.

The comparison runs as a job in the background, reading a snapshot on the reader, so the
form's request only queues it: no console request holds the database (or SQLite's write
lock) for the seconds a large ledger takes. The page reloads itself while the job runs (a
``<meta http-equiv="refresh">``, so no script is needed) and shows the report when done;
the last report is kept for the dashboards.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from kokudaka.chain.errors import ChainError
from kokudaka.console import stats
from kokudaka.console.pages.town import FormText, town_page
from kokudaka.console.web import ConsoleRoute, parse_id, redirect
from kokudaka.core.db import DbSession
from kokudaka.core.errors import TooManyRequests
from kokudaka.reconcile.jobs import JobState, reconciliation_jobs

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Seconds between reloads of the page while its job runs.
REFRESH_SECONDS = 2


@router.get("/console/town/reconciliation")
def reconciliation(request: Request, session: DbSession, job: str | None = Query(None)) -> Response:
    page, town = town_page(request, session)
    running = None
    error = None
    job_id = parse_id(job) if job else None
    if job_id is not None:
        found = reconciliation_jobs(request.app.state, request.app.state.database).get(job_id)
        # Another town's job id, or one this process no longer keeps, reads as none.
        if found is not None and found.scope == (town.id,):
            if found.state is JobState.done and found.report is not None:
                stats.remember_reconciliation(request.app, [town.id], found.report)
            elif found.state is JobState.failed:
                error = page.t("chain_unavailable_now")
            else:
                running = found.read()
    return page.render(
        "town/reconciliation.html",
        report=stats.last_reconciliation(request.app, [town.id]),
        running=running,
        refresh=REFRESH_SECONDS if running is not None else None,
        error=error,
        status_code=503 if error else 200,
    )


@router.post("/console/town/reconciliation")
def run_reconciliation(request: Request, session: DbSession, csrf_token: FormText = "") -> Response:
    """Start the town's reconciliation job, then follow it on the page."""
    page, town = town_page(request, session, csrf_token)
    runtime = getattr(request.app.state, "chain_runtime", None)
    deployment = None if runtime is None else runtime.deployment
    try:
        if runtime is None or deployment is None:
            raise ChainError("no chain")
        jobs = reconciliation_jobs(request.app.state, request.app.state.database)
        started = jobs.start(runtime.client, deployment, [town.id], limit=1_000)
    except (ChainError, TooManyRequests):
        return page.render(
            "town/reconciliation.html",
            report=stats.last_reconciliation(request.app, [town.id]),
            running=None,
            refresh=None,
            error=page.t("chain_unavailable_now"),
            status_code=503,
        )
    return redirect(f"/console/town/reconciliation?job={started.id}", request)
