"""Reconciliation against a real anvil and the real database.

The chain tests' fixtures give an anvil per session with KOKU deployed, reverted to that state
after every test; ``deployment`` records it in SQL as the service would and makes each of the
world's towns an issuer on it (its own minter key, its season's cap). ``runtime_client`` is
the real app served over HTTP with a chain runtime pointing at that anvil.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from kokudaka.chain.client import ChainClient
from kokudaka.core.settings import Settings
from kokudaka.main import create_app
from kokudaka.models import ChainDeployment
from tests.chain.conftest import ADMIN_KEY, anvil, chain, deployed
from tests.fixtures.servers import serving
from tests.reconcile.helpers import Settler, put_towns_on_chain
from tests.world import World

__all__ = ["anvil", "chain", "deployed"]


@pytest.fixture
def deployment(chain: ChainClient, world: World) -> ChainDeployment:
    with world.db.begin() as session:
        row = ChainDeployment(
            chain_id=chain.chain_id(),
            token_address=chain.koku_address,
            admin_address=chain.account(ADMIN_KEY).address,
            anchor_address=chain.account(ADMIN_KEY).address,
            deployed_block=0,
        )
        session.add(row)
    put_towns_on_chain(world, chain)
    return row


@pytest.fixture
def settler(world: World, chain: ChainClient, deployment: ChainDeployment) -> Settler:
    return Settler(world, chain)


@pytest.fixture(scope="session")
def chain_app(settings: Settings) -> Iterator[tuple[FastAPI, str]]:
    """A second instance of the app, on the same database, whose chain runtime tests set."""
    app = create_app(settings)
    with serving(app) as url:
        yield app, url


@pytest.fixture
def runtime_client(
    chain_app: tuple[FastAPI, str], chain: ChainClient, deployment: ChainDeployment
) -> Iterator[httpx.Client]:
    app, base_url = chain_app
    # An external node, as far as the endpoints can tell: no state of its own to report.
    app.state.chain_runtime = SimpleNamespace(
        client=chain, deployment=deployment, state_health=lambda: None, node_usage=lambda: None
    )
    try:
        with httpx.Client(base_url=base_url, timeout=60, headers={"Accept-Language": "en"}) as c:
            yield c
    finally:
        app.state.chain_runtime = None
