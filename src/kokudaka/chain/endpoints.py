"""``/v1/chain`` (public facts about the token) and ``/v1/audit/reconciliation`` (auditors).

Both read the chain through the service's chain runtime (``app.state.chain_runtime``: a client
and the recorded deployment). Without one, or when the node does not answer, they answer 503
``chain_unavailable`` rather than a stale or partial picture.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Protocol

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Query, Request
from pydantic import Field

from kokudaka.auth.dependencies import Auditor
from kokudaka.auth.permissions import audited_municipality_ids
from kokudaka.chain.client import ChainClient
from kokudaka.chain.errors import ChainError
from kokudaka.chain.head import ChainHead
from kokudaka.chain.node import StateHealth
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.errors import Forbidden, ServiceUnavailable
from kokudaka.core.schemas import ResponseModel
from kokudaka.models import ChainDeployment
from kokudaka.reconcile.report import DEFAULT_LIMIT, ReconciliationReport
from kokudaka.reconcile.service import reconcile

router = APIRouter(route_class=UnitOfWorkRoute)

#: The token's fixed facts, set in contracts/Koku.sol: one unit is one 合 (go).
KOKU_SYMBOL = "KOKU"
KOKU_NAME = "Kokudaka"
KOKU_DECIMALS = 3


class ChainRuntimeLike(Protocol):
    """What these endpoints need of ``app.state.chain_runtime`` (a ``ChainRuntime``)."""

    @property
    def client(self) -> ChainClient: ...

    @property
    def deployment(self) -> ChainDeployment | None:
        """None until the runtime has checked the deployment."""

    def state_health(self) -> StateHealth | None:
        """Whether the managed node's state is saved; None for a node the service does not run."""


_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The chain is not running or does not answer (code chain_unavailable)",
        "content": {"application/problem+json": {}},
    }
}


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("chain_unavailable", headers={"Retry-After": "5"})


def _chain_runtime(request: Request) -> tuple[ChainRuntimeLike, ChainDeployment]:
    runtime: ChainRuntimeLike | None = getattr(request.app.state, "chain_runtime", None)
    deployment = None if runtime is None else runtime.deployment
    if runtime is None or deployment is None:
        raise _unavailable()
    return runtime, deployment


def _runtime(request: Request) -> tuple[ChainClient, ChainDeployment]:
    runtime, deployment = _chain_runtime(request)
    return runtime.client, deployment


class ChainRead(ResponseModel):
    chain_id: int
    token_address: str = Field(description="The KOKU contract (EIP-55 checksummed)")
    name: str
    symbol: str
    decimals: int = Field(description="3: one unit is one 合 (go), 1 KOKU = 1000 go")
    deployed_block: int
    block_number: int = Field(
        description="The chain's latest block, as read at most a few seconds ago (the service "
        "refreshes it every second in the background)"
    )
    state_persisted: bool | None = Field(
        description="Whether the local chain this service runs is saving its state, so that it "
        "survives a restart: true while its state file is rewritten every "
        "KOKUDAKA_ANVIL_STATE_INTERVAL seconds (and in the first intervals after a start), false "
        "once several dumps are missed or the node is down (the service logs anvil's error). "
        "null when the service connects to a chain it does not run (KOKUDAKA_CHAIN_RPC_URL)."
    )
    state_written_at: datetime | None = Field(
        description="When the local chain's state file was last written; null if it never was, "
        "or when the service does not run the chain"
    )


@router.get(
    "/v1/chain",
    tags=["chain"],
    summary="The chain and the KOKU token this service settles on",
    responses=_UNAVAILABLE,
)
def chain_info(request: Request) -> ChainRead:
    """The chain and the KOKU token this service settles on: chain id, token address, decimals (3:
    one unit is one 合) and the latest block. Public; 503 when the chain does not answer.
    """
    runtime, deployment = _chain_runtime(request)
    head: ChainHead = request.app.state.chain_head
    try:
        block_number = head.block_number(runtime.client)
    except ChainError:
        raise _unavailable() from None
    state = runtime.state_health()
    return ChainRead(
        chain_id=deployment.chain_id,
        token_address=to_checksum_address(deployment.token_address),
        name=KOKU_NAME,
        symbol=KOKU_SYMBOL,
        decimals=KOKU_DECIMALS,
        deployed_block=deployment.deployed_block,
        block_number=block_number,
        state_persisted=None if state is None else state.persisted,
        state_written_at=None if state is None else state.written_at,
    )


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
        **_UNAVAILABLE,
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
    client, deployment = _runtime(request)
    try:
        return reconcile(session, client, deployment, scope, limit=limit)
    except ChainError:
        raise _unavailable() from None
