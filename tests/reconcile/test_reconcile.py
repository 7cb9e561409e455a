"""reconcile(): a clean ledger is clean, and each kind of disagreement is reported."""

from __future__ import annotations

from sqlalchemy import delete, update

from kokudaka.chain.client import ChainClient
from kokudaka.models import (
    ChainDeployment,
    ChainOperation,
    ChainState,
    User,
    WalletChallenge,
    utcnow,
)
from kokudaka.reconcile.report import DiscrepancyKind as K
from kokudaka.reconcile.report import ReconciliationReport
from kokudaka.reconcile.service import reconcile
from tests.reconcile.helpers import Settler
from tests.world import World


def kinds(report: ReconciliationReport) -> set[str]:
    return set(report.counts.by_kind)


def only(report: ReconciliationReport, kind: K) -> dict[str, object]:
    found = [d for d in report.discrepancies if d.kind is kind]
    assert len(found) == 1, report.model_dump_json(indent=1)
    return found[0].model_dump(mode="json", exclude_none=True)


def test_a_settled_ledger_is_clean_in_every_scope(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako, taro = world.new_supporter("hanako"), world.new_supporter("taro")
    settler.issue(world.a.municipality_id, hanako, 1_500)
    settler.issue(world.a.municipality_id, hanako, 250)
    settler.issue(world.b.municipality_id, hanako, 1_000)
    settler.issue(world.b.municipality_id, taro, 3)
    assert settler.settle() == 4

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    assert report.discrepancies == []
    assert report.supply_checked
    counts = report.counts
    assert (counts.operations, counts.confirmed, counts.issuances) == (4, 4, 4)
    assert (counts.minted_events, counts.addresses, counts.users) == (4, 2, 2)
    assert report.chain_id == 31337
    assert report.token_address == deployment.token_address

    town_a = settler.reconcile(deployment, [world.a.municipality_id])
    assert town_a.status == "clean"
    assert not town_a.supply_checked
    assert (town_a.counts.operations, town_a.counts.issuances) == (2, 2)
    # Hanako's address holds KOKU of both towns; its balance is still compared in full.
    assert town_a.counts.addresses == 1


def test_a_mint_on_chain_with_no_ledger_row_is_an_unknown_mint(
    world: World, settler: Settler, deployment: ChainDeployment, chain: ChainClient
) -> None:
    hanako = world.new_supporter()
    settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    tx_hash = settler.mint_outside_the_ledger(world.a.municipality_id, settler.wallet(hanako), 777)

    report = settler.reconcile(deployment)
    assert report.status == "discrepancies"
    assert kinds(report) == {
        "unknown_mint",
        "balance_mismatch",
        "total_supply_mismatch",
        "season_minted_mismatch",
    }
    unknown = only(report, K.unknown_mint)
    assert unknown["address"] == settler.wallet(hanako)
    assert unknown["actual"] == 777
    assert unknown["tx_hash"] == tx_hash
    assert unknown["user_id"] == str(hanako.id)
    balance = only(report, K.balance_mismatch)
    assert (balance["expected"], balance["actual"]) == (1_000, 1_777)
    supply = only(report, K.total_supply_mismatch)
    assert (supply["expected"], supply["actual"]) == (1_000, 1_777)
    # The contract counts the town's minted amount; its events of known operations do not.
    season = only(report, K.season_minted_mismatch)
    assert (season["expected"], season["actual"]) == (1_000, 1_777)
    assert season["municipality_id"] == str(world.a.municipality_id)


def test_a_confirmed_operation_with_no_event_is_missing_on_chain(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    ghost = settler.issue(world.a.municipality_id, hanako, 40)
    with world.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.reference == ghost.reference)
            .values(state=ChainState.confirmed, recipient_address=settler.wallet(hanako))
        )

    report = settler.reconcile(deployment)
    assert kinds(report) == {"mint_missing_on_chain", "balance_mismatch", "total_supply_mismatch"}
    missing = only(report, K.mint_missing_on_chain)
    assert missing["issuance_id"] == str(ghost.issuance_id)
    assert missing["reference"] == ghost.reference
    assert missing["expected"] == 40
    assert missing["municipality_id"] == str(world.a.municipality_id)
    assert missing["municipality_name"] == "西会津町"
    assert missing["user_id"] == str(hanako.id)
    assert missing["user_name"] == "supporter"
    assert missing["account"] == f"holder:{hanako.id}"
    balance = only(report, K.balance_mismatch)
    assert (balance["expected"], balance["actual"]) == (1_040, 1_000)


