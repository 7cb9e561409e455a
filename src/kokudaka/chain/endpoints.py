"""``/v1/chain``: public facts about the chain and the KOKU token.

Read through the service's chain runtime (``chain/access.py``). Without one, or when the node
does not answer, it answers 503 ``chain_unavailable`` rather than a stale or partial picture.
"""

from __future__ import annotations

from datetime import datetime

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Request
from pydantic import Field

from kokudaka.chain.access import UNAVAILABLE_RESPONSES, chain_runtime, chain_unavailable
from kokudaka.chain.errors import ChainError
from kokudaka.chain.head import ChainHead
from kokudaka.core.db import DbSession, UnitOfWorkRoute
from kokudaka.core.schemas import ResponseModel
from kokudaka.settlement.schemas import TownSettlementRead
from kokudaka.settlement.status import town_settlement

router = APIRouter(route_class=UnitOfWorkRoute)

#: The token's fixed facts, set in contracts/Koku.sol: one unit is one 合 (go).
KOKU_SYMBOL = "KOKU"
KOKU_NAME = "Kokudaka"
KOKU_DECIMALS = 3


class ChainRead(ResponseModel):
    chain_id: int
    token_address: str = Field(description="The KOKU contract (EIP-55 checksummed)")
    bills_address: str | None = Field(
        description="The rice bills contract (ERC-1155, one token id per work: the work's id "
        "as a uint256), EIP-55 checksummed; null until it is deployed beside KOKU"
    )
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
    state_file_bytes: int | None = Field(
        description="Size in bytes of the local chain's state file (every block, transaction "
        "and receipt, plus the latest state): it grows with the chain's history. null before "
        "its first write, or when the service does not run the chain"
    )
    node_memory_bytes: int | None = Field(
        description="Resident memory (RSS) in bytes of the local chain's process (anvil): it "
        "grows with the chain's history and the recent blocks' states it keeps. null while it "
        "is not running, or when the service does not run the chain"
    )
    towns: list[TownSettlementRead] = Field(
        description="Each town as an issuer, by code: its minter key, its operations pending and "
        "submitted, and the mints waiting for its on-chain cap, with the reason"
    )


@router.get(
    "/v1/chain",
    tags=["chain"],
    summary="The chain and the KOKU token this service settles on",
    responses=UNAVAILABLE_RESPONSES,
)
def chain_info(request: Request, session: DbSession) -> ChainRead:
    """The chain and the KOKU token this service settles on: chain id, token address, decimals (3:
    one unit is one 合) and the latest block. Public; 503 when the chain does not answer.
    """
    runtime, deployment = chain_runtime(request)
    head: ChainHead = request.app.state.chain_head
    try:
        block_number = head.block_number(runtime.client)
    except ChainError:
        raise chain_unavailable() from None
    state = runtime.state_health()
    usage = runtime.node_usage()
    return ChainRead(
        chain_id=deployment.chain_id,
        token_address=to_checksum_address(deployment.token_address),
        bills_address=(
            to_checksum_address(deployment.bills_address) if deployment.bills_address else None
        ),
        name=KOKU_NAME,
        symbol=KOKU_SYMBOL,
        decimals=KOKU_DECIMALS,
        deployed_block=deployment.deployed_block,
        block_number=block_number,
        state_persisted=None if state is None else state.persisted,
        state_written_at=None if state is None else state.written_at,
        state_file_bytes=None if usage is None else usage.state_file_bytes,
        node_memory_bytes=None if usage is None else usage.memory_bytes,
        towns=[TownSettlementRead.model_validate(town) for town in town_settlement(session)],
    )
