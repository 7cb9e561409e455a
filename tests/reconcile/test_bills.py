"""Rice bills in the reconciliation, on a real anvil: a harvest settled by the towns' real workers
reconciles clean (KOKU burned by the conversion, bills minted per work and holder), and every
kind of disagreement between the bill ledger, its outbox and the bills contract is caught."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.chain.bills import bill_token_id
from kokudaka.chain.client import ChainClient
from kokudaka.chain.deployment import ensure_deployment
from kokudaka.chain.node import AnvilNode
from kokudaka.chain.refs import issuance_ref
from kokudaka.console.messages import translate
from kokudaka.console.stats import remember_reconciliation
from kokudaka.core.settings import Settings
from kokudaka.expiry.schedule import run_bill_jobs
from kokudaka.models import (
    Account,
    Bill,
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    MunicipalityPolicy,
    Posting,
)
from kokudaka.reconcile.command import _print_summary
from kokudaka.reconcile.report import DiscrepancyKind, ReconciliationReport
from kokudaka.reconcile.service import reconcile
from kokudaka.settlement.pool import SettlementPool
from kokudaka.towns.minters import minter_for
from tests.chain.conftest import ADMIN_KEY
from tests.console.helpers import signed_in_client
from tests.harvest.helpers import approved_hours, file_report, invest_and_confirm
from tests.reconcile.helpers import Settler
from tests.settlement.helpers import new_settlement, settle_all
from tests.world import SEASON, World

AT_80 = "432000"  # kg: 80% of the work's planned yield


@dataclass
class Harvest:
    """Town A's work harvested at 80%: Alice's board of 623 go (two issuances) became a bill of
    498 go, Bob's labour board of 1,000 go one of 800; Alice keeps 500 go of a town event."""

    world: World
    db: sessionmaker[Session]
    chain: ChainClient
    settings: Settings
    deployment: ChainDeployment
    workers: SettlementPool

    def reconcile(self, scope: list[uuid.UUID] | None = None) -> ReconciliationReport:
        with self.db() as session:
            return reconcile(session, self.chain, self.deployment, scope)

    def bill_op(self, person_id: uuid.UUID) -> ChainOperation:
        with self.db() as session:
            op = session.scalar(
                select(ChainOperation).where(
                    ChainOperation.asset == ChainAsset.bill, ChainOperation.user_id == person_id
                )
            )
            assert op is not None
            return op

    def minter_key(self, town: uuid.UUID) -> tuple[str, bytes]:
        with self.db() as session:
            minter = minter_for(session, town)
        return minter.address, minter.private_key(self.settings)

    def send(self, town: uuid.UUID, build: str, *args: object) -> None:
        """Sign ``build`` (a BillsClient builder) with ``town``'s minter key and mine it."""
        address, key = self.minter_key(town)
        builder = getattr(self.chain.bills, build)
        signed = builder(key, *args, self.chain.pending_nonce(address))
        self.chain.raise_for_receipt(self.chain.wait_receipt(self.chain.send_raw(signed.raw)))

    @property
    def work(self) -> int:
        return bill_token_id(self.world.a.work_id)


def countersign(world: World, kg: str) -> None:
    filed = file_report(world.client, world.a.farmer, world.a.work_id, kg=kg)
    assert filed.status_code == 201, filed.text
    signed = world.client.post(
        f"/v1/yield-reports/{filed.json()['id']}/countersign", headers=world.a.admin.headers
    )
    assert signed.status_code == 200, signed.text


@pytest.fixture
def harvest(
    world: World,
    db: sessionmaker[Session],
    settings: Settings,
    anvil: AnvilNode,
    chain: ChainClient,  # the snapshot/revert around the test
) -> Iterator[Harvest]:
    client = ChainClient(anvil.rpc_url)
    # As in development: KOKU and the bills deployed, each town an issuer on both.
    deployment = ensure_deployment(db, client, settings)
    assert deployment.bills_address is not None
    invest_and_confirm(world, world.alice, 5_000)  # 500 go
    invest_and_confirm(world, world.alice, 1_237)  # 123 go: a second board issuance
    approved_hours(world, world.bob, "2", world.a.work_id)  # a 1,000 go labour board
    approved_hours(world, world.alice, "1", None)  # 500 go of a town event: stays KOKU
    workers = new_settlement(db, anvil.rpc_url, settings, deployment)
    try:
        settle_all(workers, db)  # the boards' mints first: their burns wait for them
        countersign(world, AT_80)
        yield Harvest(world, db, client, settings, deployment, workers)
    finally:
        workers.close()


def settled(harvest: Harvest) -> Harvest:
    settle_all(harvest.workers, harvest.db)
    return harvest


