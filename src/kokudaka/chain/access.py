"""How request handlers reach the process's chain runtime (``app.state.chain_runtime``),
and the one way they say the chain is unavailable (503 ``chain_unavailable``)."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from kokudaka.chain.client import ChainClient
from kokudaka.chain.node import NodeUsage, StateHealth
from kokudaka.core.errors import ServiceUnavailable
from kokudaka.models import ChainDeployment

__all__ = [
    "UNAVAILABLE_RESPONSES",
    "ChainRuntimeLike",
    "chain_client",
    "chain_runtime",
    "chain_unavailable",
]


class ChainRuntimeLike(Protocol):
    """What request handlers need of ``app.state.chain_runtime`` (a ``ChainRuntime``)."""

    @property
    def client(self) -> ChainClient: ...

    @property
    def deployment(self) -> ChainDeployment | None:
        """None until the runtime has checked the deployment."""

    def state_health(self) -> StateHealth | None:
        """Whether the managed node's state is saved; None for a node the service does not run."""

    def node_usage(self) -> NodeUsage | None:
        """The managed node's memory and state file size; None for a node the service does not
        run."""


UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The chain is not running or does not answer (code chain_unavailable)",
        "content": {"application/problem+json": {}},
    }
}


def chain_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("chain_unavailable", headers={"Retry-After": "5"})


def chain_runtime(request: Request) -> tuple[ChainRuntimeLike, ChainDeployment]:
    runtime: ChainRuntimeLike | None = getattr(request.app.state, "chain_runtime", None)
    deployment = None if runtime is None else runtime.deployment
    if runtime is None or deployment is None:
        raise chain_unavailable()
    return runtime, deployment


def chain_client(request: Request) -> tuple[ChainClient, ChainDeployment]:
    runtime, deployment = chain_runtime(request)
    return runtime.client, deployment
