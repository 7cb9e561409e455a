"""Reconciliation per town: references in their town's namespace, and each town's seasons (SQL's
cap and issuance beside the chain's cap, minted amount and allowance left)."""

from __future__ import annotations

from sqlalchemy import update

from kokudaka.chain.client import ChainClient
from kokudaka.chain.refs import town_id
from kokudaka.models import ChainDeployment, MunicipalityPolicy
from kokudaka.reconcile.report import DiscrepancyKind as K
from tests.chain.conftest import ADMIN_KEY
from tests.reconcile.helpers import Settler
from tests.world import SEASON, YEARLY_CAP_GO, World


def test_each_towns_season_shows_sql_beside_the_chain(
    world: World, settler: Settler, deployment: ChainDeployment, chain: ChainClient
) -> None:
    hanako = world.new_supporter("hanako")
    settler.issue(world.a.municipality_id, hanako, 1_500)
    settler.issue(world.b.municipality_id, hanako, 2_000)
    settler.settle()
    settler.issue(world.a.municipality_id, hanako, 30)  # not sent yet

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    seasons = {(s.municipality_id, s.season): s for s in report.seasons}
    a = seasons[(world.a.municipality_id, SEASON)]
    assert (a.cap.go, a.issued.go, a.reserved.go) == (YEARLY_CAP_GO, 1_530, 0)
    assert a.cap_left.go == YEARLY_CAP_GO - 1_530
    assert (a.chain_cap.go, a.chain_minted.go) == (YEARLY_CAP_GO, 1_500)
    assert a.allowance_left.go == YEARLY_CAP_GO - 1_500
    assert a.unsettled.go == 30
    assert a.cap_on_chain
    b = seasons[(world.b.municipality_id, SEASON)]
    assert (b.chain_minted.go, b.unsettled.go) == (2_000, 0)

    # A cap raised in SQL changes nothing on chain until the admin signs it: shown, not an
    # alarm, and the chain's allowance left stays what the old cap leaves.
    with world.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(yearly_cap_go=YEARLY_CAP_GO + 5_000)
        )
    raised = settler.reconcile(deployment, [world.a.municipality_id])
    assert raised.status == "clean"
    (season,) = raised.seasons
    assert not season.cap_on_chain
    assert season.cap.go - season.chain_cap.go == 5_000
    chain.set_season_cap(ADMIN_KEY, town_id(world.a.municipality_id), SEASON, YEARLY_CAP_GO + 5_000)
    (season,) = settler.reconcile(deployment, [world.a.municipality_id]).seasons
    assert season.cap_on_chain


def test_a_reference_minted_by_another_towns_key_is_reported(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    in_b = world.new_supporter("b")
    issued = settler.issue(world.b.municipality_id, in_b, 200)
    # Town A's key mints town B's issuance reference first (a leaked key, or a bug).
    settler.mint_outside_the_ledger(
        world.a.municipality_id, settler.wallet(in_b), 200, bytes.fromhex(issued.reference[2:])
    )
    settler.settle()  # town B mints its own: refs are kept per town, so both land

    report = settler.reconcile(deployment)
    foreign = [d for d in report.discrepancies if d.kind is K.mint_town_mismatch]
    assert [d.reference for d in foreign] == [issued.reference]
    assert K.duplicate_mint_event not in report.counts.by_kind
    assert report.counts.by_kind[K.balance_mismatch] == 1
    assert report.counts.by_kind[K.total_supply_mismatch] == 1
    # Town A's minted total counts the mint; no operation of town A explains it.
    mismatch = [d for d in report.discrepancies if d.kind is K.season_minted_mismatch]
    assert [d.municipality_id for d in mismatch] == [world.a.municipality_id]

    # Scoped to town A, the foreign-town mint stands out as such.
    town_a = settler.reconcile(deployment, [world.a.municipality_id])
    assert town_a.status == "discrepancies"