def test_a_harvest_is_unsettled_until_the_workers_settle_it_then_clean(harvest: Harvest) -> None:
    world = harvest.world
    waiting = harvest.reconcile()
    assert waiting.status == "clean", waiting.model_dump_json(indent=1)
    (work,) = waiting.bills
    assert work.work_id == world.a.work_id
    assert (work.bills, work.issued.go, work.outstanding.go) == (2, 1_298, 1_298)
    assert (work.unsettled.go, work.on_chain_minted.go, work.registered) == (1_298, 0, False)
    assert work.agrees
    assert work.mismatches == 0

    report = settled(harvest).reconcile()
    assert report.status == "clean", report.model_dump_json(indent=1)
    (work,) = report.bills
    assert (work.issued.go, work.outstanding.go, work.on_chain_minted.go) == (1_298, 1_298, 1_298)
    assert (work.chain_cap.go, work.on_chain_outstanding.go, work.unsettled.go) == (
        1_298,
        1_298,
        0,
    )
    assert work.registered
    assert work.agrees
    assert work.mismatches == 0
    assert report.bills_address == harvest.deployment.bills_address
    # The conversion's three KOKU burns (one per board issuance; two share Alice's entry).
    assert (report.counts.minted_events, report.counts.burned_events) == (4, 3)
    assert report.totals.ledger.go == report.totals.on_chain.go == 500
    out = io.StringIO()
    _print_summary(report, out)
    assert (
        "bills of nishiaizu コシヒカリ 2026 (西会津町, 2026): 2 bills, 1,298 go issued, "
        "1,298 outstanding; on chain 1,298 minted of a cap of 1,298, 1,298 outstanding; "
        "0 unsettled; 0 mismatches"
    ) in out.getvalue()
    # A town's report has its own works only.
    assert settled(harvest).reconcile([world.b.municipality_id]).bills == []
    town_a = harvest.reconcile([world.a.municipality_id])
    assert town_a.status == "clean"
    assert len(town_a.bills) == 1


def test_a_bill_mint_in_flight_is_settled_not_a_mismatch(harvest: Harvest) -> None:
    settled(harvest)
    with harvest.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.asset == ChainAsset.bill)
            .values(state=ChainState.submitted)
        )
    report = harvest.reconcile()
    assert report.status == "clean", report.model_dump_json(indent=1)
    assert report.bills[0].unsettled.go == 0


def test_sql_rows_that_disagree_with_the_bills_contract(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    alice, bob = harvest.bill_op(world.alice.id), harvest.bill_op(world.bob.id)
    with harvest.db.begin() as session:
        # Bob's mint says 1 go more than the chain minted, his bill and bill account too.
        session.execute(
            update(ChainOperation).where(ChainOperation.id == bob.id).values(amount_go=801)
        )
        session.execute(update(Bill).where(Bill.holder_id == world.bob.id).values(amount_go=801))
        account = session.scalar(
            select(Account.id).where(Account.key == f"bill:{world.a.work_id}:{world.bob.id}")
        )
        # Its posting, not its running balance: the entry no longer sums to zero.
        session.execute(update(Posting).where(Posting.account_id == account).values(amount_go=801))
        # Alice's confirmed mint names a reference the chain never saw.
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.id == alice.id)
            .values(reference="0x" + issuance_ref(uuid.uuid4()).hex())
        )
    report = harvest.reconcile()
    kinds = report.counts.by_kind
    assert kinds == {
        "bill_amount_mismatch": 1,  # Bob's event: 800
        "bill_balance_mismatch": 1,  # Bob's balance against his confirmed mint
        "bill_supply_mismatch": 1,
        "bill_work_cap_mismatch": 1,  # SQL's bill total is now 1,299
        "bill_mint_missing": 1,  # Alice's
        "unknown_bill_mint": 1,  # Alice's event, under a reference SQL no longer has
        "entry_unbalanced": 1,  # Bob's conversion entry, in the work's bills
        "account_balance_mismatch": 1,  # Bob's bill account: 800 against postings of 801
    }, report.model_dump_json(indent=1)
    (work,) = report.bills
    assert work.mismatches == 6
    assert not work.agrees
    missing = next(d for d in report.discrepancies if d.kind == "bill_mint_missing")
    assert missing.user_id == world.alice.id
    assert missing.expected == 498
    assert missing.account == f"bill:{world.a.work_id}:{world.alice.id}"


