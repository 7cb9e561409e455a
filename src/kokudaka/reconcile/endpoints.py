"""``/v1/audit/reconciliation``: the ledger reconciled with the chain, on demand (auditors)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kokudaka.auth.dependencies import Auditor
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.chain.access import UNAVAILABLE_RESPONSES, chain_client, chain_unavailable
from kokudaka.chain.errors import ChainError
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import Forbidden
from kokudaka.reconcile.report import DEFAULT_LIMIT, ReconciliationReport
from kokudaka.reconcile.service import reconcile

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/v1/audit/reconciliation",
    tags=["audit"],
    summary="Reconcile the ledger with the chain, now (auditors)",
    description="Compares the SQL ledger and its chain outbox with the KOKU contract: every "
    "operation against its event, every address's balance, and (for platform administrators, "
    "who see every town) the total supply and the minter's allowance. Town administrators see "
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
    municipality_id: Annotated[
        uuid.UUID | None, Query(description="Only this municipality (within your scope)")
    ] = None,
    limit: Annotated[
        int, Query(ge=0, le=10_000, description="Most discrepancies listed; counts cover all")
    ] = DEFAULT_LIMIT,
) -> ReconciliationReport:
    scope = audited_municipality_ids(session, user)
    if municipality_id is not None:
        if scope is not None and municipality_id not in scope:
            raise Forbidden()
        scope = [municipality_id]
    client, deployment = chain_client(request)
    try:
        return reconcile(session, client, deployment, scope, limit=limit)
    except ChainError:
        raise chain_unavailable() from None
