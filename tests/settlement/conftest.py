"""Settlement against a real anvil (one per test, interval mining as in the service) and the
real test database (SQLite, or PostgreSQL with KOKUDAKA_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import ensure_deployment
from kokudaka.chain.node import AnvilNode
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment
from kokudaka.settlement.runtime import ANVIL_GAS_LIMIT
from tests.world import World

#: Interval mining like the managed anvil, with a short interval to keep the tests quick.
BLOCK_TIME = 0.2


def new_node(directory: Path, **options: object) -> AnvilNode:
    """An anvil with a state file that is written only on a clean stop (unless told)."""
    return AnvilNode(
        directory,
        state_file=directory / "state.json",
        block_time=BLOCK_TIME,
        gas_limit=ANVIL_GAS_LIMIT,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    anvil = new_node(tmp_path / "anvil")
    anvil.start()
    yield anvil
    anvil.kill()


@pytest.fixture
def chain(node: AnvilNode) -> ChainClient:
    # No read retries: a stopped node must surface as ChainUnavailable at once.
    return ChainClient(node.rpc_url, request_timeout=5, read_retries=0)


@pytest.fixture
def chain_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"settlement_poll_seconds": 0.05})


@pytest.fixture
def deployment(
    world: World, db: sessionmaker[Session], chain: ChainClient, chain_settings: Settings
) -> ChainDeployment:
    """KOKU deployed by ensure_deployment, after the world's policies exist (they size the
    minter's allowance)."""
    return ensure_deployment(db, chain, chain_settings)