def test_a_bill_without_its_mint_and_a_mint_unlike_its_bill(harvest: Harvest) -> None:
    world = harvest.world
    alice, bob = harvest.bill_op(world.alice.id), harvest.bill_op(world.bob.id)
    with harvest.db.begin() as session:
        session.delete(session.get_one(ChainOperation, alice.id))
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.id == bob.id)
            .values(user_id=world.alice.id, municipality_id=world.b.municipality_id)
        )
    kinds = harvest.reconcile().counts.by_kind
    assert kinds["bill_without_mint"] == 1
    assert kinds["bill_mint_operation_mismatch"] == 1
    # Bob's operation now counts in Alice's bills; both accounts disagree with the outbox.
    assert kinds["bill_ledger_outbox_mismatch"] == 2


def test_the_kokus_side_of_a_conversion(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    with harvest.db.begin() as session:
        burn = session.scalar(
            select(ChainOperation).where(
                ChainOperation.asset == ChainAsset.koku,
                ChainOperation.kind == ChainOperationKind.burn,
                ChainOperation.user_id == world.bob.id,
            )
        )
        assert burn is not None
        session.delete(burn)
    kinds = harvest.reconcile().counts.by_kind
    assert kinds["conversion_without_burn"] == 1
    assert kinds["unknown_burn"] == 1  # its event is on chain
    assert kinds["ledger_outbox_mismatch"] == 1  # Bob's KOKU postings against his operations
    assert not any(kind.startswith("bill") for kind in kinds), kinds


def test_bills_minted_and_burned_outside_the_ledger(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    town = world.a.municipality_id
    alice = harvest.bill_op(world.alice.id)
    assert alice.recipient_address is not None
    # The town's key raises the work's cap and mints 7 go more to Alice under a fresh ref...
    harvest.send(town, "build_register_work_tx", harvest.work, SEASON, 1_305)
    fresh = issuance_ref(uuid.uuid4())
    harvest.send(
        town, "build_mint_batch_tx", [harvest.work], [alice.recipient_address], [7], [fresh]
    )
    # ... and burns 5 go of her bill, and resends her mint with another amount (skipped).
    minted = bytes.fromhex(alice.reference[2:])
    harvest.send(
        town,
        "build_burn_tx",
        alice.recipient_address,
        harvest.work,
        5,
        issuance_ref(uuid.uuid4()),
        minted,
    )
    harvest.send(
        town, "build_mint_batch_tx", [harvest.work], [alice.recipient_address], [490], [minted]
    )
    report = harvest.reconcile()
    kinds = report.counts.by_kind
    assert kinds == {
        "bill_work_cap_mismatch": 1,
        "unknown_bill_mint": 1,
        "unknown_bill_burn": 1,
        "bill_skip_mismatch": 1,
        "bill_balance_mismatch": 1,
        "bill_supply_mismatch": 1,
    }, report.model_dump_json(indent=1)
    balance = next(d for d in report.discrepancies if d.kind == "bill_balance_mismatch")
    assert (balance.expected, balance.actual) == (498, 500)
    assert balance.user_id == world.alice.id
    unknown = next(d for d in report.discrepancies if d.kind == "unknown_bill_mint")
    assert unknown.reference == "0x" + fresh.hex()
    assert unknown.actual == 7
    (work,) = report.bills
    assert (work.chain_cap.go, work.on_chain_minted.go, work.on_chain_outstanding.go) == (
        1_305,
        1_305,
        1_300,
    )


def test_a_work_released_and_registered_to_another_town(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    harvest.chain.bills.release_work(ADMIN_KEY, harvest.work)
    kinds = harvest.reconcile().counts.by_kind
    assert kinds == {"bill_work_unregistered": 1}

    harvest.send(world.b.municipality_id, "build_register_work_tx", harvest.work, SEASON, 10)
    report = harvest.reconcile()
    assert report.counts.by_kind == {"bill_work_town_mismatch": 1}
    (work,) = report.bills
    assert not work.registered
    assert work.chain_cap.go == 10


def test_a_bill_minted_in_another_towns_namespace(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    bob = harvest.bill_op(world.bob.id)
    with harvest.db.begin() as session:
        session.execute(
            update(ChainOperation)
            .where(ChainOperation.id == bob.id)
            .values(municipality_id=world.b.municipality_id)
        )
    kinds = harvest.reconcile().counts.by_kind
    assert kinds["bill_town_mismatch"] == 1
    assert kinds["bill_mint_missing"] == 1  # none in its own town's namespace
    assert kinds["bill_mint_operation_mismatch"] == 1  # its town is not its bill's


def test_a_koku_entry_that_does_not_sum_to_zero(
    world: World, settler: Settler, deployment: ChainDeployment
) -> None:
    hanako = world.new_supporter("hanako")
    issued = settler.issue(world.a.municipality_id, hanako, 1_000)
    settler.settle()
    assert settler.reconcile(deployment).status == "clean"
    with world.db.begin() as session:
        holder = session.scalar(select(Account.id).where(Account.key == f"holder:{hanako.id}"))
        session.execute(
            update(Posting)
            .where(Posting.entry_id == issued.entry_id, Posting.account_id == holder)
            .values(amount_go=1_001)
        )
    report = settler.reconcile(deployment)
    assert report.counts.by_kind == {
        "entry_unbalanced": 1,
        "account_balance_mismatch": 1,  # Hanako's running balance is still 1,000
        "ledger_outbox_mismatch": 1,  # her postings against her mint
    }, report.model_dump_json(indent=1)
    unbalanced = next(d for d in report.discrepancies if d.kind == "entry_unbalanced")
    assert unbalanced.actual == 1
    assert unbalanced.detail == f"entry {issued.entry_id}: KOKU"
    # A town's report checks its own entries only.
    assert settler.reconcile(deployment, [world.b.municipality_id]).status == "clean"


def test_every_discrepancy_has_a_text_in_the_console() -> None:
    for kind in DiscrepancyKind:
        for language in ("ja", "en"):
            assert translate(f"discrepancy_{kind.value}", language)


def test_the_console_page_shows_the_towns_bills_and_their_discrepancies(
    harvest: Harvest, chain_app: tuple[FastAPI, str]
) -> None:
    world = harvest.world
    settled(harvest)
    harvest.chain.bills.release_work(ADMIN_KEY, harvest.work)
    town = [world.a.municipality_id]
    report = harvest.reconcile(town)
    app, url = chain_app
    remember_reconciliation(app, town, report)
    with signed_in_client(url, world.a.admin.email) as client:
        page = client.get("/console/town/reconciliation")
    assert page.status_code == 200, page.text
    assert 'id="reconciliation-bills"' in page.text
    assert "nishiaizu コシヒカリ 2026" in page.text
    assert "米手形のある作品がチェーンに登録されていない" in page.text


def test_a_conversion_burn_unlike_its_board_and_one_queued_twice(harvest: Harvest) -> None:
    world = harvest.world
    settled(harvest)
    with harvest.db.begin() as session:
        burns = session.scalars(
            select(ChainOperation)
            .where(
                ChainOperation.asset == ChainAsset.koku,
                ChainOperation.kind == ChainOperationKind.burn,
            )
            .order_by(ChainOperation.amount_go)
        ).all()
        bob = next(b for b in burns if b.user_id == world.bob.id)
        bob.amount_go = 999
        alice = next(b for b in burns if b.user_id == world.alice.id)
        # A second burn of one of Alice's boards, in the same conversion entry.
        twice = {c.key: getattr(alice, c.key) for c in ChainOperation.__table__.columns}
        twice.update(id=uuid.uuid4(), reference="0x" + issuance_ref(uuid.uuid4()).hex())
        session.add(ChainOperation(**twice))
    kinds = harvest.reconcile().counts.by_kind
    assert kinds["conversion_burn_mismatch"] == 1  # Bob's: 999 of his 1,000 go board
    assert kinds["burn_amount_mismatch"] == 1  # his Burned event says 1,000
    assert kinds["duplicate_burn_operation"] == 1
    assert kinds["burn_missing_on_chain"] == 1  # the second burn, confirmed, never mined
    assert not any(kind.startswith("bill") for kind in kinds), kinds


def test_bills_gifted_at_expiry_and_burned_by_the_workers_reconcile_clean(
    harvest: Harvest,
) -> None:
    world = harvest.world
    settled(harvest)
    expires_on = date(SEASON + 1, 3, 31)
    with harvest.db.begin() as session:
        session.execute(
            update(MunicipalityPolicy)
            .where(MunicipalityPolicy.municipality_id == world.a.municipality_id)
            .values(bills_expire_on=expires_on)
        )
    assert run_bill_jobs(harvest.db, expires_on + timedelta(days=1)).expiry.gifts == 2
    waiting = harvest.reconcile()
    assert waiting.status == "clean", waiting.model_dump_json(indent=1)
    assert waiting.bills[0].unsettled.go == -1_298  # the burns, not yet on chain
    assert waiting.bills[0].outstanding.go == 0

    report = settled(harvest).reconcile()
    assert report.status == "clean", report.model_dump_json(indent=1)
    (work,) = report.bills
    assert (work.issued.go, work.outstanding.go, work.on_chain_minted.go) == (1_298, 0, 1_298)
    assert (work.on_chain_outstanding.go, work.unsettled.go) == (0, 0)
    assert work.agrees