def test_an_amount_changed_in_sql_is_reported_against_the_event_and_the_ledger(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    issued = settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    with world.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.reference == issued.reference)
            .values(amount_go=1_100)
        )

    report = settler.reconcile(deployment)
    assert {
        "mint_amount_mismatch",
        "issuance_mint_mismatch",
        "ledger_outbox_mismatch",
        "balance_mismatch",
    } <= kinds(report)
    mismatch = only(report, K.mint_amount_mismatch)
    assert (mismatch["expected"], mismatch["actual"]) == (1_100, 1_000)
    assert mismatch["issuance_id"] == str(issued.issuance_id)
    ledger = only(report, K.ledger_outbox_mismatch)
    assert (ledger["expected"], ledger["actual"]) == (1_000, 1_100)
    assert only(report, K.issuance_mint_mismatch)["actual"] == 1_100


def test_an_extra_burn_on_chain_is_an_unknown_burn(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    tx_hash = settler.burn_outside_the_ledger(settler.wallet(hanako), 300)

    report = settler.reconcile(deployment)
    assert kinds(report) == {"unknown_burn", "balance_mismatch", "total_supply_mismatch"}
    burn = only(report, K.unknown_burn)
    assert (burn["actual"], burn["tx_hash"]) == (300, tx_hash)
    assert only(report, K.balance_mismatch)["actual"] == 700


def test_reversals_with_their_burns_are_clean(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    kept = settler.issue(world.a.municipality_id, hanako, 1_000)
    undone = settler.issue(world.a.municipality_id, hanako, 400)
    settler.settle()
    settler.reverse(undone, world.a.admin)
    assert settler.settle() == 1

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    assert (report.counts.minted_events, report.counts.burned_events) == (2, 1)
    assert kept.amount_go == settler.chain.balance_of(settler.wallet(hanako))

    # The burn's operation lost: the chain burned for a reversal SQL no longer sends.
    with world.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.issuance_id == undone.issuance_id)
            .where(ChainOperation.kind == "burn")
            .values(state=ChainState.pending, tx_hash=None)
        )
    assert settler.reconcile(deployment).status == "clean"  # mined, not yet confirmed


def test_operations_in_flight_are_not_discrepancies(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle(confirm=False)  # mined, the worker has not recorded the receipt yet
    settler.issue(world.a.municipality_id, hanako, 5)  # not sent at all

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    assert (report.counts.in_flight, report.counts.not_yet_on_chain) == (1, 1)
    assert report.counts.confirmed == 0


def test_failed_and_lost_operations_are_reported(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter()
    failed = settler.issue(world.a.municipality_id, hanako, 10)
    lost = settler.issue(world.a.municipality_id, hanako, 20)
    with world.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.reference == failed.reference)
            .values(state=ChainState.failed, last_error="refused")
        )
        session.execute(delete(ChainOperation).where(ChainOperation.reference == lost.reference))

    report = settler.reconcile(deployment)
    assert kinds(report) == {"operation_failed", "issuance_without_mint", "ledger_outbox_mismatch"}
    assert only(report, K.operation_failed)["issuance_id"] == str(failed.issuance_id)
    assert only(report, K.issuance_without_mint)["issuance_id"] == str(lost.issuance_id)
    ledger = only(report, K.ledger_outbox_mismatch)
    assert (ledger["expected"], ledger["actual"]) == (30, 10)


def test_balances_are_per_address_after_a_switch_to_self_custody(
    world: World, settler: Settler, deployment: ChainDeployment, chain: ChainClient
) -> None:
    hanako = world.new_supporter()
    custodial = settler.wallet(hanako)
    settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    own = "0x" + "ab" * 20
    with world.db.begin() as session:
        session.execute(update(User).where(User.id == hanako.id).values(wallet_address=own))
        session.add(
            WalletChallenge(
                user_id=hanako.id, address=own, message="m", expires_at=utcnow(), used_at=utcnow()
            )
        )
    settler.issue(world.a.municipality_id, hanako, 300)
    settler.settle()

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    assert report.counts.addresses == 2
    assert (chain.balance_of(custodial), chain.balance_of(own)) == (1_000, 300)


