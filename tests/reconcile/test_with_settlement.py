"""Reconciliation of what the real settlement worker settled: the two must agree."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import ensure_deployment
from kokudaka.chain.node import AnvilNode
from kokudaka.core.settings import Settings
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue, reverse
from kokudaka.models import IssuanceKind, User
from kokudaka.reconcile.service import reconcile
from kokudaka.settlement.worker import SettlementWorker
from tests.world import SEASON, Person, World


def _issue(db: sessionmaker[Session], town: uuid.UUID, person: Person, amount: int) -> uuid.UUID:
    with db.begin() as session:
        issued = issue(
            session,
            municipality_id=town,
            season=SEASON,
            recipient_id=person.id,
            amount_go=amount,
            cause=IssuanceCause(
                kind=IssuanceKind.contribution,
                idempotency_key=f"test:{uuid.uuid4()}",
                memo=Memo("investment", {"amount_yen": 0, "title": "settled by the worker"}),
            ),
            actor_id=None,
        )
        return issued.issuance.entry_id


def test_what_the_worker_settles_reconciles_clean(
    world: World,
    db: sessionmaker[Session],
    settings: Settings,
    anvil: AnvilNode,
    chain: ChainClient,  # the snapshot/revert around this test
) -> None:
    client = ChainClient(anvil.rpc_url)
    deployment = ensure_deployment(db, client, settings)
    worker = SettlementWorker(db, ChainClient(anvil.rpc_url), settings, deployment)
    hanako, taro = world.new_supporter("hanako"), world.new_supporter("taro")
    _issue(db, world.a.municipality_id, hanako, 1_500)
    _issue(db, world.b.municipality_id, hanako, 700)
    undone = _issue(db, world.a.municipality_id, taro, 300)
    worker.settle()
    with db.begin() as session:
        admin = session.get(User, world.a.admin.id)
        assert admin is not None
        reverse(session, entry_id=undone, actor=admin, reason="entered twice")
    worker.settle()

    with db() as session:
        report = reconcile(session, client, deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    counts = report.counts
    assert (counts.confirmed, counts.minted_events, counts.burned_events) == (4, 3, 1)
    assert counts.addresses == 2
