"""Reconciliation of what the real settlement worker settled: the two must agree."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from kokudaka.auth.caller import Caller
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import ensure_deployment
from kokudaka.chain.node import AnvilNode
from kokudaka.core.settings import Settings
from kokudaka.ledger.memos import Memo
from kokudaka.ledger.service import IssuanceCause, issue, reverse
from kokudaka.models import IssuanceKind, User
from kokudaka.reconcile.service import reconcile
from tests.settlement.helpers import new_settlement, settle_all
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
    # In development the deployment makes each town an issuer: its key, its season's cap.
    deployment = ensure_deployment(db, client, settings)
    towns = new_settlement(db, anvil.rpc_url, settings, deployment)
    hanako, taro = world.new_supporter("hanako"), world.new_supporter("taro")
    _issue(db, world.a.municipality_id, hanako, 1_500)
    _issue(db, world.b.municipality_id, hanako, 700)
    undone = _issue(db, world.a.municipality_id, taro, 300)
    try:
        settle_all(towns, db)
        with db.begin() as session:
            admin = session.get(User, world.a.admin.id)
            assert admin is not None
            reverse(session, entry_id=undone, actor=Caller.of(admin), reason="entered twice")
        settle_all(towns, db)
    finally:
        towns.close()

    with db() as session:
        report = reconcile(session, client, deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    counts = report.counts
    assert (counts.confirmed, counts.minted_events, counts.burned_events) == (4, 3, 1)
    assert counts.addresses == 2