def test_a_municipality_sees_only_its_own_discrepancies(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    in_a, in_b = world.new_supporter("a"), world.new_supporter("b")
    settler.issue(world.a.municipality_id, in_a, 100)
    settler.issue(world.b.municipality_id, in_b, 200)
    settler.settle()
    settler.mint_outside_the_ledger(world.b.municipality_id, settler.wallet(in_b), 5)

    assert settler.reconcile(deployment, [world.a.municipality_id]).status == "clean"
    town_b = settler.reconcile(deployment, [world.b.municipality_id])
    # No supply check in scope; the town's own season is checked.
    assert kinds(town_b) == {"unknown_mint", "balance_mismatch", "season_minted_mismatch"}
    assert settler.reconcile(deployment, []).counts.operations == 0


def test_progress_is_reported_and_the_list_is_capped(
    world: World, settler: Settler, deployment: ChainDeployment, chain: ChainClient
) -> None:
    hanako = world.new_supporter()
    for amount in (1, 2, 3):
        settler.issue(world.a.municipality_id, hanako, amount)
    settler.settle()
    for _ in range(3):
        settler.mint_outside_the_ledger(world.a.municipality_id, settler.wallet(hanako), 1)
    seen: list[tuple[str, int]] = []
    with world.db() as session:
        report = reconcile(
            session,
            chain,
            deployment,
            progress=lambda phase, done: seen.append((phase, done)),
            limit=2,
            progress_every=1,
        )
    assert report.counts.by_kind["unknown_mint"] == 3
    assert report.counts.discrepancies == 6  # and balance, supply, the season's minted total
    assert len(report.discrepancies) == 2
    assert report.truncated
    assert ("operations", 3) in seen
    assert ("minted events", 6) in seen
    assert ("balances", 1) in seen


def test_koku_totals_per_town_compare_the_ledger_with_the_chain(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako, taro = world.new_supporter("hanako"), world.new_supporter("taro")
    settler.issue(world.a.municipality_id, hanako, 1_500)
    undone = settler.issue(world.a.municipality_id, taro, 400)
    settler.issue(world.b.municipality_id, taro, 2_000)
    settler.settle()
    settler.reverse(undone, world.a.admin)
    settler.settle()
    settler.issue(world.b.municipality_id, hanako, 7)  # not sent yet

    report = settler.reconcile(deployment)
    assert report.status == "clean", report.model_dump_json(indent=1)
    by_town = {t.municipality_name: t for t in report.municipalities}
    assert list(by_town) == ["喜多方市", "西会津町"]  # by name
    nishiaizu, kitakata = by_town["西会津町"], by_town["喜多方市"]
    assert nishiaizu.municipality_id == world.a.municipality_id
    assert (nishiaizu.ledger.go, nishiaizu.on_chain.go, nishiaizu.unsettled.go) == (1_500, 1_500, 0)
    assert nishiaizu.ledger.koku == "1.500"
    assert (kitakata.ledger.go, kitakata.on_chain.go, kitakata.unsettled.go) == (2_007, 2_000, 7)
    assert nishiaizu.agrees
    assert kitakata.agrees
    overall = report.totals
    assert (overall.ledger.koku, overall.on_chain.koku, overall.unsettled.koku) == (
        "3.507",
        "3.500",
        "0.007",
    )
    assert overall.agrees

    # Scoped to one town, only that town. An operation lost from SQL: its mint on chain
    # belongs to no town any more, and the town's totals no longer agree.
    with world.db.begin() as session:
        session.execute(
            delete(ChainOperation).where(
                ChainOperation.municipality_id == world.a.municipality_id,
                ChainOperation.kind == "mint",
                ChainOperation.amount_go == 1_500,
            )
        )
    town_a = settler.reconcile(deployment, [world.a.municipality_id])
    assert [t.municipality_name for t in town_a.municipalities] == ["西会津町"]
    lost = town_a.municipalities[0]
    assert (lost.ledger.go, lost.on_chain.go, lost.unsettled.go) == (1_500, 0, 0)
    assert not lost.agrees
    assert not town_a.totals.agrees
    assert town_a.totals.ledger == lost.ledger
