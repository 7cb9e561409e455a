"""The settlement part of ``GET /v1/chain``: each town's minter and its outbox."""

from __future__ import annotations

import uuid

from pydantic import Field

from kokudaka.core.schemas import ResponseModel

__all__ = ["TownSettlementRead"]


class TownSettlementRead(ResponseModel):
    """A town as an issuer on chain: its minter, and where its operations stand."""

    municipality_id: uuid.UUID
    code: str = Field(description="The municipality's code", examples=["nishiaizu"])
    minter_address: str | None = Field(
        description="The town's minter key (EIP-55): it signs every mint and burn of the town. "
        "null until the town has one",
        examples=["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"],
    )
    pending: int = Field(
        description="Operations (KOKU mints and burns, rice bill mints and burns) not sent to "
        "the chain "
        "yet, waiting ones included"
    )
    submitted: int = Field(description="Operations in a sent transaction not yet seen mined")
    bills_pending: int = Field(
        description="Of `pending`, the rice bill operations: mints of harvested works (their "
        "boards' KOKU burns count as KOKU), burns of redemption shipments and expiry gifts"
    )
    bills_submitted: int = Field(description="Of `submitted`, the rice bill mints and burns")
    waiting: int = Field(
        description="Pending mints that wait for the town's cap on chain for their season: the "
        "chain refuses to mint more for the town until an administrator raises it "
        "(`kokudaka chain allowances`). The town's other operations, and other towns, go on"
    )
    waiting_reason: str | None = Field(
        description="Why they wait, e.g. \"waiting for the town's on-chain cap for 2026: 500 go "
        'left, the next mint needs 3,000 go; ..."; null when nothing waits'
    )
